"""RBAC from `--rbac FILE` and from RBAC objects in the API, evaluated like the real authorizer, with the real
403 bodies (spec §6), and the self-review APIs."""
from __future__ import annotations

import json
import os
import tempfile

import pytest
from kubernetes import client

SA = "system:serviceaccount:team:triage"
RBAC_YAML = """
tokens:
  - {token: sa-token, user: "system:serviceaccount:team:triage"}
  - {token: alice-token, user: alice, groups: [readers]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: triage, namespace: team}
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list, watch, patch]
  - apiGroups: [""]
    resources: [pods/exec, pods/eviction]
    verbs: [create]
  - apiGroups: [""]
    resources: [pods/log]
    verbs: [get]
  - apiGroups: [""]
    resources: [configmaps]
    resourceNames: [allowed-cm]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: triage, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: triage}
subjects:
  - {kind: ServiceAccount, name: triage, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-reader}
rules:
  - apiGroups: [""]
    resources: [nodes]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: readers-read-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-reader}
subjects:
  - {kind: Group, name: readers, apiGroup: rbac.authorization.k8s.io}
"""


@pytest.fixture(scope="module")
def rbac_kubesim(kubesim_factory):
    d = tempfile.mkdtemp(prefix="kubesim-rbac-")
    path = os.path.join(d, "rbac.yaml")
    with open(path, "w") as f:
        f.write(RBAC_YAML)
    ks = kubesim_factory(["--rbac", path])
    admin = ks.api_client()
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_config_map("team", {"metadata": {"name": "allowed-cm"}})
    core.create_namespaced_config_map("team", {"metadata": {"name": "secret-cm"}})
    core.create_namespaced_pod("team", {"metadata": {"name": "web"}, "spec": {
        "schedulerName": "kubesim-test-unscheduled", "containers": [{"name": "c", "image": "x:1"}]}})
    yield ks
    admin.close()


@pytest.fixture
def sa(rbac_kubesim):
    c = rbac_kubesim.api_client(token="sa-token")
    yield client.CoreV1Api(c)
    c.close()


def _forbidden(excinfo) -> dict:
    assert excinfo.value.status == 403
    body = json.loads(excinfo.value.body)
    assert body["reason"] == "Forbidden" and body["code"] == 403
    return body


def test_role_allows_listed_verbs_only(sa):
    assert [p.metadata.name for p in sa.list_namespaced_pod("team").items] == ["web"]
    sa.patch_namespaced_pod("web", "team", {"metadata": {"labels": {"quarantine": "true"}}})
    with pytest.raises(client.ApiException) as e:
        sa.delete_namespaced_pod("web", "team")
    body = _forbidden(e)
    assert body["message"] == (f'pods "web" is forbidden: User "{SA}" cannot delete resource "pods" in API group '
                               f'"" in the namespace "team"')
    assert body["details"] == {"name": "web", "kind": "pods"}


def test_other_namespace_is_forbidden(sa):
    with pytest.raises(client.ApiException) as e:
        sa.list_namespaced_pod("default")
    assert _forbidden(e)["message"] == (f'pods is forbidden: User "{SA}" cannot list resource "pods" in API group "" '
                                        f'in the namespace "default"')


def test_subresources_are_separate_resources(sa):
    """`pods/ephemeralcontainers` needs its own rule; the 403 names the subresource."""
    with pytest.raises(client.ApiException) as e:
        sa.patch_namespaced_pod_ephemeralcontainers("web", "team", {"spec": {"ephemeralContainers": [
            {"name": "dbg", "image": "busybox"}]}})
    body = _forbidden(e)
    assert body["message"] == (f'pods "web" is forbidden: User "{SA}" cannot patch resource '
                               f'"pods/ephemeralcontainers" in API group "" in the namespace "team"')
    assert body["details"] == {"name": "web", "kind": "pods"}
    with pytest.raises(client.ApiException) as e:
        sa.patch_namespaced_pod_status("web", "team", {"status": {"phase": "Failed"}})
    _forbidden(e)


def test_resource_names(sa):
    assert sa.read_namespaced_config_map("allowed-cm", "team").metadata.name == "allowed-cm"
    with pytest.raises(client.ApiException) as e:
        sa.read_namespaced_config_map("secret-cm", "team")
    _forbidden(e)
    with pytest.raises(client.ApiException) as e:  # a list has no name: resourceNames never match it
        sa.list_namespaced_config_map("team")
    _forbidden(e)
    # ... unless it selects one metadata.name, which the request info carries as the name
    one = sa.list_namespaced_config_map("team", field_selector="metadata.name=allowed-cm")
    assert [c.metadata.name for c in one.items] == ["allowed-cm"]
    with pytest.raises(client.ApiException) as e:
        sa.list_namespaced_config_map("team", field_selector="metadata.name=secret-cm")
    assert _forbidden(e)["message"].startswith('configmaps "secret-cm" is forbidden')


def test_cluster_role_binding_to_group(rbac_kubesim):
    c = rbac_kubesim.api_client(token="alice-token")
    core = client.CoreV1Api(c)
    assert len(core.list_node().items) == 3
    with pytest.raises(client.ApiException) as e:
        core.list_namespace()
    assert _forbidden(e)["message"] == ('namespaces is forbidden: User "alice" cannot list resource "namespaces" in '
                                        'API group "" at the cluster scope')
    with pytest.raises(client.ApiException) as e:
        client.AppsV1Api(c).list_namespaced_deployment("team")
    assert _forbidden(e)["message"] == ('deployments.apps is forbidden: User "alice" cannot list resource '
                                        '"deployments" in API group "apps" in the namespace "team"')
    c.close()


def test_discovery_is_open_to_authenticated_users(rbac_kubesim):
    for path in ("/api", "/apis", "/api/v1", "/apis/apps/v1", "/version"):
        assert rbac_kubesim.request("GET", path, token="sa-token")[0] == 200, path
    status, _, _ = rbac_kubesim.request("GET", "/kubesim/faults", token="sa-token")
    assert status == 403


def test_rbac_objects_created_through_the_api_take_effect(rbac_kubesim, sa):
    admin = rbac_kubesim.api_client()
    rbac = client.RbacAuthorizationV1Api(admin)
    with pytest.raises(client.ApiException):
        sa.create_namespaced_config_map("team", {"metadata": {"name": "new"}})
    rbac.create_cluster_role({"metadata": {"name": "cm-writer"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]})
    rbac.create_namespaced_role_binding("team", {"metadata": {"name": "cm-writer"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cm-writer"},
        "subjects": [{"kind": "ServiceAccount", "name": "triage", "namespace": "team"}]})
    assert sa.create_namespaced_config_map("team", {"metadata": {"name": "new"}}).metadata.name == "new"
    admin.close()


def test_self_subject_reviews(rbac_kubesim):
    """The preflight checks of the collection use these."""
    c = rbac_kubesim.api_client(token="sa-token")
    review = client.AuthenticationV1Api(c).create_self_subject_review({"apiVersion": "authentication.k8s.io/v1",
                                                                      "kind": "SelfSubjectReview"})
    assert review.status.user_info.username == SA
    assert set(review.status.user_info.groups) >= {"system:serviceaccounts", "system:serviceaccounts:team",
                                                   "system:authenticated"}
    authz = client.AuthorizationV1Api(c)

    def can(verb, resource, subresource="", namespace="team", name=""):
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {
            "resourceAttributes": {"verb": verb, "resource": resource, "subresource": subresource,
                                   "namespace": namespace, "name": name}}}
        return authz.create_self_subject_access_review(body).status.allowed

    assert can("patch", "pods")
    assert can("create", "pods", "exec")
    assert can("create", "pods", "eviction")
    assert not can("delete", "pods")
    assert not can("patch", "pods", "ephemeralcontainers")
    assert not can("patch", "pods", namespace="default")
    assert can("get", "configmaps", name="allowed-cm") and not can("get", "configmaps", name="other")
    c.close()
    admin = rbac_kubesim.api_client()
    review = client.AuthenticationV1Api(admin).create_self_subject_review({})
    assert review.status.user_info.username == "kubesim-admin"
    assert "system:masters" in review.status.user_info.groups
    admin.close()


def test_bad_rbac_file_fails_clearly(tmp_path):
    import subprocess
    import sys
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Rolez\nmetadata: {name: x}\n")
    out = subprocess.run([sys.executable, "-m", "kubesim", "serve", "--kubeconfig", str(tmp_path / "kc"),
                          "--rbac", str(bad)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "not an RBAC object or token entry" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "kc").exists()


@pytest.mark.skipif(__import__("shutil").which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_auth_can_i_and_whoami(rbac_kubesim):
    """kubectl posts the review objects as protobuf; the answers come from the same RBAC rules."""
    import subprocess

    def kubectl(*args):
        env = dict(__import__("os").environ, KUBECONFIG=rbac_kubesim.kubeconfig, HOME=rbac_kubesim.workdir)
        return subprocess.run(["kubectl", "--token", "sa-token", *args], capture_output=True, text=True, env=env,
                              timeout=60)

    assert kubectl("auth", "can-i", "patch", "pods", "-n", "team").stdout.strip() == "yes"
    denied = kubectl("auth", "can-i", "delete", "pods", "-n", "team")
    assert denied.stdout.strip() == "no" and denied.returncode == 1
    assert kubectl("auth", "can-i", "create", "pods", "--subresource=exec", "-n", "team").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "get", "configmaps/allowed-cm", "-n", "team").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "get", "configmaps/other", "-n", "team").stdout.strip() == "no"
    who = kubectl("auth", "whoami")
    assert who.returncode == 0 and SA in who.stdout
    forbidden = kubectl("get", "pods", "-n", "default")
    assert forbidden.returncode == 1
    assert (f'Error from server (Forbidden): pods is forbidden: User "{SA}" cannot list resource "pods" in API '
            f'group "" in the namespace "default"') in forbidden.stderr
