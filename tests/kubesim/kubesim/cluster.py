"""Cluster: the Store, the Api, the default objects (namespaces, Nodes) and the components.

Components come from the optional packages `kubesim.controllers` and `kubesim.kubelet`: each exposes
`register(cluster)`, which adds components (`cluster.add_component(c)`, each with async start()/stop()) and
connect handlers (`cluster.connect_handlers[("pods", "exec")] = handler`). A missing package is skipped, so the
parts plug in without editing this file.
"""
from __future__ import annotations

import importlib
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

from kubesim.api import Api
from kubesim.audit import Audit
from kubesim.faults import Faults
from kubesim.store import Store
from kubesim.tokens import ServiceAccountTokens

log = logging.getLogger("kubesim.cluster")

COMPONENT_PACKAGES = ("kubesim.controllers", "kubesim.kubelet")
ZONES = ("zone-a", "zone-b", "zone-c")


@dataclass
class ClusterOptions:
    readiness_delay: float = 0.2  # seconds before a started container reports ready
    nodes: int = 3
    state_dir: str | None = None  # sandbox root; a temp dir removed at exit when None
    bookmark_interval: float = 60.0  # seconds between watch BOOKMARK events (real: about 1 minute)
    audit_log: str | None = None
    ca_pem: str = ""  # the cluster CA (for kube-root-ca.crt)
    server_url: str = ""
    history_size: int = 50_000
    components: tuple = COMPONENT_PACKAGES  # component packages to load
    # Kubelet tunables. None = the kubelet's own default (it falls back to `extra`, then to its default):
    crash_backoff_base: float | None = None      # seconds; CrashLoopBackOff doubles from here (kubelet: 10 s)
    image_pull_backoff_base: float | None = None  # seconds; ImagePullBackOff doubles from here (kubelet: 10 s)
    termination_delay: float | None = None       # seconds a container takes to stop after SIGTERM (0.05)
    max_pods_per_node: int | None = None         # the kubelet's --max-pods (110)
    extra: dict = field(default_factory=dict)    # free-form knobs for components; the fields above are mirrored

    def __post_init__(self):
        # Components that read a tunable from `extra` see the field's value too.
        for name in ("crash_backoff_base", "image_pull_backoff_base", "termination_delay", "max_pods_per_node"):
            value = getattr(self, name)
            if value is not None:
                self.extra.setdefault(name, value)


class Cluster:
    def __init__(self, options: ClusterOptions | None = None):
        self.options = options or ClusterOptions()
        self._own_state_dir = False
        if not self.options.state_dir:
            self.options.state_dir = tempfile.mkdtemp(prefix="kubesim-")
            self._own_state_dir = True
        self.store = Store(self.options.history_size)
        self.audit = Audit(self.options.audit_log)
        self.faults = Faults()
        self.api = Api(self.store, self)
        # Signs and checks ServiceAccount tokens (TokenRequest, the token controller's Secrets).
        self.tokens = ServiceAccountTokens(self.store)
        self.components: list = []
        self.connect_handlers: dict = {}
        # Set by the controllers part: a PDB checker with check_eviction(pod, dry_run) raising ApiError 429.
        self.disruption = None
        # Set by the CLI when serving HTTPS: the tls.ClientCA whose certificates authenticate clients.
        self.client_ca = None
        # Set True by a garbage collector that handles the `orphan` and `foregroundDeletion` finalizers.
        self.gc_finalizers = False
        self.node_names: list[str] = []
        self._started = False
        self._bootstrap()
        self._load_components()

    # --------------------------------------------------------------------------------------------- bootstrap
    def _bootstrap(self):
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.api.create("namespaces", "", {"metadata": {"name": ns}}, user="system:apiserver")
        self.api.create("services", "default", {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}},
            user="system:apiserver")
        for i in range(1, self.options.nodes + 1):
            self.add_node(f"kubesim-node-{i}", ZONES[(i - 1) % len(ZONES)])

    def add_node(self, name: str, zone: str = "zone-a") -> dict:
        idx = len(self.node_names) + 1
        now = __import__("kubesim.api", fromlist=["now_rfc3339"]).now_rfc3339()
        conditions = [
            {"type": t, "status": "False", "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": r,
             "message": m} for t, r, m in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
        conditions.append({"type": "Ready", "status": "True", "lastHeartbeatTime": now, "lastTransitionTime": now,
                           "reason": "KubeletReady", "message": "kubelet is posting ready status"})
        node = {
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "kubesim"},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"podCIDR": f"10.244.{idx}.0/24", "podCIDRs": [f"10.244.{idx}.0/24"]},
            "status": {
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "250", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "250", "ephemeral-storage": "100Gi"},
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": f"172.18.0.{idx + 1}"},
                              {"type": "Hostname", "address": name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"machineID": f"{idx:032x}", "systemUUID": f"{idx:08x}-0000-0000-0000-000000000000",
                             "bootID": f"{idx:08x}-b007-0000-0000-000000000000",
                             "kernelVersion": "6.1.0-kubesim", "osImage": "kubesim", "operatingSystem": "linux",
                             "architecture": "amd64", "containerRuntimeVersion": "kubesim://1.0.0",
                             "kubeletVersion": "v1.34.2", "kubeProxyVersion": "v1.34.2"},
            }}
        obj = self.api.create("nodes", "", node, user=f"system:node:{name}")
        self.node_names.append(name)
        return obj

    def _load_components(self):
        for pkg in self.options.components:
            try:
                mod = importlib.import_module(pkg)
            except ModuleNotFoundError as e:
                if e.name == pkg or (e.name and pkg.startswith(e.name + ".")) or e.name == pkg.rsplit(".", 1)[0]:
                    log.info("component package %s not present; skipped", pkg)
                    continue
                raise
            register = getattr(mod, "register", None)
            if register is None:
                print(f"kubesim: {pkg} has no register(cluster); skipped", file=sys.stderr)
                continue
            register(self)

    # -------------------------------------------------------------------------------------------- lifecycle
    def add_component(self, c):
        self.components.append(c)

    async def start(self):
        for c in self.components:
            await c.start()
        self._started = True

    async def stop(self):
        for c in reversed(self.components):
            try:
                await c.stop()
            except Exception as e:  # keep stopping the others
                print(f"kubesim: stopping {type(c).__name__} failed: {e!r}", file=sys.stderr)
        self._started = False
        self.audit.close()
        if self._own_state_dir and self.options.state_dir:
            shutil.rmtree(self.options.state_dir, ignore_errors=True)
