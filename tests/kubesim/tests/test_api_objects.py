"""Object semantics through the real kubernetes client over HTTPS (spec §5.1, §6, §10.1)."""
from __future__ import annotations

import re

import pytest
from kubernetes import client

POD = {"metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}


def _pod(name="web", labels=None, image="registry.example/app:1", **spec):
    return {"metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": image}], **spec}}


def test_cli_contract_kubeconfig_and_https(kubesim, k8s):
    """Issue contract: HTTPS with a generated CA embedded in the kubeconfig; context and cluster named kubesim."""
    import yaml
    cfg = yaml.safe_load(open(kubesim.kubeconfig))
    assert cfg["current-context"] == "kubesim"
    assert cfg["clusters"][0]["name"] == "kubesim"
    assert kubesim.url.startswith("https://127.0.0.1:")
    assert cfg["clusters"][0]["cluster"]["certificate-authority-data"]
    version = client.VersionApi(k8s).get_code()
    assert re.fullmatch(r"v1\.3\d\.\d+\+kubesim", version.git_version)


def test_metadata_on_create(k8s, namespace):
    """§10.1: uid, numeric increasing resourceVersion, generation 1, creationTimestamp."""
    core = client.CoreV1Api(k8s)
    a = core.create_namespaced_pod(namespace, _pod("a"))
    b = core.create_namespaced_pod(namespace, _pod("b"))
    assert re.fullmatch(r"[0-9a-f-]{36}", a.metadata.uid) and a.metadata.uid != b.metadata.uid
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)
    assert a.metadata.generation == 1
    assert a.metadata.creation_timestamp is not None
    assert a.status.phase == "Pending" and a.status.qos_class == "BestEffort"


def test_pod_defaults(k8s, namespace):
    """§5.1 defaults applied on create."""
    core = client.CoreV1Api(k8s)
    p = core.create_namespaced_pod(namespace, {"metadata": {"name": "d"}, "spec": {"containers": [
        {"name": "latest", "image": "nginx"}, {"name": "pinned", "image": "nginx:1.27"}]}})
    c0, c1 = p.spec.containers
    assert c0.image_pull_policy == "Always" and c1.image_pull_policy == "IfNotPresent"
    assert c0.termination_message_path == "/dev/termination-log"
    assert c0.termination_message_policy == "File"
    assert p.spec.dns_policy == "ClusterFirst"
    assert p.spec.restart_policy == "Always"
    assert p.spec.termination_grace_period_seconds == 30
    assert p.spec.scheduler_name == "default-scheduler"
    assert p.spec.service_account_name == "default"


def test_generate_name_uses_real_alphabet(k8s, namespace):
    """§10.1: generateName + 5 characters from bcdfghjklmnpqrstvwxz2456789."""
    core = client.CoreV1Api(k8s)
    names = {core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "cfg-"}}).metadata.name
             for _ in range(10)}
    assert len(names) == 10
    for n in names:
        assert re.fullmatch(r"cfg-[bcdfghjklmnpqrstvwxz2456789]{5}", n), n


def test_namespace_must_exist(k8s):
    """Creating in a missing namespace: 404 naming the namespace."""
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert e.value.status == 404
    import json
    body = json.loads(e.value.body)
    assert body["message"] == 'namespaces "no-such-ns" not found'
    assert body["details"] == {"name": "no-such-ns", "kind": "namespaces"}


def test_already_exists_and_not_found_bodies(k8s, namespace):
    """§6: exact 404 and 409 AlreadyExists Status bodies, field order included."""
    import json
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("dup"))
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_pod(namespace, _pod("dup"))
    assert e.value.status == 409
    assert e.value.body == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"dup\\" already '
        'exists","reason":"AlreadyExists","details":{"name":"dup","kind":"pods"},"code":409}')
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_pod("missing", namespace)
    assert e.value.status == 404
    assert e.value.body == ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
                            '"pods \\"missing\\" not found","reason":"NotFound","details":{"name":"missing",'
                            '"kind":"pods"},"code":404}')
    apps = client.AppsV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        apps.read_namespaced_deployment("missing", namespace)
    body = json.loads(e.value.body)
    assert body["message"] == 'deployments.apps "missing" not found'
    assert body["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}


def test_nodes_and_default_namespaces_exist(k8s):
    """§4: Node objects exist by default (EndpointSlice skips pods whose node is missing)."""
    core = client.CoreV1Api(k8s)
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == ["kubesim-node-1", "kubesim-node-2", "kubesim-node-3"]
    assert {n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes} == {"zone-a", "zone-b", "zone-c"}
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system"} <= names
