#!/bin/bash
# CNI benchmark, side by side in one run: ctnet's plugins vs the reference plugins in /usr/lib/cni vs the
# kernel floor (rtnl_floor.c), all inside a throwaway "host" namespace so the machine's own stays untouched.
#   bench/cni.sh [BUILD_DIR]        env: RUNS (default 40), SCALE ("10 100 1000"), PAR_TOTAL (1000),
#                                   PM_SCALE ("10 1000"), PM_RUNS (20), NSP (namespace name prefix, tcni-b)
# Reports medians and ratios of ADD/DEL for bridge+host-local and ptp against the floor, peak RSS and the system
# calls of one bridge ADD, bandwidth chained after the bridge (tbf, IFB, redirect; ctnet vs the reference on the
# same kind of veth), the per-ADD cost with N containers already on the network, portmap ADD/DEL with N
# containers' mappings already on the host, 1000 ADDs in 8 parallel streams (failures, duplicates) and installed
# size.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-40}
SCALE=${SCALE:-"10 100 1000"}
PAR_TOTAL=${PAR_TOTAL:-1000}
PM_SCALE=${PM_SCALE:-"10 1000"}
PM_RUNS=${PM_RUNS:-20}
REF=${REF:-/usr/lib/cni}
export NSP=${NSP:-tcni-b}

if [ "${1:-}" != "--inner" ] && [ "${CNI_BENCH_INNER:-}" != 1 ]; then
	mkdir -p "$BUILD/bench"
	gcc -O2 -Wall -o "$BUILD/bench/rtnl_floor" "$SRC/bench/rtnl_floor.c"
	gcc -O2 -Wall -o "$BUILD/bench/timeexec" "$SRC/bench/timeexec.c"
	"$SRC/scripts/make-cni-dir.sh" "$BUILD/ctnet" "$BUILD/cni" >/dev/null
	HOSTNS=tcni-bench-$$
	ip netns add "$HOSTNS"
	cleanup() {
		ip netns exec "$HOSTNS" bash -c 'for n in $(ip netns list 2>/dev/null | awk -v p="$NSP" "index(\$1, p) == 1 && substr(\$1, length(p) + 1) ~ /^(f|c|r|pc|pr|wc|wr|sc|sr|mc|mr|mf|p[0-7]|pm[crx])-/ {print \$1}"); do ip netns del $n & done; wait' 2>/dev/null || true
		ip netns del "$HOSTNS" 2>/dev/null || true
		rm -rf "/tmp/tcni-bench-$$"
	}
	trap cleanup EXIT
	CNI_BENCH_INNER=1 WORK=/tmp/tcni-bench-$$ TAG=$$ ip netns exec "$HOSTNS" "$0" "$BUILD"
	exit
fi

# ---- inside the throwaway host namespace ------------------------------------------------------------------
T=$BUILD/bench
CNI=$BUILD/cni
W=$WORK
mkdir -p "$W"
echo '{}' >"$W/empty.json"
ip link set lo up
for b in tcnibf tcnibc tcnibr; do ip link add $b type bridge; ip link set $b up; done

conf_bridge() { # name bridge subnet datadir
	cat <<EOT
{"cniVersion":"1.0.0","name":"$1","type":"bridge","bridge":"$2","isGateway":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"$3"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$4"}}
EOT
}
conf_ptp() {
	cat <<EOT
{"cniVersion":"1.0.0","name":"$1","type":"ptp","ipam":{"type":"host-local","ranges":[[{"subnet":"$2"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$3"}}
EOT
}
conf_bridge tcnibenchc tcnibc 10.98.0.0/16 "$W/c" >"$W/c.json"
conf_bridge tcnibenchr tcnibr 10.96.0.0/16 "$W/r" >"$W/r.json"
conf_ptp tcnibenchpc 10.94.0.0/16 "$W/pc" >"$W/pc.json"
conf_ptp tcnibenchpr 10.92.0.0/16 "$W/pr" >"$W/pr.json"

# plugin_run CMD ID NS CONF PLUGIN RESULTFILE [IFNAME]: one timed execution; appends "us rss rc" to RESULTFILE
plugin_run() {
	CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/run/netns/$3 CNI_IFNAME=${7:-eth0} CNI_PATH=$REF \
		"$T/timeexec" "$4" "$5" 2>>"$6"
}
median() { sort -n "$1" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
maxrss() { awk '{m=($2>m)?$2:m} END{print m}' "$1"; }
medrss() { awk '{print $2}' "$1" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
fails() { awk '$3!=0{f++} END{print f+0}' "$1"; }
ms() { awk -v u="$1" 'BEGIN{printf "%.2f", u/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

echo "== ADD/DEL medians over $RUNS runs (interleaved; µs; one run, so compare ratios)"
for i in $(seq 1 "$RUNS"); do
	for k in f c r pc pr; do ip netns add ${NSP}$k-$i; done
	"$T/timeexec" "$W/empty.json" "$T/rtnl_floor" add ${NSP}f-$i tcnif$i eth0 tcnibf 10.97.$((i / 200)).$((i % 200 + 2)) 16 10.97.0.1 2>>"$W/f.add"
	plugin_run ADD c$i ${NSP}c-$i "$W/c.json" "$CNI/bridge" "$W/c.add"
	plugin_run ADD r$i ${NSP}r-$i "$W/r.json" "$REF/bridge" "$W/r.add"
	plugin_run ADD p$i ${NSP}pc-$i "$W/pc.json" "$CNI/ptp" "$W/pc.add"
	plugin_run ADD p$i ${NSP}pr-$i "$W/pr.json" "$REF/ptp" "$W/pr.add"
done
for i in $(seq 1 "$RUNS"); do
	"$T/timeexec" "$W/empty.json" "$T/rtnl_floor" del ${NSP}f-$i eth0 2>>"$W/f.del"
	plugin_run DEL c$i ${NSP}c-$i "$W/c.json" "$CNI/bridge" "$W/c.del"
	plugin_run DEL r$i ${NSP}r-$i "$W/r.json" "$REF/bridge" "$W/r.del"
	plugin_run DEL p$i ${NSP}pc-$i "$W/pc.json" "$CNI/ptp" "$W/pc.del"
	plugin_run DEL p$i ${NSP}pr-$i "$W/pr.json" "$REF/ptp" "$W/pr.del"
done
# Namespaces go only after the measurements: a namespace being torn down holds kernel locks and grace periods
# that would land on whichever ADD or DEL runs at the same time.
for i in $(seq 1 "$RUNS"); do for k in f c r pc pr; do ip netns del ${NSP}$k-$i & done; done
wait
FA=$(median "$W/f.add") FD=$(median "$W/f.del")
printf "%-28s %9s %9s %9s %9s %9s\n" what ADD_ms DEL_ms ADD/floor DEL/floor failures
printf "%-28s %9s %9s %9s %9s %9s\n" "rtnl_floor" "$(ms $FA)" "$(ms $FD)" 1.00 1.00 "$(($(fails "$W/f.add") + $(fails "$W/f.del")))"
for k in "c:ctnet bridge+host-local" "r:reference bridge+host-local" "pc:ctnet ptp" "pr:reference ptp"; do
	f=${k%%:*} label=${k#*:}
	A=$(median "$W/$f.add") D=$(median "$W/$f.del")
	printf "%-28s %9s %9s %9s %9s %9s\n" "$label" "$(ms $A)" "$(ms $D)" "$(ratio $A $FA)" "$(ratio $D $FD)" "$(($(fails "$W/$f.add") + $(fails "$W/$f.del")))"
done
CA=$(median "$W/c.add") RA=$(median "$W/r.add") CD=$(median "$W/c.del") RD=$(median "$W/r.del")
echo "bridge: ctnet/reference ADD $(ratio $CA $RA), DEL $(ratio $CD $RD); ptp: ctnet/reference ADD $(ratio $(median "$W/pc.add") $(median "$W/pr.add")), DEL $(ratio $(median "$W/pc.del") $(median "$W/pr.del"))"
echo "peak RSS of one ADD (KiB, median/max over runs): ctnet bridge $(medrss "$W/c.add")/$(maxrss "$W/c.add"), reference bridge $(medrss "$W/r.add")/$(maxrss "$W/r.add") (its largest process: the plugin or its host-local child), ctnet ptp $(medrss "$W/pc.add")/$(maxrss "$W/pc.add"), floor $(medrss "$W/f.add")/$(maxrss "$W/f.add")"
if command -v strace >/dev/null; then
	# System calls of one bridge ADD (the reference's with its host-local child), counted by strace -f.
	syscalls() { # NAME CMD...: "total (openat N, F failing)"
		local out=$W/strace.$1
		shift
		strace -f -o "$out" "$@" >/dev/null 2>&1 || true
		echo "$(grep -vc -e '+++ exited' -e '--- SIG' -e 'resumed>' "$out") (openat $(grep -c 'openat(' "$out"), $(grep 'openat(' "$out" | grep -c '= -1') failing)"
	}
	for k in f c r; do ip netns add ${NSP}$k-s; done
	sf=$(syscalls f "$T/rtnl_floor" add ${NSP}f-s tcnifs eth0 tcnibf 10.97.250.2 16 10.97.0.1)
	sc=$(CNI_COMMAND=ADD CNI_CONTAINERID=cs CNI_NETNS=/run/netns/${NSP}c-s CNI_IFNAME=eth0 CNI_PATH=$REF syscalls c "$CNI/bridge" <"$W/c.json")
	sr=$(CNI_COMMAND=ADD CNI_CONTAINERID=rs CNI_NETNS=/run/netns/${NSP}r-s CNI_IFNAME=eth0 CNI_PATH=$REF syscalls r "$REF/bridge" <"$W/r.json")
	echo "system calls of one bridge ADD: ctnet $sc, reference $sr, floor $sf"
	for k in f c r; do ip netns del ${NSP}$k-s; done
fi

echo
echo "== bandwidth ADD/DEL chained after ctnet's bridge, medians over $RUNS runs (µs)"
# Both plugins get the veth of a ctnet bridge ADD (prevResult) with the same limits both ways; only the
# bandwidth step is timed. The bridge's own DEL follows, untimed.
bw_conf() { # network prevResult-file
	printf '{"cniVersion":"1.0.0","name":"%s","type":"bandwidth","ingressRate":8000000,"ingressBurst":80000,"egressRate":16000000,"egressBurst":160000,"prevResult":%s}\n' "$1" "$(cat "$2")"
}
for i in $(seq 1 "$RUNS"); do
	for k in wc wr; do
		ip netns add ${NSP}$k-$i
		CNI_COMMAND=ADD CNI_CONTAINERID=$k$i CNI_NETNS=/run/netns/${NSP}$k-$i CNI_IFNAME=eth0 CNI_PATH=$REF \
			TIMEEXEC_OUT=$W/$k.prev.$i "$T/timeexec" "$W/c.json" "$CNI/bridge" 2>/dev/null
		bw_conf tcnibenchc "$W/$k.prev.$i" >"$W/$k.conf.$i"
	done
	plugin_run ADD wc$i ${NSP}wc-$i "$W/wc.conf.$i" "$CNI/bandwidth" "$W/wc.add"
	plugin_run ADD wr$i ${NSP}wr-$i "$W/wr.conf.$i" "$REF/bandwidth" "$W/wr.add"
done
for i in $(seq 1 "$RUNS"); do
	plugin_run DEL wc$i ${NSP}wc-$i "$W/wc.conf.$i" "$CNI/bandwidth" "$W/wc.del"
	plugin_run DEL wr$i ${NSP}wr-$i "$W/wr.conf.$i" "$REF/bandwidth" "$W/wr.del"
	for k in wc wr; do plugin_run DEL $k$i ${NSP}$k-$i "$W/c.json" "$CNI/bridge" "$W/bridge.del.bw"; done
done
for i in $(seq 1 "$RUNS"); do for k in wc wr; do ip netns del ${NSP}$k-$i & done; done
wait
printf "%-28s %9s %9s %9s\n" what ADD_ms DEL_ms failures
for k in "wc:ctnet bandwidth" "wr:reference bandwidth"; do
	f=${k%%:*} label=${k#*:}
	printf "%-28s %9s %9s %9s\n" "$label" "$(ms $(median "$W/$f.add"))" "$(ms $(median "$W/$f.del"))" "$(($(fails "$W/$f.add") + $(fails "$W/$f.del")))"
done
echo "bandwidth: ctnet/reference ADD $(ratio $(median "$W/wc.add") $(median "$W/wr.add")), DEL $(ratio $(median "$W/wc.del") $(median "$W/wr.del")); peak RSS ctnet $(maxrss "$W/wc.add") KiB, reference $(maxrss "$W/wr.add") KiB"

echo
echo "== per-ADD cost with N containers already on the network (median of 20 ADDs at each N)"
# The N containers share a few namespaces (one interface each, no default route) so namespace count stays low.
for impl in c r; do
	plugin=$CNI/bridge
	[ $impl = r ] && plugin=$REF/bridge
	conf_bridge tcnis$impl tcnis$impl 10.$([ $impl = c ] && echo 80 || echo 82).0.0/16 "$W/s$impl" |
		sed 's/,"routes":\[{"dst":"0.0.0.0\/0"}\]//' >"$W/s$impl.json"
	have=0
	for n in $SCALE; do
		while [ $have -lt "$n" ]; do
			nsn=${NSP}s$impl-$((have / 100))
			[ $((have % 100)) -eq 0 ] && ip netns add "$nsn"
			plugin_run ADD fill$have "$nsn" "$W/s$impl.json" "$plugin" "$W/fill.$impl" e$((have % 100))
			have=$((have + 1))
		done
		for j in $(seq 1 20); do
			ip netns add ${NSP}m$impl-$n-$j
			plugin_run ADD m$n-$j ${NSP}m$impl-$n-$j "$W/s$impl.json" "$plugin" "$W/scale.$impl.$n"
			plugin_run DEL m$n-$j ${NSP}m$impl-$n-$j "$W/s$impl.json" "$plugin" "$W/scaledel.$impl.$n"
			if [ $impl = c ]; then
				# The kernel's own growth: the floor attaching to the same bridge with the same N ports.
				ip netns add ${NSP}mf-$n-$j
				"$T/timeexec" "$W/empty.json" "$T/rtnl_floor" add ${NSP}mf-$n-$j tcnimf$j eth0 tcnisc 10.80.250.$j 16 10.80.0.1 2>>"$W/scale.f.$n"
				"$T/timeexec" "$W/empty.json" "$T/rtnl_floor" del ${NSP}mf-$n-$j eth0 2>/dev/null
			fi
		done
		for j in $(seq 1 20); do
			ip netns del ${NSP}m$impl-$n-$j &
			[ $impl = c ] && ip netns del ${NSP}mf-$n-$j &
		done
		wait
	done
done
printf "%-10s" N
for n in $SCALE; do printf "%12s" "N=$n"; done
printf "%14s\n" "last/first"
for impl in c r f; do
	printf "%-10s" "$(case $impl in c) echo ctnet ;; r) echo reference ;; f) echo floor ;; esac)"
	first="" last=""
	for n in $SCALE; do
		m=$(median "$W/scale.$impl.$n")
		[ -z "$first" ] && first=$m
		last=$m
		printf "%12s" "$(ms $m)ms"
	done
	printf "%14s\n" "$(ratio $last $first)"
done
printf "%-10s" "ctnet/floor"
for n in $SCALE; do printf "%12s" "$(ratio $(median "$W/scale.c.$n") $(median "$W/scale.f.$n"))"; done
printf "\n"
echo "fill failures: ctnet $(fails "$W/fill.c"), reference $(fails "$W/fill.r")"

echo
echo "== portmap ADD/DEL, 2 mappings, with N containers' mappings already on the host (median of $PM_RUNS at each N)"
# ctnet (nftables map elements, one libnftables run per ADD) against the reference (iptables chains through
# /usr/sbin/iptables), each in a host namespace of its own so neither sees the other's rules. The N containers
# are filled by real portmap ADDs of the same implementation: 2 host ports each, a bridge ADD's result as
# prevResult (portmap reads the addresses from it and never enters the container: one namespace serves all).
# At each N, each timed ADD of a new container is followed by its DEL, so N stays N.
pm_prev() { # IMPL ADDRESS
	printf '{"cniVersion":"1.0.0","interfaces":[{"name":"tcnipm%s","mac":"02:00:00:00:00:01"},{"name":"vethpm","mac":"02:00:00:00:00:02"},{"name":"eth0","mac":"02:00:00:00:00:03","sandbox":"/run/netns/%spmx-%s"}],"ips":[{"address":"%s/16","gateway":"10.86.0.1","interface":2}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}' \
		"$1" "$NSP" "$TAG" "$2"
}
pm_conf() { # IMPL ADDRESS FIRST_HOST_PORT
	printf '{"cniVersion":"1.0.0","name":"tcnipm%s","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"},{"hostPort":%d,"containerPort":443,"protocol":"tcp"}]},"prevResult":%s}\n' \
		"$1" "$3" "$(($3 + 1))" "$(pm_prev "$1" "$2")"
}
pm_run() { # IMPL CMD ID ADDRESS FIRST_HOST_PORT RESULTFILE
	local plugin=$CNI/portmap
	[ "$1" = r ] && plugin=$REF/portmap
	pm_conf "$1" "$4" "$5" >"$W/pm.conf.$1.$3"
	ip netns exec ${NSP}pm$1-$TAG env CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS=/run/netns/${NSP}pmx-$TAG CNI_IFNAME=eth0 \
		CNI_PATH=$REF "$T/timeexec" "$W/pm.conf.$1.$3" "$plugin" 2>>"$6"
}
ip netns add ${NSP}pmx-$TAG
for k in c r; do
	ip netns add ${NSP}pm$k-$TAG
	ip netns exec ${NSP}pm$k-$TAG sh -c "ip link set lo up && ip link add tcnipm$k type bridge && ip link set tcnipm$k up"
done
declare -A pm_have=([c]=0 [r]=0)
for n in $PM_SCALE; do
	for k in c r; do
		start=$(date +%s%N)
		while [ "${pm_have[$k]}" -lt "$n" ]; do
			i=${pm_have[$k]}
			pm_run "$k" ADD "pmfill$i" "10.86.$((i / 250)).$((i % 250 + 2))" $((10000 + 2 * i)) "$W/pm.fill.$k"
			pm_have[$k]=$((i + 1))
		done
		echo "filled $([ $k = c ] && echo ctnet || echo reference) to N=$n in $(ms $((($(date +%s%N) - start) / 1000)))ms"
	done
	for j in $(seq 1 "$PM_RUNS"); do
		for k in c r; do
			pm_run "$k" ADD "pm$n-$j" "10.87.$((j / 250)).$((j % 250 + 2))" $((30000 + 2 * j)) "$W/pm.add.$k.$n"
			pm_run "$k" DEL "pm$n-$j" "10.87.$((j / 250)).$((j % 250 + 2))" $((30000 + 2 * j)) "$W/pm.del.$k.$n"
		done
	done
done
echo "state at the end: ctnet $(ip netns exec ${NSP}pmc-$TAG nft -j list ruleset 2>/dev/null | jq '[.nftables[] | select(.map.name? == "ports") | .map.elem | length] | add') port map elements, reference $(ip netns exec ${NSP}pmr-$TAG iptables -t nat -S 2>/dev/null | grep -c '^-N CNI-DN-') CNI-DN- chains; fill failures: ctnet $(fails "$W/pm.fill.c"), reference $(fails "$W/pm.fill.r")"
printf "%-16s" ""
for n in $PM_SCALE; do printf "%14s" "ADD N=$n"; done
for n in $PM_SCALE; do printf "%14s" "DEL N=$n"; done
printf "%14s%14s%10s\n" "ADD last/1st" "DEL last/1st" failures
# pm_columns FILE_PREFIX: prints the median of FILE_PREFIX.N for each N of PM_SCALE; sets first and last.
pm_columns() {
	local n m
	first="" last=""
	for n in $PM_SCALE; do
		m=$(median "$1.$n")
		[ -z "$first" ] && first=$m
		last=$m
		printf "%14s" "$(ms "$m")ms"
	done
}
for k in c r; do
	printf "%-16s" "$([ $k = c ] && echo "ctnet portmap" || echo "reference")"
	pm_columns "$W/pm.add.$k" && add_ratio=$(ratio "$last" "$first")
	pm_columns "$W/pm.del.$k" && del_ratio=$(ratio "$last" "$first")
	f=0
	for n in $PM_SCALE; do f=$((f + $(fails "$W/pm.add.$k.$n") + $(fails "$W/pm.del.$k.$n"))); done
	printf "%14s%14s%10s\n" "$add_ratio" "$del_ratio" "$f"
done
echo "portmap ADD ctnet/reference:$(for n in $PM_SCALE; do printf " N=%s %s" "$n" "$(ratio "$(median "$W/pm.add.c.$n")" "$(median "$W/pm.add.r.$n")")"; done); peak RSS of an ADD: ctnet $(maxrss "$W/pm.add.c.${PM_SCALE##* }") KiB, reference $(maxrss "$W/pm.add.r.${PM_SCALE##* }") KiB"
for k in c r x; do ip netns del ${NSP}pm$k-$TAG; done

echo
echo "== $PAR_TOTAL ctnet bridge ADDs in 8 parallel streams"
conf_bridge tcnipar tcnibp 10.84.0.0/16 "$W/par" | sed 's/,"routes":\[{"dst":"0.0.0.0\/0"}\]//' >"$W/par.json"
ip link add tcnibp type bridge && ip link set tcnibp up
per=$((PAR_TOTAL / 8))
start=$(date +%s%N)
for s in $(seq 0 7); do
	(
		for i in $(seq 0 $((per - 1))); do
			nsn=${NSP}p$s-$((i / 100))
			[ $((i % 100)) -eq 0 ] && ip netns add "$nsn"
			CNI_COMMAND=ADD CNI_CONTAINERID=par$s-$i CNI_NETNS=/run/netns/$nsn CNI_IFNAME=e$((i % 100)) CNI_PATH=$REF \
				TIMEEXEC_OUT=$W/par.out.$s.$i "$T/timeexec" "$W/par.json" "$CNI/bridge" 2>>"$W/par.$s"
		done
	) &
done
wait
end=$(date +%s%N)
cat "$W"/par.[0-7] >"$W/par.all"
dups=$(cat "$W"/par.out.* | grep -o '"address":"[^"]*"' | sort | uniq -d | wc -l)
total=$(cat "$W"/par.out.* | grep -o '"address":"[^"]*"' | wc -l)
echo "wall $(ms $(((end - start) / 1000)))ms (includes creating the namespaces), ADDs $(wc -l <"$W/par.all"), failures $(fails "$W/par.all"), addresses $total, duplicates $dups, leases on disk $(ls "$W/par/tcnipar" | grep -c '^10\.')"

echo
echo "== installed size"
echo "ctnet plugin dir $CNI: $(du -sh "$CNI" | cut -f1) ($(ls "$CNI" | wc -l) names, hard links to one stripped binary)"
echo "reference $REF: $(du -sh "$REF" | cut -f1) ($(ls "$REF" | wc -l) binaries)"
