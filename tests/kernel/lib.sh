# Helpers for the guest-side suites (sourced by bash inside the VM; cwd /t, ctnet at /t/ctnet on PATH).
# Every check prints one "PASS: ..." or "FAIL: ..." line; run.sh counts them across suites.
set -u
export PATH=/t:$PATH
export CTNET_STATE_DIR=/run/ctnet
fails=0
passes=0
pass() { echo "PASS: $1"; passes=$((passes + 1)); }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
# check DESCRIPTION COMMAND...: the command must succeed; its output is shown on failure.
check() {
  local d=$1 out; shift
  if out=$("$@" 2>&1); then pass "$d"; else fail "$d"; echo "$out" | sed 's/^/    /'; fi
}
# checkfail DESCRIPTION COMMAND...: the command must fail.
checkfail() {
  local d=$1 out; shift
  if out=$("$@" 2>&1); then fail "$d (unexpected success)"; echo "$out" | sed 's/^/    /'; else pass "$d"; fi
}
# checkerr DESCRIPTION PATTERN COMMAND...: the command must fail and say PATTERN (grep -E) on stderr/stdout.
checkerr() {
  local d=$1 pat=$2 out; shift 2
  if out=$("$@" 2>&1); then fail "$d (unexpected success)"; echo "$out" | sed 's/^/    /'
  elif echo "$out" | grep -qE -- "$pat"; then pass "$d"; echo "    said: $(echo "$out" | tail -1)"
  else fail "$d (wrong message)"; echo "$out" | sed 's/^/    /'; fi
}
# has DESCRIPTION PATTERN COMMAND...: the command succeeds and its output matches PATTERN.
has() {
  local d=$1 pat=$2 out; shift 2
  if out=$("$@" 2>&1) && echo "$out" | grep -qE -- "$pat"; then pass "$d"; else fail "$d"; echo "$out" | sed 's/^/    /'; fi
}
# lacks DESCRIPTION PATTERN COMMAND...: the command's output does not match PATTERN.
lacks() {
  local d=$1 pat=$2 out; shift 2
  out=$("$@" 2>&1)
  if echo "$out" | grep -qE -- "$pat"; then fail "$d"; echo "$out" | sed 's/^/    /'; else pass "$d"; fi
}
# wait_for SECONDS COMMAND...: polls until the command succeeds (carrier, async namespace teardown).
wait_for() {
  local t=$1 i; shift
  for i in $(seq 1 $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
finish() {
  echo "suite: $passes passed, $fails failed"
  [ "$fails" = 0 ]
}
