#!/bin/bash
# portmap ADD with 2 mappings, with 10 and with 1000 containers' mappings already on the host, ctnet against the
# reference (/usr/lib/cni/portmap, iptables), each in a throwaway host namespace. The containers are prevResults
# only (no interfaces are needed for the rules): the host's mappings are made by the plugin's own ADDs.
#   bench/portmap.sh [BUILD_DIR]        env: RUNS (20), IMPLS ("c r": ctnet and the reference; the reference's
#                                      1000 iptables ADDs take minutes)
set -euo pipefail
BUILD=$(realpath "${1:-build}")
RUNS=${RUNS:-20}
T=bpm$$
D=$(mktemp -d /tmp/$T.XXXXXX)
cleanup() { set +e; for n in $(ls /run/netns | grep "^$T-"); do ip netns del "$n"; done; rm -rf "$D"; }
trap cleanup EXIT
mkdir -p "$D/c"
ln -s "$BUILD/ctnet" "$D/c/portmap"
conf() {  # ID PORT_BASE
  local i=$1 p=$2
  printf '{"cniVersion":"1.0.0","name":"bpmnet","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"},{"hostPort":%d,"containerPort":53,"protocol":"udp"}]},"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/x"}],"ips":[{"address":"10.%d.%d.1/8","interface":0}]}}' \
    "$p" "$p" $(( i / 250 )) $(( i % 250 + 1 ))
}
run() {  # IMPL CMD ID PORT
  conf "$3" "$4" | CNI_COMMAND=$2 CNI_CONTAINERID="bpm$3" CNI_NETNS=/run/netns/x CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
    ip netns exec "$T-$1" "$( [ "$1" = c ] && echo "$D/c/portmap" || echo /usr/lib/cni/portmap)" >/dev/null
}
# per-ADD time in ms of RUNS ADDs (each DELed again), with the host holding what it holds now
measure() {  # IMPL
  local t0 t1
  t0=$(date +%s%N)
  for k in $(seq 1 "$RUNS"); do run "$1" ADD $((900000 + k)) $((40000 + k)); done
  t1=$(date +%s%N)
  for k in $(seq 1 "$RUNS"); do run "$1" DEL $((900000 + k)) $((40000 + k)); done
  echo "scale=2; ($t1 - $t0) / $RUNS / 1000000" | bc
}
IMPLS=${IMPLS:-c r}
declare -A small large
for impl in $IMPLS; do
  ip netns add "$T-$impl"
  for i in $(seq 1 10); do run $impl ADD "$i" $((10000 + i)); done
  small[$impl]=$(measure $impl)
  for i in $(seq 11 1000); do run $impl ADD "$i" $((10000 + i)); done
  large[$impl]=$(measure $impl)
done
echo "== portmap ADD (2 mappings), ms per ADD, $RUNS runs: with 10 / with 1000 containers mapped on the host"
printf '%-10s %8s %8s %8s\n' plugins 10 1000 1000/10
for impl in $IMPLS; do
  printf '%-10s %8s %8s %8s\n' "$([ $impl = c ] && echo ctnet || echo reference)" "${small[$impl]}" "${large[$impl]}" \
    "$(echo "scale=2; ${large[$impl]} / ${small[$impl]}" | bc)"
done
