"""metadata.managedFields as the apiserver's field manager keeps them (k8s.io/apiserver fieldmanager,
structured-merge-diff FieldsV1): one entry per manager, operation and subresource, the manager named by
fieldManager or the User-Agent, ownership moving with each Update, Apply recording the applied fields."""
from __future__ import annotations

import json

MERGE = {"Content-Type": "application/merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


def _managed(kubesim, path):
    status, _, body = kubesim.request("GET", path)
    assert status == 200, body
    return json.loads(body)["metadata"].get("managedFields") or []


def _entry(entries, manager, operation="Update", subresource=None):
    found = [e for e in entries if e["manager"] == manager and e["operation"] == operation
             and e.get("subresource") == subresource]
    assert len(found) == 1, entries
    return found[0]


def test_create_records_the_fields_the_writer_set(kubesim, namespace):
    """A create is an Update from the empty object: labels/containers are owned with '.', list items keyed
    (k:{"name":...}), containerPort+protocol for ports; server fields (name, uid, ...) are never in a set."""
    path = f"/api/v1/namespaces/{namespace}/pods"
    status, _, body = kubesim.request(
        "POST", path + "?fieldManager=creator",
        {"metadata": {"name": "web", "labels": {"app": "web"}},
         "spec": {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 8080}]}]}})
    assert status == 201, body
    entry = _entry(_managed(kubesim, path + "/web"), "creator")
    assert entry["apiVersion"] == "v1" and entry["fieldsType"] == "FieldsV1" and entry["time"].endswith("Z")
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    container = fields["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert container["."] == {} and container["f:image"] == {}
    assert container["f:ports"]['k:{"containerPort":8080,"protocol":"TCP"}'] == {
        ".": {}, "f:containerPort": {}, "f:protocol": {}}
    assert "." not in fields["f:spec"]["f:containers"]  # PodSpec.containers exists (null) in the zero object


def test_manager_defaults_to_the_user_agent_product(kubesim, core, namespace):
    """prefixFromUserAgent: without fieldManager the manager is the User-Agent up to its first '/'."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "ua"}, "data": {"k": "v"}})
    entries = _managed(kubesim, f"/api/v1/namespaces/{namespace}/configmaps/ua")
    assert [e["manager"] for e in entries] == ["OpenAPI-Generator"]
    status, _, _ = kubesim.request("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/ua",
                                   {"data": {"k2": "v2"}}, headers={**MERGE, "User-Agent": "kubectl/v1.35.2 (linux)"})
    assert status == 200
    entries = _managed(kubesim, f"/api/v1/namespaces/{namespace}/configmaps/ua")
    assert _entry(entries, "kubectl")["fieldsV1"] == {"f:data": {"f:k2": {}}}


def test_update_moves_ownership_of_changed_fields(kubesim, namespace):
    """An Update takes the fields it changed from every other manager; a field it removed leaves them all; an
    entry left without fields disappears."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    kubesim.request("POST", base + "?fieldManager=first", {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}})
    kubesim.request("PATCH", base + "/c?fieldManager=second", {"data": {"a": "changed"}}, headers=MERGE)
    entries = _managed(kubesim, base + "/c")
    assert _entry(entries, "first")["fieldsV1"] == {"f:data": {".": {}, "f:b": {}}}
    assert _entry(entries, "second")["fieldsV1"] == {"f:data": {"f:a": {}}}
    kubesim.request("PATCH", base + "/c?fieldManager=second", {"data": {"b": None}}, headers=MERGE)
    entries = _managed(kubesim, base + "/c")
    assert "f:b" not in json.dumps(entries)
    kubesim.request("PATCH", base + "/c?fieldManager=third", {"data": {"a": "x"}}, headers=MERGE)
    entries = _managed(kubesim, base + "/c")
    assert _entry(entries, "third")["fieldsV1"] == {"f:data": {"f:a": {}}}
    assert "second" not in [e["manager"] for e in entries]  # nothing left to own


def test_status_writes_have_their_own_entry(kubesim, core, namespace, wait_for):
    """The kubelet writes pod status through the status subresource: an entry with subresource "status"."""
    core.create_namespaced_pod(namespace, {"metadata": {"name": "s"},
                                           "spec": {"containers": [{"name": "a", "image": "nginx"}]}})
    wait_for(lambda: core.read_namespaced_pod("s", namespace).status.phase == "Running")
    entries = _managed(kubesim, f"/api/v1/namespaces/{namespace}/pods/s")
    status_entry = _entry(entries, "kubelet", subresource="status")
    assert set(status_entry["fieldsV1"]) == {"f:status"}
    assert "f:phase" in status_entry["fieldsV1"]["f:status"]


def test_apply_records_the_applied_configuration(kubesim, namespace):
    """Server-side apply: an Apply entry whose fields are exactly the applied configuration's (no '.' on
    declared fields); Apply entries sort before Update entries."""
    path = f"/api/v1/namespaces/{namespace}/configmaps/ap?fieldManager=applier"
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ap", "labels": {"l": "1"}},
           "data": {"key": "value"}}
    status, _, body = kubesim.request("PATCH", path, doc, headers=APPLY)
    assert status == 201, body
    kubesim.request("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/ap?fieldManager=editor",
                    {"data": {"other": "x"}}, headers=MERGE)
    entries = _managed(kubesim, f"/api/v1/namespaces/{namespace}/configmaps/ap")
    assert [e["operation"] for e in entries] == ["Apply", "Update"]
    assert entries[0]["fieldsV1"] == {"f:data": {"f:key": {}}, "f:metadata": {"f:labels": {"f:l": {}}}}


def test_managed_fields_reset_with_one_empty_entry(kubesim, namespace):
    """`managedFields: [{}]` strips them (the documented way to reset them)."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    kubesim.request("POST", base, {"metadata": {"name": "r"}, "data": {"a": "1"}})
    assert _managed(kubesim, base + "/r")
    status, _, _ = kubesim.request("PATCH", base + "/r", {"metadata": {"managedFields": [{}]}}, headers=MERGE)
    assert status == 200 and _managed(kubesim, base + "/r") == []
