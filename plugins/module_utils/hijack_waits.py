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

from ansible_collections.triage.k8s.plugins.module_utils.hijack_plan import (
    FAILURE_REASONS,
    container_status,
    images_equivalent,
)

from ansible_collections.triage.k8s.plugins.module_utils.cluster_view import pod_path, read_pod
from ansible_collections.triage.k8s.plugins.module_utils.kube_requests import watch_json

DONE = "done"
FAILED = "failed"
PENDING = "pending"
TIMEOUT = "timeout"


class WatchError(Exception):
    """The watch itself failed (not the pod); the message says how."""


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
    """Has the kubelet reported on the new spec yet? observedGeneration says so directly (§5.1, GA in 1.35);
    without it, a status that names the new image is about the new container."""
    observed = (pod.get("status") or {}).get("observedGeneration")
    if generation is not None and observed is not None:
        return observed >= generation
    return images_equivalent(image, status.get("image"))


def image_verdict(pod, container, image, restart_count_before, generation=None):
    """Has ``container`` restarted with ``image`` and become Ready (§5.2)?

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
    running_new = images_equivalent(image, status.get("image")) or images_equivalent(image, status.get("imageID"))
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


def _is_gone(exc):
    return getattr(exc, "status", None) == 410


def watch_pod(api_client, namespace, name, pod, verdict, timeout, clock=time.monotonic, stream=None, read=None):
    """Watch one pod until ``verdict(pod)`` is not pending, or ``timeout`` seconds pass.

    ``pod`` is the latest version already in hand (from the write's response), so the watch starts
    from its resourceVersion and misses nothing. Returns ``(outcome, detail, last_pod, seconds)``.
    A watch that the server closes is resumed from the last version seen; a 410 Gone (the watch
    history no longer reaches that version, §8) re-reads the pod and watches on from there.
    ``stream`` and ``read`` default to the shared raw-JSON request layer; tests pass fakes.
    """
    stream = stream or watch_json
    read = read or read_pod
    started = clock()
    deadline = started + timeout
    outcome, detail = verdict(pod)
    while outcome == PENDING:
        remaining = deadline - clock()
        if remaining <= 0:
            return TIMEOUT, detail, pod, clock() - started
        seconds = max(1, int(remaining + 0.999))
        path = pod_path(namespace, watch="1", fieldSelector="metadata.name=%s" % name,
                        resourceVersion=pod["metadata"]["resourceVersion"], timeoutSeconds=str(seconds))
        gone = False
        events = None
        try:
            events = stream(api_client, path, seconds)
            for event in events:
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        gone = True
                        break
                    raise WatchError("watching pod %s/%s failed: %s" % (namespace, name, obj.get("message") or obj))
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    detail = dict(detail, reason="Deleted", message="pod %s/%s was deleted" % (namespace, name))
                    return FAILED, detail, obj, clock() - started
                pod = obj
                outcome, detail = verdict(pod)
                if outcome != PENDING or clock() >= deadline:
                    break
        except Exception as exc:  # pylint: disable=broad-except
            if not _is_gone(exc) and not _is_gone(getattr(exc, "cause", None)):
                raise
            gone = True
        finally:
            if events is not None and hasattr(events, "close"):
                # Returning or breaking out of the loop must close the half-read watch now, as wait_until
                # does, rather than whenever the generator is garbage-collected.
                events.close()
        if gone:
            pod = read(api_client, namespace, name)
            outcome, detail = verdict(pod)
    return outcome, detail, pod, clock() - started
