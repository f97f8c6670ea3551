#!/bin/bash
# ctnet node at scale, on this machine: N simulated hosts (network namespaces on one underlay bridge inside a
# throwaway namespace, etcd in a namespace of its own on that underlay), one agent each.
#   - join: one more node starts; time until every peer has programmed it (each agent logs its reconcile with
#     millisecond timestamps), median and worst; the joining agent's etcd requests (its own count) and etcd's
#     count of handled RPCs in that window (its /metrics);
#   - restart: an agent killed -9 and started again; time until it is in sync with its N peers;
#   - memory: peak RSS of the agents;
#   - throughput: iperf3 between two hosts over the agents' VXLAN (their overlay addresses) against a VXLAN built
#     by hand with `ip` between the same two namespaces, side by side.
#   bench/node.sh [BUILD_DIR]        env: N (50 hosts), IPERF_SECONDS (5)
set -euo pipefail
BUILD=$(realpath "${1:-build}")
CTNET=$BUILD/ctnet
N=${N:-50}
SECS=${IPERF_SECONDS:-5}
T=bnd$$
D=$(mktemp -d /tmp/$T.XXXXXX)
E=http://10.211.0.250:23790
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  for n in $(ls /run/netns | grep "^$T-"); do ip netns del "$n"; done
  rm -rf "$D"
}
trap cleanup EXIT
ns() { ip netns add "$T-$1"; ip -n "$T-$1" link set lo up; }
attach() {  # NAME ADDR
  ns "$1"
  ip -n "$T-lan" link add "p$1" type veth peer name under0 netns "$T-$1"
  ip -n "$T-lan" link set "p$1" master br0 up
  ip -n "$T-$1" addr add "$2/16" dev under0
  ip -n "$T-$1" link set under0 up
}
ms_of() { date -d "$1" +%s%3N; }  # HH:MM:SS.mmm today -> epoch ms

ns lan
ip -n "$T-lan" link add br0 type bridge
ip -n "$T-lan" link set br0 up
attach etcd 10.211.0.250
ip netns exec "$T-etcd" etcd --name b --data-dir "$D/etcd" --listen-client-urls $E --advertise-client-urls $E \
  --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster b=http://127.0.0.1:23800 --log-level error --logger zap >"$D/etcd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do ip netns exec "$T-etcd" etcdctl --endpoints $E endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
ip netns exec "$T-etcd" "$CTNET" node init bench --etcd $E --cidr 10.200.0.0/16 >/dev/null

start_agent() {  # I
  ip netns exec "$T-h$1" "$CTNET" node run bench --etcd $E --node-name "h$1" --state-dir "$D/h$1" --ttl 60 \
    >>"$D/h$1.log" 2>&1 &
  AGENT[$1]=$!
  PIDS+=($!)
}
declare -A AGENT
for i in $(seq 1 "$N"); do attach "h$i" "10.211.$((i / 250)).$((i % 250 + 1))"; done
for i in $(seq 1 "$N"); do start_agent "$i"; done
# Every agent in sync with N-1 peers.
for _ in $(seq 600); do
  ok=0
  for i in $(seq 1 "$N"); do [ "$(ip -n "$T-h$i" route show proto 99 | wc -l)" -ge $((N - 1)) ] && ok=$((ok + 1)); done
  [ "$ok" = "$N" ] && break
  sleep 0.5
done
echo "== ctnet node, $N simulated hosts on one machine ($(nproc) cores)"
echo "all $N agents in sync with $((N - 1)) peers"

metric() { ip netns exec "$T-etcd" curl -s "$E/metrics" | awk '/^grpc_server_handled_total/ {s += $2} END {print s + 0}'; }

# Join.
J=$((N + 1))
attach "h$J" "10.211.$((J / 250)).$((J % 250 + 1))"
before=$(metric)
t0=$(date +%s%3N)
start_agent "$J"
for _ in $(seq 400); do
  done_peers=0
  for i in $(seq 1 "$N"); do grep -q "1 added\|[0-9] added" <(tail -n +2 "$D/h$i.log" | grep -a "peers:.*added" | tail -1) 2>/dev/null && done_peers=$((done_peers + 1)); done
  [ "$(for i in $(seq 1 "$N"); do ip -n "$T-h$i" route show proto 99 | wc -l; done | awk -v n="$N" '$1 >= n' | wc -l)" = "$N" ] && break
  sleep 0.1
done
sleep 0.5
after=$(metric)
times=()
for i in $(seq 1 "$N"); do
  last=$(grep -a "peers: .* added" "$D/h$i.log" | tail -1 | awk '{print $1}')
  times+=($(( $(ms_of "$last") - t0 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
worst=$(echo "$sorted" | tail -1)
echo "join: every peer programmed the new node after median $median ms, worst $worst ms (from its start)"
echo "join: the new agent $(grep -a -o 'in sync with .*' "$D/h$J.log" | sed 's/in sync with/synced with/'); etcd's own count of handled RPCs meanwhile (all agents): $((after - before))"

# Restart.
kill -9 "${AGENT[1]}"
wait "${AGENT[1]}" 2>/dev/null || true
: >"$D/h1.log"
start_agent 1
for _ in $(seq 200); do grep -q "in sync with" "$D/h1.log" && break; sleep 0.05; done
echo "restart: $(grep -a -o 'in sync with .*' "$D/h1.log")"

# Memory.
rss=$(for p in "${AGENT[@]}"; do awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null; done | sort -n)
echo "agent peak RSS: median $(echo "$rss" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') KiB, max $(echo "$rss" | tail -1) KiB"

# Throughput: h1 -> h2 over the agents' VXLAN, then over a hand-made one between the same namespaces.
a1=$(ip -n "$T-h1" -4 -j addr show dev ctnet.1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["addr_info"][0]["local"])')
a2=$(ip -n "$T-h2" -4 -j addr show dev ctnet.1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["addr_info"][0]["local"])')
u1=$(ip -n "$T-h1" -4 -j addr show dev under0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["addr_info"][0]["local"])')
u2=$(ip -n "$T-h2" -4 -j addr show dev under0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["addr_info"][0]["local"])')
ip -n "$T-h1" link add vxm type vxlan id 4242 local "$u1" remote "$u2" dstport 4790 dev under0
ip -n "$T-h2" link add vxm type vxlan id 4242 local "$u2" remote "$u1" dstport 4790 dev under0
ip -n "$T-h1" addr add 10.250.0.1/24 dev vxm; ip -n "$T-h1" link set vxm up
ip -n "$T-h2" addr add 10.250.0.2/24 dev vxm; ip -n "$T-h2" link set vxm up
ip netns exec "$T-h2" iperf3 -s -1 -D -p 5201 --logfile "$D/iperf-s.log"
iperf() {  # FROM_ADDR TO_ADDR -> Mbit/s
  ip netns exec "$T-h2" iperf3 -s -1 -D -p 5201 --logfile "$D/iperf-s.log" 2>/dev/null || true
  sleep 0.3
  ip netns exec "$T-h1" iperf3 -c "$2" -B "$1" -p 5201 -t "$SECS" -O 1 -J 2>/dev/null |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))'
}
c1=$(iperf "$a1" "$a2"); r1=$(iperf 10.250.0.1 10.250.0.2); c2=$(iperf "$a1" "$a2"); r2=$(iperf 10.250.0.1 10.250.0.2)
echo "throughput h1 -> h2 (iperf3 TCP, ${SECS}s, order ctnet, ip, ctnet, ip): ctnet VXLAN $c1 / $c2 Mbit/s, hand-made VXLAN $r1 / $r2 Mbit/s"
echo "ctnet/ip: $(echo "scale=2; ($c1 + $c2) / ($r1 + $r2)" | bc)"
