# Sourced by tests/runtime/podman_test.sh and bench/podman.sh: Debian's podman 4.3 (CNI backend) with all of its
# state private to one directory, driven inside a throwaway network namespace that plays the host.
#
# What is private, and how:
# - CONTAINERS_CONF: cni_plugin_dirs is the plugin directory under test only; network configs, tmp_dir, (file)
#   locks, events and image copies live under DIR. CONTAINERS_STORAGE_CONF: graphroot and runroot under DIR.
#   CONTAINERS_REGISTRIES_CONF: no search registries (nothing is pulled; the image is imported from busybox).
# - /var/lib/cni (libcni's result cache, host-local's leases: podman's conflist names no dataDir and podman has no
#   option for one) and /run/runc (runc's state: podman gives a rootful runc no --root) are bind mounts of DIR's
#   own directories in a mount namespace of their own, kept by a holder process; every podman command runs in
#   it (nsenter --mount), so podman's container namespaces (/run/netns/netns-*) are mounted there only too.
#   (Not `ip netns exec`: its fresh /sys hides /sys/fs/cgroup, so runc fails with "no cgroup mount found in
#   mountinfo"; and each command gets a mount namespace of its own, where the namespace mount that `podman run`
#   makes would stay, out of sight of a later `podman network connect` or `stop`.)
#   The two directories are created on the machine when missing (as mount points) and left there: removing a
#   mount point would detach it from the mount namespace of a concurrent run.
# - cgroups (cgroupfs): each container gets --cgroup-parent /pdt-podman-TAG, removed at the end (podman's default
#   parent, libpod_parent, would stay behind).
# Machine facts this works around: Debian's crun cannot start containers here (runc), PID 1 is not systemd
# (cgroupfs, file events), and without CAP_SYS_RESOURCE runc cannot raise the rlimits above the hard limits, as
# podman's defaults for root (nofile and nproc) ask: "error setting rlimit type 6" (default_ulimits).
#
# Variables: PDT_DIR (the state directory), PDT_NS (the host namespace), PDT_TAG (unique suffix).

PDT_IMAGE=localhost/pdt-busybox:latest
PDT_DIR='' PDT_NS='' PDT_TAG=''

# pdt_env_init DIR PLUGIN_DIR NS TAG: writes the configuration; sets PDT_DIR, PDT_NS, PDT_TAG.
pdt_env_init() {
	PDT_DIR=$1 PDT_NS=$3 PDT_TAG=$4
	local d=$1
	mkdir -p "$d"/{net.d,tmp,storage,run,varlibcni,runc}
	cat >"$d/containers.conf" <<EOT
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/events.log"
tmp_dir = "$d/tmp"
image_copy_tmp_dir = "$d/tmp"
lock_type = "file"

[network]
network_backend = "cni"
cni_plugin_dirs = ["$2"]
network_config_dir = "$d/net.d"
EOT
	cat >"$d/storage.conf" <<EOT
[storage]
driver = "overlay"
graphroot = "$d/storage"
runroot = "$d/run"
EOT
	echo 'unqualified-search-registries = []' >"$d/registries.conf"
}

# pdt_env_start: the holder of the private mount namespace. It ends by itself when the calling script is gone (even
# after kill -9), and its stdio is /dev/null so that a caller reading our output (ctest) never waits for it.
pdt_env_start() {
	local d=$PDT_DIR
	mkdir -p /var/lib/cni /run/runc
	unshare --mount --propagation slave sh -c \
		"mount --bind '$d/varlibcni' /var/lib/cni && mount --bind '$d/runc' /run/runc && touch '$d/holder.ready' &&
		 while kill -0 $$ 2>/dev/null; do sleep 1; done" </dev/null >/dev/null 2>&1 &
	echo $! >"$d/holder.pid"
	for _ in $(seq 100); do
		[ -e "$d/holder.ready" ] && return 0
		kill -0 "$(cat "$d/holder.pid")" 2>/dev/null || break
		sleep 0.05
	done
	echo "cannot make the private mount namespace (unshare --mount)" >&2
	return 1
}

# pdt_in_env CMD...: CMD (at most PDT_TIMEOUT seconds) in the private mount namespace and the host namespace, with
# podman's environment.
pdt_in_env() {
	timeout -k 5 "${PDT_TIMEOUT:-120}" env CONTAINERS_CONF="$PDT_DIR/containers.conf" \
		CONTAINERS_STORAGE_CONF="$PDT_DIR/storage.conf" CONTAINERS_REGISTRIES_CONF="$PDT_DIR/registries.conf" \
		TMPDIR="$PDT_DIR/tmp" nsenter --mount="/proc/$(cat "$PDT_DIR/holder.pid")/ns/mnt" \
		--net="/run/netns/$PDT_NS" "$@"
}

# pm ARGS...: one podman command; run and create get the private cgroup parent.
pm() {
	local extra=()
	case $1 in run | create) extra=(--cgroup-parent "/pdt-podman-$PDT_TAG") ;; esac
	pdt_in_env podman "$1" "${extra[@]}" "${@:2}"
}

# pdt_image: a two-megabyte image of busybox-static and its applets (sh, ping, ip, httpd, wget, ...), imported.
pdt_image() {
	local r=$PDT_DIR/rootfs a
	mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp,www}
	cp /bin/busybox "$r/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
	echo "pdt-hello" >"$r/www/index.html"
	tar -C "$r" -cf "$PDT_DIR/rootfs.tar" .
	local out
	out=$(pm import --change 'CMD ["/bin/sh"]' "$PDT_DIR/rootfs.tar" "$PDT_IMAGE" 2>&1) || {
		echo "podman import failed: $out" >&2
		return 1
	}
}

# pdt_env_stop: removes what podman made (containers, networks but the default), then ends what is left by pid:
# processes in the host namespace (conmon), containers runc still knows, the holder; then the cgroups and DIR.
pdt_env_stop() {
	local d=$PDT_DIR pid id n
	[ -n "$d" ] && [ -d "$d" ] || return 0
	if [ -e "$d/holder.pid" ] && kill -0 "$(cat "$d/holder.pid")" 2>/dev/null; then
		PDT_TIMEOUT=60 pm rm -af -t 0 >/dev/null 2>&1 || true
		for n in $(PDT_TIMEOUT=30 pm network ls -q 2>/dev/null); do
			[ "$n" = podman ] || PDT_TIMEOUT=30 pm network rm -f "$n" >/dev/null 2>&1 || true
		done
	fi
	for id in $(runc --root "$d/runc" list -q 2>/dev/null); do
		runc --root "$d/runc" delete -f "$id" >/dev/null 2>&1 || true
	done
	for pid in $(ip netns pids "$PDT_NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
	if [ -e "$d/holder.pid" ]; then
		pid=$(cat "$d/holder.pid")
		kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
	fi
	for n in /sys/fs/cgroup/*/"pdt-podman-$PDT_TAG"; do
		[ -d "$n" ] && find "$n" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	rm -rf "$d"
	return 0
}
