"""Pod and Service proxy (`.../pods/{name}[:port]/proxy/...`, `.../services/{name}[:port]/proxy/...`):
round-robin over the ready endpoints to the container servers (spec §4: only Ready pods are `addresses`)."""
from __future__ import annotations

import json

import pytest
from kubernetes import client

from test_kubelet_support import eventually, is_ready, pod_manifest, start_pod


@pytest.fixture(scope="module")
def core(k8s):
    return client.CoreV1Api(k8s)


def service(name, selector, target_port=8080, port_name="http"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"name": port_name, "port": 80, "targetPort": target_port}]}}


def proxied_pod(core, namespace, svc, path="json"):
    return json.loads(core.connect_get_namespaced_service_proxy_with_path(svc, namespace, path,
                                                                          _preload_content=False).data)["pod"]


def proxied_pods(core, namespace, svc, count):
    """The pods answering `count` requests, or None while the Service has no ready endpoint yet (503)."""
    try:
        return {proxied_pod(core, namespace, svc) for _ in range(count)}
    except client.ApiException as exc:
        if exc.status != 503:
            raise
        return None


def test_pod_proxy_default_port(core, namespace):
    start_pod(core, namespace, pod_manifest("web", image="kubesim/web:3"))
    assert core.connect_get_namespaced_pod_proxy("web", namespace) == \
        f"pod=web namespace={namespace} image=kubesim/web:3 tag=3\n"


def test_pod_proxy_by_port_number_and_name(core, namespace):
    start_pod(core, namespace, pod_manifest("web", image="kubesim/web:3"))
    for target in ("web:8080", "web:http"):
        info = json.loads(core.connect_get_namespaced_pod_proxy_with_path(target, namespace, "json",
                                                                          _preload_content=False).data)
        assert info["pod"] == "web" and info["path"] == "/json"


def test_service_proxy_round_robins_over_ready_pods_only(core, namespace):
    """Every ready pod gets traffic; a Running but not-ready pod (readiness probe delay) never does."""
    for i in range(3):
        start_pod(core, namespace, pod_manifest(f"ready-{i}", labels={"app": "shop"}))
    unready = pod_manifest("unready", labels={"app": "shop"})
    unready["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080},
                                                          "initialDelaySeconds": 600}
    core.create_namespaced_pod(namespace, unready)
    eventually(lambda: core.read_namespaced_pod("unready", namespace).status.phase == "Running")
    core.create_namespaced_service(namespace, service("shop", {"app": "shop"}))

    eventually(lambda: proxied_pods(core, namespace, "shop", 6) == {"ready-0", "ready-1", "ready-2"})
    hits = [proxied_pod(core, namespace, "shop") for _ in range(30)]
    assert set(hits) == {"ready-0", "ready-1", "ready-2"}
    assert "unready" not in hits
    for name in ("ready-0", "ready-1", "ready-2"):
        assert hits.count(name) == 10   # strict round-robin


def test_service_proxy_by_port_name_and_number(core, namespace):
    start_pod(core, namespace, pod_manifest("solo", labels={"app": "solo"}))
    core.create_namespaced_service(namespace, service("solo", {"app": "solo"}))
    eventually(lambda: proxied_pods(core, namespace, "solo", 1) == {"solo"})
    assert proxied_pod(core, namespace, "solo:http") == "solo"
    assert proxied_pod(core, namespace, "solo:80") == "solo"


def test_relabelled_pod_leaves_the_service_traffic(core, namespace):
    """What `triage.k8s` isolate relies on: once the labels no longer match, the pod gets no more requests."""
    for i in range(2):
        start_pod(core, namespace, pod_manifest(f"member-{i}", labels={"app": "cart"}))
    core.create_namespaced_service(namespace, service("cart", {"app": "cart"}))
    eventually(lambda: proxied_pods(core, namespace, "cart", 4) == {"member-0", "member-1"})
    core.patch_namespaced_pod("member-0", namespace, {"metadata": {"labels": {"app": "cart-quarantine"}}})
    eventually(lambda: proxied_pods(core, namespace, "cart", 4) == {"member-1"})


def test_service_without_ready_endpoints_is_503(core, namespace):
    core.create_namespaced_service(namespace, service("empty", {"app": "nobody"}))
    with pytest.raises(client.ApiException) as err:
        core.connect_get_namespaced_service_proxy("empty", namespace)
    assert err.value.status == 503
    body = json.loads(err.value.body)
    assert body["reason"] == "ServiceUnavailable"
    assert body["message"] == 'no endpoints available for service "empty"'


def test_pod_without_a_server_is_503_connection_refused(core, namespace):
    pod = start_pod(core, namespace, pod_manifest("nginx", image="nginx"))
    with pytest.raises(client.ApiException) as err:
        core.connect_get_namespaced_pod_proxy("nginx", namespace)
    assert err.value.status == 503
    assert json.loads(err.value.body)["message"] == \
        f"error trying to reach service: dial tcp {pod.status.pod_ip}:8080: connect: connection refused"


def test_missing_service_is_404(core, namespace):
    with pytest.raises(client.ApiException) as err:
        core.connect_get_namespaced_service_proxy("ghost", namespace)
    assert err.value.status == 404


def test_proxy_passes_method_and_query(core, namespace, kubesim):
    start_pod(core, namespace, pod_manifest("echo"))
    status, headers, body = kubesim.request("POST", f"/api/v1/namespaces/{namespace}/pods/echo/proxy/json?x=1",
                                            body=b"payload", headers={"Accept": "application/json"})
    assert status == 200
    info = json.loads(body)
    assert info["method"] == "POST" and info["path"] == "/json?x=1"
    assert is_ready(core.read_namespaced_pod("echo", namespace))
