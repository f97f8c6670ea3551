#!/bin/sh
# `make demo`: the main job end to end. `ctnet up` with no file builds the seed's scenario 2 (namespaces ns1
# and ns2 on bridge br0, private addresses inside the namespaces) as lab `seed`; `check` proves it with pings
# sent by ctnet itself; `status` and `graph` show it; `down` removes exactly what `up` made.
# KEEP=1 leaves the lab up.
set -eu
CTNET=${1:-build/ctnet}
KEEP=${KEEP:-0}
if [ "$(id -u)" != 0 ]; then
  echo "demo: building namespaces and links needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN); try: sudo make demo" >&2
  exit 1
fi
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step ctnet up
"$CTNET" up
cleanup() {
  if [ "$KEEP" = 1 ]; then
    printf '\nKEEP=1: lab seed is left up. Look around:\n  ip netns exec ns1 ip addr\n  %s check seed\n' "$CTNET"
    printf 'Remove it with:\n  %s down seed\n' "$CTNET"
  else
    step ctnet down seed
    "$CTNET" down seed
  fi
}
trap cleanup EXIT
step ctnet check seed
"$CTNET" check seed
step ctnet status seed
"$CTNET" status seed
step ctnet graph seed
"$CTNET" graph seed
step ctnet labs
"$CTNET" labs
