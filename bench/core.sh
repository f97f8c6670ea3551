#!/bin/bash
# Core bench (issue 2), side by side in one run:
#  1. the seed's scenario 2 with N namespaces on a bridge: ctnet (ns add + attach per namespace) against the
#     seed's own `ip` commands, for N = 10 and 100, as a ratio;
#  2. one `ctnet attach` against rtnl_floor (the fewest rtnetlink requests that attach one namespace).
# Everything host-side happens in a throwaway "host" namespace; the machine's own namespace is not touched.
set -euo pipefail
BUILD=${1:-build}
C=$(realpath "$BUILD/ctnet"); T=$(realpath "$BUILD/spawn_timer"); F=$(realpath "$BUILD/rtnl_floor")
P=bc$$; H=${P}h
# The state dir on tmpfs, as /run is on a stock Debian system (on this build machine /run is on the disk).
export CTNET_STATE_DIR=$(mktemp -d /dev/shm/ctnet-bench-XXXXXX)
cleanup() {
  for n in $(ip netns list | awk '{print $1}' | grep "^$P" || true); do ip netns del "$n"; done
  rm -rf "$CTNET_STATE_DIR"
}
trap cleanup EXIT
now() { date +%s%N; }
addr() { echo "10.$1.$(( $2 / 250 )).$(( $2 % 250 + 2 ))"; }

ip netns add "$H"
ip -n "$H" link set lo up
echo "== seed scenario 2, N namespaces on one bridge (host side in a throwaway namespace) =="
printf "%6s %14s %14s %8s\n" N "ip script ms" "ctnet ms" ratio
for N in 10 100; do
  # The seed's commands, one process each, as the seed types them (host side with ip -n H).
  t0=$(now)
  ip -n "$H" link add "${P}bi$N" type bridge
  ip -n "$H" link set "${P}bi$N" up
  for i in $(seq 1 "$N"); do
    ns=${P}i$N-$i
    ip netns add "$ns"
    v=v$N-$i  # unique per N: the kernel removes the previous round's links asynchronously
    ip -n "$H" link add "$v" type veth peer name "$v-ns"
    ip -n "$H" link set "$v-ns" netns "$ns"
    ip netns exec "$ns" ip link set "$v-ns" up
    ip netns exec "$ns" ip addr add "$(addr 77 "$i")/16" dev "$v-ns"
    ip -n "$H" link set "$v" up
    ip -n "$H" link set "$v" master "${P}bi$N"
  done
  t_ip=$(( ($(now) - t0) / 1000000 ))
  t0=$(now)
  for i in $(seq 1 "$N"); do
    "$C" --host-netns "$H" attach "${P}c$N-$i" --create --bridge "${P}bc$N" --addr "$(addr 78 "$i")/16" >/dev/null
  done
  t_ct=$(( ($(now) - t0) / 1000000 ))
  printf "%6d %14d %14d %7.1fx\n" "$N" "$t_ip" "$t_ct" "$(echo "$t_ip / $t_ct" | bc -l)"
  # Spot check that what was built works, on both sides.
  "$C" ping "${P}c$N-$N" "$(addr 78 1)" -c 1 -W 2 >/dev/null || echo "  (ctnet: first namespace not reachable from the last: check the doctor)"
  for n in $(ip netns list | awk '{print $1}' | grep -E "^${P}[ic]$N-" || true); do ip netns del "$n"; done
done

echo
echo "== one attach (veth with the peer born in the namespace, on the bridge, up, address, default route) =="
ip -n "$H" link add "${P}bf" type bridge; ip -n "$H" link set "${P}bf" up
RUNS=${RUNS:-40}
floor=$("$T" --netns "$H" --runs "$RUNS" --label rtnl_floor --setup "ip netns add ${P}f{i}" --cleanup "ip netns del ${P}f{i}" \
  -- "$F" add "${P}f{i}" "${P}hf{i}" ceth0 "${P}bf" "10.79.1.{i}" 16 10.79.0.1)
ct=$("$T" --netns "$H" --runs "$RUNS" --label ctnet_attach --setup "ip netns add ${P}g{i}" --cleanup "ip netns del ${P}g{i}" \
  -- "$C" attach "${P}g{i}" --bridge "${P}bg" --name ceth0 --addr "10.80.1.{i}/16" --gateway)
echo "$floor"; echo "$ct"
med() { sed -E 's/.*"median_ms":([0-9.]+).*/\1/' <<<"$1"; }
printf "ctnet attach / rtnl_floor (medians): %.2fx\n" "$(echo "$(med "$ct") / $(med "$floor")" | bc -l)"
