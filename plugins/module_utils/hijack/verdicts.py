# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Waiting for what pod_hijack asked the kubelet to do, by watching the pod (never polling).

Each ``*_verdict`` function is pure: it looks at one Pod (a dict as the API serves it) and says
``("done", detail)``, ``("failed", detail)`` or ``("pending", detail)``. ``watch_pod`` (kube/watch.py) feeds it
every version of the pod from a watch until the verdict is not pending or the time is up. The ephemeral
container's verdict is shared with the evidence modules (model/ephemeral.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube.watch import watch_pod
from ansible_collections.triage.k8s.plugins.module_utils.model.ephemeral import ephemeral_verdict
from ansible_collections.triage.k8s.plugins.module_utils.model.images import images_equivalent, status_runs_image
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    DONE,
    FAILED,
    FAILURE_REASONS,
    PENDING,
    TIMEOUT,
    container_status,
    describe_container,
)

# The shared pieces pod_hijack's flow reaches through this module (kube/watch.py, model/ephemeral.py, model/pods.py).
__all__ = ["DONE", "FAILED", "PENDING", "TIMEOUT", "copy_verdict", "ephemeral_verdict", "image_verdict", "watch_pod"]


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
