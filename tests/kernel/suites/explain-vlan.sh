# `ctnet explain` on a VLAN-filtering bridge (this machine's kernel has no bridge VLAN filtering): the default
# (PVID 1 untagged everywhere) reaches; a port that is not a member of the VLAN, a VLAN leaving a port tagged, and
# a port without a PVID each stop with code `vlan` at that port; the probe agrees.
. /t/lib.sh
echo "kernel $(uname -r)"
code() { ctnet explain "$@" -o json | grep -o '"reason": *[^,]*' | head -1; }
probe() { ctnet explain "$@" --probe 2>&1 || true; }  # a walk that stops exits 1
hopdev() { ctnet explain "$@" -o json | tr -d '\n' | grep -o '"hop": *{[^}]*' | grep -o '"device": *"[^"]*"'; }
for n in kvh kva kvb; do ip netns add $n; ip -n $n link set lo up; done
ip -n kvh link add br0 type bridge vlan_filtering 1; ip -n kvh link set br0 up
for x in a b; do
  ip -n kvh link add v$x type veth peer name eth0 netns kv$x
  ip -n kvh link set v$x master br0 up; ip -n kv$x link set eth0 up
done
ip -n kva addr add 10.70.0.1/24 dev eth0; ip -n kvb addr add 10.70.0.2/24 dev eth0
has "VLAN filtering on, PVID 1 untagged on every port: reaches" "reaches 10.70.0.2" ctnet explain kva kvb
has "  and says which VLAN" "VLAN 1: PVID of va, untagged on vb" ctnet explain kva kvb
has "  the probe agrees" "probe agrees" probe kva kvb
ip netns exec kvh bridge vlan del dev vb vid 1
has "vb not in VLAN 1: vlan" '"vlan"' code kva kvb
has "  at vb" '"vb"' hopdev kva kvb
has "  the probe agrees" "probe agrees" probe kva kvb
ip netns exec kvh bridge vlan add dev vb vid 1
has "VLAN 1 leaves vb tagged: vlan" '"vlan"' code kva kvb
ip netns exec kvh bridge vlan add dev vb vid 1 pvid untagged
ip netns exec kvh bridge vlan del dev va vid 1
ip netns exec kvh bridge vlan add dev va vid 1
has "va without a PVID: vlan at va" '"va"' hopdev kva kvb
ip netns exec kvh bridge vlan add dev va vid 1 pvid untagged
has "all back: reaches" "reaches 10.70.0.2" ctnet explain kva kvb
for n in kvh kva kvb; do ip netns del $n; done
finish
