"""Discovery as kubectl and the dynamic client expect it (spec §10.8), and kubectl itself where installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest
from kubernetes import dynamic

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


def test_version(kubesim):
    status, _, body = kubesim.request("GET", "/version")
    v = json.loads(body)
    assert status == 200
    assert v["major"] == "1" and int(v["minor"]) >= 30
    assert v["gitVersion"] == f"v1.{v['minor']}.2+kubesim"


def test_core_and_group_discovery(kubesim):
    api = json.loads(kubesim.request("GET", "/api")[2])
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    groups = {g["name"]: g for g in json.loads(kubesim.request("GET", "/apis")[2])["groups"]}
    for g in ("apps", "batch", "discovery.k8s.io", "policy", "networking.k8s.io", "autoscaling",
              "authorization.k8s.io", "authentication.k8s.io"):
        assert g in groups, g
    assert groups["autoscaling"]["preferredVersion"]["groupVersion"] == "autoscaling/v2"
    v1 = {r["name"]: r for r in json.loads(kubesim.request("GET", "/api/v1")[2])["resources"]}
    assert v1["pods"]["shortNames"] == ["po"] and v1["pods"]["namespaced"] is True
    assert "watch" in v1["pods"]["verbs"] and "all" in v1["pods"]["categories"]
    for sub in ("status", "log", "exec", "portforward", "proxy", "ephemeralcontainers", "eviction", "binding"):
        assert f"pods/{sub}" in v1, sub
    assert v1["pods/exec"]["kind"] == "PodExecOptions" and v1["pods/exec"]["verbs"] == ["create", "get"]
    assert v1["pods/eviction"]["group"] == "policy"
    assert v1["nodes"]["namespaced"] is False and "services/proxy" in v1
    apps = {r["name"]: r for r in json.loads(kubesim.request("GET", "/apis/apps/v1")[2])["resources"]}
    assert apps["deployments/scale"]["kind"] == "Scale" and apps["deployments/scale"]["group"] == "autoscaling"
    assert kubesim.request("GET", "/apis/apps/v2")[0] == 404
    assert kubesim.request("GET", "/healthz")[2] == b"ok"


def test_dynamic_client(k8s, namespace):
    """kubernetes.core (Ansible) talks through the dynamic client, which is driven by discovery."""
    dyn = dynamic.DynamicClient(k8s)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and deployments.name == "deployments"
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    pods.create(namespace=namespace, body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dyn"},
                                           "spec": {"schedulerName": "none", "containers": [
                                               {"name": "c", "image": "x:1"}]}})
    got = pods.get(namespace=namespace, name="dyn")
    assert got.metadata.name == "dyn"
    out = pods.patch(namespace=namespace, name="dyn", body={"metadata": {"labels": {"a": "b"}}},
                     content_type="application/merge-patch+json")
    assert out.metadata.labels.a == "b"
    ephemeral = dyn.resources.get(api_version="v1", kind="Pod").subresources["ephemeralcontainers"]
    assert ephemeral is not None
    assert [i.metadata.name for i in pods.get(namespace=namespace).items] == ["dyn"]


def _kubectl(kubesim, *args, stdin=None, check=True):
    env = dict(os.environ, KUBECONFIG=kubesim.kubeconfig, HOME=kubesim.workdir)
    out = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


MANIFEST = textwrap.dedent("""
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - {name: app, image: "registry.example/app:1", ports: [{containerPort: 8080}]}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
    data: {mode: "a"}
    """)


@needs_kubectl
def test_kubectl_apply_get_label(kubesim, namespace, wait_for):
    out = _kubectl(kubesim, "apply", "-n", namespace, "-f", "-", stdin=MANIFEST)
    assert "deployment.apps/web created" in out.stdout and "service/web created" in out.stdout
    again = _kubectl(kubesim, "apply", "-n", namespace, "-f", "-", stdin=MANIFEST)
    assert "configmap/settings unchanged" in again.stdout
    changed = _kubectl(kubesim, "apply", "-n", namespace, "-f", "-", stdin=MANIFEST.replace('mode: "a"', 'mode: "b"'))
    assert "configmap/settings configured" in changed.stdout
    cm = json.loads(_kubectl(kubesim, "get", "-n", namespace, "configmap", "settings", "-o", "json").stdout)
    assert cm["data"] == {"mode": "b"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in cm["metadata"]["annotations"]
    table = _kubectl(kubesim, "get", "-n", namespace, "configmaps").stdout
    assert table.splitlines()[0].split() == ["NAME", "DATA", "AGE"] or table.splitlines()[0].split()[0] == "NAME"
    assert "settings" in table
    svc = _kubectl(kubesim, "get", "-n", namespace, "svc", "web").stdout.splitlines()
    assert svc[0].split()[:3] == ["NAME", "TYPE", "CLUSTER-IP"] and svc[1].split()[1] == "ClusterIP"
    out = _kubectl(kubesim, "label", "-n", namespace, "--overwrite", "configmap/settings", "app=quarantine")
    assert "configmap/settings labeled" in out.stdout
    labels = json.loads(_kubectl(kubesim, "get", "-n", namespace, "cm", "settings", "-o", "json").stdout)[
        "metadata"]["labels"]
    assert labels == {"app": "quarantine"}
    endpoints = _kubectl(kubesim, "get", "-n", namespace, "endpoints").stdout
    assert endpoints.splitlines()[0].split() == ["NAME", "ENDPOINTS", "AGE"]


@needs_kubectl
def test_kubectl_get_pods_table(kubesim, namespace):
    kubesim.request("POST", f"/api/v1/namespaces/{namespace}/pods", {"metadata": {"name": "tbl"}, "spec": {
        "schedulerName": "none", "containers": [{"name": "c", "image": "x:1"}]}})
    lines = _kubectl(kubesim, "get", "pods", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[:3] == ["tbl", "0/1", "Pending"]
    wide = _kubectl(kubesim, "get", "pods", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[5:7] == ["IP", "NODE"]
    err = _kubectl(kubesim, "get", "pod", "missing", "-n", namespace, check=False)
    assert err.returncode == 1
    assert 'Error from server (NotFound): pods "missing" not found' in err.stderr


@needs_kubectl
def test_kubectl_get_watch_prints_table_rows(kubesim, namespace):
    """`kubectl get -w` asks for Table watch events; every update must print as a pod row, not NAME/AGE."""
    import time
    kubesim.request("POST", f"/api/v1/namespaces/{namespace}/pods", {"metadata": {"name": "w"}, "spec": {
        "schedulerName": "none", "containers": [{"name": "c", "image": "x:1"}]}})
    env = dict(os.environ, KUBECONFIG=kubesim.kubeconfig, HOME=kubesim.workdir)
    proc = subprocess.Popen([KUBECTL, "get", "pods", "-w", "-n", namespace], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(1.5)
    kubesim.request("PATCH", f"/api/v1/namespaces/{namespace}/pods/w", {"metadata": {"labels": {"a": "b"}}},
                    headers={"Content-Type": "application/merge-patch+json"})
    time.sleep(1.0)
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(lines) >= 3 and all(line[:3] == ["w", "0/1", "Pending"] for line in lines[1:]), out


@needs_kubectl
def test_kubectl_get_events_table(kubesim, namespace):
    kubesim.request("POST", f"/api/v1/namespaces/{namespace}/events", {
        "metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
        "reason": "Killing", "message": "Stopping container app", "type": "Normal"})
    lines = _kubectl(kubesim, "get", "events", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert lines[1].split()[1:5] == ["Normal", "Killing", "pod/p", "Stopping"]
