#!/bin/bash
# Runtime test (issue 9): Debian's podman 4.3 with its CNI backend drives a CNI plugin directory — ctnet's, laid
# out from BINARY by scripts/make-cni-dir.sh, or with --reference Debian's /usr/lib/cni — through podman's own
# conflist (bridge + portmap + firewall + tuning) inside a throwaway namespace that plays the host:
#   1. `podman network create` of a network, and podman's default network `podman` (10.88.0.0/16)
#   2. two containers on the network ping each other
#   3. a published port (-p) reached from a client namespace (through a veth to the host namespace) and from the
#      host namespace's own localhost
#   4. `podman network connect`/`disconnect` of a second network (a second default route) on a running container
#   5. stop/start, rm, `network rm`
#   6. nothing is left: links, podman's namespaces, leases, result cache, nftables/iptables rules, processes
# Podman's state is private to a temp dir (tests/runtime/podman_lib.sh says how); the machine's own namespace is
# never touched.
# usage: tests/runtime/podman_test.sh CTNET_BINARY [--reference | --plugin-dir DIR]
#   --reference: /usr/lib/cni instead of ctnet's directory; --plugin-dir: DIR as it is (a mixed set, while developing)
set -Eeuo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/runtime/podman_lib.sh"

usage() { echo "usage: $0 CTNET_BINARY [--reference | --plugin-dir DIR]" >&2; exit 2; }
CTNET='' REFERENCE=0 PLUGINS=''
while [ $# -gt 0 ]; do
	case $1 in
	--reference) REFERENCE=1 PLUGINS=/usr/lib/cni ;;
	--plugin-dir) [ $# -ge 2 ] || usage; PLUGINS=$(realpath "$2"); shift ;;
	-*) usage ;;
	*) [ -z "$CTNET" ] || usage; CTNET=$1 ;;
	esac
	shift
done
[ -n "$CTNET" ] || usage
[ "$(id -u)" = 0 ] || { echo "$0: needs root" >&2; exit 1; }
for tool in podman runc conmon nsenter unshare ip nft jq /bin/busybox; do
	command -v "$tool" >/dev/null || { echo "$0: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

TAG=$$
H=pdt-host-$TAG C=pdt-client-$TAG
NET=pdt-net-$TAG NET2=pdt-net2-$TAG
A=pdt-a-$TAG B=pdt-b-$TAG WEB=pdt-web-$TAG
SUBNET=10.213.1.0/24 SUBNET2=10.213.2.0/24
HOST_ADDR=10.213.0.1 CLIENT_ADDR=10.213.0.2 # the veth between the client and the host namespace
HOSTPORT=18080
WORK=$(mktemp -d "/tmp/pdt-podman-$TAG.XXXXXX")
STEP="setup"

say() { printf '%s\n' "$*"; }
step() { STEP=$1; say ""; say "== $STEP"; }
ok() { say "   ok: $*"; }
fail() { say "FAIL in step '$STEP': $*" >&2; exit 1; }
# (errtrace: also inside functions; command substitutions report through the command that uses them)
trap 'rc=$?; [ "$BASH_SUBSHELL" != 0 ] || say "FAIL in step '"'"'$STEP'"'"': line $LINENO: $BASH_COMMAND (exit $rc)" >&2' ERR
cleanup() {
	local rc=$?
	trap - ERR
	set +e
	pdt_env_stop
	ip netns del "$C" 2>/dev/null
	ip netns del "$H" 2>/dev/null
	rm -rf "$WORK"
	if [ $rc = 0 ]; then say ""; say "podman_test: PASS (${SECONDS}s, plugins: $PLUGINS)"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# retry N CMD...: CMD until it succeeds, at most N times 0.2 s apart (a server that is still starting).
retry() {
	local n=$1
	shift
	for _ in $(seq "$n"); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
ipv4_of() { pm inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"; }
# leases: host-local's lease files (named by the address) in the private /var/lib/cni
leases() {
	find "$PDT_DIR/varlibcni/networks" -type f 2>/dev/null | grep -E '/(([0-9]+\.){3}[0-9]+|[0-9a-f]*:[0-9a-f:]*)$' | sort || true
}
links() { ip -n "$H" -j link show | jq -r '.[].ifname' | sort; }
podman_netns() { pdt_in_env sh -c 'ls /run/netns' | grep '^netns-' | sort || true; }
rules_nft() { ip netns exec "$H" nft list ruleset 2>/dev/null; } # (no "managed by iptables-nft" warnings)
nft_tables() { ip netns exec "$H" nft list tables 2>/dev/null | sort; }
rules_ipt() { ip netns exec "$H" iptables-save 2>/dev/null | grep -v '^#' || true; }
# fetch NS URL: the page, by busybox wget in NS (its -T segfaults in Debian's busybox 1.35: timeout instead)
fetch() { ip netns exec "$1" timeout 5 /bin/busybox wget -q -O - "$2" 2>/dev/null; }

# ---- setup ---------------------------------------------------------------------------------------------------
step "setup: plugin directory, throwaway namespaces, private podman"
if [ -z "$PLUGINS" ]; then
	PLUGINS=$WORK/cni
	"$SRC/scripts/make-cni-dir.sh" "$CTNET" "$PLUGINS" >/dev/null
fi
ok "plugin directory $PLUGINS: $(ls "$PLUGINS" | tr '\n' ' ')"
ip netns add "$H"
ip netns add "$C"
ip -n "$H" link set lo up
ip -n "$C" link set lo up
ip -n "$C" link add "pdt-c$TAG" type veth peer name "pdt-h$TAG" netns "$H"
ip -n "$H" addr add "$HOST_ADDR/30" dev "pdt-h$TAG"
ip -n "$C" addr add "$CLIENT_ADDR/30" dev "pdt-c$TAG"
ip -n "$H" link set "pdt-h$TAG" up
ip -n "$C" link set "pdt-c$TAG" up
pdt_env_init "$WORK/podman" "$PLUGINS" "$H" "$TAG"
pdt_env_start
BASE_LINKS=$(links) BASE_NETNS=$(podman_netns) BASE_NFT=$(rules_nft) BASE_IPT=$(rules_ipt) BASE_TABLES=$(nft_tables)
pdt_image
ok "namespaces $H (host) and $C (client, $CLIENT_ADDR -> $HOST_ADDR); image $PDT_IMAGE"

# ---- 1 ---------------------------------------------------------------------------------------------------------
step "1. podman network create $NET --subnet $SUBNET; the default network podman"
pm network create --subnet "$SUBNET" "$NET" >/dev/null
CONFLIST=$PDT_DIR/net.d/$NET.conflist
[ -f "$CONFLIST" ] || fail "podman wrote no $CONFLIST"
say "   podman's conflist ($CONFLIST):"
sed 's/^/     /' "$CONFLIST"
echo
types=$(jq -r '[.plugins[].type] | join(" ")' "$CONFLIST")
[ "$types" = "bridge portmap firewall tuning" ] || fail "podman's conflist has plugins '$types'"
missing=""
for t in $types $(jq -r '.plugins[].ipam.type // empty' "$CONFLIST"); do
	[ -x "$PLUGINS/$t" ] || missing="$missing $t"
done
[ -z "$missing" ] || fail "the plugin directory $PLUGINS lacks the plugins of podman's conflist:$missing"
out=$(pm run --rm --network podman "$PDT_IMAGE" sh -c 'ip -4 -o addr show eth0 && ping -c 1 -W 2 10.88.0.1') ||
	fail "a container on the default network cannot ping its gateway 10.88.0.1: $out"
grep -q 'inet 10\.88\.' <<<"$out" || fail "a container on the default network got no 10.88 address: $out"
ok "a container on podman's default network got $(grep -o 'inet [0-9./]*' <<<"$out") and pinged 10.88.0.1"

# ---- 2 ---------------------------------------------------------------------------------------------------------
step "2. two containers on $NET ping each other"
pm run -d --name "$A" --network "$NET" "$PDT_IMAGE" sleep 3600 >/dev/null
pm run -d --name "$B" --network "$NET" "$PDT_IMAGE" sleep 3600 >/dev/null
IP_A=$(ipv4_of "$A" "$NET") IP_B=$(ipv4_of "$B" "$NET")
[ -n "$IP_A" ] && [ -n "$IP_B" ] || fail "podman reports no address: $A '$IP_A', $B '$IP_B'"
pm exec "$A" ping -c 1 -W 2 "$IP_B" >/dev/null || fail "$A ($IP_A) cannot ping $B ($IP_B)"
pm exec "$B" ping -c 1 -W 2 "$IP_A" >/dev/null || fail "$B ($IP_B) cannot ping $A ($IP_A)"
leases | grep -q "/$NET/$IP_A$" && leases | grep -q "/$NET/$IP_B$" || fail "no host-local leases for $IP_A, $IP_B: $(leases)"
ok "$A $IP_A <-> $B $IP_B, both leased"

# ---- 3 ---------------------------------------------------------------------------------------------------------
step "3. published port $HOSTPORT -> 8080 (busybox httpd)"
pm run -d --name "$WEB" --network "$NET" -p "$HOSTPORT:8080" "$PDT_IMAGE" httpd -f -p 8080 -h /www >/dev/null
IP_WEB=$(ipv4_of "$WEB" "$NET")
retry 25 pm exec "$A" timeout 3 wget -q -O /dev/null "http://$IP_WEB:8080/" || fail "httpd in $WEB ($IP_WEB:8080) does not answer $A"
page=$(retry 5 fetch "$C" "http://$HOST_ADDR:$HOSTPORT/") || fail "the client namespace cannot fetch http://$HOST_ADDR:$HOSTPORT/"
[ "$page" = pdt-hello ] || fail "the client got '$page' from http://$HOST_ADDR:$HOSTPORT/"
ok "client namespace -> $HOST_ADDR:$HOSTPORT -> $WEB ($IP_WEB:8080)"
page=$(retry 5 fetch "$H" "http://127.0.0.1:$HOSTPORT/") || fail "the host namespace cannot fetch http://127.0.0.1:$HOSTPORT/"
[ "$page" = pdt-hello ] || fail "the host got '$page' from http://127.0.0.1:$HOSTPORT/"
ok "host namespace's localhost -> 127.0.0.1:$HOSTPORT -> $WEB"

# ---- 4 ---------------------------------------------------------------------------------------------------------
step "4. podman network connect/disconnect $NET2 ($SUBNET2) on running $A"
pm network create --subnet "$SUBNET2" "$NET2" >/dev/null
pm network connect "$NET2" "$A" || fail "podman network connect $NET2 $A failed (a second default route?)"
IP_A2=$(ipv4_of "$A" "$NET2")
[ -n "$IP_A2" ] || fail "$A has no address on $NET2"
routes=$(pm exec "$A" ip -4 route show default)
say "   default routes in $A: $(tr '\n' ';' <<<"$routes")"
pm exec "$A" ip -4 -o addr show eth1 | grep -q "inet $IP_A2/" || fail "$A has no eth1 with $IP_A2"
pm exec "$A" ping -c 1 -W 2 10.213.2.1 >/dev/null || fail "$A cannot ping $NET2's gateway 10.213.2.1"
pm exec "$A" ping -c 1 -W 2 "$IP_B" >/dev/null || fail "$A cannot ping $B on $NET after connect"
leases | grep -q "/$NET2/$IP_A2$" || fail "no lease for $IP_A2 on $NET2"
ok "$A got eth1 $IP_A2, pings $NET2's gateway and still $B"
pm network disconnect "$NET2" "$A" || fail "podman network disconnect $NET2 $A failed"
! pm exec "$A" ip link show eth1 >/dev/null 2>&1 || fail "$A still has eth1 after disconnect"
! leases | grep -q "/$NET2/" || fail "leases on $NET2 left after disconnect: $(leases)"
pm exec "$A" ping -c 1 -W 2 "$IP_B" >/dev/null || fail "$A cannot ping $B after disconnect"
ok "disconnected: eth1 and its lease gone, $A still pings $B"

# ---- 5 ---------------------------------------------------------------------------------------------------------
step "5. stop/start, rm, network rm"
pm stop -t 0 "$WEB" >/dev/null
! leases | grep -q "/$NET/$IP_WEB$" || fail "the lease of stopped $WEB ($IP_WEB) is still there"
! fetch "$C" "http://$HOST_ADDR:$HOSTPORT/" >/dev/null || fail "port $HOSTPORT still answers with $WEB stopped"
ok "stopped $WEB: lease released, port $HOSTPORT closed"
pm start "$WEB" >/dev/null
IP_WEB=$(ipv4_of "$WEB" "$NET")
page=$(retry 25 fetch "$C" "http://$HOST_ADDR:$HOSTPORT/") || fail "port $HOSTPORT does not answer after podman start"
[ "$page" = pdt-hello ] || fail "after start the client got '$page'"
pm exec "$WEB" ping -c 1 -W 2 "$IP_B" >/dev/null || fail "restarted $WEB ($IP_WEB) cannot ping $B"
ok "started $WEB again ($IP_WEB): port $HOSTPORT answers, pings $B"
pm rm -f -t 0 "$A" "$B" "$WEB" >/dev/null
[ -z "$(pm ps -aq)" ] || fail "containers left after rm: $(pm ps -a)"
[ -z "$(leases)" ] || fail "leases left after rm: $(leases)"
pm network rm "$NET" "$NET2" >/dev/null
[ ! -e "$CONFLIST" ] || fail "$CONFLIST is still there after network rm"
ok "containers removed, leases released, networks removed"

# ---- 6 ---------------------------------------------------------------------------------------------------------
step "6. nothing is left"
# The default network's bridge stays by design: podman refuses to remove its default network, and no CNI bridge
# plugin deletes a bridge on DEL. It must have no ports left; the test deletes it.
if ip -n "$H" link show cni-podman0 >/dev/null 2>&1; then
	ports=$(ip -n "$H" -j link show master cni-podman0 | jq -r '.[].ifname' | tr '\n' ' ')
	[ -z "$ports" ] || fail "the default network's bridge cni-podman0 still has ports: $ports"
	ip -n "$H" link del cni-podman0
fi
diff <(echo "$BASE_LINKS") <(links) >/dev/null || fail "links left in $H: $(diff <(echo "$BASE_LINKS") <(links) | grep '^>' | tr '\n' ' ')"
ok "links in $H: as before ($(tr "\n" " " <<<"$BASE_LINKS"))"
[ "$(podman_netns)" = "$BASE_NETNS" ] || fail "podman's namespaces left: $(podman_netns)"
[ -z "$(ip netns pids "$H")" ] || fail "processes left in $H: $(ip netns pids "$H" | tr '\n' ' ')"
[ -z "$(runc --root "$PDT_DIR/runc" list -q)" ] || fail "runc still has containers: $(runc --root "$PDT_DIR/runc" list -q)"
ok "no container namespaces, no processes in $H, no runc containers"
[ -z "$(leases)" ] || fail "host-local leases left: $(leases)"
[ -z "$(ls -A "$PDT_DIR/varlibcni/results" 2>/dev/null)" ] || fail "libcni results left: $(ls "$PDT_DIR/varlibcni/results")"
ok "no host-local leases, no cached results (private /var/lib/cni)"
NFT=$(rules_nft) IPT=$(rules_ipt)
if [ $REFERENCE = 1 ]; then
	# The reference plugins never remove their shared chains (firewall's CNI-FORWARD/CNI-ADMIN, portmap's
	# CNI-HOSTPORT-*); what must be gone is every rule of a container: only these chains, the jumps into them and
	# portmap's static mark/masquerade rules may remain.
	left=$(diff <(echo "$BASE_IPT") <(echo "$IPT") | grep '^> -A' |
		grep -Ev -- '-j (CNI-FORWARD|CNI-ADMIN|CNI-HOSTPORT-(DNAT|SNAT|MASQ|SETMARK))$' |
		grep -Ev -- '^> -A CNI-HOSTPORT-(MASQ|SETMARK) .*(-j MASQUERADE|-j MARK --set-xmark 0x2000/0x2000)$' || true)
	[ -z "$left" ] || fail "per-container iptables rules left in $H: $left"
	tables=$(comm -13 <(echo "$BASE_TABLES") <(nft_tables) | grep -Ev '^table (ip|ip6) (filter|nat|mangle)$' || true)
	[ -z "$tables" ] || fail "nftables tables left in $H that are not iptables-nft's: $tables"
	chains=$(diff <(echo "$BASE_IPT") <(echo "$IPT") | sed -n 's/^> :\(CNI-[^ ]*\).*/\1/p' | tr '\n' ' ' || true)
	ok "no per-container rule left in $H (iptables-save); the reference's shared chains stay: ${chains:-none}"
else
	[ "$NFT" = "$BASE_NFT" ] || fail "nft ruleset in $H differs from before:
$(diff <(echo "$BASE_NFT") <(echo "$NFT"))"
	[ "$IPT" = "$BASE_IPT" ] || fail "iptables-save in $H differs from before:
$(diff <(echo "$BASE_IPT") <(echo "$IPT"))"
	ok "nft ruleset and iptables-save in $H: as before"
fi
