"""Deployment controller through the real client (spec §2): the pod-template-hash ReplicaSet, scaling (also
through the scale subresource), rolling updates gated by readiness, status, revisions and history."""
from __future__ import annotations

import re

from test_kubelet_support import is_ready

HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def deployment(name="web", replicas=3, image="kubesim/web:v1", **spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}, **spec}}


def replica_sets(apps, ns, name="web"):
    return sorted((r for r in apps.list_namespaced_replica_set(ns).items
                   if any(o.kind == "Deployment" and o.name == name for o in r.metadata.owner_references or [])),
                  key=lambda r: int(r.metadata.annotations.get(REVISION, "0")))


def rolled_out(apps, ns, name, replicas):
    def check():
        d = apps.read_namespaced_deployment(name, ns)
        s = d.status
        done = (s.observed_generation == d.metadata.generation and s.replicas == replicas
                and s.updated_replicas == replicas and s.ready_replicas == replicas
                and s.available_replicas == replicas)
        return d if done else None
    return check


def test_replicaset_named_and_labelled_with_pod_template_hash(core, apps, namespace, wait_for):
    """§2: RS `<deploy>-<hash>`; the hash label in the RS labels, selector and template, and on the pods."""
    d = apps.create_namespaced_deployment(namespace, deployment(replicas=2))
    wait_for(rolled_out(apps, namespace, "web", 2))
    [rs] = replica_sets(apps, namespace)
    pod_hash = rs.spec.template.metadata.labels[HASH]
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{1,10}", pod_hash)
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.metadata.labels == {"app": "web", HASH: pod_hash}
    assert rs.spec.selector.match_labels == {"app": "web", HASH: pod_hash}
    ref = rs.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller) == ("Deployment", "web", d.metadata.uid, True)
    assert rs.metadata.annotations[REVISION] == "1"
    assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "2"
    assert apps.read_namespaced_deployment("web", namespace).metadata.annotations[REVISION] == "1"
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    assert all(p.metadata.labels[HASH] == pod_hash and p.metadata.name.startswith(f"web-{pod_hash}-")
               for p in pods)


def test_status_and_conditions(apps, namespace, wait_for):
    """Deployment status: counts, observedGeneration, Available and Progressing conditions."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=3))
    d = wait_for(rolled_out(apps, namespace, "web", 3))
    assert d.status.unavailable_replicas is None  # 0 is omitted, as Go's omitempty does
    conditions = {c.type: c for c in d.status.conditions}
    assert (conditions["Available"].status, conditions["Available"].reason) == ("True", "MinimumReplicasAvailable")
    rs_name = replica_sets(apps, namespace)[0].metadata.name
    assert conditions["Progressing"].reason == "NewReplicaSetAvailable"
    assert conditions["Progressing"].message == f'ReplicaSet "{rs_name}" has successfully progressed.'


def test_scale_through_the_scale_subresource_and_spec(core, apps, namespace, wait_for):
    """Scaling: the scale subresource and spec.replicas both resize the current ReplicaSet."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=1))
    wait_for(rolled_out(apps, namespace, "web", 1))
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 4}})
    wait_for(rolled_out(apps, namespace, "web", 4))
    assert len(core.list_namespaced_pod(namespace, label_selector="app=web").items) == 4
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}})
    wait_for(rolled_out(apps, namespace, "web", 2))
    wait_for(lambda: len([p for p in core.list_namespaced_pod(namespace, label_selector="app=web").items
                          if p.metadata.deletion_timestamp is None]) == 2)
    [rs] = replica_sets(apps, namespace)
    assert rs.spec.replicas == 2
    events = [e.message for e in core.list_namespaced_event(namespace).items if e.reason == "ScalingReplicaSet"]
    assert f"Scaled up replica set {rs.metadata.name} from 1 to 4" in events
    assert f"Scaled down replica set {rs.metadata.name} from 4 to 2" in events


def test_rolling_update_replaces_pods_and_keeps_old_replicaset_at_zero(core, apps, namespace, wait_for):
    """§2 rolling update: a template change makes a new RS (new hash, revision 2); the old one is scaled to 0
    and kept; during the rollout availability never drops below replicas - maxUnavailable."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=4))
    wait_for(rolled_out(apps, namespace, "web", 4))
    [old] = replica_sets(apps, namespace)
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "kubesim/web:v2"}]}}}})
    lowest_ready = 4
    most_pods = 0

    def progress():
        nonlocal lowest_ready, most_pods
        pods = [p for p in core.list_namespaced_pod(namespace, label_selector="app=web").items
                if p.metadata.deletion_timestamp is None]
        lowest_ready = min(lowest_ready, sum(1 for p in pods if is_ready(p)))
        most_pods = max(most_pods, len(pods))
        return rolled_out(apps, namespace, "web", 4)()
    d = wait_for(progress, timeout=20)
    old_rs, new_rs = replica_sets(apps, namespace)
    assert old_rs.metadata.name == old.metadata.name
    assert old_rs.spec.replicas == 0
    assert new_rs.metadata.annotations[REVISION] == "2"
    assert d.metadata.annotations[REVISION] == "2"
    assert new_rs.spec.template.metadata.labels[HASH] != old_rs.spec.template.metadata.labels[HASH]
    assert new_rs.spec.template.spec.containers[0].image == "kubesim/web:v2"
    # 25% of 4: maxUnavailable 1, maxSurge 1.
    assert lowest_ready >= 3
    assert most_pods <= 5
    wait_for(lambda: all(p.spec.containers[0].image == "kubesim/web:v2" for p in
                         core.list_namespaced_pod(namespace, label_selector="app=web").items))


def test_rollout_waits_for_readiness(core, apps, namespace, wait_for):
    """A new revision whose pods never become Ready (image cannot be pulled) does not scale the old RS down
    below replicas - maxUnavailable: the Deployment keeps serving from the old pods."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=2, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    wait_for(rolled_out(apps, namespace, "web", 2))
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "registry.invalid/web:v2"}]}}}})
    wait_for(lambda: len(replica_sets(apps, namespace)) == 2 and replica_sets(apps, namespace)[1].spec.replicas == 1)

    # syncRolloutStatus: the sync that creates the new RS records NewReplicaSetCreated; its status has no pod yet
    # (updatedReplicas 0), so DeploymentProgressing is false. The next sync, woken by the new RS's status
    # (replicas 1), sees updatedReplicas grow and records ReplicaSetUpdated. Wait for that state, do not race it.
    def progressing_reason():
        d = apps.read_namespaced_deployment("web", namespace)
        cond = next((c for c in d.status.conditions or [] if c.type == "Progressing"), None)
        return d.status.updated_replicas == 1 and cond is not None and cond.reason == "ReplicaSetUpdated" and d
    d = wait_for(progressing_reason)
    cond = next(c for c in d.status.conditions if c.type == "Progressing")
    assert cond.status == "True"
    assert cond.message == f'ReplicaSet "{replica_sets(apps, namespace)[1].metadata.name}" is progressing.'
    old_rs, new_rs = replica_sets(apps, namespace)
    assert old_rs.spec.replicas == 2
    assert new_rs.spec.replicas == 1
    assert d.status.available_replicas == 2


def test_revision_history_limit_deletes_oldest_idle_replicasets(apps, namespace, wait_for):
    """revisionHistoryLimit: old ReplicaSets scaled to 0 beyond the limit are deleted, oldest first."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=1, revisionHistoryLimit=1))
    wait_for(rolled_out(apps, namespace, "web", 1))
    for tag in ("v2", "v3"):
        apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": f"kubesim/web:{tag}"}]}}}})
        wait_for(lambda: rolled_out(apps, namespace, "web", 1)() and
                 replica_sets(apps, namespace)[-1].spec.template.spec.containers[0].image == f"kubesim/web:{tag}",
                 timeout=20)
    rss = wait_for(lambda: (r := replica_sets(apps, namespace)) and len(r) == 2 and r)
    assert [r.metadata.annotations[REVISION] for r in rss] == ["2", "3"]


def test_recreate_strategy_removes_old_pods_before_creating_new_ones(core, apps, namespace, wait_for):
    """Recreate: the old ReplicaSet goes to 0 and its pods disappear before the new ReplicaSet scales up."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=2, strategy={"type": "Recreate"}))
    wait_for(rolled_out(apps, namespace, "web", 2))
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "kubesim/web:v2"}]}}}})
    mixed = False

    def progress():
        nonlocal mixed
        pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
        images = {p.spec.containers[0].image for p in pods}
        mixed = mixed or len(images) > 1
        return rolled_out(apps, namespace, "web", 2)() and images == {"kubesim/web:v2"}
    wait_for(progress, timeout=20)
    assert not mixed, "Recreate must never run old and new pods together"


def test_paused_deployment_does_not_roll_out(apps, namespace, wait_for):
    """spec.paused: a template change creates no new ReplicaSet until the Deployment is resumed."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=1))
    wait_for(rolled_out(apps, namespace, "web", 1))
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"paused": True}})
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "kubesim/web:v2"}]}}}})
    wait_for(lambda: (d := apps.read_namespaced_deployment("web", namespace)).status.observed_generation ==
             d.metadata.generation)
    assert len(replica_sets(apps, namespace)) == 1
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"paused": False}})
    wait_for(lambda: len(replica_sets(apps, namespace)) == 2 and rolled_out(apps, namespace, "web", 1)())


def test_scaling_during_a_rollout_is_proportional(apps, namespace, wait_for):
    """dc.scale during a stuck rollout (new pods never become ready): 10 -> 20 replicas with maxSurge 3 is
    spread over both ReplicaSets by their share of the old maximum (13 -> 23): old 10 -> 18, new 3 -> 5."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=10, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0}}))
    wait_for(rolled_out(apps, namespace, "web", 10), timeout=20)
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "registry.invalid/web:v2"}]}}}})
    wait_for(lambda: [r.spec.replicas for r in replica_sets(apps, namespace)] == [10, 3])
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 20}})
    wait_for(lambda: [r.spec.replicas for r in replica_sets(apps, namespace)] == [18, 5])
    rss = replica_sets(apps, namespace)
    assert all(r.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "20" for r in rss)
    assert all(r.metadata.annotations["deployment.kubernetes.io/max-replicas"] == "23" for r in rss)


def test_progress_deadline_exceeded(apps, namespace, wait_for):
    """syncRolloutStatus: no progress for progressDeadlineSeconds turns Progressing False with
    ProgressDeadlineExceeded (what `kubectl rollout status` reports as a failed rollout)."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=1, progressDeadlineSeconds=1))
    wait_for(rolled_out(apps, namespace, "web", 1))
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "registry.invalid/web:v2"}]}}}})

    def timed_out():
        d = apps.read_namespaced_deployment("web", namespace)
        cond = next((c for c in d.status.conditions or [] if c.type == "Progressing"), None)
        return cond if cond is not None and cond.reason == "ProgressDeadlineExceeded" else None
    cond = wait_for(timed_out, timeout=10)
    new_rs = replica_sets(apps, namespace)[-1].metadata.name
    assert cond.status == "False"
    assert cond.message == f'ReplicaSet "{new_rs}" has timed out progressing.'
