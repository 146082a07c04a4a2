"""Shared fixtures: a kubesim started as a subprocess through its CLI contract, and clients configured from the
kubeconfig it writes (never from ~/.kube/config).

- `kubesim`: one server per test module (module-scoped) for speed; `kubesim_factory` starts extra ones with
  other flags (RBAC, faults, plain HTTP).
- `k8s`: a kubernetes.client.ApiClient for that server; `core`, `apps`, `batch`, `disco` (discovery.k8s.io),
  `policy`: the typed API groups on it.
- `namespace`: a fresh namespace per test.
- `wait_for(predicate, timeout)`: polls until the predicate returns a truthy value.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import yaml

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
except ImportError:  # pragma: no cover - the project venv always has it
    k8s_client = None


class KubesimProcess:
    """A running `python -m kubesim serve` and what a test needs to talk to it."""

    def __init__(self, workdir: str, extra_args=(), token: str | None = None, insecure_http: bool = False):
        self.workdir = workdir
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.audit_log = os.path.join(workdir, "audit.log")
        self.token = token or "kubesim-test-" + uuid.uuid4().hex
        self.stderr_path = os.path.join(workdir, "stderr.log")
        args = [sys.executable, "-m", "kubesim", "serve", "--host", "127.0.0.1", "--port", "0",
                "--kubeconfig", self.kubeconfig, "--audit-log", self.audit_log, "--token", self.token,
                *extra_args]
        if insecure_http:
            args.append("--insecure-http")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._stderr)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.kubeconfig):
            if self.proc.poll() is not None:
                raise RuntimeError(f"kubesim exited with {self.proc.returncode}: {self.stderr()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"kubesim did not write its kubeconfig in 30 s: {self.stderr()}")
            time.sleep(0.02)
        with open(self.kubeconfig) as f:
            cfg = yaml.safe_load(f)
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"]
        self.ca_file = None
        if "certificate-authority-data" in cluster:
            import base64
            self.ca_file = os.path.join(workdir, "ca.crt")
            with open(self.ca_file, "wb") as f:
                f.write(base64.b64decode(cluster["certificate-authority-data"]))

    def stderr(self) -> str:
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def audit_entries(self) -> list[dict]:
        with open(self.audit_log, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def api_client(self, token: str | None = None):
        cfg = k8s_client.Configuration()
        k8s_config.load_kube_config(config_file=self.kubeconfig, client_configuration=cfg)
        if token is not None:
            # client 37 keeps the kubeconfig token under "BearerToken" and refreshes it from the kubeconfig
            cfg.refresh_api_key_hook = None
            cfg.api_key = {"BearerToken": "Bearer " + token}
        return k8s_client.ApiClient(cfg)

    def request(self, method: str, path: str, body=None, token: str | None = "default", headers=None,
                timeout: float = 10):
        """A raw HTTP request (for bodies and headers the client hides). Returns (status, headers, body bytes)."""
        import ssl
        import urllib.error
        import urllib.request
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token == "default":
            token = self.token
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("kubesim did not stop within 20 s of SIGTERM")
        self._stderr.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def kubesim_factory():
    """Start kubesim servers with extra flags: factory(extra_args=[...], insecure_http=False, token=None)."""
    started: list[KubesimProcess] = []
    dirs: list[tempfile.TemporaryDirectory] = []

    def start(extra_args=(), insecure_http=False, token=None) -> KubesimProcess:
        d = tempfile.TemporaryDirectory(prefix="kubesim-test-")
        dirs.append(d)
        p = KubesimProcess(d.name, extra_args, token=token, insecure_http=insecure_http)
        started.append(p)
        return p

    yield start
    failures = []
    for p in started:
        code = p.stop()
        if code != 0:
            failures.append(f"kubesim exited with {code}: {p.stderr()}")
    for d in dirs:
        d.cleanup()
    assert not failures, failures


@pytest.fixture(scope="module")
def kubesim(kubesim_factory):
    p = kubesim_factory()
    yield p
    assert p.stop() == 0, p.stderr()
    assert "Traceback" not in p.stderr(), p.stderr()


@pytest.fixture(scope="module")
def k8s(kubesim):
    if k8s_client is None:
        pytest.skip("the kubernetes Python client is not installed")
    c = kubesim.api_client()
    yield c
    c.close()


def _api_group_fixture(name: str, api_class: str):
    """A module-scoped fixture `name` giving the typed API class `api_class` on the module's `k8s` client."""
    @pytest.fixture(scope="module", name=name)
    def api_group(k8s):
        return getattr(k8s_client, api_class)(k8s)
    return api_group


core = _api_group_fixture("core", "CoreV1Api")
apps = _api_group_fixture("apps", "AppsV1Api")
batch = _api_group_fixture("batch", "BatchV1Api")
disco = _api_group_fixture("disco", "DiscoveryV1Api")
policy = _api_group_fixture("policy", "PolicyV1Api")


@pytest.fixture
def namespace(k8s):
    name = "t-" + uuid.uuid4().hex[:10]
    core = k8s_client.CoreV1Api(k8s)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except k8s_client.ApiException:
        pass


@pytest.fixture
def wait_for():
    """test_kubelet_support.eventually(predicate, timeout=10, interval=0.05, message=""); imported here, not at
    the top, because that module needs the kubernetes client, whose absence this file turns into skips."""
    from test_kubelet_support import eventually
    return eventually
