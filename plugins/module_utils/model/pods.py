# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Facts about a pod (a dict as the API serves it): readiness, owner, containers, and the summary every module
returns. Pure: no requests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def metadata(obj):
    return (obj or {}).get("metadata") or {}


def name_of(obj):
    return metadata(obj).get("name")


def labels_of(obj):
    return dict(metadata(obj).get("labels") or {})


def annotations_of(obj):
    return dict(metadata(obj).get("annotations") or {})


def pod_ref(pod):
    """'namespace/name', for messages."""
    return "%s/%s" % (metadata(pod).get("namespace"), metadata(pod).get("name"))


def is_pod_ready(pod):
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def is_terminating(pod):
    return bool(metadata(pod).get("deletionTimestamp"))


def is_serving_endpoint(pod):
    """Counts as a ready endpoint of a Service: Ready, not terminating, not finished, has an IP."""
    status = pod.get("status") or {}
    return (
        is_pod_ready(pod)
        and not is_terminating(pod)
        and status.get("phase") not in ("Succeeded", "Failed")
        and bool(status.get("podIP") or status.get("podIPs"))
    )


def controller_ref(obj):
    """The ownerReference with controller=true, or None."""
    for ref in metadata(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owned_by(obj, uid):
    """Does any ownerReference of ``obj`` point at ``uid``?"""
    return any(ref.get("uid") == uid for ref in metadata(obj).get("ownerReferences") or [])


def container_names(pod):
    return [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]


def ephemeral_container_names(pod):
    return [c.get("name") for c in (pod.get("spec") or {}).get("ephemeralContainers") or []]


def find_container(pod, name):
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == name:
            return container
    return None


def container_images(pod):
    """{container name: image} of the pod's spec."""
    return dict((c.get("name"), c.get("image")) for c in (pod.get("spec") or {}).get("containers") or [])


def container_ports(pod, name):
    """The containerPorts of a container, for the "port-forward to it" hint."""
    return [p["containerPort"] for p in (find_container(pod, name) or {}).get("ports") or [] if p.get("containerPort")]


def container_status(pod, name, ephemeral=False):
    key = "ephemeralContainerStatuses" if ephemeral else "containerStatuses"
    for status in (pod.get("status") or {}).get(key) or []:
        if status.get("name") == name:
            return status
    return None


# The words of a wait's verdict on one pod (kube/watch.py's watch_pod, hijack and model/ephemeral.py's verdicts).
DONE = "done"
FAILED = "failed"
PENDING = "pending"
TIMEOUT = "timeout"

# Waiting reasons that mean a container will not come up without a human (kubelet images/types.go,
# kuberuntime). CrashLoopBackOff means it started and keeps dying.
FAILURE_REASONS = frozenset((
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CrashLoopBackOff",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
))


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


def pod_summary(pod, annotation_prefix=None):
    """What every module reports about a pod it handled. ``annotation_prefix`` keeps only the annotations
    in that prefix (pod_hijack reports just the triage.k8s/ record)."""
    meta = metadata(pod)
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "ip": status.get("podIP"),
        "node": spec.get("nodeName"),
        "phase": status.get("phase"),
        "labels": dict(meta.get("labels") or {}),
        "annotations": dict((k, v) for k, v in (meta.get("annotations") or {}).items()
                            if annotation_prefix is None or k.startswith(annotation_prefix)),
        # Where the containers listen, for the port-forward hint in the runbook summary.
        "ports": sorted(set(p.get("containerPort") for c in spec.get("containers") or []
                            for p in c.get("ports") or [] if p.get("containerPort"))),
        "containers": [c.get("name") for c in spec.get("containers") or []],
    }
