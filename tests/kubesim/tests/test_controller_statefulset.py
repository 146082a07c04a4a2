"""StatefulSet controller through the real client (spec §3): ordinal names and identity labels, OrderedReady,
and the released pod that blocks its own replacement with 409 AlreadyExists until it is re-adopted."""
from __future__ import annotations

import time

from kubernetes import client

from test_kubelet_support import is_ready


def statefulset(name="db", replicas=3, image="kubesim/web:v1"):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def read_pod(core, ns, name):
    try:
        return core.read_namespaced_pod(name, ns)
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise


def owned_names(core, ns):
    pods = core.list_namespaced_pod(ns).items
    return sorted(p.metadata.name for p in pods
                  if any(o.kind == "StatefulSet" and o.controller for o in p.metadata.owner_references or []))


def all_ready(core, ns, names):
    def check():
        pods = {p.metadata.name: p for p in core.list_namespaced_pod(ns).items}
        return all(n in pods and is_ready(pods[n]) for n in names) and pods
    return check


def test_ordinal_pods_with_identity_labels_and_hostname(core, apps, namespace, wait_for):
    """§3: `<set>-<N>`, hostname = name, subdomain = serviceName, the pod-name, pod-index and
    controller-revision-hash labels; status counts."""
    apps.create_namespaced_stateful_set(namespace, statefulset())
    pods = wait_for(all_ready(core, namespace, ["db-0", "db-1", "db-2"]), timeout=20)
    sts = wait_for(lambda: (s := apps.read_namespaced_stateful_set("db", namespace)).status.ready_replicas == 3 and s)
    for n in range(3):
        pod = pods[f"db-{n}"]
        assert pod.spec.hostname == f"db-{n}" and pod.spec.subdomain == "db"
        assert pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == f"db-{n}"
        assert pod.metadata.labels["apps.kubernetes.io/pod-index"] == str(n)
        assert pod.metadata.labels["controller-revision-hash"] == sts.status.update_revision
    assert sts.status.update_revision.startswith("db-")
    assert (sts.status.replicas, sts.status.current_replicas, sts.status.updated_replicas) == (3, 3, 3)
    events = [e.message for e in core.list_namespaced_event(namespace).items if e.reason == "SuccessfulCreate"
              and e.involved_object.kind == "StatefulSet"]
    assert "create Pod db-0 in StatefulSet db successful" in events


def test_ordered_ready_creates_one_ordinal_at_a_time(core, apps, namespace, wait_for):
    """§3 OrderedReady: the next ordinal is created only once the previous one is Running and Ready, so a pod
    that never becomes ready (unpullable image) holds back the rest."""
    apps.create_namespaced_stateful_set(namespace, statefulset(replicas=3, image="registry.invalid/db:v1"))
    wait_for(lambda: owned_names(core, namespace) == ["db-0"])
    time.sleep(0.5)  # several readiness delays: nothing more may appear
    assert owned_names(core, namespace) == ["db-0"]


def test_released_pod_blocks_replacement_with_already_exists_until_readopted(core, apps, namespace, wait_for):
    """§3: relabelling db-1 releases it; creating the replacement `db-1` hits 409 AlreadyExists, no event is
    recorded, the set stays at 2 replicas and retries with backoff; relabelling back re-adopts it."""
    apps.create_namespaced_stateful_set(namespace, statefulset())
    wait_for(all_ready(core, namespace, ["db-0", "db-1", "db-2"]), timeout=20)
    core.patch_namespaced_pod("db-1", namespace, {"metadata": {"labels": {"app": "quarantine"}}})
    wait_for(lambda: not core.read_namespaced_pod("db-1", namespace).metadata.owner_references)
    wait_for(lambda: apps.read_namespaced_stateful_set("db", namespace).status.replicas == 2)
    time.sleep(0.5)
    pod = core.read_namespaced_pod("db-1", namespace)
    assert pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == "db-1"  # per-pod Services still reach it
    assert pod.metadata.deletion_timestamp is None
    assert apps.read_namespaced_stateful_set("db", namespace).status.replicas == 2
    assert owned_names(core, namespace) == ["db-0", "db-2"]
    # "sink already exists errors": the 409 is retried with backoff but never recorded as an event.
    assert not [e for e in core.list_namespaced_event(namespace).items if e.reason == "FailedCreate"]

    core.patch_namespaced_pod("db-1", namespace, {"metadata": {"labels": {"app": "db"}}})
    readopted = wait_for(lambda: (p := core.read_namespaced_pod("db-1", namespace)).metadata.owner_references
                         and p)
    ref = readopted.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.controller) == ("StatefulSet", "db", True)
    wait_for(lambda: apps.read_namespaced_stateful_set("db", namespace).status.replicas == 3)


def test_deleting_the_orphan_unblocks_the_set(core, apps, namespace, wait_for):
    """§3: the stuck set proceeds as soon as the orphan holding the name is deleted."""
    apps.create_namespaced_stateful_set(namespace, statefulset(replicas=2))
    wait_for(all_ready(core, namespace, ["db-0", "db-1"]), timeout=20)
    old_uid = core.read_namespaced_pod("db-1", namespace).metadata.uid
    core.patch_namespaced_pod("db-1", namespace, {"metadata": {"labels": {"app": "quarantine"}}})
    wait_for(lambda: apps.read_namespaced_stateful_set("db", namespace).status.replicas == 1)
    core.delete_namespaced_pod("db-1", namespace, grace_period_seconds=0)
    fresh = wait_for(lambda: (p := read_pod(core, namespace, "db-1")) is not None and p.metadata.uid != old_uid
                     and p.metadata.owner_references and p, timeout=15)
    assert fresh.metadata.labels["app"] == "db"


def test_scale_down_removes_highest_ordinal_first(core, apps, namespace, wait_for):
    apps.create_namespaced_stateful_set(namespace, statefulset(replicas=3))
    wait_for(all_ready(core, namespace, ["db-0", "db-1", "db-2"]), timeout=20)
    apps.patch_namespaced_stateful_set_scale("db", namespace, {"spec": {"replicas": 1}})
    wait_for(lambda: owned_names(core, namespace) == ["db-0"], timeout=20)


def test_template_change_rolls_pods_from_the_highest_ordinal(core, apps, namespace, wait_for):
    """RollingUpdate: pods of the old revision are replaced one at a time, highest ordinal first, and the
    status revisions converge."""
    apps.create_namespaced_stateful_set(namespace, statefulset(replicas=2))
    wait_for(all_ready(core, namespace, ["db-0", "db-1"]), timeout=20)
    before = apps.read_namespaced_stateful_set("db", namespace).status.update_revision
    apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "kubesim/web:v2"}]}}}})
    order = []

    def progress():
        for n in ("db-1", "db-0"):
            p = read_pod(core, namespace, n)
            if p is not None and p.spec.containers[0].image.endswith("v2") and n not in order:
                order.append(n)
        s = apps.read_namespaced_stateful_set("db", namespace).status
        return len(order) == 2 and s.current_revision == s.update_revision != before and s.ready_replicas == 2
    wait_for(progress, timeout=20)
    assert order == ["db-1", "db-0"]


def test_controller_revisions_record_each_template(apps, core, namespace, wait_for):
    """Each template gets a ControllerRevision `<set>-<hash>` owned by the set, numbered 1, 2, ...; its name
    is the pods' controller-revision-hash."""
    apps.create_namespaced_stateful_set(namespace, statefulset(replicas=1))
    wait_for(all_ready(core, namespace, ["db-0"]), timeout=20)
    apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "kubesim/web:v2"}]}}}})
    revisions = wait_for(lambda: len(r := apps.list_namespaced_controller_revision(namespace).items) == 2 and r)
    by_number = {r.revision: r for r in revisions}
    assert sorted(by_number) == [1, 2]
    sts = apps.read_namespaced_stateful_set("db", namespace)
    assert by_number[2].metadata.name == sts.status.update_revision
    assert all(r.metadata.owner_references[0].name == "db" for r in revisions)
    # The rolling update deletes db-0 before it recreates it: between the two there is no db-0 to read.
    wait_for(lambda: [p.metadata.labels["controller-revision-hash"] for p in core.list_namespaced_pod(
        namespace, field_selector="metadata.name=db-0").items] == [by_number[2].metadata.name], timeout=20)


def _restart_to_web(apps, namespace):
    """What `kubectl rollout restart` does, plus the fix: a new template (restartedAt annotation, working image)."""
    apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"template": {
        "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-02T03:00:00Z"}},
        "spec": {"containers": [{"name": "app", "image": "kubesim/web:v2"}]}}}})


def _crash_looping(core, namespace, names):
    def check():
        pods = {p.metadata.name: p for p in core.list_namespaced_pod(namespace).items}
        return all(n in pods and any((s.restart_count or 0) >= 1 for s in pods[n].status.container_statuses or [])
                   for n in names)
    return check


def test_parallel_set_replaces_crash_looping_pods_of_the_old_revision(core, apps, namespace, wait_for):
    """updateStatefulSet: from the highest ordinal down, the first pod of an old revision is deleted even when it
    (or another pod) is unhealthy; only an unavailable pod of the new revision holds the update. So a Parallel
    set whose pods crash rolls out to a fixed template (seed 002 with a StatefulSet)."""
    body = statefulset(replicas=2, image="kubesim/crash:v1")
    body["spec"]["podManagementPolicy"] = "Parallel"
    apps.create_namespaced_stateful_set(namespace, body)
    wait_for(_crash_looping(core, namespace, ["db-0", "db-1"]), timeout=20)
    _restart_to_web(apps, namespace)

    def rolled_out():
        s = apps.read_namespaced_stateful_set("db", namespace).status
        return s.current_revision == s.update_revision and s.ready_replicas == 2 and s.updated_replicas == 2
    wait_for(rolled_out, timeout=30)
    assert {p.spec.containers[0].image for p in core.list_namespaced_pod(namespace).items} == {"kubesim/web:v2"}


def test_ordered_ready_set_does_not_roll_out_while_a_pod_crash_loops(core, apps, namespace, wait_for):
    """OrderedReady: processReplica stops at the first pod that is not Running and Ready, before any update, so
    the crash-looping pods of the old revision stay (kubernetes/kubernetes#67250; delete them by hand)."""
    apps.create_namespaced_stateful_set(namespace, statefulset(replicas=1, image="kubesim/crash:v1"))
    wait_for(_crash_looping(core, namespace, ["db-0"]), timeout=20)
    uid = read_pod(core, namespace, "db-0").metadata.uid
    _restart_to_web(apps, namespace)
    wait_for(lambda: (s := apps.read_namespaced_stateful_set("db", namespace)).status.observed_generation ==
             s.metadata.generation)
    time.sleep(0.5)  # several syncs (each crash wakes the controller): db-0 must still be the old pod
    pod = read_pod(core, namespace, "db-0")
    assert pod.metadata.uid == uid and pod.spec.containers[0].image == "kubesim/crash:v1"
