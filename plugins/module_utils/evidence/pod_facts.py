# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure facts about a pod for the evidence modules: its containers (init, regular, ephemeral) with their
identity (containerID, imageID) and state, and the state summary the report shows."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# spec list, status list, kind
_KINDS = (("initContainers", "initContainerStatuses", "init"),
          ("containers", "containerStatuses", "regular"),
          ("ephemeralContainers", "ephemeralContainerStatuses", "ephemeral"))
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


def containers(pod):
    """Every container of the pod in spec order: [{name, kind, image, status}] (status {} when not reported)."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    found = []
    for spec_key, status_key, kind in _KINDS:
        statuses = dict((s.get("name"), s) for s in status.get(status_key) or [])
        for container in spec.get(spec_key) or []:
            found.append({"name": container.get("name"), "kind": kind, "image": container.get("image"),
                          "spec": container, "status": statuses.get(container.get("name")) or {}})
    return found


def identity(container):
    """{name, kind, image, imageID, containerID, restartCount}: what the manifest records of a container."""
    status = container["status"]
    return {"name": container["name"], "kind": container["kind"], "image": status.get("image") or container["image"],
            "imageID": status.get("imageID"), "containerID": status.get("containerID"),
            "restartCount": status.get("restartCount", 0)}


def find_container(pod, name):
    """The container called name, or None."""
    for container in containers(pod):
        if container["name"] == name:
            return container
    return None


def default_container(pod):
    """The container kubectl picks: the default-container annotation, else the first regular container."""
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    regular = [c for c in containers(pod) if c["kind"] == "regular"]
    for container in regular:
        if container["name"] == wanted:
            return container
    return regular[0] if regular else None


def container_names(pod):
    return [c["name"] for c in containers(pod)]


def has_previous(container):
    """A terminated earlier instance exists (its log is the `previous` log)."""
    status = container["status"]
    return bool((status.get("lastState") or {}).get("terminated")) or (status.get("restartCount") or 0) > 0


def has_run(container):
    """The current instance started (running or terminated), so it has a log."""
    state = container["status"].get("state") or {}
    return bool(state.get("running") or state.get("terminated"))


def state_text(state):
    if not state:
        return "unknown"
    (name, detail), = sorted(state.items())[:1]
    detail = detail or {}
    if name == "terminated":
        return "terminated (%s, exit code %s)" % (detail.get("reason") or "no reason", detail.get("exitCode"))
    if name == "waiting":
        return "waiting (%s)" % (detail.get("reason") or "no reason")
    return "running since %s" % detail.get("startedAt")


def pod_state(pod):
    """The pod's state for the header and the report: phase, ready, and per container state, restarts, the
    last termination (reason and exit code, e.g. OOMKilled/137) and resources."""
    status = pod.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    state = {
        "phase": status.get("phase"),
        "ready": bool(ready and ready[0].get("status") == "True"),
        "reason": status.get("reason"),
        "podIP": status.get("podIP"),
        "qosClass": status.get("qosClass"),
        "startTime": status.get("startTime"),
        "containers": [],
    }
    for container in containers(pod):
        cstatus = container["status"]
        last = (cstatus.get("lastState") or {}).get("terminated") or {}
        current_terminated = (cstatus.get("state") or {}).get("terminated") or {}
        state["containers"].append({
            "name": container["name"],
            "kind": container["kind"],
            "ready": bool(cstatus.get("ready")),
            "state": state_text(cstatus.get("state")),
            "started_at": ((cstatus.get("state") or {}).get("running") or {}).get("startedAt")
            or current_terminated.get("startedAt"),
            "restarts": cstatus.get("restartCount", 0),
            "last_termination": {
                "reason": last.get("reason"), "exitCode": last.get("exitCode"),
                "startedAt": last.get("startedAt"), "finishedAt": last.get("finishedAt"),
            } if last else None,
            "terminated": {
                "reason": current_terminated.get("reason"), "exitCode": current_terminated.get("exitCode"),
                "startedAt": current_terminated.get("startedAt"), "finishedAt": current_terminated.get("finishedAt"),
            } if current_terminated else None,
            "resources": container["spec"].get("resources") or {},
        })
    return state
