"""The NoExecute taint manager (pkg/controller/tainteviction/taint_eviction.go): a pod that does not tolerate a
node's NoExecute taint is deleted at once; one that tolerates it for tolerationSeconds is deleted after that long;
removing the taint cancels the scheduled deletion. Isolation does not protect a pod from it."""
from __future__ import annotations

import time

import pytest
from kubernetes import client

NODE = "kubesim-node-3"
TAINT = {"key": "example.com/maintenance", "value": "true", "effect": "NoExecute"}


@pytest.fixture
def tainted(core):
    yield lambda: core.patch_node(NODE, {"spec": {"taints": [TAINT]}})
    core.patch_node(NODE, {"spec": {"taints": None}})


def _pod(name, tolerations=None, labels=None):
    return {"metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"nodeName": NODE, "tolerations": tolerations or [],
                     "containers": [{"name": "a", "image": "nginx"}]}}


def _exists(core, ns, name):
    try:
        core.read_namespaced_pod(name, ns)
        return True
    except client.ApiException as e:
        assert e.status == 404
        return False


def test_untolerated_taint_evicts_at_once(core, namespace, tainted, wait_for):
    core.create_namespaced_pod(namespace, _pod("victim", labels={"triage.k8s/isolated": "true"}))
    wait_for(lambda: core.read_namespaced_pod("victim", namespace).status.phase == "Running")
    tainted()
    wait_for(lambda: not _exists(core, namespace, "victim"), timeout=10)
    events = [e for e in core.list_namespaced_event(namespace).items if e.reason == "TaintManagerEviction"]
    assert [e.message for e in events] == [f"Marking for deletion Pod {namespace}/victim"]
    assert events[0].involved_object.name == "victim"


def test_deletion_waits_for_toleration_seconds_and_marks_the_pod(core, namespace, tainted, wait_for):
    tolerate = [dict(TAINT, operator="Equal", tolerationSeconds=2)]
    core.create_namespaced_pod(namespace, _pod("patient", tolerate))
    core.create_namespaced_pod(namespace, _pod("forever", [{"key": TAINT["key"], "operator": "Exists"}]))
    tainted()
    start = time.monotonic()
    time.sleep(1)
    assert _exists(core, namespace, "patient")
    pod = wait_for(lambda: (p := core.read_namespaced_pod("patient", namespace)).metadata.deletion_timestamp and p,
                   timeout=10)
    assert time.monotonic() - start >= 1.8
    condition = next(c for c in pod.status.conditions if c.type == "DisruptionTarget")
    assert condition.reason == "DeletionByTaintManager" and condition.status == "True"
    wait_for(lambda: not _exists(core, namespace, "patient"), timeout=10)
    assert _exists(core, namespace, "forever")  # no tolerationSeconds: tolerated forever


def test_removing_the_taint_cancels_the_deletion(core, namespace, tainted, wait_for):
    core.create_namespaced_pod(namespace, _pod("saved", [dict(TAINT, operator="Equal", tolerationSeconds=2)]))
    tainted()
    time.sleep(0.5)
    core.patch_node(NODE, {"spec": {"taints": None}})
    event = wait_for(lambda: next((e for e in core.list_namespaced_event(namespace).items
                                   if e.message == f"Cancelling deletion of Pod {namespace}/saved"), None))
    assert event.reason == "TaintManagerEviction"
    time.sleep(2.5)
    assert core.read_namespaced_pod("saved", namespace).metadata.deletion_timestamp is None
