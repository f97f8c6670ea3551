#!/usr/bin/python3
"""containerd's CRI plugin driven as a kubelet drives it, with a CNI plugin directory laid out from ctnet's binary
(scripts/make-cni-dir.sh) or, with --reference, Debian's /usr/lib/cni.

usage: cri_test.py CTNET_BINARY [--reference] [--keep] [--trace] [--no-portmap]
       (as root; exit 0 pass, 1 fail: a step, or no root, containerd, runc or grpc)

The test starts its own containerd, inside a throwaway network namespace that plays the host, in a private mount
namespace (tmpfs over /run and /var/lib/cni, so containerd's state, the pod namespaces' bind mounts, shim sockets
and libcni's result cache never reach the machine) and a private PID namespace with containerd as its init (so
ending containerd ends every shim and container it started). Then:
  1. a conflist (bridge + host-local on 10.231.0.0/24, chained with portmap) in containerd's private conf_dir;
     containerd runs its own loopback network beside it;
  2. two pods through RunPodSandbox (one maps host port 30080 to its port 8080), their IPs from
     PodSandboxStatus, a busybox httpd in one and a busybox sleep in the other (CreateContainer/StartContainer);
     pod to pod (ExecSync: ping, wget), host to pod (ping from the pod's network namespace), and the host port
     from a "client" namespace joined to the host namespace by a veth, and from the host's localhost;
  3. StopPodSandbox and RemovePodSandbox twice each (three DELs: the first Remove stops again; the second and
     third have CNI_NETNS empty and no prevResult, the first has both); then
     nothing of the pods is left: links, pod namespaces, host-local leases (a private dataDir), files under the
     private /run, nftables/iptables rules of the host namespace (compared with the state before);
  4. the conflist removed, the kubelet's UpdateRuntimeConfig with a pod CIDR: containerd writes the conflist from
     its conf_template, and a pod gets an address from that CIDR (and is torn down the same way).
Everything made is removed in `finally` (and on SIGTERM), even when a check fails.
"""
import argparse
import ctypes
import hashlib
import importlib.util
import io
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import cri_client  # noqa: E402

IMAGE = "crt.local/busybox:1"
POD_SUBNET = "10.231.0.0/24"       # the conflist written by the test
TEMPLATE_CIDR = "10.232.0.0/24"    # the pod CIDR of UpdateRuntimeConfig (conf_template)
CLIENT_HOST_IP, CLIENT_IP = "10.233.0.1", "10.233.0.2"   # veth between the host namespace and the client
HOST_PORT, POD_PORT = 30080, 8080
PAGE = "crt-ok from the pod\n"


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def text_of(e):
    """A gRPC error's own message (containerd's), else the exception's."""
    return e.details() if hasattr(e, "details") else str(e)


def run(cmd, check=True, timeout=30, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise Failure(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def wait_for(what, fn, timeout=30, interval=0.2):
    """Calls FN until it returns something true; Failure naming WHAT (and FN's last error) after TIMEOUT."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried, the last one is reported
            last = e
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout}s waiting for {what}" + (f": {last}" if last else ""))
        time.sleep(interval)


class Checks:
    def __init__(self):
        self.failed = []

    def ok(self, cond, what, detail=""):
        log(("ok   - " if cond else "FAIL - ") + what + ("" if cond or not detail else f": {detail}"))
        if not cond:
            self.failed.append(what + (f": {detail}" if detail else ""))
        return cond

    def must(self, cond, what, detail=""):
        if not self.ok(cond, what, detail):
            raise Failure(what + (f": {detail}" if detail else ""))


# --- the image: busybox-static in one uncompressed layer, as an OCI archive for `ctr images import` ---

def build_image(path):
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add_dir(name):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        for d in ("bin", "www", "etc", "tmp", "proc", "sys", "dev"):
            add_dir(d)
        with open("/bin/busybox", "rb") as f:
            data = f.read()
        ti = tarfile.TarInfo("bin/busybox")
        ti.size, ti.mode = len(data), 0o755
        t.addfile(ti, io.BytesIO(data))
        for applet in ("sh", "sleep", "httpd", "wget", "ping", "ip", "cat", "nc"):
            ti = tarfile.TarInfo("bin/" + applet)
            ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
            t.addfile(ti)
        page = PAGE.encode()
        ti = tarfile.TarInfo("www/index.html")
        ti.size, ti.mode = len(page), 0o644
        t.addfile(ti, io.BytesIO(page))
    layer = layer.getvalue()

    def blob(data):
        return "sha256:" + hashlib.sha256(data).hexdigest(), data
    layer_digest, _ = blob(layer)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        # the sandbox ("pause") runs the image's command: sleep forever (containerd stops a sandbox with SIGKILL)
        "config": {"Cmd": ["/bin/sleep", "2147483647"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }).encode()
    config_digest, _ = blob(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}],
    }).encode()
    manifest_digest, _ = blob(manifest)
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": len(manifest), "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "1"}}]}).encode()
    with tarfile.open(path, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for d, data in ((layer_digest, layer), (config_digest, config), (manifest_digest, manifest)):
            add("blobs/sha256/" + d.split(":")[1], data)


# --- the world around containerd ---

def containerd_config(tmp, bin_dir):
    return f"""version = 2
root = "{tmp}/root"
state = "/run/containerd"
oom_score = 0
# plugins that cannot work here (no btrfs/zfs/devmapper/aufs); disabled so containerd does not retry them
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{tmp}/containerd.sock"
[ttrpc]
  address = "{tmp}/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{tmp}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{bin_dir}"
    conf_dir = "{tmp}/net.d"
    max_conf_num = 1
    conf_template = "{tmp}/cni-template.json"
"""


PORTMAP = {"type": "portmap", "capabilities": {"portMappings": True}}


def conflist(tmp, portmap):
    return {
        "cniVersion": "1.0.0", "name": "crt-net",
        "plugins": [
            {"type": "bridge", "bridge": "crt-br0", "isGateway": True,
             "ipam": {"type": "host-local", "dataDir": f"{tmp}/ipam",
                      "ranges": [[{"subnet": POD_SUBNET}]], "routes": [{"dst": "0.0.0.0/0"}]}},
        ] + ([PORTMAP] if portmap else []),
    }


def conf_template(tmp, portmap):
    # containerd's Go template: .PodCIDRRanges and .Routes come from UpdateRuntimeConfig's pod CIDR
    return """{
  "cniVersion": "1.0.0",
  "name": "crt-tpl",
  "plugins": [
    {"type": "bridge", "bridge": "crt-br1", "isGateway": true,
     "ipam": {"type": "host-local", "dataDir": "%s/ipam",
              "ranges": [{{range $i, $r := .PodCIDRRanges}}{{if $i}}, {{end}}[{"subnet": "{{$r}}"}]{{end}}],
              "routes": [{{range $i, $r := .Routes}}{{if $i}}, {{end}}{"dst": "{{$r}}"}{{end}}]}}%s
  ]
}
""" % (tmp, (",\n    " + json.dumps(PORTMAP)) if portmap else "")


class World:
    """Every object the test makes, so that `cleanup` can remove exactly those."""

    def __init__(self, args):
        self.args = args
        tag = os.getpid()
        self.tmp = tempfile.mkdtemp(prefix=f"crt-cri-{tag}-", dir="/tmp")
        self.host_ns = f"crt-host-{tag}"
        self.client_ns = f"crt-client-{tag}"
        self.cgroup_parent = f"crt-{tag}"   # relative: runc puts the pods under its own cgroup, crt-PID/ID
        self.namespaces = []
        self.proc = None          # `unshare` (its child is containerd, PID 1 of the private PID namespace)
        self.containerd_pid = None
        self.cri = None

    # namespaces
    def host(self, *cmd):
        return ["nsenter", f"--net=/run/netns/{self.host_ns}", *cmd]

    def client(self, *cmd):
        return ["nsenter", f"--net=/run/netns/{self.client_ns}", *cmd]

    def in_containerd_mounts(self, path):
        # containerd's mount namespace seen from here; /var/run is an absolute symlink, which would leave it
        assert path.startswith("/")
        if path.startswith("/var/run/"):
            path = path[len("/var"):]
        return f"/proc/{self.containerd_pid}/root{path}"

    def make_namespaces(self):
        for ns in (self.host_ns, self.client_ns):
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.host_ns, "link", "add", "crt-cl0", "type", "veth", "peer", "name", "crt-cl1",
             "netns", self.client_ns])
        run(["ip", "-n", self.host_ns, "addr", "add", f"{CLIENT_HOST_IP}/24", "dev", "crt-cl0"])
        run(["ip", "-n", self.host_ns, "link", "set", "crt-cl0", "up"])
        run(["ip", "-n", self.client_ns, "addr", "add", f"{CLIENT_IP}/24", "dev", "crt-cl1"])
        run(["ip", "-n", self.client_ns, "link", "set", "crt-cl1", "up"])
        run(["ip", "-n", self.client_ns, "route", "add", "default", "via", CLIENT_HOST_IP])

    # containerd
    def start_containerd(self, bin_dir):
        tmp = self.tmp
        for d in ("root", "opt", "net.d", "ipam", "logs"):
            os.makedirs(f"{tmp}/{d}", exist_ok=True)
        with open(f"{tmp}/cni-template.json", "w") as f:
            f.write(conf_template(tmp, not self.args.no_portmap))
        with open(f"{tmp}/config.toml", "w") as f:
            f.write(containerd_config(tmp, bin_dir))
        # libcni caches results under /var/lib/cni; a tmpfs there keeps them (and a crash's leftovers) private
        cni_cache = "/var/lib/cni" if os.path.isdir("/var/lib/cni") else "/var/lib"
        inner = (f"mount -t tmpfs -o mode=0755 crt-run /run && mount -t tmpfs -o mode=0755 crt-cni {cni_cache} && "
                 f"exec containerd --config {tmp}/config.toml")
        libc = ctypes.CDLL(None, use_errno=True)

        def die_with_test():   # PR_SET_PDEATHSIG: a killed test takes unshare, and so containerd, with it
            libc.prctl(1, signal.SIGKILL)
        self.containerd_log = open(f"{tmp}/containerd.log", "w")
        self.proc = subprocess.Popen(
            self.host(*["unshare", "--mount", "--propagation", "slave", "--pid", "--fork", "--kill-child",
                        "--mount-proc", "sh", "-c", inner]),
            stdout=self.containerd_log, stderr=subprocess.STDOUT, preexec_fn=die_with_test,
            start_new_session=True)   # a signal to the test's process group is for the test: it cleans up

        def child():
            if self.proc.poll() is not None:
                raise Failure(f"containerd exited ({self.proc.returncode}); log:\n{self.log_tail()}")
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = f.read().split()
            return int(kids[0]) if kids else None
        self.containerd_pid = wait_for("containerd's process", child, timeout=10)
        api = cri_client.generate_stubs(f"{tmp}/stubs")
        self.cri = cri_client.CriClient(f"{tmp}/containerd.sock", api, timeout=60)

        def up():
            child()
            return self.cri.version()
        v = wait_for("containerd's CRI socket", up, timeout=30)
        log(f"containerd {v.runtime_version} (CRI {v.runtime_api_version}) as pid {self.containerd_pid}, "
            f"bin_dir {bin_dir}")

    def log_tail(self, n=40):
        try:
            with open(f"{self.tmp}/containerd.log") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def import_image(self):
        build_image(f"{self.tmp}/image.tar")
        run(["ctr", "--address", f"{self.tmp}/containerd.sock", "-n", "k8s.io", "images", "import",
             "--snapshotter", "overlayfs", f"{self.tmp}/image.tar"], timeout=60)
        wait_for(f"the CRI to see {IMAGE}", lambda: self.cri.image_status(IMAGE).id, timeout=15)

    # pods
    def run_pod(self, name, ports=()):
        cfg = self.cri.sandbox_config(name, uid=str(uuid.uuid4()), namespace="crt", port_mappings=ports,
                                      log_directory=f"{self.tmp}/logs/{name}", cgroup_parent=self.cgroup_parent)
        sid = self.cri.run_pod_sandbox(cfg)
        status, info = self.cri.pod_sandbox_status(sid)
        netns = next(n["path"] for n in info["runtimeSpec"]["linux"]["namespaces"] if n["type"] == "network")
        return {"id": sid, "config": cfg, "ip": status.network.ip, "netns": netns, "name": name}

    def run_container(self, pod, name, command):
        cid = self.cri.create_container(pod["id"], pod["config"], name, IMAGE, command, log_path=f"{name}.log")
        self.cri.start_container(cid)
        wait_for(f"container {name} running",
                 lambda: self.cri.container_status(cid).state == self.cri.api.CONTAINER_RUNNING, timeout=15)
        return cid

    def in_pod(self, pod, *cmd):
        return ["nsenter", f"--net={self.in_containerd_mounts(pod['netns'])}", *cmd]

    def remove_pod_twice(self, pod):
        # the kubelet stops a sandbox more than once; containerd's DELs after the first have CNI_NETNS="" and no
        # prevResult (the first Remove runs one more: "forcibly stopping sandbox")
        for _ in range(2):
            self.cri.stop_pod_sandbox(pod["id"])
        for _ in range(2):
            self.cri.remove_pod_sandbox(pod["id"])

    # the state compared before and after
    def snapshot(self):
        links = json.loads(run(["ip", "-n", self.host_ns, "-d", "-j", "link", "show"]).stdout)
        rules = nft_lines(run(self.host("nft", "-s", "list", "ruleset")).stdout)
        legacy = run(self.host("iptables-legacy-save"), check=False).stdout
        legacy = "\n".join(l for l in legacy.splitlines() if not l.startswith("#"))
        private_run = sorted(os.path.relpath(os.path.join(d, f), self.in_containerd_mounts("/run"))
                             for d, _, fs in os.walk(self.in_containerd_mounts("/run")) for f in fs)
        private_run = [p for p in private_run if not p.startswith("containerd/")]
        return {"links": {l["ifname"]: l.get("link_type", "") + "/" + l.get("linkinfo", {}).get("info_kind", "")
                          for l in links},
                "rules": rules, "legacy": legacy, "run": private_run,
                "netns": sorted(os.listdir(self.in_containerd_mounts("/run/netns")))
                if os.path.isdir(self.in_containerd_mounts("/run/netns")) else []}

    def leases(self, ids):
        """Lease files (named as an address) and any file of the dataDir naming one of IDS."""
        found = []
        for d, _, fs in os.walk(f"{self.tmp}/ipam"):
            for f in fs:
                p = os.path.join(d, f)
                try:
                    ipaddress.ip_address(f)
                    found.append(os.path.relpath(p, self.tmp))
                    continue
                except ValueError:
                    pass
                with open(p, errors="replace") as fh:
                    text = fh.read()
                if any(i in text for i in ids):
                    found.append(os.path.relpath(p, self.tmp))
        return found

    # cleanup
    def cleanup(self):
        errors = []
        # pods a failed check left: removed through the CRI when it can (their CNI DEL may fail too, which is
        # only noted: ending containerd and deleting the host namespace take whatever is left)
        if self.cri is not None and self.proc is not None and self.proc.poll() is None:
            try:
                for s in self.cri.list_pod_sandboxes():
                    try:
                        self.cri.stop_pod_sandbox(s.id)
                        self.cri.remove_pod_sandbox(s.id)
                    except Exception as e:  # noqa: BLE001
                        log(f"     note: cleanup could not remove sandbox {s.id[:12]}: {text_of(e)}")
            except Exception as e:  # noqa: BLE001
                log(f"     note: cleanup could not list the sandboxes: {text_of(e)}")
        if self.cri is not None:
            self.cri.close()
        if self.proc is not None:
            # containerd is PID 1 of its PID namespace: when it exits the kernel ends every shim and container
            # in that namespace, and its mount namespace (overlays, shm, the pods' netns bind mounts) goes too
            if self.proc.poll() is None and self.containerd_pid:
                try:
                    os.kill(self.containerd_pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()   # --kill-child: containerd gets SIGKILL with it
                self.proc.wait(timeout=15)
            self.containerd_log.close()
        # nothing of containerd's should be mounted here (its mounts were in its own mount namespace)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if line.split()[4].startswith(self.tmp + "/")]
        for m in sorted(mounts, reverse=True):
            errors.append(f"unmounting {m} (should not have been visible here)")
            subprocess.run(["umount", "-l", m], check=False)
        # cgroups runc made under our own cgroup (PARENT/ID in each hierarchy) when ending them killed the pods
        for d in self.cgroup_dirs():
            if not rmdir_tree(d):
                errors.append(f"cannot remove cgroup {d}")
        for ns in reversed(self.namespaces):
            r = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True)
            if r.returncode != 0:
                errors.append(f"ip netns del {ns}: {r.stderr.strip()}")
        if self.args.keep:
            log(f"kept {self.tmp}")
        else:
            subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], check=False)
        return errors

    def cgroup_dirs(self):
        return [f"{d}/{self.cgroup_parent}" for d in own_cgroup_dirs() if os.path.isdir(f"{d}/{self.cgroup_parent}")]


def own_cgroup_dirs():
    """This process's cgroup in each mounted hierarchy (runc makes a relative cgroup parent below it)."""
    with open("/proc/self/cgroup") as f:
        own = {c: path for _, c, path in (line.rstrip("\n").split(":", 2) for line in f)}
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, fs = line.split(" - ")[0].split(), line.split(" - ")[1].split()
            if fs[0] == "cgroup2" and "" in own:
                path = own[""]
            elif fs[0] == "cgroup":
                opts = set(fs[2].split(","))
                path = next((p for c, p in own.items() if c and set(c.split(",")) <= opts), None)
            else:
                continue
            if path is not None and os.path.isdir(fields[4] + path):
                found.append((fields[4] + path).rstrip("/"))
    return found


def rmdir_tree(top, tries=50):
    """Removes an empty cgroup tree, deepest first; True when it is gone (a dying task may hold it briefly)."""
    for sub, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
        for _ in range(tries):
            try:
                os.rmdir(sub)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
        else:
            return False
    return True


def sweep_stale():
    """What an earlier run killed with SIGKILL (no `finally`) left: its namespaces, temporary directory and empty
    cgroups, all named after its pid; only those of a pid that no longer runs this test. (Its containerd died with
    it: PR_SET_PDEATHSIG.)"""
    def stale(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return b"cri_test.py" not in f.read()
        except OSError:
            return True
    for ns in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        for prefix in ("crt-host-", "crt-client-"):
            if ns.startswith(prefix) and ns[len(prefix):].isdigit() and stale(ns[len(prefix):]):
                log(f"     removing namespace {ns} of a killed run")
                subprocess.run(["ip", "netns", "del", ns], check=False)
    with open("/proc/self/mountinfo") as f:
        mounted = [line.split()[4] for line in f]
    for d in os.listdir("/tmp"):
        parts = d.split("-")
        if d.startswith("crt-cri-") and len(parts) >= 4 and parts[2].isdigit() and stale(parts[2]):
            path = f"/tmp/{d}"
            if not any(m.startswith(path + "/") for m in mounted):
                log(f"     removing {path} of a killed run")
                subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)
    for base in own_cgroup_dirs():
        for d in os.listdir(base):
            if d.startswith("crt-") and d[4:].isdigit() and stale(d[4:]):
                log(f"     removing cgroup {base}/{d} of a killed run")
                rmdir_tree(f"{base}/{d}")


def nft_lines(ruleset):
    """`nft -s list ruleset` as one line per object, each rule prefixed by its table and chain, so that a diff
    says where a rule is."""
    out, table, chain = [], "", ""
    for raw in ruleset.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("table "):
            table, chain = line.rstrip(" {"), ""
            out.append(table)
        elif line.startswith("chain ") and line.endswith("{"):
            chain = line.rstrip(" {")[len("chain "):]
            out.append(f"{table} chain {chain}")
        elif line == "}":
            chain = ""
        else:
            out.append(f"{table} chain {chain}: {line}" if chain else f"{table}: {line}")
    return "\n".join(out)


def diff_lines(before, after):
    b, a = set(before.splitlines()), set(after.splitlines())
    return [f"- {l}" for l in before.splitlines() if l not in a] + [f"+ {l}" for l in after.splitlines() if l not in b]


# The reference portmap (iptables) keeps its shared chains and their jumps once made, empty of any pod's rules;
# only those may stay behind with --reference. ctnet's directory must leave the ruleset as it found it.
def reference_shared(line, pods):
    body = line[2:]
    if any(p["ip"] and p["ip"] in body for p in pods) or "CNI-DN-" in body:
        return False
    return ("CNI-HOSTPORT-" in body or body in ("table ip nat", "table ip6 nat") or
            any(body.endswith(f"nat chain {c}") or f"nat chain {c}: type nat hook" in body
                for c in ("PREROUTING", "OUTPUT", "POSTROUTING")))


def check_nothing_left(w, checks, before, pods, stage):
    after = w.snapshot()
    ids = [p["id"] for p in pods]
    gone = {n: k for n, k in after["links"].items() if n not in before["links"]}
    veths = [n for n, k in gone.items() if k.endswith("/veth")]
    bridges = {n for n, k in gone.items() if k.endswith("/bridge")}
    checks.ok(not veths, f"{stage}: no veth left in the host namespace", f"{veths}")
    checks.ok(set(gone) <= bridges, f"{stage}: no other new link in the host namespace (the bridge stays)",
              f"{sorted(set(gone) - bridges)}")
    checks.ok(not after["netns"], f"{stage}: no pod network namespace left", f"{after['netns']}")
    left = w.leases(ids)
    checks.ok(not left, f"{stage}: no host-local lease left", f"{left}")
    new_run = [p for p in after["run"] if p not in before["run"]]
    checks.ok(not new_run, f"{stage}: no new file under the private /run", f"{new_run}")
    rules = diff_lines(before["rules"], after["rules"])
    if w.args.reference:
        pod_lines = [l for l in rules if not reference_shared(l, pods)]
        checks.ok(not pod_lines, f"{stage}: no pod's rule left in the host's nftables ruleset (the reference's "
                  "shared CNI-HOSTPORT-* chains may stay)", "\n" + "\n".join(pod_lines))
        if rules and not pod_lines:
            log("     the reference left its shared chains:\n" + "\n".join("     " + l for l in rules))
    else:
        checks.ok(not rules, f"{stage}: the host's nftables ruleset is as before", "\n" + "\n".join(rules))
    legacy = diff_lines(before["legacy"], after["legacy"])
    checks.ok(not legacy, f"{stage}: the host's legacy iptables rules are as before", "\n" + "\n".join(legacy))


def fetch(cmd, tries=20):
    """Runs a busybox wget command until it answers (a server may need a moment to listen). No `wget -T`:
    Debian's busybox 1.35 wget crashes (SIGSEGV) with it; the timeout is ours."""
    last = None
    for _ in range(tries):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            last = "no answer in 5s"
            continue
        if r.returncode == 0:
            return r.stdout
        last = r.stderr.strip() or f"exit {r.returncode}"
        time.sleep(0.25)
    raise Failure(f"{' '.join(cmd)}: {last}")


def scenario(w, checks, bin_dir):
    portmap = not w.args.no_portmap
    w.make_namespaces()
    w.start_containerd(bin_dir)
    w.import_image()

    # 1. the network: a conflist in conf_dir (containerd picks it up by watching the directory)
    with open(f"{w.tmp}/net.d/05-crt.conflist", "w") as f:
        json.dump(conflist(w.tmp, portmap), f, indent=2)
    wait_for("NetworkReady with the conflist", lambda: w.cri.network_ready()[0], timeout=15)
    checks.ok(True, "containerd loaded the conflist (NetworkReady)")
    before = w.snapshot()

    # 2. two pods, one with a host port
    t0 = time.monotonic()
    try:
        a = w.run_pod("crt-a", ports=[(HOST_PORT, POD_PORT, "tcp")] if portmap else [])
    except Exception as e:  # noqa: BLE001 - the first pod is where a missing plugin shows: say so plainly
        raise Failure(f"RunPodSandbox crt-a: {text_of(e)}") from None
    b = w.run_pod("crt-b")
    log(f"     pods: crt-a {a['ip']}, crt-b {b['ip']} ({time.monotonic() - t0:.1f}s); their cgroups in "
        f"{', '.join(w.cgroup_dirs()) or 'none found'}")
    net = ipaddress.ip_network(POD_SUBNET)
    checks.must(a["ip"] and ipaddress.ip_address(a["ip"]) in net and b["ip"] and
                ipaddress.ip_address(b["ip"]) in net and a["ip"] != b["ip"],
                f"PodSandboxStatus gives two distinct IPs from {POD_SUBNET}", f"{a['ip']} {b['ip']}")
    lo = run(w.in_pod(a, "ip", "-j", "addr", "show", "lo")).stdout
    checks.ok("LOWER_UP" in lo and "127.0.0.1" in lo,
              "the pod's lo is up with 127.0.0.1 (containerd's loopback network)", lo)

    w.run_container(a, "server", ["/bin/httpd", "-f", "-p", str(POD_PORT), "-h", "/www"])
    client = w.run_container(b, "client", ["/bin/sleep", "3600"])

    code, out, err = w.cri.exec_sync(client, ["ping", "-c", "1", "-W", "2", a["ip"]])
    checks.ok(code == 0, "pod b pings pod a (ExecSync)", f"exit {code}: {out}{err}")
    got = ""
    for _ in range(20):
        code, got, err = w.cri.exec_sync(client, ["wget", "-q", "-O", "-",
                                                  f"http://{a['ip']}:{POD_PORT}/"])
        if code == 0:
            break
        time.sleep(0.25)
    checks.ok(got == PAGE, "pod b fetches pod a's page on its container port", f"exit {code}: {got!r} {err}")
    r = run(w.in_pod(a, "busybox", "ping", "-c", "1", "-W", "2", b["ip"]), check=False)
    checks.ok(r.returncode == 0, "pod a pings pod b (from its network namespace)", r.stdout + r.stderr)
    r = run(w.host("busybox", "ping", "-c", "1", "-W", "2", a["ip"]), check=False)
    checks.ok(r.returncode == 0, "the host pings pod a through the bridge", r.stdout + r.stderr)
    for who, cmd in (("the client namespace", w.client), ("the host's localhost", w.host)) if portmap else ():
        dst = CLIENT_HOST_IP if cmd == w.client else "127.0.0.1"
        try:
            got = fetch(cmd("busybox", "wget", "-q", "-O", "-", f"http://{dst}:{HOST_PORT}/"))
        except Failure as e:
            got = str(e)
        checks.ok(got == PAGE, f"host port {HOST_PORT} answers from {who} ({dst})", got)

    # 3. teardown twice, nothing left
    w.remove_pod_twice(a)
    w.remove_pod_twice(b)
    checks.ok(not w.cri.list_pod_sandboxes(), "StopPodSandbox and RemovePodSandbox twice each: no sandbox left")
    check_nothing_left(w, checks, before, [a, b], "after removing the pods")

    # 4. the kubelet's pod CIDR: containerd writes the conflist from its conf_template
    os.unlink(f"{w.tmp}/net.d/05-crt.conflist")
    wait_for("NetworkReady false without a conflist", lambda: not w.cri.network_ready()[0], timeout=15)
    w.cri.update_pod_cidr(TEMPLATE_CIDR)
    written = f"{w.tmp}/net.d/10-containerd-net.conflist"
    wait_for("containerd to write its conflist from conf_template", lambda: os.path.exists(written), timeout=10)
    try:
        with open(written) as f:
            conf = json.load(f)
        checks.ok(conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": TEMPLATE_CIDR}]],
                  "the conflist containerd wrote carries the pod CIDR", json.dumps(conf["plugins"][0]["ipam"]))
    except (ValueError, KeyError, IndexError) as e:
        checks.ok(False, "the conflist containerd wrote is valid JSON with the pod CIDR", str(e))
    wait_for("NetworkReady with the templated conflist", lambda: w.cri.network_ready()[0], timeout=15)
    c = w.run_pod("crt-c", ports=[(HOST_PORT + 1, POD_PORT, "tcp")] if portmap else [])
    checks.ok(c["ip"] and ipaddress.ip_address(c["ip"]) in ipaddress.ip_network(TEMPLATE_CIDR),
              f"a pod gets an address from the pod CIDR {TEMPLATE_CIDR}", c["ip"])
    r = run(w.host("busybox", "ping", "-c", "1", "-W", "2", c["ip"]), check=False)
    checks.ok(r.returncode == 0, "the host pings that pod", r.stdout + r.stderr)
    if portmap:
        w.run_container(c, "server", ["/bin/httpd", "-f", "-p", str(POD_PORT), "-h", "/www"])
        try:
            got = fetch(w.client("busybox", "wget", "-q", "-O", "-", f"http://{CLIENT_HOST_IP}:{HOST_PORT + 1}/"))
        except Failure as e:
            got = str(e)
        checks.ok(got == PAGE, f"its host port {HOST_PORT + 1} answers from the client namespace", got)
    w.remove_pod_twice(c)
    check_nothing_left(w, checks, before, [c], "after removing the templated pod")


def trace_dir(tmp, real):
    """A bin_dir of wrappers that log each call and exec the plugin of the same name in REAL."""
    d = f"{tmp}/cni-trace"
    os.makedirs(d)
    for name in os.listdir(real):
        with open(f"{d}/{name}", "w") as f:
            f.write(f"""#!/bin/sh
in=$(cat)
case "$in" in *'"prevResult"'*) prev=yes ;; *) prev=no ;; esac
out=$(printf '%s' "$in" | {real}/{name} "$@")
rc=$?
echo "{name} $CNI_COMMAND id=$(echo "$CNI_CONTAINERID" | cut -c1-12) if=$CNI_IFNAME netns=${{CNI_NETNS:-(empty)}} \
prevResult=$prev -> exit $rc" >> {tmp}/trace.log
printf '%s' "$out"
exit $rc
""")
        os.chmod(f"{d}/{name}", 0o755)
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ctnet", help="the ctnet binary (its plugin directory is laid out with scripts/make-cni-dir.sh)")
    ap.add_argument("--reference", action="store_true", help="use Debian's plugins, /usr/lib/cni, as bin_dir")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, config)")
    ap.add_argument("--no-portmap", action="store_true",
                    help="diagnostic: leave portmap out of the conflists (and the host port checks)")
    ap.add_argument("--trace", action="store_true",
                    help="diagnostic: bin_dir holds wrappers logging each plugin call (command, netns, prevResult)")
    args = ap.parse_args()

    if os.geteuid() != 0:
        log("cannot run: needs root")
        return 1
    missing = [p for p in ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter", "unshare", "nft",
                           "busybox") if not shutil.which(p)]
    for module in ("grpc", "grpc_tools"):
        if importlib.util.find_spec(module) is None:
            missing.append(f"python module {module} (python3-grpcio, python3-grpc-tools)")
    if missing:
        log(f"cannot run: missing {', '.join(missing)} (make deps installs them)")
        return 1

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    checks = Checks()
    start = time.monotonic()
    w = World(args)
    try:
        if args.reference:
            bin_dir = "/usr/lib/cni"
        else:
            bin_dir = f"{w.tmp}/cni-bin"
            run([os.path.join(SOURCE_DIR, "scripts", "make-cni-dir.sh"), args.ctnet, bin_dir])
        if args.trace:
            bin_dir = trace_dir(w.tmp, bin_dir)
        sweep_stale()
        scenario(w, checks, bin_dir)
    except (Failure, KeyboardInterrupt) as e:
        checks.failed.append(str(e))
        log(f"FAIL - {e}")
    except Exception as e:  # noqa: BLE001 - a gRPC error, say: reported with its details
        checks.failed.append(f"{type(e).__name__}: {text_of(e)}")
        log(f"FAIL - {type(e).__name__}: {text_of(e)}")
        traceback.print_exc()
    finally:
        if checks.failed and w.proc is not None:
            log("containerd's log (last lines):\n" + w.log_tail())
        if args.trace and os.path.exists(f"{w.tmp}/trace.log"):
            with open(f"{w.tmp}/trace.log") as f:
                log("plugin calls:\n" + f.read())
        for e in w.cleanup():
            checks.failed.append(f"cleanup: {e}")
            log(f"FAIL - cleanup: {e}")
    log(f"{'PASS' if not checks.failed else 'FAIL'}: {'reference' if args.reference else 'ctnet'} plugins, "
        f"{time.monotonic() - start:.1f}s" + (f", {len(checks.failed)} failed" if checks.failed else ""))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
