"""Unmodified kubectl against issue 9's API behaviours: a client-certificate kubeconfig (`kubectl auth whoami`),
`kubectl scale` (its strategic merge patch on the scale subresource), `kubectl get pvc` columns, and
`kubectl apply --server-side` leaving Apply entries in managedFields."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")

PVC = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


@pytest.fixture(scope="module")
def server(kubesim_factory, tmp_path_factory):
    d = tmp_path_factory.mktemp("kubectl")
    p = kubesim_factory(["--client-cert-kubeconfig", str(d / "cert.kubeconfig"), "--client-cert-user", "carol",
                         "--client-cert-group", "system:masters"])
    p.cert_kubeconfig = str(d / "cert.kubeconfig")
    p.dir = d
    return p


def kubectl(kubeconfig, *args, stdin=None):
    proc = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"kubectl {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def test_kubectl_with_a_client_certificate(server):
    out = kubectl(server.cert_kubeconfig, "auth", "whoami")
    assert "carol" in out and "system:masters" in out
    assert os.path.getsize(server.cert_kubeconfig) > 0
    kubectl(server.cert_kubeconfig, "get", "nodes")


def test_kubectl_scale_and_get_pvc(server):
    kubectl(server.kubeconfig, "apply", "-f", "-", stdin=DEPLOYMENT)
    kubectl(server.kubeconfig, "scale", "deployment", "web", "--replicas=3")
    assert kubectl(server.kubeconfig, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    kubectl(server.kubeconfig, "apply", "-f", "-", stdin=PVC)
    header, row = kubectl(server.kubeconfig, "get", "pvc", "data").splitlines()
    assert header.split()[:2] == ["NAME", "STATUS"] and row.split()[:2] == ["data", "Pending"]


def test_kubectl_server_side_apply_is_recorded_in_managed_fields(server):
    kubectl(server.kubeconfig, "apply", "--server-side", "-f", "-", stdin=PVC.replace("{name: data}", "{name: ssa}"))
    out = kubectl(server.kubeconfig, "get", "pvc", "ssa", "-o",
                  "jsonpath={range .metadata.managedFields[*]}{.manager}={.operation};{end}")
    assert "kubectl=Apply;" in out
    # kubectl hides managedFields unless asked, and shows them when asked.
    assert "managedFields" not in kubectl(server.kubeconfig, "get", "pvc", "ssa", "-o", "yaml")
    assert "managedFields" in kubectl(server.kubeconfig, "get", "pvc", "ssa", "-o", "yaml", "--show-managed-fields")
