# The CNI vrf plugin (this machine's kernel has no VRF driver): chained after ctnet's bridge, the VRF made in the
# container (the first free table, or `table`), the interface enslaved with its IPv6 address and its routes in the
# VRF's table, pings through the VRF, a second interface in the same VRF, an existing VRF with another table
# refused, CHECK, DEL releasing the interfaces and deleting the VRF with the last one; then every kernel request
# of an ADD failed in turn (CTNET_FAULT_REQUEST), each leaving the container as it was.
. /t/lib.sh
echo "kernel $(uname -r)"
mkdir -p /tmp/cnib && for p in vrf bridge host-local; do ln -sf /t/ctnet /tmp/cnib/$p; done
cni() {  # COMMAND NAMESPACE IFNAME CONF (the plugin is the conf's type)
  local type; type=$(echo "$4" | grep -o '"type":"[a-z-]*"' | head -1 | cut -d'"' -f4)
  echo "$4" | CNI_COMMAND=$1 CNI_CONTAINERID=kr-$2-$3 CNI_NETNS=/run/netns/$2 CNI_IFNAME=$3 CNI_PATH=/tmp/cnib /tmp/cnib/$type
}
vrfconf() {  # VRFNAME PREVRESULT [EXTRA KEYS]
  echo "{\"cniVersion\":\"1.0.0\",\"name\":\"kvrf\",\"type\":\"vrf\",\"vrfname\":\"$1\"${3:+,$3},\"prevResult\":$2}"
}

echo "== CNI vrf"
for n in kr1 kr2; do ctnet ns add $n >/dev/null || fail "ns add $n"; done
bconf='{"cniVersion":"1.0.0","name":"kvnet","type":"bridge","bridge":"kvbr0","isGateway":true,
        "ipam":{"type":"host-local","ranges":[[{"subnet":"10.60.0.0/24"}],[{"subnet":"fd00:60::/64"}]],
                "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}],"dataDir":"/tmp/kvipam"}}'
prev=$(cni ADD kr1 eth0 "$bconf")
has "bridge ADD: kr1/eth0 with an IPv4 and an IPv6 address" 'fd00:60::2/64' echo "$prev"
out=$(cni ADD kr1 eth0 "$(vrfconf blue "$prev")")
has "vrf ADD: the result is prevResult, passed on" '"address":"fd00:60::2/64"' echo "$out"
has "  blue is a VRF with the first free table" "vrf table 1 " ip -n kr1 -d link show blue
has "  blue is up" "<NOARP,MASTER,UP" ip -n kr1 link show blue
has "  eth0 is in it" "master blue" ip -n kr1 link show eth0
has "  eth0 kept its IPv6 address (the kernel drops it on enslave)" "fd00:60::2/64" ip -n kr1 -6 addr show eth0
has "  and its IPv4 address" "10.60.0.2/24" ip -n kr1 addr show eth0
has "  the IPv4 default route is in the VRF's table" "default via 10.60.0.1 dev eth0" ip -n kr1 route show vrf blue
has "  the IPv6 default route too" "default via fd00:60::1 dev eth0" ip -n kr1 -6 route show vrf blue
lacks "  and none is left in the main table" "eth0" ip -n kr1 route show table main
has "  the kernel's l3mdev rule" "1000:.*l3mdev" ip -n kr1 rule
check "ping through the VRF (IPv4)" ip netns exec kr1 ping -c 1 -W 2 -I blue 10.60.0.1
check "ping through the VRF (IPv6)" ip netns exec kr1 ping -6 -c 1 -W 2 -I blue fd00:60::1
checkfail "  and not outside it (the main table has no route)" ip netns exec kr1 ping -c 1 -W 1 10.60.0.1
check "CHECK" cni CHECK kr1 eth0 "$(vrfconf blue "$prev")"

b2='{"cniVersion":"1.0.0","name":"kvnet2","type":"bridge","bridge":"kvbr1","isGateway":true,
     "ipam":{"type":"host-local","ranges":[[{"subnet":"10.61.0.0/24"}]],"dataDir":"/tmp/kvipam"}}'
prev2=$(cni ADD kr1 net1 "$b2")
check "a second interface into the same VRF" cni ADD kr1 net1 "$(vrfconf blue "$prev2")"
has "  net1 is in blue" "master blue" ip -n kr1 link show net1
has "  blue keeps its table" "vrf table 1 " ip -n kr1 -d link show blue
checkerr "blue with another table is refused, named" "exists already .* routing table 1 .*table is 77" \
  cni ADD kr1 net1 "$(vrfconf blue "$prev2" '"table":77')"
has "  and net1 stays in blue" "master blue" ip -n kr1 link show net1
prev3=$(cni ADD kr2 eth0 "$bconf")
check "vrf ADD with table 1001 in kr2" cni ADD kr2 eth0 "$(vrfconf red "$prev3" '"table":1001')"
has "  red has table 1001" "vrf table 1001 " ip -n kr2 -d link show red

check "DEL of net1" cni DEL kr1 net1 "$(vrfconf blue "$prev2")"
lacks "  net1 is out of blue" "master" ip -n kr1 link show net1
has "  blue stays for eth0" "master blue" ip -n kr1 link show eth0
check "DEL of eth0" cni DEL kr1 eth0 "$(vrfconf blue "$prev")"
lacks "  eth0 is out of blue" "master" ip -n kr1 link show eth0
lacks "  blue is gone with its last interface" "blue" ip -n kr1 link
check "DEL again is fine" cni DEL kr1 eth0 "$(vrfconf blue "$prev")"
check "DEL of red" cni DEL kr2 eth0 "$(vrfconf red "$prev3" '"table":1001')"
lacks "  red is gone" "red" ip -n kr2 link
check "bridge DELs" cni DEL kr1 net1 "$b2"
cni DEL kr1 eth0 "$bconf" >/dev/null && cni DEL kr2 eth0 "$bconf" >/dev/null || fail "bridge DEL"
lacks "no lease left" "10.6" ls /tmp/kvipam/kvnet /tmp/kvipam/kvnet2
for n in kr1 kr2; do ctnet ns del $n >/dev/null || fail "ns del $n"; done

echo "== CNI vrf: every request of an ADD failed in turn"
# The container as a main plugin leaves it: eth0 (a veth inside it) with both addresses and default routes. The
# kernel's l3mdev rules, which the first VRF of a namespace brings and which stay, are there before.
world() {
  ctnet ns del kf >/dev/null 2>&1; ctnet ns add kf >/dev/null
  ip -n kf link add eth0 type veth peer name eth0p && ip -n kf link set eth0p up && ip -n kf link set eth0 up
  ip -n kf addr add 10.62.0.5/24 dev eth0 && ip -n kf addr add fd00:62::5/64 dev eth0 nodad
  ip -n kf route add default via 10.62.0.1 dev eth0 && ip -n kf -6 route add default via fd00:62::1 dev eth0
  ip -n kf link add kfv type vrf table 9 && ip -n kf link del kfv
}
snap() {  # links (name, flags without carrier, master), addresses, routes of every table, rules; sorted
  {
    ip -n kf -o link show | while read -r _ name flags rest; do
      m=; [[ $rest =~ (master [^ ]+) ]] && m=${BASH_REMATCH[1]}
      echo "link ${name%%@*} ${flags//,LOWER_UP/} $m"
    done
    ip -n kf -o addr show | while read -r _ dev _ a _; do echo "addr $dev $a"; done
    ip -n kf route show table all; ip -n kf -6 route show table all; ip -n kf rule; ip -n kf -6 rule
  } | grep -vE '^(local|broadcast|multicast|anycast) |^addr .* fe80:' | sort
}
fprev='{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/kf"}],"ips":[{"address":"10.62.0.5/24","interface":0}]}'
fconf=$(vrfconf kfblue "$fprev")
fadd() { echo "$fconf" | env "$@" CNI_COMMAND=ADD CNI_CONTAINERID=kf CNI_NETNS=/run/netns/kf CNI_IFNAME=eth0 CNI_PATH=/tmp/cnib /tmp/cnib/vrf; }
world; before=$(snap)
fadd CTNET_FAULT_COUNT=/tmp/kfcount >/dev/null || fail "the ADD without a fault"
n=$(awk '/requests/ {print $2}' /tmp/kfcount)
has "  the ADD takes $n kernel requests" "^[1-9][0-9]*$" echo "$n"
world; before=$(snap)
bad=0
for k in $(seq 1 "$n"); do
  out=$(fadd CTNET_FAULT_REQUEST=$k)
  if [ $? = 0 ]; then bad=$((bad + 1)); echo "    request $k: tolerated: $out"; world; before=$(snap); continue; fi
  echo "$out" | grep -q '"code":' || { bad=$((bad + 1)); echo "    request $k: not a CNI error: $out"; }
  after=$(snap)
  if [ "$before" != "$after" ]; then  # a world left as it was serves the next step too
    bad=$((bad + 1)); echo "    request $k ($(echo "$out" | grep -o '"msg":"[^"]*"')) left:"
    diff -u <(echo "$before") <(echo "$after") | grep '^[-+][^-+]' | sed 's/^/      /'
    world; before=$(snap)
  fi
done
[ "$bad" = 0 ] && pass "each of the $n requests failed in turn: a CNI error, the container as before" \
               || fail "$bad of the $n faulted ADDs left something or did not fail"
ctnet ns del kf >/dev/null
finish
