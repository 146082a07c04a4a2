"""DaemonSet controller through the real client (spec §3): one pod per Node pinned by node affinity, a
released pod replaced on the same node, and on re-adoption the oldest pod of the node kept."""
from __future__ import annotations

import datetime
import time

from test_kubelet_support import is_ready

NODES = ["kubesim-node-1", "kubesim-node-2", "kubesim-node-3"]


def daemonset(name="agent"):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "agent", "image": "kubesim/web:v1"}]}}}}


def pinned_node(pod):
    terms = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
    [term] = terms
    [field] = term.match_fields
    assert (field.key, field.operator) == ("metadata.name", "In")
    return field.values[0]


def daemon_pods(core, ns):
    return [p for p in core.list_namespaced_pod(ns).items if p.metadata.deletion_timestamp is None
            and any(o.kind == "DaemonSet" for o in p.metadata.owner_references or [])]


def one_ready_per_node(core, ns):
    def check():
        pods = daemon_pods(core, ns)
        nodes = sorted(p.spec.node_name or "" for p in pods)
        return pods if nodes == NODES and all(map(is_ready, pods)) else None
    return check


def test_one_pod_per_node_pinned_by_node_affinity(core, apps, namespace, wait_for):
    """§3: a pod per Node, generateName `<ds>-`, pinned with matchFields metadata.name; status counts."""
    apps.create_namespaced_daemon_set(namespace, daemonset())
    pods = wait_for(one_ready_per_node(core, namespace), timeout=15)
    for pod in pods:
        assert pod.metadata.generate_name == "agent-"
        assert pinned_node(pod) == pod.spec.node_name
        assert "controller-revision-hash" in pod.metadata.labels
    ds = wait_for(lambda: (d := apps.read_namespaced_daemon_set("agent", namespace)).status.number_ready == 3
                  and d)
    s = ds.status
    assert (s.desired_number_scheduled, s.current_number_scheduled, s.number_misscheduled,
            s.number_available, s.updated_number_scheduled) == (3, 3, 0, 3, 3)


def test_released_pod_is_replaced_on_the_same_node_and_oldest_kept_on_readoption(core, apps, namespace,
                                                                                   wait_for):
    """§3: relabelling releases the pod and a new one is created for that node; relabelling back gives two
    pods on the node and the scheduled, oldest one (the original) is kept."""
    apps.create_namespaced_daemon_set(namespace, daemonset())
    pods = wait_for(one_ready_per_node(core, namespace), timeout=15)
    victim = pods[0]
    node = victim.spec.node_name
    # creationTimestamp has one-second precision and equal times fall back to name order: let a second pass
    # so the replacement is strictly newer, as it would be on any real cluster.
    age = datetime.datetime.now(datetime.timezone.utc) - victim.metadata.creation_timestamp
    time.sleep(max(0.0, 1.1 - age.total_seconds()))
    core.patch_namespaced_pod(victim.metadata.name, namespace, {"metadata": {"labels": {"app": "quarantine"}}})
    wait_for(lambda: not core.read_namespaced_pod(victim.metadata.name, namespace).metadata.owner_references)
    fresh = wait_for(one_ready_per_node(core, namespace), timeout=15)
    replacement = next(p for p in fresh if p.spec.node_name == node)
    assert replacement.metadata.name != victim.metadata.name
    assert pinned_node(replacement) == node
    released = core.read_namespaced_pod(victim.metadata.name, namespace)
    assert not released.metadata.owner_references and released.metadata.deletion_timestamp is None

    core.patch_namespaced_pod(victim.metadata.name, namespace, {"metadata": {"labels": {"app": "agent"}}})
    final = wait_for(lambda: (p := one_ready_per_node(core, namespace)()) and
                     victim.metadata.name in {q.metadata.name for q in p} and p, timeout=15)
    assert replacement.metadata.name not in {p.metadata.name for p in final}


def test_new_node_gets_a_daemon_pod_and_a_removed_node_loses_it(core, apps, namespace, wait_for):
    apps.create_namespaced_daemon_set(namespace, daemonset())
    wait_for(one_ready_per_node(core, namespace), timeout=15)
    node = f"extra-{namespace}"
    core.create_node({"metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}}})
    try:
        pod = wait_for(lambda: next((p for p in daemon_pods(core, namespace) if pinned_node(p) == node), None))
        ds = wait_for(lambda: (d := apps.read_namespaced_daemon_set("agent", namespace)).status
                      .desired_number_scheduled == 4 and d)
        assert ds.status.current_number_scheduled == 4
    finally:
        core.delete_node(node)
    wait_for(lambda: pod.metadata.name not in {p.metadata.name for p in daemon_pods(core, namespace)})


def test_tainted_node_runs_no_daemon_pod_unless_tolerated(core, apps, namespace, wait_for):
    """nodeShouldRunDaemonPod: a NoSchedule taint the template does not tolerate keeps the node out."""
    node = f"tainted-{namespace}"
    core.create_node({"metadata": {"name": node},
                      "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}})
    try:
        apps.create_namespaced_daemon_set(namespace, daemonset())
        tolerant = daemonset("tolerant")
        tolerant["spec"]["template"]["spec"]["tolerations"] = [
            {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
        apps.create_namespaced_daemon_set(namespace, tolerant)
        wait_for(lambda: apps.read_namespaced_daemon_set("agent", namespace).status.desired_number_scheduled == 3)
        wait_for(lambda: apps.read_namespaced_daemon_set("tolerant", namespace).status.desired_number_scheduled
                 == 4)
        pods = [p for p in core.list_namespaced_pod(namespace).items if pinned_node(p) == node]
        assert [p.metadata.labels["app"] for p in pods] == ["tolerant"]
    finally:
        core.delete_node(node)


def test_template_change_rolls_pods_one_node_at_a_time(core, apps, namespace, wait_for):
    """updateStrategy RollingUpdate (maxUnavailable 1): old-revision pods are replaced node by node, never
    more than one node without a ready daemon pod."""
    apps.create_namespaced_daemon_set(namespace, daemonset())
    wait_for(one_ready_per_node(core, namespace), timeout=15)
    apps.patch_namespaced_daemon_set("agent", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "agent", "image": "kubesim/web:v2"}]}}}})
    worst = 3

    def progress():
        nonlocal worst
        pods = daemon_pods(core, namespace)
        worst = min(worst, len({p.spec.node_name for p in pods if is_ready(p)}))
        return len(pods) == 3 and all(is_ready(p) and p.spec.containers[0].image == "kubesim/web:v2" for p in pods)
    wait_for(progress, timeout=20)
    assert worst >= 2
    ds = wait_for(lambda: (d := apps.read_namespaced_daemon_set("agent", namespace)).status
                  .updated_number_scheduled == 3 and d)
    assert ds.status.number_available == 3
