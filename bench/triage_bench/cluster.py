"""One kubesim for the whole run: its process, the two identities, the audit log, and the workloads.

The approaches under test talk as the kubeconfig's administrator (`kubesim-admin`) for the isolation figures, and
as an identity of their own for the scale, fault and evidence figures (LANE_USERS, all in system:masters);
everything the harness itself sends (setup, the Endpoints watch, the Service-proxy load, state checks) uses another
token, `bench-observer`, so that the audit log's entries of one identity are exactly the requests of the approach
being measured, even when quick mode runs the sections side by side, and a fault rule on one identity touches no
other section.
"""
from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

ADMIN_USER = "kubesim-admin"
OBSERVER_USER = "bench-observer"
LANE_USERS = ("bench-last-ready", "bench-scale", "bench-faults", "bench-evidence")
PODS_PER_NODE = 100          # under the kubelet's 110 (--max-pods), so every pod is scheduled
APP_IMAGE = "kubesim/web:1"  # a real HTTP server behind the Service proxy
FILLER_IMAGE = "registry.example/app:1"  # a quiet process: a pod that only takes room in the namespace


def parse_time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Kubesim:
    """`python -m kubesim serve` with an audit log and the observer token; stopped with SIGTERM."""

    def __init__(self, workdir: str, nodes: int, readiness_delay: float | None = None):
        self.workdir = workdir
        self.nodes = nodes
        self.readiness_delay = readiness_delay
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.observer_kubeconfig = os.path.join(workdir, "observer.kubeconfig")
        self.audit_path = os.path.join(workdir, "audit.log")
        self.stderr_path = os.path.join(workdir, "kubesim.out")
        self.proc: subprocess.Popen | None = None
        self.argv: list[str] = []

    def start(self) -> None:
        rbac = os.path.join(self.workdir, "rbac.yml")
        with open(rbac, "w", encoding="utf-8") as f:
            yaml.safe_dump({"tokens": [{"token": f"{user}-token", "user": user, "groups": ["system:masters"]}
                                       for user in (OBSERVER_USER,) + LANE_USERS]}, f)
        self.argv = [sys.executable, "-m", "kubesim", "serve", "--host", "127.0.0.1", "--port", "0",
                     "--kubeconfig", self.kubeconfig, "--audit-log", self.audit_path, "--rbac", rbac,
                     "--nodes", str(self.nodes)]
        if self.readiness_delay is not None:
            self.argv += ["--readiness-delay", str(self.readiness_delay)]
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "wb"))  # noqa: SIM115 (kept for the process)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.kubeconfig):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kubesim did not start; see {self.stderr_path}")
            time.sleep(0.05)
        for user in (OBSERVER_USER,) + LANE_USERS:
            self._token_kubeconfig(user)

    def _token_kubeconfig(self, user: str) -> None:
        with open(self.kubeconfig, encoding="utf-8") as f:
            kc = yaml.safe_load(f)
        for entry in kc["users"]:
            entry["user"] = {"token": f"{user}-token"}
        fd = os.open(self.kubeconfig_of(user), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(kc, f)

    def kubeconfig_of(self, user: str) -> str:
        """The kubeconfig an approach uses to talk as `user` (ADMIN_USER: kubesim's own kubeconfig)."""
        if user == ADMIN_USER:
            return self.kubeconfig
        if user == OBSERVER_USER:
            return self.observer_kubeconfig
        return os.path.join(self.workdir, f"{user}.kubeconfig")

    @property
    def server(self) -> str:
        with open(self.kubeconfig, encoding="utf-8") as f:
            return yaml.safe_load(f)["clusters"][0]["cluster"]["server"]

    def stop(self) -> bool:
        """Stop kubesim; True when it wrote no traceback (an emulator bug must not hide behind figures)."""
        if self.proc is None:
            return True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return "Traceback" not in f.read()

    # --- the audit log -------------------------------------------------------------------------------------
    def audit_offset(self) -> int:
        try:
            return os.path.getsize(self.audit_path)
        except FileNotFoundError:
            return 0

    def audit_since(self, offset: int) -> list[dict]:
        with open(self.audit_path, "rb") as f:
            f.seek(offset)
            data = f.read()
        entries = []
        for line in data.splitlines():
            if line.strip():
                entry = json.loads(line)
                entry["t"] = parse_time(entry["time"])
                entries.append(entry)
        return entries


def api_client(kubeconfig: str, pool: int = 8) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    cfg.connection_pool_maxsize = pool
    return client.ApiClient(cfg)


class Workloads:
    """Namespaces in the seed 004 layout: a Deployment whose pods carry `component` and `release`, a Service that
    selects both, and filler pods and Services to give the namespace its size."""

    def __init__(self, api: client.ApiClient):
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)

    def namespace(self, name: str) -> None:
        try:
            self.core.create_namespace({"metadata": {"name": name}})
        except ApiException as err:
            if err.status != 409:
                raise

    def deployment(self, ns: str, name: str, replicas: int) -> None:
        labels = {"component": "api", "release": name}
        self.apps.create_namespaced_deployment(ns, {
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": APP_IMAGE,
                                                           "ports": [{"containerPort": 8080}]}]}}}})
        self.core.create_namespaced_service(ns, {
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})

    def filler(self, ns: str, pods: int, services: int, threads: int = 4) -> None:
        """Bare pods and Services that select them (never the Deployments' pods)."""
        def pod(i):
            self.core.create_namespaced_pod(ns, {
                "metadata": {"name": f"filler-{i:05d}", "labels": {"app": "filler", "group": f"g{i % 100}"}},
                "spec": {"containers": [{"name": "app", "image": FILLER_IMAGE}]}})

        def svc(i):
            self.core.create_namespaced_service(ns, {
                "metadata": {"name": f"filler-{i:04d}"},
                "spec": {"selector": {"app": "filler", "group": f"g{i % 100}"},
                         "ports": [{"port": 80, "targetPort": 8080}]}})
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(pod, range(pods)))
            list(ex.map(svc, range(services)))

    def wait_pods_running(self, ns: str, count: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while True:
            pods = json.loads(self.core.list_namespaced_pod(ns, _preload_content=False).data)["items"]
            running = sum(1 for p in pods if (p.get("status") or {}).get("podIP"))
            if running >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {running} of {count} pods of namespace {ns} got an IP in {timeout} s")
            time.sleep(0.5 if count < 500 else 3)   # a list of thousands of pods is work for kubesim too

    def app_pods(self, ns: str, name: str) -> list[dict]:
        return json.loads(self.core.list_namespaced_pod(
            ns, label_selector=f"component=api,release={name}", _preload_content=False).data)["items"]

    def owned_pods(self, ns: str, name: str) -> list[dict]:
        """Pods of the Deployment that a ReplicaSet still owns, ready or not."""
        out = []
        for p in self.app_pods(ns, name):
            owners = p["metadata"].get("ownerReferences") or []
            if any(o.get("kind") == "ReplicaSet" for o in owners) and not p["metadata"].get("deletionTimestamp"):
                out.append(p)
        return out

    def endpoint_ips(self, ns: str, name: str) -> set[str]:
        """Every address (ready or not) of the Service's Endpoints and EndpointSlices."""
        ips: set[str] = set()
        try:
            ep = json.loads(self.core.read_namespaced_endpoints(name, ns, _preload_content=False).data)
            for subset in ep.get("subsets") or []:
                for key in ("addresses", "notReadyAddresses"):
                    ips.update(a["ip"] for a in subset.get(key) or [])
        except ApiException as err:
            if err.status != 404:
                raise
        slices = json.loads(client.DiscoveryV1Api(self.api).list_namespaced_endpoint_slice(
            ns, label_selector=f"kubernetes.io/service-name={name}", _preload_content=False).data)["items"]
        for s in slices:
            for e in s.get("endpoints") or []:
                ips.update(e.get("addresses") or [])
        return ips

    @staticmethod
    def is_ready(pod: dict) -> bool:
        conditions = (pod.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def wait_serving(self, ns: str, name: str, replicas: int, timeout: float = 60) -> list[dict]:
        """Until the Deployment has `replicas` ready owned pods, all in the endpoints, and nothing else is in them."""
        deadline = time.monotonic() + timeout
        while True:
            ready = [p for p in self.owned_pods(ns, name) if self.is_ready(p)]
            ips = {p["status"].get("podIP") for p in ready}
            if len(ready) == replicas and self.endpoint_ips(ns, name) == ips:
                return sorted(ready, key=lambda p: p["metadata"]["name"])
            if time.monotonic() > deadline:
                raise RuntimeError(f"Deployment {ns}/{name} is not serving {replicas} ready pods after {timeout} s")
            time.sleep(0.1)

    def delete_pod(self, ns: str, name: str) -> None:
        try:
            self.core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
        except ApiException as err:
            if err.status != 404:
                raise

    def wait_gone(self, ns: str, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.core.read_namespaced_pod(name, ns, _preload_content=False)
            except ApiException as err:
                if err.status == 404:
                    return
                raise
            time.sleep(0.1)
        raise RuntimeError(f"pod {ns}/{name} still exists {timeout} s after its delete")
