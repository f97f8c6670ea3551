# The VF settings igb refuses (link state, min TX rate, 802.1ad), sent by `ctnet sriov set` to netdevsim, whose
# PF side accepts every setting (it makes no VF netdevs, so nothing is attached here). Proves the encoding of each
# setting against a real kernel: what the PF reports back is what was asked for.
. /t/lib.sh
echo "kernel $(uname -r)"
echo "1 1" > /sys/bus/netdevsim/new_device || { fail "netdevsim device created"; finish; exit 1; }
wait_for 5 sh -c 'ls /sys/bus/netdevsim/devices/netdevsim1/net | grep -q .'
PF=$(ls /sys/bus/netdevsim/devices/netdevsim1/net/ | head -1)
vfline() { ip link show "$PF" | grep -E "^ +vf $1 "; }

has "list shows the netdevsim PF (no sriov_totalvfs: ?)" "^$PF pci netdevsim1 driver netdevsim vfs 0/\?" ctnet sriov list
check "numvfs 4" ctnet sriov numvfs "$PF" 4
has "sysfs sriov_numvfs is 4" "^4$" cat "/sys/class/net/$PF/device/sriov_numvfs"
has "list shows the 4 VFs the PF reports" "^  3 " ctnet sriov list
before=$(vfline 1)

echo "== each setting, then what the PF reports"
check "mac" ctnet sriov set "$PF" 1 --mac 02:00:00:00:00:11
has "  reported" "vf 1 .*02:00:00:00:00:11" ip link show "$PF"
check "vlan 30 qos 3 proto 802.1ad" ctnet sriov set "$PF" 1 --vlan 30 --qos 3 --proto 802.1ad
has "  reported" "vf 1 .*vlan 30, qos 3, vlan protocol 802.1ad" ip link show "$PF"
check "spoofchk on" ctnet sriov set "$PF" 1 --spoofchk on
has "  reported" "vf 1 .*spoof checking on" ip link show "$PF"
check "trust on" ctnet sriov set "$PF" 1 --trust on
has "  reported" "vf 1 .*trust on" ip link show "$PF"
check "link-state disable" ctnet sriov set "$PF" 1 --link-state disable
has "  reported" "vf 1 .*link-state disable" ip link show "$PF"
check "min-tx-rate 10 max-tx-rate 200" ctnet sriov set "$PF" 1 --min-tx-rate 10 --max-tx-rate 200
has "  reported" "vf 1 .*max_tx_rate 200Mbps, min_tx_rate 10Mbps" ip link show "$PF"
check "max-tx-rate alone keeps the min" ctnet sriov set "$PF" 1 --max-tx-rate 300
has "  reported" "vf 1 .*max_tx_rate 300Mbps, min_tx_rate 10Mbps" ip link show "$PF"
echo "$(vfline 1)"
has "list -o json: link_state" '"link_state": "disable"' ctnet sriov list -o json
has "list -o json: vlan_proto" '"vlan_proto": "802.1ad"' ctnet sriov list -o json
has "list -o json: min_tx_rate" '"min_tx_rate": 10' ctnet sriov list -o json
has "list: 30/3 ad" "30/3 ad" ctnet sriov list

echo "== errors"
checkerr "a VF the PF does not have" "has no VF 7" ctnet sriov set "$PF" 7 --trust on
checkerr "nothing to set" "nothing to set" ctnet sriov set "$PF" 1
ctnet ns add n1 >/dev/null
checkerr "attach needs VF netdevs (netdevsim has none)" "no free VF" ctnet sriov attach n1 --pf "$PF"
checkerr "attach refuses the zero MAC" "needs a real MAC" ctnet sriov attach n1 --pf "$PF" --mac 00:00:00:00:00:00

echo "== back to the start"
check "reset" ctnet sriov set "$PF" 1 --mac 00:00:00:00:00:00 --vlan 0 --spoofchk off --trust off --link-state auto \
  --min-tx-rate 0 --max-tx-rate 0
echo "$(vfline 1)"
check "VF 1 as before" [ "$(vfline 1)" = "$before" ]
check "numvfs 0" ctnet sriov numvfs "$PF" 0
finish
