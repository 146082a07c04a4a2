# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ephemeral containers, pure: the container body, whether a pod already has it, the patch, and its verdict.

Shared by pod_hijack's debug_container mode and by the evidence modules' debug-container path (pod_dump,
pod_fetch); kube/ephemeral.py sends the patch and waits. Ephemeral containers go through the
``ephemeralcontainers`` subresource as a strategic-merge patch of ``spec.ephemeralContainers`` (merged by name).
They can never be changed or removed afterwards, so an existing one with the same name but other settings cannot
be fixed: the caller must pick another name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    DONE,
    FAILED,
    FAILURE_REASONS,
    PENDING,
    container_names,
    container_status,
    describe_container,
    pod_ref,
)

# Security settings for ephemeral containers, modelled on the profiles of `kubectl debug --profile`.
DEBUG_PROFILES = {
    # No extra privilege: admitted by the baseline Pod Security level. The default.
    "baseline": {},
    # kubectl's "general": ptrace into the target container's processes.
    "general": {"capabilities": {"add": ["SYS_PTRACE"]}},
    # Admitted by the restricted Pod Security level; the image must run as a non-root user.
    "restricted": {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    # tcpdump, ip, iptables.
    "netadmin": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
    # Everything; only for clusters that allow privileged pods.
    "sysadmin": {"privileged": True},
}

# The fields an existing ephemeral container must share with the wanted one to be the same container.
COMPARED_FIELDS = ("image", "command", "args", "targetContainerName")


class EphemeralContainerError(Refused):
    """The ephemeral container cannot be added as asked (nothing was changed); the message says why."""


def build_ephemeral_container(name, image, command=None, args=None, env=None, target_container=None,
                              profile="baseline", security_context=None, tty=False, stdin=False):
    """The EphemeralContainer object. ``env`` is a list of EnvVar dicts; ``security_context`` replaces the
    profile's settings entirely."""
    if profile not in DEBUG_PROFILES:
        raise EphemeralContainerError("unknown profile %r; choose one of: %s"
                                      % (profile, ", ".join(sorted(DEBUG_PROFILES))))
    container = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePolicy": "File",
        "stdin": bool(stdin),
        "tty": bool(tty),
    }
    if command:
        container["command"] = list(command)
    if args:
        container["args"] = list(args)
    if env:
        container["env"] = list(env)
    if target_container:
        container["targetContainerName"] = target_container
    context = copy.deepcopy(security_context if security_context is not None else DEBUG_PROFILES[profile])
    if context:
        container["securityContext"] = context
    return container


def find_ephemeral_container(pod, name):
    """The pod's ephemeral container spec of that name, or None."""
    for existing in (pod.get("spec") or {}).get("ephemeralContainers") or []:
        if existing.get("name") == name:
            return existing
    return None


def ephemeral_differences(existing, wanted, fields=COMPARED_FIELDS):
    """The fields in which an existing ephemeral container differs from the wanted one."""
    return [key for key in fields if existing.get(key) != wanted.get(key)]


def check_ephemeral_container(pod, container, target_option="target_container", name_option="debug_name"):
    """Is the ephemeral container already there? 'absent', 'same', or raise EphemeralContainerError when it
    cannot be added (an unknown target, a regular container's name, or the name taken with other settings).
    The option names are the caller's, so that the message says what to change."""
    names = container_names(pod)
    if container.get("targetContainerName") and container["targetContainerName"] not in names:
        raise EphemeralContainerError("%s %r is not in pod %s; its containers are: %s"
                                      % (target_option, container["targetContainerName"], pod_ref(pod),
                                         ", ".join(names)))
    if container["name"] in names:
        raise EphemeralContainerError("%r is already the name of a regular container of pod %s; choose another %s"
                                      % (container["name"], pod_ref(pod), name_option))
    existing = find_ephemeral_container(pod, container["name"])
    if existing is None:
        return "absent"
    differences = ephemeral_differences(existing, container)
    if differences:
        raise EphemeralContainerError(
            "pod %s already has an ephemeral container %r with a different %s; ephemeral containers can "
            "never be changed or removed, so choose another %s"
            % (pod_ref(pod), container["name"], ", ".join(differences), name_option))
    return "same"


def build_ephemeral_patch(pod, container):
    """Strategic-merge patch for the ephemeralcontainers subresource (ephemeral containers merge by name),
    conditioned on the resourceVersion that was read."""
    return {
        "metadata": {"resourceVersion": pod["metadata"]["resourceVersion"]},
        "spec": {"ephemeralContainers": [container]},
    }


def ephemeral_verdict(pod, name, running_only=False):
    """Is the ephemeral container running (or, unless running_only, already finished its command)?

    ``running_only`` is for a container that more commands are sent to (exec): one that has ended is a failure
    then, since an ephemeral container is never restarted."""
    status = container_status(pod, name, ephemeral=True)
    detail = describe_container(status)
    if status is None:
        return PENDING, detail
    if detail["state"] == "running":
        return DONE, detail
    if detail["state"] == "terminated":
        return (FAILED if running_only else DONE), detail
    if detail["state"] == "waiting" and detail["reason"] in FAILURE_REASONS:
        return FAILED, detail
    return PENDING, detail
