# iptables-legacy's FORWARD policy, read by `explain` and `doctor` through the legacy tables' kernel interface
# (IPT_SO_GET_INFO/GET_ENTRIES): this machine's kernel has no ip_tables module, Debian's does. iptable_filter
# loaded with forward=0 makes the filter table in every namespace at once, FORWARD policy DROP
# (iptable_filter_net_init), as `iptables-legacy -P FORWARD DROP` would: a router's forwarding stops,
# `explain` says netfilter-drop at the router, the probe's drop agrees, and `doctor` names the chain where
# bridged frames go through it (br_netfilter loaded).
. /t/lib.sh
echo "kernel $(uname -r)"
M=/t/mods
insmod $M/x_tables.ko; insmod $M/ip_tables.ko; insmod $M/iptable_filter.ko forward=0
check "ip_tables and iptable_filter (forward=0) are loaded" grep -q '^iptable_filter ' /proc/modules
for n in kla klr klb; do ip netns add $n; ip -n $n link set lo up; done
ip -n kla link add eth0 type veth peer name ra netns klr
ip -n klb link add eth0 type veth peer name rb netns klr
ip -n klr link add klbr0 type bridge   # doctor reads the forward chains where a bridge is
ip -n kla addr add 10.71.1.2/24 dev eth0; ip -n klb addr add 10.71.2.2/24 dev eth0
ip -n klr addr add 10.71.1.1/24 dev ra; ip -n klr addr add 10.71.2.1/24 dev rb
for l in "kla eth0" "klb eth0" "klr ra" "klr rb"; do set -- $l; ip -n $1 link set $2 up; done
ip -n kla route add default via 10.71.1.1; ip -n klb route add default via 10.71.2.1
ip netns exec klr sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
code() { ctnet explain "$@" -o json | grep -o '"reason": *[^,]*' | head -1; }
hopns() { ctnet explain "$@" -o json | tr -d '\n' | grep -o '"hop": *{[^}]*' | grep -o '"namespace": *"[^"]*"'; }

check "the kernel made the filter table in klr" ip netns exec klr grep -q '^filter$' /proc/net/ip_tables_names
has "  the router's own address (INPUT accepts): reaches" "reaches 10.71.1.1" ctnet explain kla 10.71.1.1
checkfail "forwarding through klr stops (FORWARD policy DROP)" ctnet ping kla 10.71.2.2 -c 1 -W 1
has "explain: netfilter-drop" '"netfilter-drop"' code kla 10.71.2.2
has "  at the router" '"klr"' hopns kla 10.71.2.2
has "  naming iptables-legacy's FORWARD policy" "iptables-legacy filter FORWARD has policy DROP" sh -c 'ctnet explain kla 10.71.2.2 || true'
has "  the probe sees the drop and agrees" "probe agrees" sh -c 'ctnet explain kla 10.71.2.2 --probe 2>&1 || true'
insmod $M/br_netfilter.ko
check "br_netfilter is loaded" test -d /proc/sys/net/bridge
has "doctor klr names the legacy chain" "filter \(iptables-legacy\) FORWARD in namespace 'klr' drops forwarded packets" sh -c 'ctnet doctor klr || true'
has "  and, with bridge-nf-call-iptables = 1 there, fails: bridged traffic is being dropped" \
  "\[fail\] bridge-nf-call-iptables: .*chain ip filter \(iptables-legacy\) FORWARD has policy drop" sh -c 'ctnet doctor klr || true'
checkfail "  doctor exits non-zero" ctnet doctor klr
for n in kla klr klb; do ip netns del $n; done
finish
