#!/bin/bash
# podman benchmark, side by side in one run: Debian's podman 4.3 (CNI backend) with ctnet's plugin directory and
# with /usr/lib/cni, each in a throwaway namespace that plays the host, each with its own private podman state
# (tests/runtime/podman_lib.sh). One measurement: `podman run --rm` of a container on podman's default network
# with a port published (-p) whose command pings another container until the first reply:
#   - to first ping: from just before `podman run` to the first echo reply, read inside the container (adjtimex:
#     the same realtime clock as the host's): CNI ADD of bridge + portmap + firewall + tuning, and podman's own work
#   - whole run: until `podman run --rm` returns, so also the container's end and CNI DEL
# RUNS runs of each (default 5), interleaved, after one untimed warm-up each; medians and ratios.
#   bench/podman.sh [BUILD_DIR]        env: RUNS (5), PLUGIN_DIR (ctnet's directory; default: laid out from
#                                      BUILD_DIR/ctnet by scripts/make-cni-dir.sh)
set -Eeuo pipefail
BUILD=$(realpath "${1:-build}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
. "$SRC/tests/runtime/podman_lib.sh"
[ "$(id -u)" = 0 ] || { echo "$0: needs root" >&2; exit 1; }

WORK=$(mktemp -d "/tmp/pdt-bench-$$.XXXXXX")
IMPLS="c r"
declare -A LABEL=([c]=ctnet [r]=reference) PLUGINS=([c]=${PLUGIN_DIR:-$WORK/cni} [r]=/usr/lib/cni) PEER=() P=() W=()
# use IMPL: makes IMPL's podman environment the current one (pm, pdt_env_*)
use() { PDT_DIR=$WORK/$1 PDT_NS=pdt-b$1-$$ PDT_TAG=b$1$$; }
cleanup() {
	set +e
	for i in $IMPLS; do
		use "$i"
		pdt_env_stop
		ip netns del "$PDT_NS" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[ -n "${PLUGIN_DIR:-}" ] || "$SRC/scripts/make-cni-dir.sh" "$BUILD/ctnet" "${PLUGINS[c]}" >/dev/null
for i in $IMPLS; do
	use "$i"
	ip netns add "$PDT_NS"
	ip -n "$PDT_NS" link set lo up
	pdt_env_init "$PDT_DIR" "${PLUGINS[$i]}" "$PDT_NS" "$PDT_TAG"
	pdt_env_start
	pdt_image
	missing=""
	for p in bridge host-local portmap firewall tuning; do [ -x "${PLUGINS[$i]}/$p" ] || missing="$missing $p"; done
	[ -z "$missing" ] || { echo "$0: ${LABEL[$i]}'s directory ${PLUGINS[$i]} lacks:$missing" >&2; exit 1; }
	pm run -d --name pdt-peer --network podman "$PDT_IMAGE" sleep 3600 >/dev/null
	PEER[$i]=$(pm inspect -f '{{(index .NetworkSettings.Networks "podman").IPAddress}}' pdt-peer)
done

# one IMPL N: one timed run; appends "to-first-ping-us whole-run-us" to WORK/IMPL.times
one() {
	use "$1"
	local t0 t1 out sec usec
	t0=${EPOCHREALTIME/./}
	out=$(pm run --rm --name "pdt-run-$2" --network podman -p 18080:8080 "$PDT_IMAGE" \
		sh -c "until ping -c 1 -W 1 ${PEER[$1]} >/dev/null 2>&1; do :; done; adjtimex") ||
		{ echo "$0: podman run with ${LABEL[$1]}'s plugins failed: $out" >&2; return 1; }
	t1=${EPOCHREALTIME/./}
	sec=$(sed -n 's/.*time.tv_sec: *//p' <<<"$out") usec=$(sed -n 's/.*time.tv_usec: *//p' <<<"$out")
	[ -n "$sec" ] && [ -n "$usec" ] || { echo "$0: no time from the container: $out" >&2; return 1; }
	echo "$((sec * 1000000 + usec - t0)) $((t1 - t0))" >>"$WORK/$1.times"
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ms() { awk -v u="$1" 'BEGIN{printf "%.0f", u/1000}'; }

echo "== podman run --rm on the default network with -p, to the first ping of another container (ms; $RUNS runs each, interleaved)"
for i in $IMPLS; do one "$i" 0 && rm -f "$WORK/$i.times"; done # warm-up: the default network's bridge, podman's caches
for n in $(seq "$RUNS"); do for i in $IMPLS; do one "$i" "$n"; done; done
printf "%-10s %14s %14s   %s\n" plugins "to first ping" "whole run" "runs (to first ping / whole)"
for i in $IMPLS; do
	P[$i]=$(cut -d' ' -f1 "$WORK/$i.times" | median) W[$i]=$(cut -d' ' -f2 "$WORK/$i.times" | median)
	printf "%-10s %14s %14s   %s\n" "${LABEL[$i]}" "$(ms "${P[$i]}")" "$(ms "${W[$i]}")" \
		"$(while read -r a b; do printf '%s/%s ' "$(ms "$a")" "$(ms "$b")"; done <"$WORK/$i.times")"
done
awk -v pc="${P[c]}" -v pr="${P[r]}" -v wc="${W[c]}" -v wr="${W[r]}" \
	'BEGIN{printf "ctnet/reference: to first ping %.2f, whole run %.2f\n", pc/pr, wc/wr}'
