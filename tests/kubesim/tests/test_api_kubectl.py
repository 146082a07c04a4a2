"""Unmodified kubectl against issue 9's API behaviours: a client-certificate kubeconfig (`kubectl auth whoami`),
`kubectl scale` (its strategic merge patch on the scale subresource), `kubectl get pvc` columns, and
`kubectl apply --server-side` leaving Apply entries in managedFields."""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time

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


def kubectl(kubeconfig, *args, stdin=None, check=True):
    """kubectl with that kubeconfig; a later --kubeconfig in `args` wins (kubectl takes the last one)."""
    proc = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)
    if check:
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


ROLE_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "rbac", "triage-k8s-role.yaml")


def test_docs_awx_token_recipe_with_kubectl(server):
    """docs/awx.md's commands, verbatim (kubectl create sends these objects as protobuf): the token of the
    service account bound to the shipped Role reads pods in the triaged namespace and nothing elsewhere."""
    kc = server.kubeconfig
    kubectl(kc, "create", "namespace", "automation")
    kubectl(kc, "create", "namespace", "shop")
    kubectl(kc, "-n", "automation", "create", "serviceaccount", "awx-triage")
    kubectl(kc, "-n", "shop", "apply", "-f", ROLE_FILE)
    kubectl(kc, "-n", "shop", "create", "rolebinding", "triage-k8s", "--role=triage-k8s",
            "--serviceaccount=automation:awx-triage")
    token = kubectl(kc, "-n", "automation", "create", "token", "awx-triage", "--duration=24h").strip()
    assert token.count(".") == 2
    as_sa = ["--token", token, "--kubeconfig", os.devnull, "--server", server.url,
             "--certificate-authority", server.ca_file]
    assert kubectl(kc, *as_sa, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}") == \
        "system:serviceaccount:automation:awx-triage"
    kubectl(kc, *as_sa, "-n", "shop", "get", "pods")
    assert kubectl(kc, *as_sa, "auth", "can-i", "list", "secrets", "-n", "shop", check=False).strip() == "no"
    assert kubectl(kc, *as_sa, "auth", "can-i", "list", "pods", "-n", "default", check=False).strip() == "no"
    # The long-lived alternative the doc mentions: a token Secret the token controller fills.
    kubectl(kc, "-n", "automation", "apply", "-f", "-", stdin=TOKEN_SECRET)
    for _ in range(100):
        secret_token = kubectl(kc, "-n", "automation", "get", "secret", "awx-triage-token", "-o",
                               "jsonpath={.data.token}")
        if secret_token:
            break
        time.sleep(0.05)
    long_lived = base64.b64decode(secret_token).decode()
    as_secret = ["--token", long_lived, "--kubeconfig", os.devnull, "--server", server.url,
                 "--certificate-authority", server.ca_file]
    assert kubectl(kc, *as_secret, "auth", "can-i", "patch", "pods", "-n", "shop", check=False).strip() == "yes"


TOKEN_SECRET = """apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: awx-triage-token
  annotations: {kubernetes.io/service-account.name: awx-triage}
"""
