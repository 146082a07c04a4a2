"""Helpers shared by the kubelet, controller, exec, logs, port-forward and proxy tests (this module has no tests
itself; the API-group fixtures `core`, `apps`, ... are in conftest.py)."""
from __future__ import annotations

import contextlib
import json
import ssl
import time

import websocket
from kubernetes import client

NODES = {"kubesim-node-1", "kubesim-node-2", "kubesim-node-3"}


def eventually(fn, timeout=10.0, interval=0.05, message=""):
    """Poll `fn` until it returns something truthy and return that; fail with the last value otherwise. Tests wait
    on conditions like this, never on fixed sleeps (conftest's `wait_for` fixture is this function)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or fn}: last={last!r}")


@contextlib.contextmanager
def drop_stream_fault(kubesim, namespace, subresource, after_seconds=0.0, after_bytes=None):
    """A `drop-stream` fault rule for one pod subresource in one namespace (so other tests' streams are not
    touched) for the duration of the block, added and removed through the admin endpoint `/kubesim/faults`."""
    rule = {"action": "drop-stream", "resource": "pods", "subresource": subresource, "namespace": namespace,
            "after_seconds": after_seconds}
    if after_bytes is not None:
        rule["after_bytes"] = after_bytes
    status, _, body = kubesim.request("POST", "/kubesim/faults", body=rule)
    assert status == 201, body
    rule_id = json.loads(body)["added"]
    try:
        yield
    finally:
        kubesim.request("DELETE", f"/kubesim/faults?id={rule_id}")


def pod_manifest(name, image="kubesim/web:v1", labels=None, env=None, **spec):
    container = {"name": "app", "image": image, "ports": [{"containerPort": 8080, "name": "http"}]}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [container], **spec}}


def condition(pod, ctype):
    return next((c for c in pod.status.conditions or [] if c.type == ctype), None)


def is_ready(pod):
    cond = condition(pod, "Ready")
    return cond is not None and cond.status == "True"


def events_of(core, namespace, name):
    return [e for e in core.list_namespaced_event(namespace).items if e.involved_object.name == name]


def start_pod(core, namespace, manifest, timeout=10.0):
    """Create a pod and wait until it is Ready; returns the pod."""
    core.create_namespaced_pod(namespace, manifest)
    name = manifest["metadata"]["name"]
    return eventually(lambda: (p := core.read_namespaced_pod(name, namespace)) and is_ready(p) and p, timeout)


def raw_websocket(k8s, path, protocols, query=()):
    """A websocket-client connection to a kubesim path, authenticated like the Python client does it."""
    from urllib.parse import urlencode
    cfg = k8s.configuration
    url = cfg.host.replace("https://", "wss://").replace("http://", "ws://") + path
    if query:
        url += "?" + urlencode(list(query))
    headers = []
    token = cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken")
    if token:
        prefix = cfg.api_key_prefix.get("authorization", "")
        headers.append(f"authorization: {(prefix + ' ') if prefix and not token.startswith(prefix) else ''}{token}")
    sslopt = {"cert_reqs": ssl.CERT_NONE}
    if cfg.ssl_ca_cert:
        sslopt = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": cfg.ssl_ca_cert}
    ws = websocket.WebSocket(sslopt=sslopt)
    ws.connect(url, header=headers, subprotocols=list(protocols))
    return ws


def read_frames(ws, timeout=10.0):
    """All (opcode, bytes) frames until the server closes the websocket."""
    ws.settimeout(timeout)
    frames = []
    while True:
        opcode, frame = ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return frames
        frames.append((opcode, frame.data))


def core_api(k8s):
    return client.CoreV1Api(k8s)
