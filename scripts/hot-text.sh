#!/bin/bash
# Regenerates src/hot-text.ld, the linker script fragment that places the functions CNI plugins run together
# at the start of the program's code. An exec'd plugin then maps a few hundred KiB of its binary instead of
# most of it (the kernel maps a file's pages 64 KiB at a time around each fault: scattered code costs RSS and
# time). The list comes from valgrind's callgrind on an unstripped build, one run per scenario below, inside a
# throwaway host namespace (as root), of the build's objects linked again without the list (valgrind attributes
# code outside .text to no symbol); each scenario adds the code not listed yet, so bridge ADD's comes first and
# lies together. Re-run it after larger changes: a stale list only costs locality, never correctness.
#   scripts/hot-text.sh [BUILD_DIR]         env: NSP (namespace and link prefix, default tcni-hot)
set -euo pipefail
BUILD=$(realpath "${1:-build}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
NSP=${NSP:-tcni-hot}
OUT=$SRC/src/hot-text.ld
command -v valgrind >/dev/null || { echo "$0: needs valgrind" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "$0: needs root" >&2; exit 1; }

W=$(mktemp -d "/tmp/$NSP-$$.XXXXXX")
HOST=$NSP-$$
cleanup() {
	for n in $(ip netns list 2>/dev/null | awk -v p="$NSP-c$$-" 'index($1, p) == 1 {print $1}'); do ip netns del "$n"; done
	ip netns del "$HOST" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
ip netns add "$HOST"
mkdir -p "$W/bin" "$W/cg"
# The build's own link again, without the hot section and with its own map: valgrind names only code in .text.
(cd "$BUILD" && eval "$(sed -e 's| -Wl,-T,[^ ]*||' -e "s| -Wl,-Map=[^ ]*| -Wl,-Map=$W/ctnet.map|" \
	-e "s| -o ctnet | -o $W/ctnet |" CMakeFiles/ctnet.dir/link.txt)")
for p in bridge ptp host-local portmap firewall tuning; do ln "$W/ctnet" "$W/bin/$p"; done

# run SCENARIO PLUGIN COMMAND ID CONF [prevResult-file]: one profiled run; the result goes to $W/ID.out
run() {
	local conf=$5
	if [ -n "${6:-}" ]; then conf=$(jq -c --slurpfile p "$6" '. + {prevResult: $p[0]}' <<<"$5"); fi
	[ -e "/run/netns/$NSP-c$$-$4" ] || ip netns add "$NSP-c$$-$4"
	ip netns exec "$HOST" env CNI_COMMAND="$3" CNI_CONTAINERID="$4" CNI_NETNS="/run/netns/$NSP-c$$-$4" CNI_IFNAME=eth0 \
		CNI_PATH=/usr/lib/cni valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$W/cg/$1.$3.$4.%p" \
		"$W/bin/$2" <<<"$conf" >"$W/$4.$2.$3.out" 2>/dev/null
	grep -q '"code"' "$W/$4.$2.$3.out" && { echo "$0: $2 $3 failed: $(cat "$W/$4.$2.$3.out")" >&2; exit 1; }
	return 0
}
BR='{"cniVersion":"1.0.0","name":"hotnet","type":"bridge","bridge":"'$NSP'br","isGateway":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.99.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$W'/data"}}'
PODMAN='{"cniVersion":"1.0.0","name":"hotpod","type":"bridge","bridge":"'$NSP'pd","isGateway":true,"ipMasq":true,"hairpinMode":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.98.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$W'/data"}}'
PM='{"cniVersion":"1.0.0","name":"hotpod","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp"},{"hostPort":18443,"containerPort":443,"protocol":"tcp"}]}}'
FW='{"cniVersion":"1.0.0","name":"hotpod","type":"firewall"}'
TU='{"cniVersion":"1.0.0","name":"hotpod","type":"tuning"}'
PTP='{"cniVersion":"1.0.0","name":"hotptp","type":"ptp","ipam":{"type":"host-local","ranges":[[{"subnet":"10.97.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$W'/data"}}'

# Scenarios, most important first. Two bridge ADDs before the profiled ones: the pool's files exist, as on a busy host.
for i in 1 2; do
	ip netns add "$NSP-c$$-w$i"
	ip netns exec "$HOST" env CNI_COMMAND=ADD CNI_CONTAINERID=w$i CNI_NETNS=/run/netns/$NSP-c$$-w$i CNI_IFNAME=eth0 \
		CNI_PATH=/usr/lib/cni "$W/bin/bridge" <<<"$BR" >/dev/null
done
run 01-bridge-add bridge ADD b1 "$BR"
run 01-bridge-add bridge ADD b2 "$BR"
run 02-bridge-del bridge DEL b1 "$BR"
run 03-bridge-check bridge CHECK b2 "$BR" "$W/b2.bridge.ADD.out"
run 04-podman-add bridge ADD p1 "$PODMAN"
run 04-podman-add portmap ADD p1 "$PM" "$W/p1.bridge.ADD.out"
run 04-podman-add firewall ADD p1 "$FW" "$W/p1.portmap.ADD.out"
run 04-podman-add tuning ADD p1 "$TU" "$W/p1.firewall.ADD.out"
run 05-podman-del tuning DEL p1 "$TU" "$W/p1.firewall.ADD.out"
run 05-podman-del firewall DEL p1 "$FW" "$W/p1.portmap.ADD.out"
run 05-podman-del portmap DEL p1 "$PM" "$W/p1.bridge.ADD.out"
run 05-podman-del bridge DEL p1 "$PODMAN"
run 06-ptp ptp ADD t1 "$PTP"
run 06-ptp ptp DEL t1 "$PTP"
echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION valgrind --tool=callgrind --dump-instr=yes \
	--callgrind-out-file="$W/cg/07-version.%p" "$W/bin/bridge" >/dev/null 2>&1

python3 "$SRC/scripts/hot-text.py" "$W/cg" "$W/ctnet.map" "$OUT"
