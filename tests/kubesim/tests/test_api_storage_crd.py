"""PersistentVolumeClaims, PersistentVolumes and StorageClasses are stored and served (core/v1, storage.k8s.io/v1);
with no provisioner a claim stays Pending, as on a cluster without one. CustomResourceDefinitions
(apiextensions.k8s.io/v1) are in discovery and can be created, read, listed and deleted; custom resources
themselves are not served."""
from __future__ import annotations

import json
import time

import pytest
from kubernetes import client

PVC = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                              "resources": {"requests": {"storage": "1Gi"}}}}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "schema": {"openAPIV3Schema": {"type": "object"}}}]}}


def _events(core, namespace, name):
    return [(e.type, e.reason, e.message) for e in core.list_namespaced_event(namespace).items
            if e.involved_object.name == name and e.involved_object.kind == "PersistentVolumeClaim"]


def test_pvc_is_stored_and_stays_pending_without_a_provisioner(core, namespace, wait_for):
    """PersistentVolumeClaim PrepareForCreate: status.phase Pending; nothing binds or provisions it, and the
    persistentvolume-controller says why (syncUnboundClaim's FailedBinding when no class is set)."""
    created = core.create_namespaced_persistent_volume_claim(namespace, PVC)
    assert created.status.phase == "Pending" and created.spec.volume_mode == "Filesystem"
    assert wait_for(lambda: _events(core, namespace, "data")) == [
        ("Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set")]
    time.sleep(0.3)
    claim = core.read_namespaced_persistent_volume_claim("data", namespace)
    assert claim.status.phase == "Pending" and not claim.spec.volume_name
    assert [c.metadata.name for c in core.list_namespaced_persistent_volume_claim(namespace).items] == ["data"]
    core.delete_namespaced_persistent_volume_claim("data", namespace)
    assert core.list_namespaced_persistent_volume_claim(namespace).items == []


def test_pvc_validation(core, namespace):
    """ValidatePersistentVolumeClaim: access modes and a storage request are required; the spec is immutable
    except resources."""
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "bad"}, "spec": {}})
    message = json.loads(e.value.body)["message"]
    assert e.value.status == 422 and "spec.accessModes: Required value: at least 1 access mode is required" in message
    assert "spec.resources[storage]: Required value" in message
    core.create_namespaced_persistent_volume_claim(namespace, PVC)
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_persistent_volume_claim("data", namespace, {"spec": {"accessModes": ["ReadWriteMany"]}})
    assert e.value.status == 422 and "spec is immutable after creation" in json.loads(e.value.body)["message"]


def test_default_storage_class_admission(k8s, core, namespace, wait_for):
    """DefaultStorageClass admission: a claim without storageClassName gets the class annotated as default;
    an explicit "" (a *string) stays "" and is served as such."""
    storage = client.StorageV1Api(k8s)
    name = "fast-" + namespace
    storage.create_storage_class({"metadata": {"name": name, "annotations": {
        "storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "example.com/none"})
    try:
        sc = storage.read_storage_class(name)
        assert sc.reclaim_policy == "Delete" and sc.volume_binding_mode == "Immediate"
        claim = core.create_namespaced_persistent_volume_claim(namespace, PVC)
        assert claim.spec.storage_class_name == name and claim.status.phase == "Pending"
        assert wait_for(lambda: _events(core, namespace, "data"))[0][:2] == ("Normal", "ExternalProvisioning")
        assert "external provisioner 'example.com/none'" in _events(core, namespace, "data")[0][2]
        explicit = dict(PVC, metadata={"name": "static"}, spec=dict(PVC["spec"], storageClassName=""))
        assert core.create_namespaced_persistent_volume_claim(namespace, explicit).spec.storage_class_name == ""
    finally:
        storage.delete_storage_class(name)


def test_persistent_volume_is_served_and_becomes_available(core, wait_for):
    """PersistentVolume: cluster-scoped, reclaim policy Retain by default, Pending at creation, then Available
    (syncVolume: a volume without claimRef)."""
    pv = core.create_persistent_volume({"metadata": {"name": "pv-test"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv"}}})
    try:
        assert pv.spec.persistent_volume_reclaim_policy == "Retain" and pv.status.phase == "Pending"
        wait_for(lambda: core.read_persistent_volume("pv-test").status.phase == "Available")
        assert "pv-test" in [p.metadata.name for p in core.list_persistent_volume().items]
    finally:
        core.delete_persistent_volume("pv-test")


def test_missing_or_delayed_storage_class_events(k8s, core, namespace, wait_for):
    """A class that does not exist: Warning ProvisioningFailed; a WaitForFirstConsumer class: the claim waits."""
    missing = dict(PVC, metadata={"name": "nosc"}, spec=dict(PVC["spec"], storageClassName="premium"))
    core.create_namespaced_persistent_volume_claim(namespace, missing)
    assert wait_for(lambda: _events(core, namespace, "nosc")) == [
        ("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "premium" not found')]
    storage = client.StorageV1Api(k8s)
    name = "late-" + namespace
    storage.create_storage_class({"metadata": {"name": name}, "provisioner": "example.com/none",
                                  "volumeBindingMode": "WaitForFirstConsumer"})
    try:
        late = dict(PVC, metadata={"name": "late"}, spec=dict(PVC["spec"], storageClassName=name))
        core.create_namespaced_persistent_volume_claim(namespace, late)
        assert wait_for(lambda: _events(core, namespace, "late")) == [
            ("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")]
    finally:
        storage.delete_storage_class(name)


def test_crds_in_discovery(kubesim):
    """Discovery lists apiextensions.k8s.io/v1 with customresourcedefinitions (cluster-scoped, short name crd)."""
    status, _, raw = kubesim.request("GET", "/apis")
    assert "apiextensions.k8s.io" in [g["name"] for g in json.loads(raw)["groups"]]
    status, _, raw = kubesim.request("GET", "/apis/apiextensions.k8s.io/v1")
    entry = next(r for r in json.loads(raw)["resources"] if r["name"] == "customresourcedefinitions")
    assert entry["kind"] == "CustomResourceDefinition" and entry["namespaced"] is False
    assert "crd" in entry["shortNames"] and "create" in entry["verbs"]


def test_crd_create_get_list_delete(k8s):
    """The CRD objects themselves: defaults (listKind), status from the naming/establishing controllers
    (NamesAccepted, Established, storedVersions), name validation."""
    ext = client.ApiextensionsV1Api(k8s)
    ext.create_custom_resource_definition(CRD)
    try:
        crd = ext.read_custom_resource_definition("widgets.example.com")
        assert crd.spec.names.list_kind == "WidgetList"
        conditions = {c.type: c.status for c in crd.status.conditions}
        assert conditions == {"NamesAccepted": "True", "Established": "True"}
        assert crd.status.stored_versions == ["v1"] and crd.status.accepted_names.kind == "Widget"
        assert "widgets.example.com" in [c.metadata.name for c in ext.list_custom_resource_definition().items]
    finally:
        ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(client.ApiException) as e:
        ext.read_custom_resource_definition("widgets.example.com")
    assert e.value.status == 404
    wrong = json.loads(json.dumps(CRD))
    wrong["metadata"]["name"] = "gadgets.example.com"
    with pytest.raises(client.ApiException) as e:
        ext.create_custom_resource_definition(wrong)
    assert e.value.status == 422 and 'must be spec.names.plural+"."+spec.group' in json.loads(e.value.body)["message"]
