"""Authentication beyond static tokens, as kube-apiserver's authenticators do:
- x509 client certificates signed by the client CA: user from the subject's CN, groups from its O's
  (k8s.io/apiserver/pkg/authentication/request/x509, CommonNameUserConversion);
- ServiceAccount tokens: the token controller fills `kubernetes.io/service-account-token` Secrets
  (pkg/controller/serviceaccount/tokens_controller.go), the TokenRequest subresource returns bound tokens
  (pkg/registry/core/serviceaccount/storage/token.go); both authenticate as the ServiceAccount, so its RBAC applies,
  and stop working when what they are tied to goes.
This is how docs/awx.md tells admins to make an AWX credential."""
from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request

import pytest
import yaml
from kubernetes import client
from kubernetes import config as k8s_config

RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules:
  - {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
  - {kind: Group, name: readers, apiGroup: rbac.authorization.k8s.io}
  - {kind: ServiceAccount, name: awx, namespace: default}
"""
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


@pytest.fixture(scope="module")
def server(kubesim_factory, tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    rbac = d / "rbac.yaml"
    rbac.write_text(RBAC)
    cert_kubeconfig = str(d / "cert.kubeconfig")
    p = kubesim_factory(["--rbac", str(rbac), "--client-cert-kubeconfig", cert_kubeconfig,
                         "--client-cert-user", "alice", "--client-cert-group", "readers"])
    p.cert_kubeconfig = cert_kubeconfig
    return p


def _client_from(kubeconfig_path):
    cfg = client.Configuration()
    k8s_config.load_kube_config(config_file=kubeconfig_path, client_configuration=cfg)
    return client.ApiClient(cfg)


def _whoami(api_client):
    return client.AuthenticationV1Api(api_client).create_self_subject_review(REVIEW).status.user_info


def _as_token(server, token, method, path, body=None):
    status, _, raw = server.request(method, path, body, token=token)
    return status, json.loads(raw) if raw else None


# ------------------------------------------------------------------------------------------- client certificates

def test_client_certificate_kubeconfig_authenticates_cn_and_o(server):
    """The kubeconfig written by --client-cert-kubeconfig has no token, only client-certificate/key data; the
    apiserver reads the user from CN and the groups from O, and RBAC binds the group."""
    cfg = yaml.safe_load(open(server.cert_kubeconfig))
    user = cfg["users"][0]["user"]
    assert set(user) == {"client-certificate-data", "client-key-data"}
    assert oct(os.stat(server.cert_kubeconfig).st_mode & 0o777) == "0o600"
    api = _client_from(server.cert_kubeconfig)
    info = _whoami(api)
    assert info.username == "alice" and set(info.groups) == {"readers", "system:authenticated"}
    core = client.CoreV1Api(api)
    core.list_namespaced_pod("default")  # allowed through the group binding
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_secret("default")
    assert e.value.status == 403 and 'User "alice" cannot list resource "secrets"' in json.loads(e.value.body)["message"]


def test_admin_endpoint_issues_certificates_and_the_collections_options_use_them(server, tmp_path):
    """POST /kubesim/client-certificates: what the collection's client_cert/client_key options need (files)."""
    status, _, raw = server.request("POST", "/kubesim/client-certificates",
                                    {"user": "bob", "groups": ["system:masters"], "days": 1})
    assert status == 201, raw
    issued = json.loads(raw)
    cert, key = tmp_path / "bob.crt", tmp_path / "bob.key"
    cert.write_text(issued["certificate"])
    key.write_text(issued["key"])
    cfg = client.Configuration()
    cfg.host, cfg.ssl_ca_cert = server.url, server.ca_file
    cfg.cert_file, cfg.key_file = str(cert), str(key)
    assert _whoami(client.ApiClient(cfg)).username == "bob"
    kubeconfig = tmp_path / "bob.kubeconfig"
    kubeconfig.write_text(issued["kubeconfig"])
    assert _whoami(_client_from(str(kubeconfig))).username == "bob"
    # Only the admin may mint certificates.
    status, _, _ = server.request("POST", "/kubesim/client-certificates", {"user": "eve"}, token="nope")
    assert status == 401


def test_certificate_from_another_ca_is_refused(server, tmp_path):
    """A certificate the client CA did not sign authenticates nobody (here the TLS handshake refuses it)."""
    from kubesim.tls import ClientCA
    cert, key = ClientCA().issue("mallory", ["system:masters"])
    (tmp_path / "m.crt").write_bytes(cert)
    (tmp_path / "m.key").write_bytes(key)
    ctx = ssl.create_default_context(cafile=server.ca_file)
    ctx.load_cert_chain(str(tmp_path / "m.crt"), str(tmp_path / "m.key"))
    req = urllib.request.Request(server.url + "/api/v1/namespaces/default/secrets")
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(req, context=ctx, timeout=5).read()


# ---------------------------------------------------------------------------------------- ServiceAccount tokens

def test_token_secret_is_filled_and_authenticates_as_the_service_account(server, wait_for):
    """The AWX recipe: a ServiceAccount, a Secret of type kubernetes.io/service-account-token naming it; the token
    controller writes token, ca.crt and namespace; the token acts as the ServiceAccount with its RBAC."""
    core = client.CoreV1Api(server.api_client())
    sa = core.create_namespaced_service_account("default", {"metadata": {"name": "awx"}})
    core.create_namespaced_secret("default", {
        "metadata": {"name": "awx-token", "annotations": {"kubernetes.io/service-account.name": "awx"}},
        "type": "kubernetes.io/service-account-token"})
    secret = wait_for(lambda: (s := core.read_namespaced_secret("awx-token", "default")).data and s)
    assert set(secret.data) == {"token", "ca.crt", "namespace"}
    assert base64.b64decode(secret.data["namespace"]) == b"default"
    assert base64.b64decode(secret.data["ca.crt"]).decode() == open(server.ca_file).read()
    assert secret.metadata.annotations["kubernetes.io/service-account.uid"] == sa.metadata.uid
    token = base64.b64decode(secret.data["token"]).decode()
    status, review = _as_token(server, token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", REVIEW)
    assert status == 201
    info = review["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:awx" and info["uid"] == sa.metadata.uid
    assert {"system:serviceaccounts", "system:serviceaccounts:default"} <= set(info["groups"])
    assert _as_token(server, token, "GET", "/api/v1/namespaces/default/pods")[0] == 200
    assert _as_token(server, token, "GET", "/api/v1/namespaces/default/secrets")[0] == 403
    # Deleting the ServiceAccount revokes the token and the controller deletes the Secret.
    core.delete_namespaced_service_account("awx", "default")
    assert _as_token(server, token, "GET", "/api/v1/namespaces/default/pods")[0] == 401
    wait_for(lambda: "awx-token" not in [s.metadata.name for s in core.list_namespaced_secret("default").items])


def test_token_secret_requires_the_service_account_annotation(server):
    """ValidateSecret: a service-account-token Secret must name its ServiceAccount."""
    core = client.CoreV1Api(server.api_client())
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_secret("default", {"metadata": {"name": "bare"},
                                                  "type": "kubernetes.io/service-account-token"})
    assert e.value.status == 422
    assert "metadata.annotations[kubernetes.io/service-account.name]: Required value" in \
        json.loads(e.value.body)["message"]


def test_token_request_returns_a_bound_token(server):
    """TokenRequest: default audience and 1 h expiry; the token authenticates with the ServiceAccount's RBAC;
    a token bound to a pod dies with that pod."""
    core = client.CoreV1Api(server.api_client())
    sa = core.create_namespaced_service_account("default", {"metadata": {"name": "runner"}})
    before = time.time()
    tr = core.create_namespaced_service_account_token("runner", "default", {"spec": {}})
    assert tr.metadata.name == "runner" and tr.metadata.uid == sa.metadata.uid
    assert tr.spec.audiences == ["https://kubernetes.default.svc.cluster.local"] and tr.spec.expiration_seconds == 3600
    assert abs(tr.status.expiration_timestamp.timestamp() - (before + 3600)) < 5
    status, review = _as_token(server, tr.status.token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                               REVIEW)
    assert review["status"]["userInfo"]["username"] == "system:serviceaccount:default:runner"
    assert review["status"]["userInfo"]["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")
    assert _as_token(server, tr.status.token, "GET", "/api/v1/namespaces/default/pods")[0] == 403  # no binding
    core.create_namespaced_pod("default", {"metadata": {"name": "bound"}, "spec": {
        "serviceAccountName": "runner", "containers": [{"name": "a", "image": "nginx"}]}})
    pod = core.read_namespaced_pod("bound", "default")
    bound = core.create_namespaced_service_account_token("runner", "default", {"spec": {
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "bound", "uid": pod.metadata.uid}}})
    check = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    status, review = _as_token(server, bound.status.token, "POST", check, REVIEW)
    assert status == 201 and review["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["bound"]
    core.delete_namespaced_pod("bound", "default", grace_period_seconds=0)
    assert _as_token(server, bound.status.token, "POST", check, REVIEW)[0] == 401


def test_token_request_validation(server):
    """ValidateTokenRequest: at least 10 minutes; the audience must be the API server's to authenticate to it."""
    core = client.CoreV1Api(server.api_client())
    core.create_namespaced_service_account("default", {"metadata": {"name": "short"}})
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_service_account_token("short", "default", {"spec": {"expirationSeconds": 599}})
    assert e.value.status == 422
    assert "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes" in \
        json.loads(e.value.body)["message"]
    other = core.create_namespaced_service_account_token("short", "default", {"spec": {"audiences": ["vault"]}})
    assert _as_token(server, other.status.token, "GET", "/api/v1/namespaces/default/pods")[0] == 401
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_service_account_token("missing", "default", {"spec": {}})
    assert e.value.status == 404
    # A token that kubesim did not sign is nobody.
    forged = other.status.token.rsplit(".", 1)[0] + ".AAAA"
    assert _as_token(server, forged, "GET", "/api/v1/namespaces/default/pods")[0] == 401
