# Lab links like real ones where this machine's kernel cannot show them: a veth end impaired through netem
# (sch_netem, loaded from Debian's modules) with its delay and loss measured by ping, `ctnet impair` changing and
# clearing it on the running lab, status against the record and against the file, and `down` leaving nothing.
# Then examples/vlan-bridge.yaml: two VLANs on one VLAN-aware bridge (reachable inside each, isolated between them
# although they share a subnet), a trunk port with 802.1Q sub-interfaces (one handed to another namespace), a
# dummy holding a service address, VLAN drift repaired by `up`, a removed `vlan:` pruned back to VLAN 1.
. /t/lib.sh
echo "kernel $(uname -r)"
insmod /t/mods/sch_netem.ko
check "sch_netem is loaded" grep -q '^sch_netem ' /proc/modules
cat > /tmp/ll.yaml <<'EOF'
name: ll
namespaces: [lla, llb]
links:
  - endpoints:
      - {namespace: lla, name: eth0, addresses: [10.80.0.1/24], impair: {delay: 50ms, loss: 20%}}
      - "llb:eth0=10.80.0.2/24"
EOF
check "validate accepts the impairment" ctnet validate /tmp/ll.yaml
check "up with impair {delay: 50ms, loss: 20%}" ctnet up /tmp/ll.yaml
has "lla/eth0 has a root netem with delay 50ms and loss 20%" "netem 1: root .*delay 50ms.*loss 20%" tc -n lla qdisc show dev eth0
has "status: the impairment is present" "present +impairment delay 50ms loss 20% on lla/eth0" ctnet status ll

echo "== measured: 200 pings from lla (its egress is impaired)"
out=$(ip netns exec lla ping -n -q -c 200 -i 0.02 -W 2 10.80.0.2 2>&1)
echo "$out" | tail -2 | sed 's/^/    /'
loss=$(echo "$out" | grep -oE '[0-9.]+% packet loss' | cut -d% -f1)
rtt=$(echo "$out" | grep -oE '= [0-9.]+/[0-9.]+' | sed 's/= //')
rtt_min=${rtt%%/*} rtt_avg=${rtt##*/}
echo "MEASURED: loss ${loss}% over 200 pings, rtt min ${rtt_min} ms, avg ${rtt_avg} ms"
# The delay within 10% of the setting: the fastest echo took the 50 ms and little more (the path's own time).
if awk -v r="$rtt_min" 'BEGIN { exit !(r >= 50 && r <= 55) }'; then pass "rtt min ${rtt_min} ms within 50..55 ms"; else fail "rtt min ${rtt_min} ms outside 50..55 ms"; fi
if awk -v l="$loss" 'BEGIN { exit !(l >= 5 && l <= 40) }'; then pass "loss ${loss}% within 5%..40%"; else fail "loss ${loss}% outside 5%..40%"; fi

echo "== ctnet impair on the running lab"
checkerr "jitter without delay is refused, naming the option" "\-\-jitter.*needs .delay" ctnet impair ll lla:eth0 --jitter 2ms
checkerr "an unknown endpoint is refused" "ENDPOINT.*not a veth end" ctnet impair ll lla:nosuch --delay 1ms
checkerr "--clear with a setting is refused" "\-\-clear" ctnet impair ll lla:eth0 --clear --delay 1ms
check "impair lla:eth0 --delay 20ms" ctnet impair ll lla:eth0 --delay 20ms
has "tc shows delay 20ms" "netem 1: root .*delay 20ms" tc -n lla qdisc show dev eth0
lacks "and no loss any more" "loss" tc -n lla qdisc show dev eth0
has "status of the lab (its record) is clean" "2 of 2 as specified|as specified" ctnet status ll
checkerr "status against the file shows it differs" "delay 20ms \(want 50ms\)" ctnet status /tmp/ll.yaml
out=$(ip netns exec lla ping -n -q -c 20 -i 0.02 -W 2 10.80.0.2 2>&1)
rtt_min=$(echo "$out" | grep -oE '= [0-9.]+' | sed 's/= //')
echo "MEASURED: after impair --delay 20ms: rtt min ${rtt_min} ms ($(echo "$out" | grep -oE '[0-9.]+% packet loss'))"
if awk -v r="$rtt_min" 'BEGIN { exit !(r >= 20 && r < 50) }'; then pass "rtt min ${rtt_min} ms in 20..50 ms"; else fail "rtt min ${rtt_min} ms not in 20..50 ms"; fi
check "impair llb:eth0 --rate 1mbit (an end without one)" ctnet impair ll llb:eth0 --rate 1mbit
has "llb/eth0 has a netem with rate 1Mbit" "netem 1: root .*rate 1Mbit" tc -n llb qdisc show dev eth0
check "impair lla:eth0 --clear" ctnet impair ll lla:eth0 --clear
lacks "lla/eth0 has no netem" "netem" tc -n lla qdisc show dev eth0
check "status of the lab is clean after --clear" ctnet status ll
check "up FILE brings the file's impairment back" ctnet up --prune /tmp/ll.yaml
has "lla/eth0: delay 50ms loss 20% again" "netem 1: root .*delay 50ms.*loss 20%" tc -n lla qdisc show dev eth0
lacks "llb/eth0: the impairment set by impair alone is pruned" "netem" tc -n llb qdisc show dev eth0

echo "== down"
check "down" ctnet down ll
lacks "no lab namespace left" "lla|llb" ip netns list
lacks "no record left" "ll" ls /run/ctnet/labs

echo "== VLAN-aware bridge, trunk, 802.1Q and dummy (examples/vlan-bridge.yaml)"
V=/t/vlan-bridge.yaml
check "up --check: every expected path answers" ctnet up --check $V
has "vbr0 filters VLANs" "vlan_filtering 1" ip -n switch -d link show vbr0
has "vp-red1 is an access port of VLAN 10 (PVID, untagged)" "vp-red1 +10 PVID Egress Untagged" bridge -n switch vlan show dev vp-red1
lacks "... and no longer in the default VLAN 1" " 1 PVID| 1 *$" bridge -n switch vlan show dev vp-red1
has "vp-blue1 is an access port of VLAN 20" "vp-blue1 +20 PVID Egress Untagged" bridge -n switch vlan show dev vp-blue1
has "vp-router carries VLAN 10 tagged" "vp-router +10 *$" bridge -n switch vlan show dev vp-router
has "vp-router carries VLAN 20 tagged" "^ +20 *$" bridge -n switch vlan show dev vp-router
has "router/trunk.10 is vlan id 10 on trunk" "vlan protocol 802.1Q id 10" ip -n router -d link show trunk.10
has "edge/v20 is vlan id 20 (its parent in router)" "vlan protocol 802.1Q id 20" ip -n edge -d link show v20
has "router/svc0 is a dummy with 10.91.0.1" "inet 10.91.0.1/32" ip -n router addr show svc0
has "status: everything as specified" "as specified" ctnet status vlans
check "red1 reaches red2 (VLAN 10)" ip netns exec red1 ping -c 1 -W 2 10.90.0.2
check "blue1 reaches blue2 (VLAN 20)" ip netns exec blue1 ping -c 1 -W 2 10.90.0.4
check "red1 reaches the router's trunk.10 through the trunk" ip netns exec red1 ping -c 1 -W 2 10.90.0.254
check "blue2 reaches edge's v20 through the trunk" ip netns exec blue2 ping -c 1 -W 2 10.90.0.253
check "red2 reaches the dummy's service address" ip netns exec red2 ping -c 1 -W 2 10.91.0.1
checkfail "red1 does not reach blue1 (VLAN 10 vs 20, one subnet)" ip netns exec red1 ping -c 2 -W 1 10.90.0.3
checkfail "blue2 does not reach red2" ip netns exec blue2 ping -c 2 -W 1 10.90.0.2
checkfail "red1 does not reach edge's v20 (VLAN 20)" ip netns exec red1 ping -c 2 -W 1 10.90.0.253

echo "== VLAN drift and prune"
bridge -n switch vlan add dev vp-red1 vid 30
checkerr "status shows the extra VLAN on vp-red1" "VLANs .*30.* \(want 10 \(pvid, untagged\)\)" ctnet status $V
check "up repairs it" ctnet up $V
lacks "VLAN 30 is gone from vp-red1" "30" bridge -n switch vlan show dev vp-red1
sed 's/name: vp-red2, vlan: 10/name: vp-red2/' $V > /tmp/v2.yaml
check "up --prune of the file without vp-red2's vlan" ctnet up --prune /tmp/v2.yaml
has "vp-red2 is back in the default VLAN 1" "vp-red2 +1 PVID Egress Untagged" bridge -n switch vlan show dev vp-red2
check "down" ctnet down vlans
lacks "no lab namespace left" "red|blue|router|edge|switch" ip netns list
finish
