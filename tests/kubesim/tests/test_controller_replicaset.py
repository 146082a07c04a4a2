"""ReplicaSet controller through the real client: claim, release, adopt, same-pass replacement, the scale-down
ranking with pod-deletion-cost, status and events (spec §1, with §2 and §4 for what the Service sees).

The pods must become Running and Ready, which is the kubelet part's job (readiness delay)."""
from __future__ import annotations

import re

from kubernetes import client

from test_kubelet_support import is_ready

SUFFIX = re.compile(r"^[bcdfghjklmnpqrstvwxz2456789]{5}$")
COST = "controller.kubernetes.io/pod-deletion-cost"


def template(app="web", image="kubesim/web:v1", annotations=None):
    md = {"labels": {"app": app}}
    if annotations:
        md["annotations"] = annotations
    return {"metadata": md, "spec": {"containers": [{"name": "app", "image": image,
                                                      "ports": [{"name": "http", "containerPort": 8080}]}]}}


def deployment(name="web", replicas=3, app="web"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}}, "template": template(app)}}


def service(name="web", app="web"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def controller_of(pod):
    return next((r for r in pod.metadata.owner_references or [] if r.controller), None)


def live_pods(core, ns, selector=None):
    pods = core.list_namespaced_pod(ns, label_selector=selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def ready_owned(core, ns, count):
    """`count` live pods owned by a ReplicaSet, all Ready."""
    def check():
        pods = [p for p in live_pods(core, ns) if controller_of(p) is not None]
        return pods if len(pods) == count and all(is_ready(p) for p in pods) else None
    return check


def endpoint_ips(core, ns, name):
    try:
        ep = core.read_namespaced_endpoints(name, ns)
    except client.ApiException:
        return None
    return sorted(a.ip for s in ep.subsets or [] for a in s.addresses or [])


def slice_ips(disco, ns, name):
    slices = disco.list_namespaced_endpoint_slice(ns, label_selector=f"kubernetes.io/service-name={name}").items
    return sorted(e.addresses[0] for s in slices for e in s.endpoints or [] if e.conditions.ready)


def rs_events(core, ns, rs_name, reason):
    events = core.list_namespaced_event(ns).items
    return [e for e in events if e.involved_object.kind == "ReplicaSet" and e.involved_object.name == rs_name
            and e.reason == reason]


def released(core, ns, name):
    """The pod exists and no longer has a controller (the ReplicaSet released it)."""
    def check():
        pod = core.read_namespaced_pod(name, ns)
        return pod if controller_of(pod) is None else None
    return check


def start_web(core, apps, ns, wait_for, replicas=3):
    apps.create_namespaced_deployment(ns, deployment(replicas=replicas))
    core.create_namespaced_service(ns, service())
    pods = wait_for(ready_owned(core, ns, replicas))
    ips = sorted(p.status.pod_ip for p in pods)
    wait_for(lambda: endpoint_ips(core, ns, "web") == ips)
    return pods


def test_replicaset_pods_from_template(core, apps, namespace, wait_for):
    """§1.2 point 5-6: generateName "<rs>-" + 5 safe chars, labels and annotations from the template, a
    controller ownerReference with blockOwnerDeletion."""
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "plain"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "plain"}},
                   "template": template("plain", annotations={"note": "from-template"})}}
    created = apps.create_namespaced_replica_set(namespace, rs)
    pods = wait_for(lambda: (p := live_pods(core, namespace, "app=plain")) and len(p) == 2 and p)
    for pod in pods:
        assert pod.metadata.name.startswith("plain-") and SUFFIX.match(pod.metadata.name[len("plain-"):])
        assert pod.metadata.generate_name == "plain-"
        assert pod.metadata.labels == {"app": "plain"}
        assert pod.metadata.annotations == {"note": "from-template"}
        ref = controller_of(pod)
        assert (ref.api_version, ref.kind, ref.name, ref.uid) == ("apps/v1", "ReplicaSet", "plain",
                                                                  created.metadata.uid)
        assert ref.controller is True and ref.block_owner_deletion is True
    created_events = wait_for(lambda: len(rs_events(core, namespace, "plain", "SuccessfulCreate")) == 2 and
                              rs_events(core, namespace, "plain", "SuccessfulCreate"))
    assert sorted(e.message for e in created_events) == sorted(f"Created pod: {p.metadata.name}" for p in pods)
    assert all(e.source.component == "replicaset-controller" for e in created_events)


def test_replicaset_status_counts(core, apps, namespace, wait_for):
    """§1.2 point 3: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration."""
    apps.create_namespaced_deployment(namespace, deployment(replicas=2))
    wait_for(ready_owned(core, namespace, 2))

    def status():
        rs = apps.list_namespaced_replica_set(namespace).items[0]
        s = rs.status
        return rs if (s.replicas, s.fully_labeled_replicas, s.ready_replicas, s.available_replicas) == \
            (2, 2, 2, 2) else None
    rs = wait_for(status)
    assert rs.status.observed_generation == rs.metadata.generation


def test_relabel_app_releases_pod_creates_replacement_and_leaves_service(core, apps, disco, namespace, wait_for):
    """§1.1 release, §1.2 same-pass replacement, §2 (a label in both selectors), §4 Endpoints/EndpointSlice."""
    pods = start_web(core, apps, namespace, wait_for)
    victim = pods[0]
    rs_name = controller_of(victim).name
    core.patch_namespaced_pod(victim.metadata.name, namespace, {"metadata": {"labels": {"app": "quarantine"}}})

    # Released: no ownerReference, still running with its pod-template-hash label; not deleted.
    isolated = wait_for(released(core, namespace, victim.metadata.name))
    assert isolated.metadata.owner_references in (None, [])
    assert isolated.metadata.deletion_timestamp is None
    assert isolated.status.phase == "Running"
    assert isolated.metadata.labels["pod-template-hash"] == victim.metadata.labels["pod-template-hash"]
    # A replacement from the same ReplicaSet, then the Service sees three ready pods without the victim.
    fresh = wait_for(ready_owned(core, namespace, 3))
    assert victim.metadata.name not in {p.metadata.name for p in fresh}
    assert all(controller_of(p).name == rs_name for p in fresh)
    want = sorted(p.status.pod_ip for p in fresh)
    assert victim.status.pod_ip not in want
    wait_for(lambda: endpoint_ips(core, namespace, "web") == want)
    wait_for(lambda: slice_ips(disco, namespace, "web") == want)
    replacement = next(p for p in fresh if p.metadata.name not in {q.metadata.name for q in pods})
    wait_for(lambda: any(e.message == f"Created pod: {replacement.metadata.name}"
                         for e in rs_events(core, namespace, rs_name, "SuccessfulCreate")))


def test_relabel_pod_template_hash_only_releases_but_stays_in_endpoints(core, apps, namespace, wait_for):
    """§2: changing only pod-template-hash releases the pod from its RS but it still matches the Service."""
    pods = start_web(core, apps, namespace, wait_for)
    victim = pods[1]
    core.patch_namespaced_pod(victim.metadata.name, namespace,
                              {"metadata": {"labels": {"pod-template-hash": "isolated"}}})
    wait_for(released(core, namespace, victim.metadata.name))
    fresh = wait_for(ready_owned(core, namespace, 3))
    assert victim.metadata.name not in {p.metadata.name for p in fresh}
    assert not core.read_namespaced_pod(victim.metadata.name, namespace).metadata.owner_references
    want = sorted([p.status.pod_ip for p in fresh] + [victim.status.pod_ip])
    wait_for(lambda: endpoint_ips(core, namespace, "web") == want)


def test_adding_an_unrelated_label_changes_nothing(core, apps, disco, namespace, wait_for):
    """§2: adding a new label (quarantine=true) neither releases the pod nor touches the Endpoints or the
    EndpointSlices (§4: no write when nothing changed, targetRef.resourceVersion ignored)."""
    pods = start_web(core, apps, namespace, wait_for)
    wait_for(lambda: len(slice_ips(disco, namespace, "web")) == 3)
    before = core.read_namespaced_endpoints("web", namespace).metadata.resource_version
    slices_before = {s.metadata.name: s.metadata.resource_version for s in disco.list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name=web").items}
    core.patch_namespaced_pod(pods[0].metadata.name, namespace, {"metadata": {"labels": {"quarantine": "true"}}})
    # A later change that must be processed after ours proves the controllers saw (and skipped) it.
    core.create_namespaced_service(namespace, service(name="marker"))
    wait_for(lambda: endpoint_ips(core, namespace, "marker") is not None)
    assert controller_of(core.read_namespaced_pod(pods[0].metadata.name, namespace)) is not None
    assert len(live_pods(core, namespace, "app=web")) == 3
    assert core.read_namespaced_endpoints("web", namespace).metadata.resource_version == before
    assert {s.metadata.name: s.metadata.resource_version for s in disco.list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name=web").items} == slices_before


def test_relabel_back_adopts_and_deletes_the_lowest_deletion_cost_pod(core, apps, namespace, wait_for):
    """§1.1 adopt patch, §1.3: the re-adopted pod makes one surplus pod go in the same pass, chosen by
    pod-deletion-cost (rule 4) among Ready pods; the restored pod itself stays."""
    pods = start_web(core, apps, namespace, wait_for)
    victim = pods[0]
    rs_name = controller_of(victim).name
    rs_uid = controller_of(victim).uid
    core.patch_namespaced_pod(victim.metadata.name, namespace, {"metadata": {"labels": {"app": "quarantine"}}})
    wait_for(released(core, namespace, victim.metadata.name))
    fresh = wait_for(ready_owned(core, namespace, 3))
    cheapest = fresh[1].metadata.name
    for p in fresh:
        cost = "-100" if p.metadata.name == cheapest else "50"
        core.patch_namespaced_pod(p.metadata.name, namespace, {"metadata": {"annotations": {COST: cost}}})
    core.patch_namespaced_pod(victim.metadata.name, namespace,
                              {"metadata": {"labels": {"app": "web"}, "annotations": {COST: "100"}}})

    adopted = wait_for(lambda: controller_of(p := core.read_namespaced_pod(victim.metadata.name, namespace))
                       and p)
    ref = controller_of(adopted)
    assert (ref.kind, ref.name, ref.uid, ref.block_owner_deletion) == ("ReplicaSet", rs_name, rs_uid, True)
    remaining = wait_for(lambda: (p := live_pods(core, namespace, "app=web")) and len(p) == 3 and p)
    names = {p.metadata.name for p in remaining}
    assert victim.metadata.name in names
    assert cheapest not in names
    deleted = wait_for(lambda: rs_events(core, namespace, rs_name, "SuccessfulDelete"))
    assert [e.message for e in deleted] == [f"Deleted pod: {cheapest}"]


def test_orphan_is_not_adopted_by_a_replicaset_being_deleted(core, apps, namespace, wait_for):
    """§1.1: no adoption while the owner has a deletionTimestamp (CanAdopt / RecheckDeletionTimestamp)."""
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "going", "finalizers": ["example.com/hold"]},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "going"}}, "template": template("going")}}
    apps.create_namespaced_replica_set(namespace, rs)
    wait_for(lambda: len(live_pods(core, namespace, "app=going")) == 1)
    apps.delete_namespaced_replica_set("going", namespace, propagation_policy="Orphan")
    wait_for(lambda: apps.read_namespaced_replica_set("going", namespace).metadata.deletion_timestamp)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "stray", "labels": {"app": "going"}},
                                           "spec": template("going")["spec"]})
    core.create_namespaced_service(namespace, service(name="marker", app="going"))
    wait_for(lambda: endpoint_ips(core, namespace, "marker") is not None)
    assert not core.read_namespaced_pod("stray", namespace).metadata.owner_references
    apps.patch_namespaced_replica_set("going", namespace, {"metadata": {"finalizers": None}})


def test_matching_orphan_is_adopted_and_surplus_deleted(core, apps, namespace, wait_for):
    """§1.3: a new orphan pod matching the selector is adopted and one pod is deleted in the same pass;
    among equal pods the unready, newest one (the orphan itself, still Pending) goes."""
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "solo"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "solo"}}, "template": template("solo")}}
    apps.create_namespaced_replica_set(namespace, rs)
    wait_for(lambda: (p := live_pods(core, namespace, "app=solo")) and len(p) == 2 and all(map(is_ready, p)))
    core.create_namespaced_pod(namespace, {"metadata": {"name": "extra", "labels": {"app": "solo"}},
                                           "spec": template("solo")["spec"]})
    wait_for(lambda: any(e.message == "Deleted pod: extra" for e in rs_events(core, namespace, "solo",
                                                                               "SuccessfulDelete")))
    assert len(live_pods(core, namespace, "app=solo")) == 2
