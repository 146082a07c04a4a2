"""Disruption controller (PodDisruptionBudget status) and the eviction subresource honouring it."""
from __future__ import annotations

import json

import pytest
from kubernetes import client

from test_kubelet_support import is_ready


def deployment(replicas):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "kubesim/web:v1"}]}}}}


def pdb(name="web-pdb", **spec):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def ready_pods(core, ns, count):
    def check():
        pods = [p for p in core.list_namespaced_pod(ns, label_selector="app=web").items
                if p.metadata.deletion_timestamp is None]
        return pods if len(pods) == count and all(map(is_ready, pods)) else None
    return check


def pdb_status(policy, ns, name="web-pdb", **want):
    def check():
        s = policy.read_namespaced_pod_disruption_budget(name, ns).status
        have = {k: getattr(s, k) for k in want}
        return s if have == want and s.observed_generation else None
    return check


@pytest.mark.parametrize("spec,expected,desired,allowed", [
    ({"minAvailable": 2}, 3, 2, 1),
    ({"minAvailable": "50%"}, 4, 2, 2),
    ({"maxUnavailable": 1}, 4, 3, 1),
    ({"maxUnavailable": "30%"}, 4, 2, 2),  # 30% of 4 rounds up to 2 unavailable
])
def test_pdb_status_from_min_available_and_max_unavailable(core, apps, policy, namespace, wait_for, spec,
                                                            expected, desired, allowed):
    """expectedPods / desiredHealthy / disruptionsAllowed: an int minAvailable counts the selected pods;
    percentages and maxUnavailable use the scale of the pods' controller (the Deployment); percentages round
    up."""
    replicas = expected
    apps.create_namespaced_deployment(namespace, deployment(replicas))
    wait_for(ready_pods(core, namespace, replicas))
    policy.create_namespaced_pod_disruption_budget(namespace, pdb(**spec))
    s = wait_for(pdb_status(policy, namespace, expected_pods=expected, desired_healthy=desired,
                            current_healthy=replicas, disruptions_allowed=allowed))
    cond = next(c for c in s.conditions if c.type == "DisruptionAllowed")
    assert (cond.status, cond.reason) == ("True", "SufficientPods")


def test_pdb_blocks_eviction_when_no_disruption_is_allowed(core, apps, policy, namespace, wait_for, kubesim):
    """Eviction: allowed while disruptionsAllowed > 0 (the budget is charged), then 429 TooManyRequests
    with the DisruptionBudget cause; the status says InsufficientPods."""
    apps.create_namespaced_deployment(namespace, deployment(2))
    pods = wait_for(ready_pods(core, namespace, 2))
    policy.create_namespaced_pod_disruption_budget(namespace, pdb(minAvailable=1))
    wait_for(pdb_status(policy, namespace, disruptions_allowed=1))
    core.create_namespaced_pod_eviction(pods[0].metadata.name, namespace,
                                        {"metadata": {"name": pods[0].metadata.name}})
    try:  # the eviction deleted it: terminating, or already gone
        assert core.read_namespaced_pod(pods[0].metadata.name, namespace).metadata.deletion_timestamp
    except client.ApiException as err:
        assert err.status == 404
    wait_for(pdb_status(policy, namespace, disruptions_allowed=0))
    # The evicted pod is terminating and its replacement is not ready yet: no more disruptions allowed.
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_pod_eviction(pods[1].metadata.name, namespace,
                                            {"metadata": {"name": pods[1].metadata.name}})
    assert info.value.status == 429
    body = json.loads(info.value.body)
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert "needs 1 healthy pods and has" in body["details"]["causes"][0]["message"]
    assert core.read_namespaced_pod(pods[1].metadata.name, namespace).metadata.deletion_timestamp is None


def test_pdb_with_no_healthy_pods_reports_insufficient(policy, namespace, wait_for):
    policy.create_namespaced_pod_disruption_budget(namespace, pdb(minAvailable=1))
    s = wait_for(pdb_status(policy, namespace, expected_pods=0, desired_healthy=1, current_healthy=0,
                            disruptions_allowed=0))
    cond = next(c for c in s.conditions if c.type == "DisruptionAllowed")
    assert (cond.status, cond.reason) == ("False", "InsufficientPods")


def test_percentage_budget_over_pods_without_a_scalable_controller_fails_sync(core, policy, namespace,
                                                                              wait_for):
    """getExpectedScale: with maxUnavailable, every selected pod's controller must have a scale; a Job has
    none, so the budget reports SyncFailed and allows no disruption."""
    client.BatchV1Api(core.api_client).create_namespaced_job(namespace, {
        "metadata": {"name": "batch"}, "spec": {"template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "kubesim/web:v1"}]}}}})
    wait_for(ready_pods(core, namespace, 1))
    policy.create_namespaced_pod_disruption_budget(namespace, pdb(maxUnavailable=1))

    def failed():
        s = policy.read_namespaced_pod_disruption_budget("web-pdb", namespace).status
        cond = next((c for c in s.conditions or [] if c.type == "DisruptionAllowed"), None)
        return s if cond is not None and cond.reason == "SyncFailed" else None
    s = wait_for(failed)
    assert s.disruptions_allowed == 0
    assert next(c for c in s.conditions if c.type == "DisruptionAllowed").status == "False"
