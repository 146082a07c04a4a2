"""The audit log (one JSON line per request) and fault injection (issue #3: reliability tests need both)."""
from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.error

import pytest
from kubernetes import client


def test_audit_log_records_each_request(kubesim, k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "aud"}})
    core.read_namespaced_config_map("aud", namespace)
    core.patch_namespaced_config_map("aud", namespace, {"data": {"a": "b"}}, dry_run="All")
    with pytest.raises(client.ApiException):
        core.read_namespaced_config_map("nope", namespace)
    core.list_namespaced_config_map(namespace, label_selector="a=b")
    entries = [e for e in kubesim.audit_entries() if e["namespace"] == namespace and e["stage"] != "internal"]
    keys = {"time", "user", "verb", "group", "resource", "subresource", "namespace", "name", "query", "code",
            "dryRun"}
    assert all(keys <= set(e) for e in entries)
    summary = [(e["verb"], e["resource"], e["name"], e["code"], e["dryRun"]) for e in entries]
    assert ("create", "configmaps", "", 201, False) in summary
    assert ("get", "configmaps", "aud", 200, False) in summary
    assert ("patch", "configmaps", "aud", 200, True) in summary
    assert ("get", "configmaps", "nope", 404, False) in summary
    lst = next(e for e in entries if e["verb"] == "list")
    assert lst["query"]["labelSelector"] == "a=b" and lst["user"] == "kubesim-admin"


def test_audit_log_marks_internal_writes(kubesim, k8s, namespace):
    """Component writes are logged with stage "internal", so tests can count only client requests."""
    internal = [e for e in kubesim.audit_entries() if e["stage"] == "internal" and e["namespace"] == namespace]
    assert any(e["resource"] == "serviceaccounts" and e["verb"] == "create" and
               e["user"] == "system:serviceaccount:kube-system:service-account-controller" for e in internal)


@pytest.fixture(scope="module")
def faulty(kubesim_factory):
    return kubesim_factory(["--fault", "verb=patch,resource=configmaps,action=error,code=503,nth=2"])


def _add_rule(ks, rule) -> int:
    status, _, body = ks.request("POST", "/kubesim/faults", rule)
    assert status == 201, body
    return json.loads(body)["added"]


def test_fault_flag_nth_request(faulty):
    c = faulty.api_client()
    core = client.CoreV1Api(c)
    core.create_namespaced_config_map("default", {"metadata": {"name": "f"}})
    core.patch_namespaced_config_map("f", "default", {"data": {"n": "1"}})
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_config_map("f", "default", {"data": {"n": "2"}})
    assert e.value.status == 503
    assert json.loads(e.value.body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                        "message": "the server is currently unable to handle the request",
                                        "reason": "ServiceUnavailable", "code": 503}
    assert core.read_namespaced_config_map("f", "default").data == {"n": "1"}  # the failed patch wrote nothing
    core.patch_namespaced_config_map("f", "default", {"data": {"n": "3"}})
    c.close()


def test_fault_429_with_retry_after_and_count(faulty):
    rid = _add_rule(faulty, {"verb": "list", "resource": "secrets", "action": "error", "code": 429,
                             "retry_after": 3, "count": 1})
    status, headers, body = faulty.request("GET", "/api/v1/namespaces/default/secrets")
    assert status == 429 and headers["Retry-After"] == "3"
    b = json.loads(body)
    assert b["reason"] == "TooManyRequests" and b["details"] == {"retryAfterSeconds": 3}
    assert faulty.request("GET", "/api/v1/namespaces/default/secrets")[0] == 200  # count=1: fired once
    assert faulty.request("DELETE", f"/kubesim/faults?id={rid}")[0] == 200


def test_fault_500_409_and_fraction(faulty):
    rid = _add_rule(faulty, {"verb": "get", "resource": "nodes", "action": "error", "code": 500})
    status, _, body = faulty.request("GET", "/api/v1/nodes/kubesim-node-1")
    assert status == 500 and json.loads(body)["reason"] == "InternalError"
    faulty.request("DELETE", f"/kubesim/faults?id={rid}")
    rid = _add_rule(faulty, {"verb": "update", "resource": "configmaps", "action": "error", "code": 409})
    faulty.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c409"}})
    status, _, body = faulty.request("PUT", "/api/v1/namespaces/default/configmaps/c409",
                                     {"metadata": {"name": "c409"}})
    assert status == 409 and json.loads(body)["reason"] == "Conflict"
    faulty.request("DELETE", f"/kubesim/faults?id={rid}")
    rid = _add_rule(faulty, {"verb": "get", "resource": "namespaces", "action": "error", "code": 503,
                             "fraction": 0.5})
    codes = [faulty.request("GET", "/api/v1/namespaces/default")[0] for _ in range(60)]
    assert 10 < codes.count(503) < 50 and codes.count(200) + codes.count(503) == 60
    faulty.request("DELETE", f"/kubesim/faults?id={rid}")


def test_fault_latency_and_reset(faulty):
    rid = _add_rule(faulty, {"verb": "get", "resource": "services", "action": "latency", "seconds": 0.4})
    t = time.monotonic()
    assert faulty.request("GET", "/api/v1/namespaces/default/services/kubernetes")[0] == 200
    assert time.monotonic() - t >= 0.4
    faulty.request("DELETE", f"/kubesim/faults?id={rid}")
    rid = _add_rule(faulty, {"verb": "list", "resource": "endpoints", "action": "reset"})
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        faulty.request("GET", "/api/v1/namespaces/default/endpoints")
    faulty.request("DELETE", f"/kubesim/faults?id={rid}")
    assert faulty.request("GET", "/api/v1/namespaces/default/endpoints")[0] == 200


def test_fault_drop_watch_stream(faulty):
    """A watch cut after N events: the chunked body never terminates, as with a dropped connection."""
    for i in range(3):
        faulty.request("POST", "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": f"sa{i}"}})
    rid = _add_rule(faulty, {"verb": "watch", "resource": "serviceaccounts", "action": "drop-stream",
                             "after_events": 2})
    host, port = faulty.url.split("//")[1].split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=faulty.ca_file),
                                       timeout=5)
    conn.request("GET", "/api/v1/namespaces/default/serviceaccounts?watch=1&timeoutSeconds=3",
                 headers={"Authorization": f"Bearer {faulty.token}"})
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises(http.client.IncompleteRead) as e:
        resp.read()
    lines = [json.loads(x) for x in e.value.partial.decode().splitlines()]
    assert len(lines) == 2 and all(x["type"] == "ADDED" for x in lines)
    faulty.request("DELETE", f"/kubesim/faults?id={rid}")


def test_fault_admin_endpoint(faulty):
    status, _, body = faulty.request("GET", "/kubesim/faults")
    rules = json.loads(body)["rules"]
    assert status == 200 and any(r["verb"] == "patch" and r["code"] == 503 for r in rules)
    status, _, body = faulty.request("POST", "/kubesim/faults", {"action": "explode"})
    assert status == 400 and "fault action must be one of" in json.loads(body)["message"]
    status, _, body = faulty.request("POST", "/kubesim/faults", {"action": "error", "after_bytes": 10})
    assert status == 400 and "after_bytes is a byte count >= 0 of a drop-stream rule" in json.loads(body)["message"]
    assert faulty.request("GET", "/kubesim/faults", token=None)[0] == 401


def test_bad_fault_flag_fails_clearly(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "kubesim", "serve", "--kubeconfig", str(tmp_path / "kc"),
                          "--fault", "code=418"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "fault code must be one of" in out.stderr and "Traceback" not in out.stderr
