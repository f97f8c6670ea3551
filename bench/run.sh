#!/bin/bash
# make bench: every benchmark part, each comparing ctnet with its reference in one run.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
rc=0
for part in bench/core.sh bench/ip.sh bench/topology.sh bench/explain.sh bench/cni.sh bench/portmap.sh bench/podman.sh bench/node.sh; do
  [ -x "$part" ] || continue
  echo "################ $part"
  "$part" "$BUILD" || rc=1
  echo
done
exit $rc
