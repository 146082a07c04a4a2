"""Impersonation headers (Impersonate-User / -Group / -Uid) as the apiserver's impersonation filter handles them:
the `impersonate` verb on users / groups / uids / serviceaccounts, the real 403, the request running as the
impersonated user, and the audit Event's `user` / `impersonatedUser`."""
from __future__ import annotations

import http.client
import json
import ssl
import tempfile
from urllib.parse import urlparse

import pytest
from kubernetes import client

RBAC_YAML = """
tokens:
  - {token: helpdesk-token, user: helpdesk}
  - {token: bob-token, user: bob}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-alice}
rules:
  - {apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [alice]}
  - {apiGroups: [""], resources: [groups], verbs: [impersonate], resourceNames: [readers]}
  - {apiGroups: [""], resources: [uids], verbs: [impersonate], resourceNames: ["1234"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: helpdesk-impersonates}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-alice}
subjects: [{kind: User, name: helpdesk}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: impersonate-triage-sa, namespace: team}
rules:
  - {apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate], resourceNames: [triage]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: helpdesk-impersonates-sa, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: impersonate-triage-sa}
subjects: [{kind: User, name: helpdesk}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: configmap-reader}
rules:
  - {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers-read, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: configmap-reader}
subjects: [{kind: Group, name: readers}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: triage-reads, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: configmap-reader}
subjects: [{kind: ServiceAccount, name: triage, namespace: team}]
"""


@pytest.fixture(scope="module")
def server(kubesim_factory):
    path = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    path.write(RBAC_YAML)
    path.close()
    ks = kubesim_factory(["--rbac", path.name])
    admin = ks.api_client()
    core = client.CoreV1Api(admin)
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_config_map("team", {"metadata": {"name": "settings"}})
    admin.close()
    return ks


def _as(server, token, **headers):
    api = server.api_client(token=token)
    for name, value in headers.items():
        api.set_default_header(name.replace("_", "-"), value)
    return api, client.CoreV1Api(api)


def _status(excinfo) -> dict:
    return json.loads(excinfo.value.body)


def test_allowed_impersonation_runs_as_the_user_and_is_audited(server):
    api, core = _as(server, "helpdesk-token", Impersonate_User="alice", Impersonate_Group="readers")
    # helpdesk itself may not read configmaps; alice through the group `readers` may.
    assert [c.metadata.name for c in core.list_namespaced_config_map("team").items
            if c.metadata.name == "settings"] == ["settings"]
    review = client.AuthenticationV1Api(api).create_self_subject_review({})
    assert review.status.user_info.username == "alice"
    assert review.status.user_info.groups == ["readers", "system:authenticated"]
    api.close()
    entry = [e for e in server.audit_entries() if e["stage"] == "ResponseComplete"
             and e["resource"] == "configmaps" and e["verb"] == "list"][-1]
    assert entry["user"] == "helpdesk"  # the real audit Event: `user` is who authenticated
    assert entry["impersonatedUser"] == {"username": "alice", "groups": ["readers", "system:authenticated"]}
    assert entry["code"] == 200


def test_impersonated_user_gets_only_its_own_rights(server):
    api, core = _as(server, "helpdesk-token", Impersonate_User="alice")  # alice without the readers group
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map("team")
    assert e.value.status == 403
    assert _status(e)["message"] == ('configmaps is forbidden: User "alice" cannot list resource "configmaps" in '
                                     'API group "" in the namespace "team"')
    api.close()


def test_requester_without_impersonate_verb_gets_the_real_403(server):
    api, core = _as(server, "bob-token", Impersonate_User="alice")
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map("team")
    assert e.value.status == 403
    body = _status(e)
    assert body["reason"] == "Forbidden"
    assert body["message"] == ('users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API '
                               'group "" at the cluster scope')
    assert body["details"] == {"name": "alice", "kind": "users"}
    api.close()
    entry = [e for e in server.audit_entries() if e["stage"] == "ResponseComplete" and e["user"] == "bob"][-1]
    assert entry["code"] == 403 and "impersonatedUser" not in entry


def test_each_group_and_the_uid_need_their_own_permission(server):
    api, core = _as(server, "helpdesk-token", Impersonate_User="alice", Impersonate_Group="admins")
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map("team")
    assert _status(e)["message"] == ('groups "admins" is forbidden: User "helpdesk" cannot impersonate resource '
                                     '"groups" in API group "" at the cluster scope')
    api.close()
    api, core = _as(server, "helpdesk-token", Impersonate_User="alice", Impersonate_Uid="9999")
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map("team")
    assert _status(e)["message"].startswith('uids "9999" is forbidden: User "helpdesk" cannot impersonate')
    api.close()
    api, _ = _as(server, "helpdesk-token", Impersonate_User="alice", Impersonate_Uid="1234")
    review = client.AuthenticationV1Api(api).create_self_subject_review({})
    assert review.status.user_info.uid == "1234"
    api.close()


def test_service_account_impersonation_checks_serviceaccounts_in_its_namespace(server):
    api, core = _as(server, "helpdesk-token", Impersonate_User="system:serviceaccount:team:triage")
    assert core.read_namespaced_config_map("settings", "team").metadata.name == "settings"
    review = client.AuthenticationV1Api(api).create_self_subject_review({})
    assert review.status.user_info.groups == ["system:serviceaccounts", "system:serviceaccounts:team",
                                              "system:authenticated"]
    api.close()
    api, core = _as(server, "helpdesk-token", Impersonate_User="system:serviceaccount:team:other")
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_config_map("settings", "team")
    assert _status(e)["message"] == ('serviceaccounts "other" is forbidden: User "helpdesk" cannot impersonate '
                                     'resource "serviceaccounts" in API group "" in the namespace "team"')
    api.close()


def test_repeated_group_headers_each_count(server):
    """Impersonate-Group may repeat (the client library sends one header per group)."""
    url = urlparse(server.url)
    conn = http.client.HTTPSConnection(url.hostname, url.port,
                                       context=ssl.create_default_context(cafile=server.ca_file))
    conn.putrequest("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews")
    for name, value in (("Authorization", f"Bearer {server.token}"), ("Impersonate-User", "carol"),
                        ("Impersonate-Group", "g1"), ("Impersonate-Group", "g2"),
                        ("Content-Type", "application/json"), ("Content-Length", "2")):
        conn.putheader(name, value)
    conn.endheaders(b"{}")
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 201
    assert body["status"]["userInfo"] == {"username": "carol", "groups": ["g1", "g2", "system:authenticated"]}


def test_groups_without_a_user_is_400(server):
    status, _, body = server.request("GET", "/api/v1/namespaces/team/configmaps",
                                     headers={"Impersonate-Group": "readers"})
    assert status == 400
    assert json.loads(body)["message"] == "requested [groups] without impersonating a user"
