#!/bin/bash
# The `ip` verbs against iproute2's `ip` doing the same, one run, side by side, inside a throwaway namespace:
# addr add / del, route add / del, link add veth / del. Each command is timed alone by hyperfine (-N: no shell
# in the measurement), its opposite run as --prepare so every run starts from the same state. Prints a table
# with the ratio ctnet/ip (below 1: ctnet is faster).
#   bench/ip.sh [BUILD_DIR]        env: RUNS (50)
set -euo pipefail
BUILD=$(realpath "${1:-build}")
CTNET=$BUILD/ctnet
RUNS=${RUNS:-50}
N=ctip-bench$$
D=$(mktemp -d /tmp/ctip-bench.XXXXXX)
cleanup() {
  set +e
  ip netns del "$N" 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT
ip netns add "$N"
"$CTNET" link add veth ctipb0 --peer ctipb1 --ns "$N" >/dev/null
"$CTNET" addr add 10.235.0.1/24 ctipb0 --ns "$N"

# NAME, ctnet command, ip command, the prepare command that undoes it (the same for both).
bench() {
  local name=$1 c=$2 i=$3 prep=$4
  hyperfine -N --runs "$RUNS" --warmup 3 --prepare "sh -c '$prep 2>/dev/null || true'" --export-json "$D/$name.json" -n ctnet "$c" -n ip "$i" >/dev/null
}
bench addr-add "$CTNET addr add 10.235.0.9/24 ctipb0 --ns $N" "ip -n $N addr add 10.235.0.9/24 dev ctipb0" \
  "ip -n $N addr flush dev ctipb0 to 10.235.0.9/32"
bench addr-del "$CTNET addr del 10.235.0.9/24 ctipb0 --ns $N" "ip -n $N addr del 10.235.0.9/24 dev ctipb0" \
  "ip -n $N addr replace 10.235.0.9/24 dev ctipb0"
bench route-add "$CTNET route add 10.236.0.0/16 --via 10.235.0.2 --ns $N" "ip -n $N route add 10.236.0.0/16 via 10.235.0.2" \
  "ip -n $N route flush 10.236.0.0/16"
bench route-del "$CTNET route del 10.236.0.0/16 --ns $N" "ip -n $N route del 10.236.0.0/16" \
  "ip -n $N route replace 10.236.0.0/16 via 10.235.0.2"
bench veth-add "$CTNET link add veth ctipv0 --peer ctipv1 --ns $N" "ip -n $N link add ctipv0 type veth peer name ctipv1" \
  "ip -n $N link del ctipv0"
bench veth-del "$CTNET link del ctipv0 --ns $N" "ip -n $N link del ctipv0" \
  "ip -n $N link add ctipv0 type veth peer name ctipv1"

python3 - "$D" <<'PY'
import json, sys, os
d = sys.argv[1]
print(f"{'operation':<12} {'ctnet ms':>10} {'ip ms':>10} {'ctnet/ip':>9}")
for name in ["addr-add", "addr-del", "route-add", "route-del", "veth-add", "veth-del"]:
    r = {x["command"]: x for x in json.load(open(os.path.join(d, name + ".json")))["results"]}
    c, i = r["ctnet"]["median"] * 1000, r["ip"]["median"] * 1000
    print(f"{name:<12} {c:>10.2f} {i:>10.2f} {c / i:>8.2f}x")
print("(medians of", os.environ.get("RUNS", "50"), "runs each; ip does not bring a new veth up, ctnet does)")
PY
