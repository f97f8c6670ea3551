# SR-IOV on an emulated Intel 82576 (QEMU 10 `-device igb`, driver igb, VFs driven by igbvf): numvfs, list,
# VFs handed to namespaces with MAC/VLAN/QoS/spoofchk/trust set through the PF, VF-to-VF ping, the settings igb
# refuses, release restoring the VF (also after the namespace was deleted, or with its old name taken), a failure
# after the move rolled back, a vfio-pci VF never moved.
. /t/lib.sh
echo "kernel $(uname -r)"
PF=$(for n in /sys/class/net/*; do [ -e "$n/device/sriov_totalvfs" ] && basename "$n"; done | head -1)
if [ -z "$PF" ]; then fail "an SR-IOV PF exists in the VM (igb)"; finish; exit 1; fi
ip link set "$PF" up
vfline() { ip link show "$PF" | grep -E "^ +vf $1 "; }
vfnet() { ls "/sys/class/net/$PF/device/virtfn$1/net" 2>/dev/null; }
vfpci() { basename "$(readlink "/sys/class/net/$PF/device/virtfn$1")"; }
# The PF's view of a VF without its MAC: once no administrative MAC is set, igb reports the MAC the VF driver
# itself uses (00:00:00:00:00:00 before any was ever set), so the MAC is checked on the VF's netdev instead.
vfrest() { vfline "$1" | sed 's|link/ether [0-9a-f:]* brd [0-9a-f:]*,||'; }
netmac() { cat "/sys/class/net/$1/address"; }

echo "== numvfs and list"
has "list shows the PF, driver igb, 0 of 7 VFs" "^$PF pci .* driver igb vfs 0/7" ctnet sriov list
check "numvfs 2" ctnet sriov numvfs "$PF" 2
check "numvfs 2 -> 4 (the kernel needs 0 in between)" ctnet sriov numvfs "$PF" 4
has "sysfs sriov_numvfs is 4" "^4$" cat "/sys/class/net/$PF/device/sriov_numvfs"
checkerr "numvfs above sriov_totalvfs is refused" "not in 0..7" ctnet sriov numvfs "$PF" 8
wait_for 20 sh -c "for i in 0 1 2 3; do ls /sys/class/net/$PF/device/virtfn\$i/net | grep -q . || exit 1; done" \
  || echo "note: not every VF netdev appeared"
ctnet sriov list
check "list -o json reports 4 igbvf VFs with netdevs" \
  sh -c "[ \$(ctnet sriov list -o json | grep -c '\"driver\": \"igbvf\"') = 4 ] && ! ctnet sriov list -o json | grep -q '\"netdev\": null'"
VF0=$(vfnet 0); VF1=$(vfnet 1); VF2=$(vfnet 2); VF3=$(vfnet 3)
echo "VF netdevs: $VF0 $VF1 $VF2 $VF3"
before0=$(vfrest 0); before1=$(vfrest 1); before2=$(vfrest 2)
mac0=$(netmac "$VF0"); mac1=$(netmac "$VF1"); mac2=$(netmac "$VF2"); mtu0=$(cat "/sys/class/net/$VF0/mtu")
echo "before: $before0"
for n in s1 s2 s3 s4 s5; do ctnet ns add $n >/dev/null || fail "ns add $n"; done

echo "== two VFs to two namespaces"
check "attach VF 0 to s1 (mac, vlan 10 qos 2, spoofchk on, trust on)" \
  ctnet sriov attach s1 --pf "$PF" --vf 0 --mac 02:00:00:07:00:01 --vlan 10 --qos 2 --spoofchk on --trust on \
  --addr 10.7.0.1/24 --name vf0
has "the PF holds VF 0's settings" "vf 0 .*02:00:00:07:00:01.*vlan 10, qos 2.*spoof checking on.*trust on" ip link show "$PF"
check "attach the first free VF to s2 (mac, vlan 10, spoofchk off, trust off)" \
  ctnet sriov attach s2 --pf "$PF" --mac 02:00:00:07:00:02 --vlan 10 --spoofchk off --trust off --addr 10.7.0.2/24 --name vf0
has "it is VF 1, settings on the PF" "vf 1 .*02:00:00:07:00:02.*vlan 10,.*spoof checking off.*trust off" ip link show "$PF"
has "s1/vf0 carries the MAC" "02:00:00:07:00:01" ip -n s1 link show vf0
has "s1/vf0 has its address" "10.7.0.1/24" ip -n s1 addr show vf0
lacks "VF 0's netdev left the host" "^$VF0\$" ls /sys/class/net
has "list shows the allocations" "s1:vf0" ctnet sriov list
wait_for 20 sh -c "ip -n s1 link show vf0 | grep -q LOWER_UP && ip -n s2 link show vf0 | grep -q LOWER_UP" \
  || echo "note: no carrier on the VFs after 20 s"
check "VF-to-VF ping s1 -> s2 (both on VLAN 10)" ctnet ping s1 10.7.0.2 -c 3 -W 2
check "VF-to-VF ping s2 -> s1" ctnet ping s2 10.7.0.1 -c 2 -W 2
checkerr "the same VF twice is refused" "already attached to namespace 's1'" ctnet sriov attach s3 --pf "$PF" --vf 0
checkerr "numvfs while VFs are attached is refused" "detach it before" ctnet sriov numvfs "$PF" 2
checkerr "set on an attached VF is refused" "belong to that attachment" ctnet sriov set "$PF" 0 --trust off

echo "== two attaches at the same time get different VFs"
ctnet sriov attach s3 --pf "$PF" --name vf0 >/tmp/a3 2>&1 & p3=$!
ctnet sriov attach s4 --pf "$PF" --name vf0 >/tmp/a4 2>&1 & p4=$!
wait $p3; r3=$?; wait $p4; r4=$?
cat /tmp/a3 /tmp/a4
check "both succeed" [ "$r3" = 0 -a "$r4" = 0 ]
check "with different VFs" sh -c '[ "$(grep -o "^VF [0-9]*" /tmp/a3)" != "$(grep -o "^VF [0-9]*" /tmp/a4)" ]'
checkerr "then no VF is free" "no free VF" ctnet sriov attach s5 --pf "$PF"
check "detach s3" ctnet sriov detach s3 --name vf0
check "detach s4" ctnet sriov detach s4 --name vf0

echo "== settings igb refuses: a clear error, the VF left as it was"
checkerr "link-state: error names setting and driver" "driver igb refused 'link-state disable' for VF 2" \
  ctnet sriov attach s5 --pf "$PF" --vf 2 --mac 02:00:00:07:00:05 --link-state disable
check "VF 2 settings restored (the MAC set before the refusal too)" [ "$(vfrest 2)" = "$before2" ]
lacks "no administrative MAC left on VF 2" "vf 2 .*02:00:00:07:00:05" ip link show "$PF"
check "VF 2 netdev MAC unchanged" [ "$(netmac "$VF2")" = "$mac2" ]
check "VF 2 netdev still on the host" test -e "/sys/class/net/$VF2"
lacks "no allocation left for the refused attach" "s5" ctnet sriov list
checkerr "min-tx-rate refused" "driver igb refused 'min-tx-rate 10 max-tx-rate 100'" \
  ctnet sriov attach s5 --pf "$PF" --vf 2 --min-tx-rate 10 --max-tx-rate 100
checkerr "802.1ad refused" "driver igb refused 'vlan 20 qos 0 proto 802.1ad'" \
  ctnet sriov attach s5 --pf "$PF" --vf 2 --vlan 20 --proto 802.1ad
check "VF 2 still as it was" [ "$(vfrest 2)" = "$before2" ]
checkerr "a bad VLAN is refused before anything happens" "4094" ctnet sriov attach s5 --pf "$PF" --vf 2 --vlan 5000
# max_tx_rate alone: igb takes it when the link runs at a known speed
if out=$(ctnet sriov attach s5 --pf "$PF" --vf 2 --max-tx-rate 100 --name v2 2>&1); then
  echo "FACT: igb accepted max-tx-rate 100: $(vfline 2)"
  has "max_tx_rate shows on the PF" "vf 2 .*max_tx_rate 100Mbps" ip link show "$PF"
  check "detach s5" ctnet sriov detach s5 --name v2
else
  echo "FACT: igb refused max-tx-rate 100: $out"
fi
check "VF 2 back as it was" [ "$(vfrest 2)" = "$before2" ]

echo "== attach by PCI address"
check "attach --pci $(vfpci 2)" ctnet sriov attach s5 --pf "$PF" --pci "$(vfpci 2)" --name byaddr --addr 10.7.0.5/24
has "s5/byaddr exists" "byaddr" ip -n s5 link
check "detach it" ctnet sriov detach s5 --name byaddr

echo "== release restores the VF"
check "detach s1/vf0" ctnet sriov detach s1 --name vf0
check "VF 0 back on the host under its old name $VF0" test -e "/sys/class/net/$VF0"
check "VF 0 settings restored on the PF" [ "$(vfrest 0)" = "$before0" ]
lacks "no administrative MAC left on VF 0" "vf 0 .*02:00:00:07:00:01" ip link show "$PF"
check "VF 0 netdev has its old MAC $mac0" [ "$(netmac "$VF0")" = "$mac0" ]
echo "after: $(vfline 0)"
lacks "s1 has no vf0" "vf0" ip -n s1 link
ip netns del s2   # a runtime deleting the namespace first: the kernel hands the VF netdev back to the host
check "detach after the namespace was deleted" ctnet sriov detach s2 --name vf0
check "VF 1 back under its old name $VF1" test -e "/sys/class/net/$VF1"
check "VF 1 settings restored" [ "$(vfrest 1)" = "$before1" ]
check "VF 1 netdev has its old MAC $mac1" [ "$(netmac "$VF1")" = "$mac1" ]
has "detach again: nothing to do" "no VF attached" ctnet sriov detach s2 --name vf0

echo "== a failure after the move rolls back through the recorded steps"
# (VF 0 was attached and released before: its MAC goes onto the netdev again; igbvf refuses the MTU, after the move)
checkerr "a refusal after the VF moved fails the attach" "cannot set the MTU of vf0 in namespace 's1'" \
  ctnet sriov attach s1 --pf "$PF" --vf 0 --mac 02:00:00:07:00:09 --vlan 30 --addr 10.7.0.9/24 --mtu 65000 --name vf0
lacks "  s1 has no vf0" "vf0" ip -n s1 link
check "  VF 0 back on the host under its old name $VF0" test -e "/sys/class/net/$VF0"
check "  VF 0 settings restored" [ "$(vfrest 0)" = "$before0" ]
lacks "  no administrative MAC left on VF 0" "vf 0 .*02:00:00:07:00:09" ip link show "$PF"
check "  VF 0 netdev has its old MAC" [ "$(netmac "$VF0")" = "$mac0" ]
lacks "  no allocation left" "s1:vf0" ctnet sriov list

echo "== release when the VF's old name is taken on the host meanwhile"
check "attach VF 0 to s1 (vlan 20, mtu 1400)" ctnet sriov attach s1 --pf "$PF" --vf 0 --vlan 20 --mtu 1400 --name vf0
has "  s1/vf0 has mtu 1400" "mtu 1400" ip -n s1 link show vf0
ip link add "$VF0" type dummy
check "detach while $VF0 is taken" ctnet sriov detach s1 --name vf0
has "  VF 0 came back under a temporary name" "^ctr" ls "/sys/class/net/$PF/device/virtfn0/net"
check "  VF 0 settings restored" [ "$(vfrest 0)" = "$before0" ]
check "  its MTU put back ($mtu0)" [ "$(cat "/sys/class/net/$(vfnet 0)/mtu")" = "$mtu0" ]
lacks "  no allocation left" "s1:vf0" ctnet sriov list
ip link del "$VF0"; ip link set "$(vfnet 0)" name "$VF0"

echo "== a record of an older ctnet (no id, no steps) is released from its fields"
P1=$(vfpci 1)
check "attach VF 1 to s3 (vlan 50)" ctnet sriov attach s3 --pf "$PF" --vf 1 --vlan 50 --name old
cat > "/run/ctnet/sriov/$P1.json" <<EOF
{"pf": "$PF", "pf_pci": "$(basename "$(readlink "/sys/class/net/$PF/device")")", "driver": "igb", "vf": 1,
 "pci": "$P1", "netns": "s3", "name": "old", "host_name": "$VF1",
 "saved": {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "proto": "802.1Q"}, "applied": {"vlan": 50}}
EOF
has "  listed as attached" "s3:old" ctnet sriov list
check "detach it" ctnet sriov detach s3 --name old
check "  VF 1 back under its old name $VF1" test -e "/sys/class/net/$VF1"
check "  VF 1 settings restored" [ "$(vfrest 1)" = "$before1" ]
lacks "  no allocation left" "s3:old" ctnet sriov list

echo "== a lab with a VF (the topology face on the vf kind)"
printf '%s\n' "name: kvf" "namespaces: [kv1]" "links:" "  - kind: vf" "    pf: $PF" "    vlan: 20" \
  "    mac: 02:00:00:07:00:20" '    endpoint: "kv1:lan0=10.7.20.1/24"' > /tmp/kvf.yaml
check "up: the first free VF goes to kv1 as lan0" ctnet up /tmp/kvf.yaml
has "  it carries its address" "10.7.20.1/24" ip -n kv1 addr show lan0
has "  the PF holds its VLAN and MAC" "vf [0-9] .*02:00:00:07:00:20.*vlan 20" ip link show "$PF"
has "  up again finds it as specified" " 0 created, 0 repaired, 0 failed" ctnet up /tmp/kvf.yaml
ip -n kv1 link set lan0 down
has "up repairs it after it was set down" " 0 created, 1 repaired, 0 failed" ctnet up /tmp/kvf.yaml
has "  it is up again" "[<,]UP[,>]" ip -n kv1 link show lan0
check "down gives it back" ctnet down kvf
lacks "  its namespace is gone" "^kv1" ip netns list
lacks "  the PF holds no VF with its VLAN any more" "vlan 20" ip link show "$PF"

echo "== a VF bound to vfio-pci is reported and never moved"
M=/t/mods
# (the VM has an emulated intel-iommu: Debian's kernel has no CONFIG_VFIO_NOIOMMU)
insmod $M/irqbypass.ko; insmod $M/vfio.ko; insmod $M/vfio_virqfd.ko
insmod $M/vfio-pci-core.ko; insmod $M/vfio-pci.ko
P3=$(vfpci 3)
echo vfio-pci > "/sys/bus/pci/devices/$P3/driver_override"
echo "$P3" > "/sys/bus/pci/devices/$P3/driver/unbind"
echo "$P3" > /sys/bus/pci/drivers_probe
has "VF 3 is bound to vfio-pci" "vfio-pci" readlink "/sys/bus/pci/devices/$P3/driver"
has "list -o json reports it as userspace" "\"driver\": \"vfio-pci\"," ctnet sriov list -o json
ctnet sriov list
checkerr "attach --vf 3 is refused" "bound to vfio-pci, a userspace" ctnet sriov attach s5 --pf "$PF" --vf 3
check "its settings can still be set through the PF (for the DPDK program)" \
  ctnet sriov set "$PF" 3 --mac 02:00:00:07:00:33 --vlan 40
has "  reported" "vf 3 .*02:00:00:07:00:33.*vlan 40" ip link show "$PF"
checkerr "set: a refused setting is named" "driver igb refused 'link-state disable' for VF 3" \
  ctnet sriov set "$PF" 3 --trust on --link-state disable
has "  and what was applied before it is put back (trust off)" "vf 3 .*02:00:00:07:00:33.*vlan 40.*trust off" ip link show "$PF"
check "set: back to no MAC, no VLAN" ctnet sriov set "$PF" 3 --mac 00:00:00:00:00:00 --vlan 0
check "the first-free choice skips it" sh -c "ctnet sriov attach s5 --pf $PF --name auto | grep -v 'VF 3'"
check "detach it" ctnet sriov detach s5 --name auto
echo "$P3" > "/sys/bus/pci/devices/$P3/driver/unbind"; echo > "/sys/bus/pci/devices/$P3/driver_override"

echo "== cleanup"
check "numvfs 0" ctnet sriov numvfs "$PF" 0
lacks "no VFs left" "virtfn" ls "/sys/class/net/$PF/device"
for n in s1 s3 s4 s5; do ctnet ns del $n >/dev/null || fail "ns del $n"; done
finish
