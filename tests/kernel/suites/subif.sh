# ipvlan (l2, l3, l3s; bridge/private flags) and macvlan (bridge, private, vepa, passthru; shim) made by ctnet
# inside the VM, proved with pings sent by ctnet itself. Parents are dummy links of the guest.
. /t/lib.sh
echo "kernel $(uname -r)"
ip link add kp0 type dummy && ip link set kp0 up
for n in k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11 k12; do ctnet ns add $n >/dev/null || fail "ns add $n"; done

echo "== ipvlan l2 (bridge)"
check "ipvlan add l2 to k1" ctnet ipvlan add k1 --parent kp0 --mode l2 --addr 10.1.0.1/24
check "ipvlan add l2 to k2" ctnet ipvlan add k2 --parent kp0 --mode l2 --addr 10.1.0.2/24
has "k1/eth0 is ipvlan mode l2 bridge" "ipvlan  mode l2 bridge" ip -n k1 -d link show eth0
has "k1/eth0 has 10.1.0.1/24" "10.1.0.1/24" ip -n k1 addr show eth0
check "ipvlan l2 k1 -> k2 ping" ctnet ping k1 10.1.0.2 -c 2
check "ipvlan l2 k2 -> k1 ping" ctnet ping k2 10.1.0.1 -c 2
pmac=$(cat /sys/class/net/kp0/address)
has "ipvlan child shares the parent's MAC" "$pmac" ip -n k1 link show eth0
checkerr "ipvlan refuses --mac (usage error)" "mac|Mac|MAC" ctnet ipvlan add k1 --parent kp0 --mac 02:00:00:00:00:09 --name x

echo "== ipvlan l2 private"
ip link add kp1 type dummy && ip link set kp1 up
check "ipvlan add l2 private to k3" ctnet ipvlan add k3 --parent kp1 --mode l2 --flag private --addr 10.9.0.1/24
check "ipvlan add l2 private to k4" ctnet ipvlan add k4 --parent kp1 --mode l2 --flag private --addr 10.9.0.2/24
has "k3/eth0 is l2 private" "mode l2 private" ip -n k3 -d link show eth0
checkfail "ipvlan private children cannot talk" ctnet ping k3 10.9.0.2 -c 1 -W 1

echo "== ipvlan l3 (different subnets, default route through the device)"
ip link add kp2 type dummy && ip link set kp2 up
check "ipvlan add l3 to k5" ctnet ipvlan add k5 --parent kp2 --mode l3 --addr 10.3.0.1/32 --default-route
check "ipvlan add l3 to k6" ctnet ipvlan add k6 --parent kp2 --mode l3 --addr 10.4.0.1/32 --default-route
has "k5/eth0 is l3 and NOARP" "NOARP" ip -n k5 link show eth0
has "k5 default route dev eth0" "default dev eth0" ip -n k5 route
check "ipvlan l3 k5 -> k6 ping (10.3.0.1 -> 10.4.0.1)" ctnet ping k5 10.4.0.1 -c 2

echo "== ipvlan l3s"
ip link add kp3 type dummy && ip link set kp3 up
check "ipvlan add l3s to k7" ctnet ipvlan add k7 --parent kp3 --mode l3s --addr 10.5.0.1/24
check "ipvlan add l3s to k8" ctnet ipvlan add k8 --parent kp3 --mode l3s --addr 10.5.0.2/24
has "k7/eth0 is l3s" "ipvlan  mode l3s" ip -n k7 -d link show eth0
check "ipvlan l3s k7 -> k8 ping" ctnet ping k7 10.5.0.2 -c 2

echo "== name clash on the host, MTU, removal"
ip link add eth1 type dummy
check "ipvlan named eth1 in k9 although the host has an eth1" ctnet ipvlan add k9 --parent kp0 --name eth1 --addr 10.1.0.9/24
has "k9 has eth1" "eth1@" ip -n k9 link show eth1
check "ipvlan l2 k9 -> k1 ping" ctnet ping k9 10.1.0.1 -c 1
checkerr "MTU above the parent's is refused" "larger than the MTU 1500" ctnet ipvlan add k9 --parent kp0 --name big --mtu 9000
lacks "nothing left by the refused add" "big" ip -n k9 link
lacks "no temporary link left on the host" "ivtm|mvtm" ip link
check "ipvlan --mtu 1400 accepted" ctnet ipvlan add k9 --parent kp0 --name small --mtu 1400
has "k9/small has mtu 1400" "mtu 1400" ip -n k9 link show small
checkerr "existing name in the namespace is refused" "already exists" ctnet ipvlan add k9 --parent kp0 --name small
checkerr "missing parent is refused" "does not exist" ctnet ipvlan add k9 --parent nosuch0 --name x
check "ipvlan del" ctnet ipvlan del k9 --name small
lacks "k9/small is gone" "small" ip -n k9 link
has "ipvlan del again is fine" "absent" ctnet ipvlan del k9 --name small
checkerr "ipvlan del refuses a link of another kind" "not a ipvlan|is a" ctnet ipvlan del k9 --name lo

echo "== macvlan modes"
ip link add kp4 type dummy && ip link set kp4 up
check "macvlan bridge to k10" ctnet macvlan add k10 --parent kp4 --mode bridge --addr 10.6.0.1/24 --mac 02:00:00:06:00:01
check "macvlan bridge to k11" ctnet macvlan add k11 --parent kp4 --mode bridge --addr 10.6.0.2/24
has "k10/eth0 is macvlan mode bridge" "macvlan mode bridge" ip -n k10 -d link show eth0
has "k10/eth0 has the MAC asked for" "02:00:00:06:00:01" ip -n k10 link show eth0
check "macvlan bridge k10 -> k11 ping" ctnet ping k10 10.6.0.2 -c 2
ip link add kp5 type dummy && ip link set kp5 up
check "macvlan private to k10" ctnet macvlan add k10 --parent kp5 --mode private --name priv --addr 10.6.1.1/24
check "macvlan private to k11" ctnet macvlan add k11 --parent kp5 --mode private --name priv --addr 10.6.1.2/24
checkfail "macvlan private children cannot talk" ctnet ping k10 10.6.1.2 -c 1 -W 1
ip link add kp6 type dummy && ip link set kp6 up
check "macvlan vepa to k10" ctnet macvlan add k10 --parent kp6 --mode vepa --name vepa --addr 10.6.2.1/24
check "macvlan vepa to k11" ctnet macvlan add k11 --parent kp6 --mode vepa --name vepa --addr 10.6.2.2/24
has "k10/vepa is mode vepa" "macvlan mode vepa" ip -n k10 -d link show vepa
checkfail "macvlan vepa: no hairpin switch behind a dummy, no traffic" ctnet ping k10 10.6.2.2 -c 1 -W 1
ip link add kp7 type dummy && ip link set kp7 up
check "macvlan passthru to k12" ctnet macvlan add k12 --parent kp7 --mode passthru --addr 10.6.3.1/24
has "k12/eth0 is mode passthru" "macvlan mode passthru" ip -n k12 -d link show eth0
checkfail "a second passthru child is refused by the kernel" ctnet macvlan add k11 --parent kp7 --mode passthru --name pt
lacks "nothing left by the refused passthru" " pt" ip -n k11 link

echo "== macvlan shim: the host reaches its own macvlan children"
ip link add kp8 type dummy && ip link set kp8 up && ip addr add 10.8.0.253/24 dev kp8
check "macvlan child in k1 on kp8" ctnet macvlan add k1 --parent kp8 --name mv --addr 10.8.0.1/24
checkfail "without a shim the host cannot reach the child" ctnet ping pid:1 10.8.0.1 -c 1 -W 1
check "macvlan shim" ctnet macvlan shim --parent kp8 --addr 10.8.0.254/32 --route 10.8.0.0/28
has "shim-kp8 is a macvlan in bridge mode" "macvlan mode bridge" ip -d link show shim-kp8
check "with the shim the host reaches the child" ctnet ping pid:1 10.8.0.1 -c 2
check "shim-del" ctnet macvlan shim-del --parent kp8
lacks "shim gone" "shim-kp8" ip link
check "macvlan del" ctnet macvlan del k1 --name mv
has "macvlan del again is fine" "absent" ctnet macvlan del k1 --name mv

echo "== CNI vlan (802.1Q, this machine's kernel has no 8021q)"
mkdir -p /tmp/cnib && for p in vlan dummy host-local; do ln -sf /t/ctnet /tmp/cnib/$p; done
cni() {  # COMMAND NAMESPACE IFNAME CONF (the plugin is the conf's type)
  local type; type=$(echo "$4" | grep -o '"type":"[a-z-]*"' | head -1 | cut -d'"' -f4)
  echo "$4" | CNI_COMMAND=$1 CNI_CONTAINERID=kv-$2-$3 CNI_NETNS=/run/netns/$2 CNI_IFNAME=$3 CNI_PATH=/tmp/cnib /tmp/cnib/$type
}
ip link add kpv type dummy && ip link set kpv up
for n in kv1 kv2 kv3; do ctnet ns add $n >/dev/null || fail "ns add $n"; done
vconf='{"cniVersion":"1.0.0","name":"kvlan","type":"vlan","master":"kpv","vlanId":42,"mtu":1400,
        "ipam":{"type":"host-local","subnet":"10.42.0.0/24","dataDir":"/tmp/kvipam"}}'
has "ADD: the result names eth0" '"name":"eth0"' cni ADD kv1 eth0 "$vconf"
has "  kv1/eth0 is VLAN 42 of kpv" "vlan protocol 802.1Q id 42" ip -n kv1 -d link show eth0
has "  with MTU 1400 and its address" "mtu 1400 .*|10.42.0.2/24" ip -n kv1 addr show eth0
has "ADD in kv2 as net1" '"name":"net1"' cni ADD kv2 net1 "$(echo "$vconf" | sed 's/"vlanId":42/"vlanId":43/')"
checkerr "the same VLAN ID twice on kpv is the kernel's refusal, named" "cannot create vlan" cni ADD kv3 eth0 "$vconf"
lacks "  and kv3 has no eth0" "eth0" ip -n kv3 link
check "DEL" cni DEL kv1 eth0 "$vconf"
lacks "  kv1/eth0 is gone" "eth0" ip -n kv1 link
check "DEL again is fine" cni DEL kv1 eth0 "$vconf"
check "DEL of net1" cni DEL kv2 net1 "$(echo "$vconf" | sed 's/"vlanId":42/"vlanId":43/')"
lacks "no VLAN left on kpv" "kpv" ip -d link show type vlan
lacks "no lease left" "10.42" ls /tmp/kvipam/kvlan

echo "== CNI dummy"
dconf='{"cniVersion":"1.0.0","name":"kdummy","type":"dummy","mtu":9000,
        "ipam":{"type":"host-local","subnet":"10.43.0.0/24","routes":[{"dst":"10.44.0.0/16"}],"dataDir":"/tmp/kvipam"}}'
has "ADD: the result names dum0" '"name":"dum0"' cni ADD kv3 dum0 "$dconf"
has "  kv3/dum0 is a dummy link" "^ +dummy " ip -n kv3 -d link show dum0
has "  with MTU 9000" "mtu 9000" ip -n kv3 link show dum0
has "  with its address" "10.43.0.2/24" ip -n kv3 addr show dum0
has "  and the route through it, via the subnet's gateway" "10.44.0.0/16 via 10.43.0.1 dev dum0" ip -n kv3 route
checkerr "a taken name is refused" "already exists" cni ADD kv3 dum0 "$(echo "$dconf" | sed 's/kdummy/kdummy2/')"
check "DEL" cni DEL kv3 dum0 "$dconf"
lacks "  dum0 is gone" "dum0" ip -n kv3 link
lacks "  and its lease" "10.43" ls /tmp/kvipam/kdummy

for n in kv1 kv2 kv3; do ctnet ns del $n >/dev/null || fail "ns del $n"; done

echo "== cleanup"
for n in k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11 k12; do ctnet ns del $n >/dev/null || fail "ns del $n"; done
lacks "no ipvlan/macvlan left anywhere on the host" "ipvlan|macvlan" ip -d link
finish
