# Lab links like real ones where this machine's kernel cannot show them: a veth end impaired through netem
# (sch_netem, loaded from Debian's modules) with its delay and loss measured by ping, `ctnet impair` changing and
# clearing it on the running lab, status against the record and against the file, and `down` leaving nothing.
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
if awk -v r="$rtt_min" 'BEGIN { exit !(r >= 50) }'; then pass "rtt min ${rtt_min} ms >= 50 ms"; else fail "rtt min ${rtt_min} ms < 50 ms"; fi
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
finish
