# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout verdicts of kubectl rollout status, the in-progress guard, why a pod is not ready, and the planner."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import jsonpatch
import pytest

from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.rollout import plan
from ansible_collections.triage.k8s.plugins.module_utils.rollout.status import (
    pod_problems,
    rollout_in_progress,
    rollout_status,
)


def deployment(generation=2, observed=2, replicas=3, status=None, conditions=None, **spec):
    body = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": generation,
                         "resourceVersion": "7"},
            "spec": dict({"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                          "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}, **spec),
            "status": dict({"observedGeneration": observed, "replicas": replicas, "updatedReplicas": replicas,
                            "readyReplicas": replicas, "availableReplicas": replicas}, **(status or {}))}
    if conditions:
        body["status"]["conditions"] = conditions
    return body


def statefulset(partition=None, strategy="RollingUpdate", **status):
    update = {"type": strategy}
    if partition is not None:
        update["rollingUpdate"] = {"partition": partition}
    return {"kind": "StatefulSet", "metadata": {"name": "db", "generation": 4},
            "spec": {"replicas": 3, "updateStrategy": update},
            "status": dict({"observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
                            "currentReplicas": 3, "currentRevision": "db-1", "updateRevision": "db-1"}, **status)}


def daemonset(strategy="RollingUpdate", **status):
    return {"kind": "DaemonSet", "metadata": {"name": "agent", "generation": 5},
            "spec": {"updateStrategy": {"type": strategy}},
            "status": dict({"observedGeneration": 5, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                            "numberReady": 3, "numberAvailable": 3}, **status)}


@pytest.mark.parametrize("obj, done, words", [
    (deployment(), True, "successfully rolled out"),
    (deployment(generation=3), False, "spec update to be observed"),
    (deployment(status={"updatedReplicas": 1}), False, "1 out of 3 new replicas have been updated"),
    (deployment(status={"replicas": 4}), False, "1 old replicas are pending termination"),
    (deployment(status={"availableReplicas": 2}), False, "2 of 3 updated replicas are available"),
])
def test_deployment_verdicts_follow_kubectl(obj, done, words):
    status = rollout_status(obj)
    assert status.done is done and words in status.message and status.failure is None


def test_progress_deadline_exceeded_is_a_failure_with_the_controllers_message():
    obj = deployment(status={"availableReplicas": 0}, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-abc" has timed out progressing.'}])
    status = rollout_status(obj)
    assert not status.done and status.reason == "ProgressDeadlineExceeded"
    assert 'ReplicaSet "web-abc" has timed out progressing.' in status.failure
    # Not before the controller observed the generation the restart wrote: the old condition is stale then.
    assert rollout_status(dict(obj, metadata=dict(obj["metadata"], generation=3))).failure is None


@pytest.mark.parametrize("obj, done, words", [
    (statefulset(), True, "rolling update complete 3 pods at revision db-1"),
    (statefulset(observedGeneration=3), False, "spec update to be observed"),
    (statefulset(readyReplicas=2), False, "Waiting for 1 pods to be ready"),
    (statefulset(updateRevision="db-2", updatedReplicas=1), False, "rolling update to complete 1 pods at revision db-2"),
    (statefulset(partition=2, updateRevision="db-2", updatedReplicas=0), False, "0 out of 1 new pods"),
    (statefulset(partition=2, updateRevision="db-2", updatedReplicas=1), True, "partitioned roll out complete"),
    (daemonset(), True, "successfully rolled out"),
    (daemonset(observedGeneration=4), False, "spec update to be observed"),
    (daemonset(updatedNumberScheduled=2), False, "2 out of 3 new pods have been updated"),
    (daemonset(numberAvailable=1), False, "1 of 3 updated pods are available"),
])
def test_statefulset_and_daemonset_verdicts_follow_kubectl(obj, done, words):
    status = rollout_status(obj)
    assert status.done is done and words in status.message and status.failure is None


@pytest.mark.parametrize("obj", [statefulset(strategy="OnDelete"), daemonset(strategy="OnDelete")])
def test_on_delete_has_no_rollout(obj):
    assert "replaced only when they are deleted" in rollout_status(obj).failure


def test_in_progress_means_two_templates_not_crashing_replicas():
    # Every replica is of the current template but none is available: the seed-002 crash, which a restart cures.
    assert rollout_in_progress(deployment(status={"availableReplicas": 0, "readyReplicas": 0})) is None
    assert "1 of 3 replicas updated, 2 old replicas left" in rollout_in_progress(
        deployment(status={"updatedReplicas": 1}))
    assert "has not yet observed generation 3" in rollout_in_progress(deployment(generation=3))
    assert "at revision db-2" in rollout_in_progress(statefulset(updateRevision="db-2", updatedReplicas=1))
    assert rollout_in_progress(statefulset(readyReplicas=0)) is None
    assert "2 of 3 pods updated" in rollout_in_progress(daemonset(updatedNumberScheduled=2))


def test_a_crash_loop_names_the_container_its_exit_code_and_that_it_crashed():
    pod = {"status": {"phase": "Running", "containerStatuses": [
        {"name": "app", "ready": False, "restartCount": 4,
         "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
         "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}},
        {"name": "sidecar", "ready": True, "state": {"running": {}}}]}}
    (problem,) = pod_problems(pod)
    assert problem["container"] == "app" and problem["reason"] == "CrashLoopBackOff"
    assert problem["last_exit_code"] == 1 and problem["crashed"] and problem["restart_count"] == 4


def test_an_unscheduled_pod_says_why():
    pod = {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}}
    (problem,) = pod_problems(pod)
    assert problem["reason"] == "Unschedulable" and not problem["crashed"]


def moment(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def started(name, when):
    return {"metadata": {"name": name}, "status": {"startTime": when}}


def test_restart_after_restarts_only_when_a_pod_started_before_it():
    obj = deployment()
    pods = [started("web-a", "2026-12-02T03:00:00Z"), started("web-b", "2026-12-02T03:10:00Z"),
            {"metadata": {"name": "web-pending"}, "status": {}}]
    restart, reason, before = plan.restart_decision(obj, pods, moment("2026-12-02T03:05:00Z"))
    assert restart and before == ["web-a"] and "web-a" in reason
    restart, reason, before = plan.restart_decision(obj, pods, moment("2026-12-02T02:00:00Z"))
    assert not restart and before == [] and "started at or after" in reason
    assert plan.restart_decision(obj, pods, None)[0] is True  # kubectl's behaviour: every run restarts


def test_restart_after_an_earlier_restart_at_or_after_it_is_not_repeated():
    obj = deployment()
    obj["spec"]["template"]["metadata"]["annotations"] = {plan.RESTARTED_AT: "2026-12-02T03:06:00Z"}
    pods = [started("web-a", "2026-12-02T03:00:00Z")]  # its rollout is still replacing this pod
    restart, reason, before = plan.restart_decision(obj, pods, moment("2026-12-02T03:05:00Z"))
    assert not restart and before == ["web-a"] and "already restarted at 2026-12-02T03:06:00Z" in reason
    assert plan.restart_decision(obj, pods, moment("2026-12-02T03:07:00Z"))[0] is True


@pytest.mark.parametrize("template", [
    {"spec": {}},
    {"metadata": {"labels": {"app": "web"}}, "spec": {}},
    {"metadata": {"labels": {"app": "web"}, "annotations": {"keep": "me"}}, "spec": {}},
    {"metadata": {"annotations": {plan.RESTARTED_AT: "2020-01-01T00:00:00Z"}}, "spec": {}},
])
def test_the_restart_ops_set_only_the_annotation_whatever_the_template_holds(template):
    obj = {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": template}}
    after = jsonpatch.apply_patch(obj, plan.restart_ops(obj, "2026-12-02T03:00:00Z"))
    annotations = after["spec"]["template"]["metadata"]["annotations"]
    assert annotations[plan.RESTARTED_AT] == "2026-12-02T03:00:00Z"
    before = dict((template.get("metadata") or {}).get("annotations") or {})
    before.pop(plan.RESTARTED_AT, None)
    assert dict((k, v) for k, v in annotations.items() if k != plan.RESTARTED_AT) == before
    assert after["spec"]["template"].get("spec") == {}


def test_isolated_pods_are_found_by_the_record_of_their_owner():
    obj = deployment()
    mine = {"metadata": {"name": "web-x", "labels": {record.ISOLATED_LABEL: "true"}, "annotations": {
        record.OWNER: '{"controller": {"kind": "ReplicaSet", "name": "web-1", "uid": "rs-uid"}, '
                      '"top": {"kind": "Deployment", "name": "web", "uid": "d-uid"}}'}}}
    other = {"metadata": {"name": "api-x", "labels": {record.ISOLATED_LABEL: "true"}, "annotations": {
        record.OWNER: '{"top": {"kind": "Deployment", "name": "api", "uid": "other"}}'}}}
    assert plan.isolated_for([mine, other], obj) == ["web-x"]


def test_reload_defaults_to_the_signal_to_pid_1():
    assert plan.reload_argv("HUP", None) == ["kill", "-s", "HUP", "1"]
    assert plan.reload_argv("HUP", ["killall", "-HUP", "nginx"]) == ["killall", "-HUP", "nginx"]
