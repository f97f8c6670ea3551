#!/bin/bash
# Every benchmark part for two builds in one run, each part run for both in the order before, after, after,
# before, so that the ratios each part reports (against its reference: the seed's ip commands, the reference CNI
# plugins, the kernel floor) can be compared side by side on the same machine at the same moment. (Run once each,
# the second side pays for the kernel's asynchronous teardown of the first one's namespaces: a bias of 10-30%.)
#   bench/before-after.sh BEFORE_BUILD_DIR AFTER_BUILD_DIR [PART...]     (parts: core topology cni)
# BEFORE_BUILD_DIR is a build of an older commit, e.g.
#   git worktree add /tmp/ctnet-before REV && cmake -S /tmp/ctnet-before -B /tmp/ctnet-before/build && \
#   cmake --build /tmp/ctnet-before/build --target ctnet spawn_timer rtnl_floor
set -uo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "$1"); after=$(realpath "$2"); shift 2
parts=${*:-core topology cni}
rc=0
for part in $parts; do
  for side in before after after before; do
    dir=$before; [ "$side" = after ] && dir=$after
    echo "################ bench/$part.sh — $side ($dir)"
    "bench/$part.sh" "$dir" || rc=1
    echo
  done
done
exit $rc
