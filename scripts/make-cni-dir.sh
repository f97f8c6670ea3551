#!/bin/sh
# Lays out a CNI plugin directory: DIR/ctnet is a stripped copy of BINARY (debug info is no use to a runtime),
# and every plugin name is a hard link to it, so the whole set costs one binary on disk. A runtime pointed at
# DIR (CNI_PATH, podman's cni_plugin_dirs, containerd's bin_dir) then runs ctnet for bridge, ptp, ...
# usage: scripts/make-cni-dir.sh BINARY DIR
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 BINARY DIR" >&2
	exit 2
fi
bin=$1
dir=$2
[ -x "$bin" ] || { echo "$0: $bin is not an executable" >&2; exit 1; }
mkdir -p "$dir"
tmp="$dir/.ctnet.$$"
cp "$bin" "$tmp"
strip --strip-unneeded "$tmp" 2>/dev/null || true
chmod 0755 "$tmp"
mv -f "$tmp" "$dir/ctnet"
for name in bridge ptp host-local macvlan ipvlan host-device sriov loopback tuning static tap vlan dummy portmap firewall bandwidth sbr vrf dhcp; do
	ln -f "$dir/ctnet" "$dir/$name" 2>/dev/null || install -m 0755 "$dir/ctnet" "$dir/$name"
done
echo "CNI plugins in $dir: ctnet bridge ptp host-local macvlan ipvlan host-device sriov loopback tuning static tap vlan dummy portmap firewall bandwidth sbr vrf dhcp ($(du -sh "$dir" | cut -f1))"
