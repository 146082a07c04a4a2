"""Unmodified kubectl against the controllers: `rollout status` reads the Deployment status fields and
conditions the controller writes, `rollout undo` goes back through the ReplicaSet history (revisions), and
`rollout status` of a StatefulSet reads its revisions."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from kubernetes import client

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


def kubectl(kubesim, namespace, *args, timeout=60):
    proc = subprocess.run([KUBECTL, "--kubeconfig", kubesim.kubeconfig, "-n", namespace, *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"kubectl {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def deployment(image):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def test_rollout_status_and_undo(kubesim, k8s, namespace):
    apps = client.AppsV1Api(k8s)
    apps.create_namespaced_deployment(namespace, deployment("kubesim/web:v1"))
    out = kubectl(kubesim, namespace, "rollout", "status", "deployment/web", "--timeout=30s")
    assert 'deployment "web" successfully rolled out' in out
    kubectl(kubesim, namespace, "set", "image", "deployment/web", "app=kubesim/web:v2")
    kubectl(kubesim, namespace, "rollout", "status", "deployment/web", "--timeout=30s")
    history = kubectl(kubesim, namespace, "rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    kubectl(kubesim, namespace, "rollout", "undo", "deployment/web")
    kubectl(kubesim, namespace, "rollout", "status", "deployment/web", "--timeout=30s")
    d = apps.read_namespaced_deployment("web", namespace)
    assert d.spec.template.spec.containers[0].image == "kubesim/web:v1"
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    history = kubectl(kubesim, namespace, "rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


def test_statefulset_rollout_status(kubesim, k8s, namespace):
    client.AppsV1Api(k8s).create_namespaced_stateful_set(namespace, {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "app", "image": "kubesim/web:v1"}]}}}})
    out = kubectl(kubesim, namespace, "rollout", "status", "statefulset/db", "--timeout=30s")
    assert "partitioned roll out complete" in out or "roll out complete" in out
