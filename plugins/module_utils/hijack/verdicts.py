# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Waiting for what pod_hijack asked the kubelet to do, by watching the pod (never polling).

Each ``*_verdict`` function is pure: it looks at one Pod (a dict as the API serves it) and says
``("done", detail)``, ``("failed", detail)`` or ``("pending", detail)``. ``watch_pod`` feeds it every
version of the pod from a watch until the verdict is not pending or the time is up.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.triage.k8s.plugins.module_utils.hijack.plan import FAILURE_REASONS
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import WaitTimeout
from ansible_collections.triage.k8s.plugins.module_utils.kube.watch import watch_until
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import Deadline
from ansible_collections.triage.k8s.plugins.module_utils.model.images import images_equivalent, status_runs_image
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import container_status

DONE = "done"
FAILED = "failed"
PENDING = "pending"
TIMEOUT = "timeout"


def describe_container(status):
    """The facts a person wants about a container status, flattened."""
    if not status:
        return {"state": "unknown", "reason": None, "message": None}
    state = status.get("state") or {}
    name = next(iter(state), "unknown") if state else "unknown"
    detail = state.get(name) or {}
    return {
        "state": name,
        "reason": detail.get("reason"),
        "message": detail.get("message"),
        "image": status.get("image"),
        "image_id": status.get("imageID"),
        "restart_count": status.get("restartCount"),
        "ready": bool(status.get("ready")),
        "container_id": status.get("containerID"),
    }


def _status_reflects_spec(pod, status, image, generation):
    """Has the kubelet reported on the new spec yet? status.observedGeneration says so directly (GA in 1.35);
    without it, a status that names the new image is about the new container."""
    observed = (pod.get("status") or {}).get("observedGeneration")
    if generation is not None and observed is not None:
        return observed >= generation
    return images_equivalent(image, status.get("image"))


def image_verdict(pod, container, image, restart_count_before, generation=None):
    """Has ``container`` restarted with ``image`` and become Ready?

    Failure (ErrImagePull, ImagePullBackOff, CrashLoopBackOff, ...) only counts once the status is about
    the new spec: a pod that was crash-looping before the swap must not be blamed on the new image.
    """
    status = container_status(pod, container)
    detail = describe_container(status)
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        detail["reason"] = detail.get("reason") or "Terminating"
        detail["message"] = "the pod is being deleted"
        return FAILED, detail
    if status is None:
        return PENDING, detail
    fresh = _status_reflects_spec(pod, status, image, generation)
    if fresh and detail["state"] == "waiting" and detail["reason"] in FAILURE_REASONS:
        return FAILED, detail
    restarted = restart_count_before is None or (status.get("restartCount") or 0) > restart_count_before
    running_new = status_runs_image(status, image)
    if running_new and restarted and detail["state"] == "running" and status.get("ready"):
        return DONE, detail
    return PENDING, detail


def ephemeral_verdict(pod, name):
    """Is the ephemeral container running (or already finished its command)?"""
    status = container_status(pod, name, ephemeral=True)
    detail = describe_container(status)
    if status is None:
        return PENDING, detail
    if detail["state"] in ("running", "terminated"):
        return DONE, detail
    if detail["state"] == "waiting" and detail["reason"] in FAILURE_REASONS:
        return FAILED, detail
    return PENDING, detail


def copy_verdict(pod, container):
    """Is the copy up: Running with the hijacked container ready, or Succeeded (a one-shot command)?"""
    phase = (pod.get("status") or {}).get("phase")
    status = container_status(pod, container)
    detail = describe_container(status)
    detail["phase"] = phase
    if phase == "Succeeded":
        return DONE, detail
    if phase == "Failed":
        return FAILED, detail
    for other in (pod.get("status") or {}).get("containerStatuses") or []:
        other_detail = describe_container(other)
        if other_detail["state"] == "waiting" and other_detail["reason"] in FAILURE_REASONS:
            other_detail["phase"] = phase
            other_detail["container"] = other.get("name")
            return FAILED, other_detail
    if phase == "Running" and status and status.get("ready"):
        return DONE, detail
    return PENDING, detail


def watch_pod(api_client, namespace, name, pod, verdict, timeout, clock=time.monotonic):
    """Watch one pod until ``verdict(pod)`` is not pending, or ``timeout`` seconds pass.

    ``pod`` is the latest version already in hand (from the write's response), so the watch starts from its
    resourceVersion and misses nothing (kube/watch.py resumes dropped watches and lists again on 410 Gone).
    Returns ``(outcome, detail, last_pod, seconds)``; a deleted pod fails with reason Deleted.
    """
    started = clock()
    deadline = Deadline(timeout, clock)
    state = {"pod": pod, "detail": verdict(pod)[1]}

    def settled(objects):
        current = objects.get(name)
        if current is None:
            detail = dict(state["detail"], reason="Deleted", message="pod %s/%s was deleted" % (namespace, name))
            return FAILED, detail
        state["pod"] = current
        outcome, detail = verdict(current)
        state["detail"] = detail
        return (outcome, detail) if outcome != PENDING else None

    try:
        outcome, detail = watch_until(api_client, "api/v1", "pods", namespace, settled, deadline,
                                      lambda objects: "pod %s/%s" % (namespace, name),
                                      field_selector="metadata.name=%s" % name,
                                      start=({name: pod}, pod["metadata"]["resourceVersion"]))
    except WaitTimeout:
        return TIMEOUT, state["detail"], state["pod"], clock() - started
    return outcome, detail, state["pod"], clock() - started
