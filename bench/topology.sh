#!/bin/bash
# `ctnet up` / `ctnet down` of the seed's scenario 2 scaled to N namespaces on one bridge, against the seed's
# own `ip` commands for the same N, in one run, as ratios; plus how the per-namespace cost grows with N and
# ctnet's peak memory. Everything happens inside a throwaway "host" namespace (the bridge and host-side veth
# ends live there) with namespace names unique to this run, so the machine's own namespace is not touched.
#   bench/topology.sh BUILD_DIR|CTNET_BINARY [N...]        (default N: 10 100 1000; `make bench` passes build/)
set -euo pipefail
. "$(dirname "$0")/lab.sh"
CTNET=$(readlink -f "${1:-build}")
[ -d "$CTNET" ] && CTNET=$CTNET/ctnet
shift || true
SIZES=${*:-10 100 1000}
TAG=ttopb$(( $$ % 100000 ))
HOSTNS=${TAG}h
WORK=$(mktemp -d /tmp/${TAG}.XXXX)
export CTNET_STATE_DIR=$WORK/state
ip netns add "$HOSTNS"
IN="nsenter --net=/run/netns/$HOSTNS"
cleanup() {
  for n in $(ip netns list | awk '{print $1}' | grep "^${TAG}-" || true); do ip netns del "$n" 2>/dev/null || true; done
  ip netns del "$HOSTNS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
# Deleting a namespace destroys its veths asynchronously: both sides are timed until the host side is empty.
wait_no_veth() { while $IN ip -o link show type veth | grep -q .; do sleep 0.01; done; }

gen_yaml() {  # N -> topology file
  local n=$1 f=$WORK/lab$1.yaml
  one_bridge_lab "${TAG}-lab$n" "$n" "$TAG" >"$f"
  echo "$f"
}

gen_ip_up() {  # the seed's commands, one process each, as a user would run them
  local n=$1
  echo "ip link add br0 type bridge"
  echo "ip link set br0 up"
  for ((i = 1; i <= n; i++)); do
    local a=$((i + 1))
    echo "ip netns add ${TAG}-$i"
    echo "ip link add v$i type veth peer name v$i-ns"
    echo "ip link set v$i-ns netns ${TAG}-$i"
    echo "ip netns exec ${TAG}-$i ip link set v$i-ns up"
    echo "ip netns exec ${TAG}-$i ip addr add 10.64.$((a / 256)).$((a % 256))/16 dev v$i-ns"
    echo "ip link set v$i up"
    echo "ip link set v$i master br0"
  done
}
gen_ip_down() {
  local n=$1
  for ((i = 1; i <= n; i++)); do echo "ip netns del ${TAG}-$i"; done
  echo "ip link del br0"
}

# One untimed round first: the first run of anything pays for cold caches (binary, libraries, dentries).
wf=$(gen_yaml 2)
$IN "$CTNET" up "$wf" >/dev/null && $IN "$CTNET" down "${TAG}-lab2" >/dev/null
gen_ip_up 2 | $IN sh -e && gen_ip_down 2 | $IN sh -e && wait_no_veth

printf '%-6s %12s %12s %8s %12s %12s %8s %14s %14s %10s\n' N "ctnet up" "ip up" "ratio" "ctnet down" "ip down" "ratio" "ctnet up/ns" "ip up/ns" "ctnet RSS"
declare -A PER_NS
for n in $SIZES; do
  f=$(gen_yaml "$n")
  gen_ip_up "$n" >"$WORK/ip-up-$n.sh"
  gen_ip_down "$n" >"$WORK/ip-down-$n.sh"

  t0=$(now); $IN /usr/bin/time -f %M -o "$WORK/rss" "$CTNET" up "$f" >/dev/null; t1=$(now)
  rss=$(cat "$WORK/rss")
  t2=$(now); $IN "$CTNET" down "${TAG}-lab$n" >/dev/null; wait_no_veth; t3=$(now)

  t4=$(now); $IN sh -e "$WORK/ip-up-$n.sh"; t5=$(now)
  t6=$(now); $IN sh -e "$WORK/ip-down-$n.sh"; wait_no_veth; t7=$(now)

  cu=$(ms "$t0" "$t1"); cd=$(ms "$t2" "$t3"); iu=$(ms "$t4" "$t5"); id=$(ms "$t6" "$t7")
  PER_NS[$n]=$(echo "scale=3; $cu / $n" | bc)
  printf '%-6s %10s ms %10s ms %7.1fx %10s ms %10s ms %7.1fx %11s ms %11s ms %7s KiB\n' "$n" "$cu" "$iu" \
    "$(echo "scale=2; $iu / $cu" | bc)" "$cd" "$id" "$(echo "scale=2; $id / $cd" | bc)" \
    "${PER_NS[$n]}" "$(echo "scale=3; $iu / $n" | bc)" "$rss"
done
first=$(echo "$SIZES" | awk '{print $1}')
prev=$first
for n in $SIZES; do
  [ "$n" = "$first" ] && continue
  echo "ctnet up per-namespace cost at N=$n / at N=$first: $(echo "scale=2; ${PER_NS[$n]} / ${PER_NS[$first]}" | bc)" \
    "(/ at N=$prev: $(echo "scale=2; ${PER_NS[$n]} / ${PER_NS[$prev]}" | bc); small N carry the fixed cost of one run)"
  prev=$n
done
echo "(ratio = ip time / ctnet time: above 1 means ctnet is faster; RSS = peak resident memory of ctnet up)"
