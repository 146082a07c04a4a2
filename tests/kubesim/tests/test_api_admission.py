"""The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount/admission.go): a pod runs as a
ServiceAccount that exists in its namespace, `default` when it names none; a missing one is the 403
"error looking up service account NS/NAME". The ServiceAccount controller puts `default` in every namespace."""
from __future__ import annotations

import json

import pytest
from kubernetes import client

POD = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "nginx"}]}}


def test_pod_naming_a_missing_service_account_is_refused(core, namespace):
    body = json.loads(json.dumps(POD))
    body["spec"]["serviceAccountName"] = "ghost"
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_pod(namespace, body)
    status = json.loads(e.value.body)
    assert e.value.status == 403 and status["reason"] == "Forbidden"
    assert status["message"] == (f'pods "p" is forbidden: error looking up service account {namespace}/ghost: '
                                 'serviceaccount "ghost" not found')
    assert core.list_namespaced_pod(namespace).items == []
    # A dry run goes through admission too.
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_pod(namespace, body, dry_run="All")
    assert e.value.status == 403


def test_pod_without_service_account_runs_as_default(core, namespace):
    pod = core.create_namespaced_pod(namespace, POD)
    assert pod.spec.service_account_name == "default" and pod.spec.service_account == "default"


def test_every_namespace_has_a_default_service_account(core, namespace):
    names = {(sa.metadata.namespace, sa.metadata.name) for sa in core.list_service_account_for_all_namespaces().items}
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease", namespace):
        assert (ns, "default") in names


def test_workload_pods_fail_to_create_without_their_service_account(apps, core, namespace, wait_for):
    """A Deployment whose template names a missing ServiceAccount: the ReplicaSet's creates are refused and it
    records FailedCreate with the admission message, as on a real cluster."""
    tmpl = {"metadata": {"labels": {"app": "w"}}, "spec": {"serviceAccountName": "ghost",
                                                           "containers": [{"name": "a", "image": "nginx"}]}}
    apps.create_namespaced_replica_set(namespace, {"metadata": {"name": "w"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "w"}}, "template": tmpl}})
    event = wait_for(lambda: next((e for e in core.list_namespaced_event(namespace).items
                                   if e.reason == "FailedCreate"), None))
    assert "error looking up service account" in event.message
    assert core.list_namespaced_pod(namespace).items == []
