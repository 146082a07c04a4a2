# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""When a rollout is complete, in progress or failed, decided as `kubectl rollout status` decides it; and why a pod
is not ready. Pure: no requests.

kubectl's status viewers (k8s.io/kubectl pkg/polymorphichelpers/rollout_status.go), read from its source:
- Deployment: only once status.observedGeneration caught up with metadata.generation; then a Progressing
  condition with reason ProgressDeadlineExceeded is a failure; done when updatedReplicas reached spec.replicas,
  no old replica is left (status.replicas == updatedReplicas) and every updated replica is available.
- StatefulSet: only the RollingUpdate strategy has a status; observedGeneration caught up, readyReplicas reached
  spec.replicas; with a partition, done when replicas - partition pods are updated; without, when
  updateRevision == currentRevision.
- DaemonSet: only RollingUpdate; observedGeneration caught up, updatedNumberScheduled and numberAvailable reached
  desiredNumberScheduled.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.model.pods import is_pod_ready, metadata

KINDS = ("Deployment", "StatefulSet", "DaemonSet")
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
# Waiting reasons of a container that will not become ready by itself soon.
STUCK_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                 "CreateContainerError", "InvalidImageName", "RunContainerError")


class RolloutStatus(object):
    """``done`` (the rollout completed), ``message`` (kubectl's words), ``failure`` (a sentence when the rollout
    cannot complete: a progress deadline exceeded, an update strategy without a rollout status)."""

    def __init__(self, done, message, failure=None, reason=None):
        self.done = done
        self.message = message
        self.failure = failure
        self.reason = reason

    def as_dict(self):
        return {"done": self.done, "message": self.message, "failure": self.failure, "reason": self.reason}


def _int(value):
    return int(value or 0)


def _replicas(obj):
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _generation_observed(obj):
    return _int(metadata(obj).get("generation")) <= _int((obj.get("status") or {}).get("observedGeneration"))


def progressing_condition(obj):
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing":
            return condition
    return None


def _deployment_status(obj):
    name = metadata(obj).get("name")
    status = obj.get("status") or {}
    if not _generation_observed(obj):
        return RolloutStatus(False, "Waiting for deployment spec update to be observed")
    condition = progressing_condition(obj)
    if condition is not None and condition.get("reason") == TIMED_OUT_REASON:
        return RolloutStatus(False, "deployment %s exceeded its progress deadline" % name,
                             failure="deployment %s exceeded its progress deadline (%s: %s)" % (
                                 name, TIMED_OUT_REASON, condition.get("message")),
                             reason=TIMED_OUT_REASON)
    replicas, updated = _replicas(obj), _int(status.get("updatedReplicas"))
    if updated < replicas:
        return RolloutStatus(False, "Waiting for deployment %s rollout to finish: %d out of %d new replicas have "
                                    "been updated" % (name, updated, replicas))
    total = _int(status.get("replicas"))
    if total > updated:
        return RolloutStatus(False, "Waiting for deployment %s rollout to finish: %d old replicas are pending "
                                    "termination" % (name, total - updated))
    available = _int(status.get("availableReplicas"))
    if available < updated:
        return RolloutStatus(False, "Waiting for deployment %s rollout to finish: %d of %d updated replicas are "
                                    "available" % (name, available, updated))
    return RolloutStatus(True, "deployment %s successfully rolled out" % name)


def _strategy(obj):
    return (obj.get("spec") or {}).get("updateStrategy") or {}


def _on_delete(obj, kind_words):
    """The RolloutStatus of a StatefulSet or DaemonSet whose strategy is not RollingUpdate (kubectl's verdict, and
    why a restart will not roll), or None when it rolls."""
    strategy = _strategy(obj)
    if (strategy.get("type") or "RollingUpdate") == "RollingUpdate":
        return None
    return RolloutStatus(True, "rollout status is only available for RollingUpdate strategy type",
                         failure="%s %s has updateStrategy %s: its pods are replaced only when they are deleted, so "
                                 "no rollout follows a restart" % (kind_words, metadata(obj).get("name"),
                                                                   strategy.get("type")),
                         reason="OnDelete")


def _statefulset_status(obj):
    status = obj.get("status") or {}
    strategy = _strategy(obj)
    on_delete = _on_delete(obj, "statefulset")
    if on_delete is not None:
        return on_delete
    if not _int(status.get("observedGeneration")) or not _generation_observed(obj):
        return RolloutStatus(False, "Waiting for statefulset spec update to be observed")
    replicas, ready = _replicas(obj), _int(status.get("readyReplicas"))
    if ready < replicas:
        return RolloutStatus(False, "Waiting for %d pods to be ready" % (replicas - ready))
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        partition = rolling.get("partition")
        updated = _int(status.get("updatedReplicas"))
        if partition is not None and updated < replicas - int(partition):
            return RolloutStatus(False, "Waiting for partitioned roll out to finish: %d out of %d new pods have "
                                        "been updated" % (updated, replicas - int(partition)))
        return RolloutStatus(True, "partitioned roll out complete: %d new pods have been updated" % updated)
    if status.get("updateRevision") != status.get("currentRevision"):
        return RolloutStatus(False, "waiting for statefulset rolling update to complete %d pods at revision %s" % (
            _int(status.get("updatedReplicas")), status.get("updateRevision")))
    return RolloutStatus(True, "statefulset rolling update complete %d pods at revision %s" % (
        _int(status.get("currentReplicas")), status.get("currentRevision")))


def _daemonset_status(obj):
    name = metadata(obj).get("name")
    status = obj.get("status") or {}
    on_delete = _on_delete(obj, "daemon set")
    if on_delete is not None:
        return on_delete
    if not _generation_observed(obj):
        return RolloutStatus(False, "Waiting for daemon set spec update to be observed")
    desired = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    if updated < desired:
        return RolloutStatus(False, "Waiting for daemon set %s rollout to finish: %d out of %d new pods have been "
                                    "updated" % (name, updated, desired))
    available = _int(status.get("numberAvailable"))
    if available < desired:
        return RolloutStatus(False, "Waiting for daemon set %s rollout to finish: %d of %d updated pods are "
                                    "available" % (name, available, desired))
    return RolloutStatus(True, "daemon set %s successfully rolled out" % name)


def rollout_status(obj):
    """The RolloutStatus of a Deployment, StatefulSet or DaemonSet as the API serves it."""
    return {"Deployment": _deployment_status, "StatefulSet": _statefulset_status,
            "DaemonSet": _daemonset_status}[obj["kind"]](obj)


def rollout_in_progress(obj):
    """A sentence when pods of two templates are still being exchanged (a rollout someone else started), else
    None. Replicas that are all of the current template but not available (the crash a restart is meant to cure)
    are not a rollout in progress."""
    kind, name = obj["kind"], metadata(obj).get("name")
    status = obj.get("status") or {}
    if not _generation_observed(obj):
        return "the %s controller has not yet observed generation %s of %s %s" % (
            kind, metadata(obj).get("generation"), kind, name)
    if kind == "Deployment":
        replicas, updated = _replicas(obj), _int(status.get("updatedReplicas"))
        old = _int(status.get("replicas")) - updated
        if updated < replicas or old > 0:
            return "deployment %s is rolling out: %d of %d replicas updated, %d old replicas left" % (
                name, updated, replicas, max(old, 0))
        return None
    if kind == "StatefulSet":
        if status.get("updateRevision") and status.get("updateRevision") != status.get("currentRevision"):
            return "statefulset %s is rolling out: %d pods at revision %s, the rest at %s" % (
                name, _int(status.get("updatedReplicas")), status.get("updateRevision"),
                status.get("currentRevision"))
        return None
    desired, updated = _int(status.get("desiredNumberScheduled")), _int(status.get("updatedNumberScheduled"))
    if updated < desired:
        return "daemon set %s is rolling out: %d of %d pods updated" % (name, updated, desired)
    return None


def counts(obj):
    """The status figures a user reads off `kubectl get`, for the result."""
    status = obj.get("status") or {}
    if obj["kind"] == "DaemonSet":
        return {"desired": _int(status.get("desiredNumberScheduled")),
                "updated": _int(status.get("updatedNumberScheduled")),
                "ready": _int(status.get("numberReady")), "available": _int(status.get("numberAvailable")),
                "observed_generation": _int(status.get("observedGeneration")),
                "generation": _int(metadata(obj).get("generation"))}
    result = {"desired": _replicas(obj), "replicas": _int(status.get("replicas")),
              "updated": _int(status.get("updatedReplicas")), "ready": _int(status.get("readyReplicas")),
              "available": _int(status.get("availableReplicas")),
              "observed_generation": _int(status.get("observedGeneration")),
              "generation": _int(metadata(obj).get("generation"))}
    if obj["kind"] == "StatefulSet":
        result.update(current_revision=status.get("currentRevision"), update_revision=status.get("updateRevision"))
    return result


def pod_problems(pod):
    """Why a pod is not ready: one dict per container that is not ready (name, state, reason, message, exit code,
    restarts, whether its previous instance crashed), or the pod's own condition when no container says more."""
    status = pod.get("status") or {}
    problems = []
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if container.get("ready"):
            continue
        state = container.get("state") or {}
        last = (container.get("lastState") or {}).get("terminated") or {}
        problem = {"container": container.get("name"), "restart_count": _int(container.get("restartCount"))}
        if "waiting" in state:
            problem.update(state="waiting", reason=state["waiting"].get("reason"),
                           message=state["waiting"].get("message"))
        elif "terminated" in state:
            problem.update(state="terminated", reason=state["terminated"].get("reason"),
                           message=state["terminated"].get("message"), exit_code=state["terminated"].get("exitCode"))
        else:
            problem.update(state="running", reason="NotReady", message="running but its readiness probe fails")
        if last:
            problem["last_exit_code"] = last.get("exitCode")
            problem["last_reason"] = last.get("reason")
        problem["crashed"] = bool(last) or problem.get("state") == "terminated"
        problems.append(problem)
    if not problems:
        for condition in status.get("conditions") or []:
            if condition.get("status") != "True" and condition.get("type") in ("PodScheduled", "Ready"):
                problems.append({"container": None, "state": status.get("phase"), "reason": condition.get("reason"),
                                 "message": condition.get("message"), "crashed": False, "restart_count": 0})
                break
        else:
            if not is_pod_ready(pod):
                problems.append({"container": None, "state": status.get("phase"), "reason": status.get("reason"),
                                 "message": status.get("message"), "crashed": False, "restart_count": 0})
    return problems


def describe_problem(problem):
    """'container app: CrashLoopBackOff (exit code 1)' for messages."""
    words = problem.get("reason") or problem.get("state") or "not ready"
    code = problem.get("exit_code", problem.get("last_exit_code"))
    if code is not None:
        words += " (exit code %s)" % code
    if problem.get("container"):
        return "container %s: %s" % (problem["container"], words)
    return words
