#!/bin/bash
# `ctnet explain` on a 1000-namespace lab: N namespaces on one bridge (the worst case for a flooded path: no FDB
# entry yet, so the bridge's ports are the candidates), built by `ctnet up` inside a throwaway "host" namespace
# with names unique to this run; the machine's own namespace is not touched. Times, over RUNS runs each:
#   ns-target   explain NS1 NSN        (DST a namespace: its address and its port are found directly)
#   addr-cold   explain NS1 ADDRESS    (no neighbour entry: every port of the bridge is a candidate)
#   addr-warm   explain NS1 ADDRESS    (after one ping: neighbour and FDB entries name the port)
# and prints median and worst in milliseconds. Cleans up on exit.
#   bench/explain.sh BUILD_DIR|CTNET_BINARY [N] [RUNS]      (default N=1000, RUNS=21)
set -euo pipefail
. "$(dirname "$0")/lab.sh"
CTNET=$(readlink -f "${1:-build}")
[ -d "$CTNET" ] && CTNET=$CTNET/ctnet
N=${2:-1000}
RUNS=${3:-21}
TAG=texb$(( $$ % 100000 ))
HOSTNS=${TAG}h
WORK=$(mktemp -d /tmp/${TAG}.XXXX)
export CTNET_STATE_DIR=$WORK/state
ip netns add "$HOSTNS"
cleanup() {
  "$CTNET" --host-netns "$HOSTNS" down "${TAG}-lab" >/dev/null 2>&1 || true
  for n in $(ls /run/netns | grep "^${TAG}-" || true); do ip netns del "$n" 2>/dev/null || true; done
  ip netns del "$HOSTNS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

one_bridge_lab "${TAG}-lab" "$N" "$TAG" >"$WORK/lab.yaml"
echo "building $N namespaces on one bridge ..." >&2
"$CTNET" --host-netns "$HOSTNS" up "$WORK/lab.yaml" >/dev/null

target=$(ip -n "${TAG}-$N" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
time_case() {  # name, args...
  local name=$1; shift
  local t=()
  for ((r = 0; r < RUNS; r++)); do
    local a=$(date +%s%N)
    "$CTNET" --host-netns "$HOSTNS" explain "$@" >/dev/null
    local b=$(date +%s%N)
    t+=($(( (b - a) / 1000 )))
  done
  sorted=($(printf '%s\n' "${t[@]}" | sort -n))
  printf '%-10s median %6.1f ms  worst %6.1f ms  (%d runs, N=%d)\n' "$name" \
    "$(echo "${sorted[$((RUNS / 2))]} / 1000" | bc -l)" "$(echo "${sorted[$((RUNS - 1))]} / 1000" | bc -l)" "$RUNS" "$N"
}
"$CTNET" --host-netns "$HOSTNS" explain "${TAG}-1" "$target" | tail -1 >&2
time_case ns-target "${TAG}-1" "${TAG}-$N"
ip netns exec "${TAG}-1" ip neigh flush all
ip netns exec "$HOSTNS" bridge fdb flush dev br0 2>/dev/null || true
time_case addr-cold "${TAG}-1" "$target"
"$CTNET" ping "${TAG}-1" "$target" -c 1 >/dev/null
time_case addr-warm "${TAG}-1" "$target"
