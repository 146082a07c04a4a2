"""Garbage collector through the real client: cascading deletion through ownerReferences with the three
propagation policies, and released pods (no ownerReference, §1.2 point 8) left alone."""
from __future__ import annotations

from kubernetes import client


def deployment(name="web", replicas=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "kubesim/web:v1"}]}}}}


def replicaset(name="rs", replicas=2):
    """A ReplicaSet without a Deployment (a Deployment would recreate a deleted ReplicaSet at once)."""
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "kubesim/web:v1"}]}}}}


def live(items):
    return [i for i in items if i.metadata.deletion_timestamp is None]


def gone(fn):
    def check():
        try:
            fn()
        except client.ApiException as err:
            return err.status == 404
        return False
    return check


def started(core, apps, ns, wait_for, replicas=2):
    apps.create_namespaced_deployment(ns, deployment(replicas=replicas))
    return wait_for(lambda: len(p := live(core.list_namespaced_pod(ns, label_selector="app=web").items))
                    == replicas and all(x.status.phase == "Running" for x in p) and p)


def started_rs(core, apps, ns, wait_for, replicas=2):
    apps.create_namespaced_replica_set(ns, replicaset(replicas=replicas))
    wait_for(lambda: len(p := live(core.list_namespaced_pod(ns, label_selector="app=rs").items)) == replicas
             and all(x.status.phase == "Running" for x in p))
    return apps.read_namespaced_replica_set("rs", ns)


def test_background_delete_cascades_to_replicasets_and_pods(core, apps, namespace, wait_for):
    """Background (default): the Deployment goes at once, then its ReplicaSet, then the pods."""
    started(core, apps, namespace, wait_for)
    apps.delete_namespaced_deployment("web", namespace)
    wait_for(gone(lambda: apps.read_namespaced_deployment("web", namespace)))
    wait_for(lambda: not apps.list_namespaced_replica_set(namespace).items)
    wait_for(lambda: not live(core.list_namespaced_pod(namespace).items))


def test_released_pod_survives_deletion_of_its_deployment(core, apps, namespace, wait_for):
    """§1.2 point 8: a released (isolated) pod has no owner, so the cascade does not reach it."""
    pods = started(core, apps, namespace, wait_for)
    isolated = pods[0].metadata.name
    core.patch_namespaced_pod(isolated, namespace, {"metadata": {"labels": {"app": "quarantine"}}})
    wait_for(lambda: not core.read_namespaced_pod(isolated, namespace).metadata.owner_references)
    apps.delete_namespaced_deployment("web", namespace)
    wait_for(lambda: not live(core.list_namespaced_pod(namespace, label_selector="app=web").items))
    survivor = core.read_namespaced_pod(isolated, namespace)
    assert survivor.metadata.deletion_timestamp is None
    assert survivor.status.phase == "Running"


def test_orphan_delete_keeps_dependents_and_strips_owner_references(core, apps, namespace, wait_for):
    """Orphan: the ReplicaSet goes, its pods stay and lose the ownerReference to it."""
    rs = started_rs(core, apps, namespace, wait_for)
    pods = live(core.list_namespaced_pod(namespace, label_selector="app=rs").items)
    apps.delete_namespaced_replica_set(rs.metadata.name, namespace, propagation_policy="Orphan")
    wait_for(gone(lambda: apps.read_namespaced_replica_set(rs.metadata.name, namespace)))
    remaining = wait_for(lambda: (p := [core.read_namespaced_pod(x.metadata.name, namespace) for x in pods])
                         and all(not x.metadata.owner_references for x in p) and p)
    assert all(p.metadata.deletion_timestamp is None for p in remaining)


def test_foreground_delete_waits_for_dependents(core, apps, namespace, wait_for):
    """Foreground: the owner keeps a deletionTimestamp and the foregroundDeletion finalizer until its
    blocking dependents are gone, then it disappears too."""
    rs = started_rs(core, apps, namespace, wait_for)
    apps.delete_namespaced_replica_set(rs.metadata.name, namespace, propagation_policy="Foreground")
    seen = apps.read_namespaced_replica_set(rs.metadata.name, namespace)
    assert seen.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in seen.metadata.finalizers
    wait_for(gone(lambda: apps.read_namespaced_replica_set(rs.metadata.name, namespace)), timeout=20)
    # by the time the owner is gone, none of its pods is left running
    assert not [p for p in core.list_namespaced_pod(namespace, label_selector="app=rs").items
                if p.metadata.deletion_timestamp is None
                and any(o.uid == rs.metadata.uid for o in p.metadata.owner_references or [])]


def test_dependent_of_a_missing_owner_is_collected(core, namespace, wait_for):
    """A dependent whose only owner does not exist (dangling reference) is deleted."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "parent"}})
    parent = core.read_namespaced_config_map("parent", namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "child", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent.metadata.uid}]}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "other"}})
    core.delete_namespaced_config_map("parent", namespace)
    wait_for(gone(lambda: core.read_namespaced_config_map("child", namespace)))
    assert core.read_namespaced_config_map("other", namespace).metadata.name == "other"


def test_owner_of_an_unserved_kind_is_not_treated_as_missing(core, namespace, wait_for):
    """An ownerReference to a kind the server does not know (a custom resource) cannot be verified, so the
    dependent is kept (the real GC cannot resolve its REST mapping and does not delete)."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "custom-child", "ownerReferences": [
        {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "0000-widget"}]}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "parent"}})
    parent = core.read_namespaced_config_map("parent", namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "marker", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent.metadata.uid}]}})
    core.delete_namespaced_config_map("parent", namespace)
    wait_for(gone(lambda: core.read_namespaced_config_map("marker", namespace)))
    assert core.read_namespaced_config_map("custom-child", namespace).metadata.deletion_timestamp is None
