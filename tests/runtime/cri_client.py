"""A small CRI v1 client (runtime.v1 RuntimeService and ImageService over gRPC on a unix socket), as a kubelet
speaks to containerd. The Python stubs are generated from the vendored api.proto at run time into a directory the
caller owns (nothing generated is committed):

    api = generate_stubs(workdir)            # runs /usr/bin/python3 -m grpc_tools.protoc
    cri = CriClient("/path/containerd.sock", api)
    cri.version()
"""
import importlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def generate_stubs(outdir, python="/usr/bin/python3"):
    """Compiles api.proto into OUTDIR and returns the module of its messages (api_pb2) with api_pb2_grpc beside."""
    os.makedirs(outdir, exist_ok=True)
    subprocess.run([python, "-m", "grpc_tools.protoc", "-I", HERE, "--python_out", outdir,
                    "--grpc_python_out", outdir, os.path.join(HERE, "api.proto")], check=True)
    if outdir not in sys.path:
        sys.path.insert(0, outdir)
    return importlib.import_module("api_pb2")


class CriClient:
    def __init__(self, socket_path, api, timeout=60):
        import grpc  # python3-grpcio (Debian's, for /usr/bin/python3)
        self.api = api
        self.timeout = timeout
        grpc_mod = importlib.import_module("api_pb2_grpc")
        self.channel = grpc.insecure_channel("unix://" + socket_path)
        self.runtime = grpc_mod.RuntimeServiceStub(self.channel)
        self.images = grpc_mod.ImageServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def _call(self, stub, method, request):
        return getattr(stub, method)(request, timeout=self.timeout)

    # RuntimeService
    def version(self):
        return self._call(self.runtime, "Version", self.api.VersionRequest(version="v1"))

    def status(self, verbose=False):
        return self._call(self.runtime, "Status", self.api.StatusRequest(verbose=verbose))

    def network_ready(self):
        """(ready, reason: message) of the runtime's NetworkReady condition."""
        for c in self.status().status.conditions:
            if c.type == "NetworkReady":
                return c.status, f"{c.reason}: {c.message}"
        return False, "no NetworkReady condition"

    def update_pod_cidr(self, cidr):
        """The kubelet's UpdateRuntimeConfig with the node's pod CIDR (one CIDR or several, comma separated)."""
        cfg = self.api.RuntimeConfig(network_config=self.api.NetworkConfig(pod_cidr=cidr))
        return self._call(self.runtime, "UpdateRuntimeConfig", self.api.UpdateRuntimeConfigRequest(runtime_config=cfg))

    def sandbox_config(self, name, uid, namespace="default", port_mappings=(), log_directory="",
                       cgroup_parent="", hostname=""):
        """A PodSandboxConfig as the kubelet fills it; port_mappings: (host_port, container_port, "tcp"|"udp")."""
        a = self.api
        ports = [a.PortMapping(protocol=a.UDP if proto == "udp" else a.TCP, container_port=cport, host_port=hport)
                 for hport, cport, proto in port_mappings]
        return a.PodSandboxConfig(
            metadata=a.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=0),
            hostname=hostname or name, log_directory=log_directory, port_mappings=ports,
            labels={"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace},
            linux=a.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent))

    def run_pod_sandbox(self, config):
        return self._call(self.runtime, "RunPodSandbox", self.api.RunPodSandboxRequest(config=config)).pod_sandbox_id

    def stop_pod_sandbox(self, sandbox_id):
        return self._call(self.runtime, "StopPodSandbox", self.api.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    def remove_pod_sandbox(self, sandbox_id):
        return self._call(self.runtime, "RemovePodSandbox",
                          self.api.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))

    def pod_sandbox_status(self, sandbox_id, verbose=True):
        """(status, info): info is the runtime's verbose JSON (containerd: "info" with pid and runtimeSpec)."""
        r = self._call(self.runtime, "PodSandboxStatus",
                       self.api.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=verbose))
        info = json.loads(r.info["info"]) if "info" in r.info else {}
        return r.status, info

    def list_pod_sandboxes(self):
        return self._call(self.runtime, "ListPodSandbox", self.api.ListPodSandboxRequest()).items

    def create_container(self, sandbox_id, sandbox_config, name, image, command, log_path=""):
        a = self.api
        cfg = a.ContainerConfig(metadata=a.ContainerMetadata(name=name, attempt=0), image=a.ImageSpec(image=image),
                                command=list(command), log_path=log_path)
        return self._call(self.runtime, "CreateContainer",
                          a.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=cfg,
                                                   sandbox_config=sandbox_config)).container_id

    def start_container(self, container_id):
        return self._call(self.runtime, "StartContainer", self.api.StartContainerRequest(container_id=container_id))

    def container_status(self, container_id):
        return self._call(self.runtime, "ContainerStatus",
                          self.api.ContainerStatusRequest(container_id=container_id)).status

    def exec_sync(self, container_id, cmd, timeout=10):
        """(exit code, stdout, stderr) of CMD run in the container (ExecSync needs no streaming server)."""
        r = self._call(self.runtime, "ExecSync",
                       self.api.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout))
        return r.exit_code, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    # ImageService
    def image_status(self, image):
        return self._call(self.images, "ImageStatus",
                          self.api.ImageStatusRequest(image=self.api.ImageSpec(image=image))).image

    def list_images(self):
        return self._call(self.images, "ListImages", self.api.ListImagesRequest()).images
