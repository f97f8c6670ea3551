# `ctnet link add vlan|dummy|ipvlan` (the kinds this development machine's kernel lacks) with --ns and -o json,
# plus addr/route on them, on Debian's stock kernel. The verbs go through the kinds' drivers; what the kernel
# made is read back with `ip -d`.
. /t/lib.sh
echo "kernel $(uname -r)"
ctnet ns add iv1 >/dev/null || fail "ns add iv1"
ctnet ns add iv2 >/dev/null || fail "ns add iv2"

echo "== dummy"
has "link add dummy in iv1, JSON with its ifindex" '"ifindex": [0-9]+' ctnet link add dummy dm0 --ns iv1 --mtu 9000 -o json
has "iv1/dm0 is a dummy, up, mtu 9000" "mtu 9000" ip -n iv1 -d link show dm0
has "iv1/dm0 is a dummy" "dummy" ip -n iv1 -d link show dm0
check "addr add to the dummy" ctnet addr add 10.61.0.1/24 dm0 --ns iv1
has "addr list -o json shows it" '"local": "10.61.0.1"' ctnet addr list dm0 --ns iv1 -o json
check "route add through the dummy" ctnet route add 10.62.0.0/16 --dev dm0 --ns iv1
has "route get resolves through it" '"dev": "dm0"' ctnet route get 10.62.3.4 --ns iv1 -o json
checkerr "a second dummy of the same name is refused" "exists" ctnet link add dummy dm0 --ns iv1

echo "== vlan (802.1Q) on a dummy parent in the namespace"
has "link add vlan id 100" '"kind": "vlan"' ctnet link add vlan dm0.100 --parent dm0 --id 100 --ns iv1 -o json
has "iv1/dm0.100 is vlan id 100 on dm0" "vlan protocol 802.1Q id 100" ip -n iv1 -d link show dm0.100
has "its parent is dm0" "dm0.100@dm0" ip -n iv1 link show dm0.100
checkerr "vlan id 0 is refused, naming --id" "--id" ctnet link add vlan dm0.0 --parent dm0 --id 0 --ns iv1
checkerr "vlan without --parent is refused" "--parent" ctnet link add vlan v1 --id 5 --ns iv1
lacks "nothing half-made after refusals" "dm0.0|v1@" ip -n iv1 link show

echo "== vlan in another namespace than its parent (--parent-ns)"
ip link add ivp0 type dummy && ip link set ivp0 up
has "link add vlan into iv2 from a host parent" '"namespace": "iv2"' ctnet link add vlan eth0 --parent ivp0 --parent-ns pid:1 --id 7 --ns iv2 -o json
has "iv2/eth0 is vlan id 7" "vlan protocol 802.1Q id 7" ip -n iv2 -d link show eth0

echo "== ipvlan on a dummy parent"
has "link add ipvlan l3 in iv1" '"kind": "ipvlan"' ctnet link add ipvlan ipv0 --parent dm0 --mode l3 --ns iv1 -o json
has "iv1/ipv0 is ipvlan mode l3" "ipvlan  mode l3" ip -n iv1 -d link show ipv0
checkerr "ipvlan refuses --mac, naming it" "--mac" ctnet link add ipvlan ipv1 --parent dm0 --mac 02:00:00:00:00:01 --ns iv1
checkerr "ipvlan refuses a bad mode, naming --mode" "--mode" ctnet link add ipvlan ipv1 --parent dm0 --mode l9 --ns iv1
check "addr add to the ipvlan" ctnet addr add 10.63.0.1/32 ipv0 --ns iv1
has "show --brief lists it" "ipv0" ctnet show iv1 --brief

echo "== link del takes them through their drivers"
check "del vlan" ctnet link del dm0.100 --ns iv1
check "del ipvlan" ctnet link del ipv0 --ns iv1
check "del dummy" ctnet link del dm0 --ns iv1
lacks "iv1 has only lo" "dm0|ipv0" ip -n iv1 link show
check "del again is fine" ctnet link del dm0 --ns iv1

ctnet ns del iv1 >/dev/null
ctnet ns del iv2 >/dev/null
ip link del ivp0
finish
