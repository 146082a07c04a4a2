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


@pytest.fixture(scope="module")
def core(k8s):
    return k8s_client.CoreV1Api(k8s)


@pytest.fixture(scope="module")
def apps(k8s):
    return k8s_client.AppsV1Api(k8s)


@pytest.fixture(scope="module")
def batch(k8s):
    return k8s_client.BatchV1Api(k8s)


@pytest.fixture(scope="module")
def disco(k8s):
    return k8s_client.DiscoveryV1Api(k8s)


@pytest.fixture(scope="module")
def policy(k8s):
    return k8s_client.PolicyV1Api(k8s)


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


def _wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = ""):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}: last={last!r}")


@pytest.fixture
def wait_for():
    return _wait_for
