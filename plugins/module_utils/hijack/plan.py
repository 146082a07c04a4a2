# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure planning for pod_hijack: which container, which image, and the exact request bodies.

Nothing here talks to the API server, so every body pod_hijack sends can be unit tested. The module
(plugins/modules/pod_hijack.py) reads the pod, calls these functions and sends what they return.

Why the bodies look the way they do:
- An in-place image swap is a strategic-merge patch whose ``spec.containers`` list holds only
  ``{"name", "image"}``: containers merge by ``name``, so the other fields and containers stay. A JSON
  merge patch would replace the whole list, drop the defaulted fields and be rejected as a forbidden
  pod update. No ``$setElementOrder`` directive is needed because the list order does not change.
- Every patch carries ``metadata.resourceVersion`` of the pod that was read, so a concurrent change
  gives 409 Conflict instead of silently winning.
- Ephemeral containers go through the ``ephemeralcontainers`` subresource as a strategic-merge patch of
  ``spec.ephemeralContainers`` (merged by name). They can never be changed or removed afterwards. Their body,
  check and patch are shared with the evidence modules (model/ephemeral.py); this file words their refusals
  as pod_hijack's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.triage.k8s.plugins.module_utils.model import ephemeral, record
from ansible_collections.triage.k8s.plugins.module_utils.model.images import image_reference_problem
from ansible_collections.triage.k8s.plugins.module_utils.model.names import MAX_NAME_LENGTH, is_dns_label, is_dns_subdomain
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    container_names,
    ephemeral_container_names,
    find_container,
    is_terminating,
    pod_ref,
    pod_summary,
)

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

MODES = ("image", "debug_container", "copy")

# Security settings for ephemeral containers (kubectl debug --profile's), shared with the evidence modules.
DEBUG_PROFILES = ephemeral.DEBUG_PROFILES

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class HijackError(Refused):
    """A problem the user can fix (bad input, wrong container, refused pod). The message says how."""


# --------------------------------------------------------------------------------------------------
# Input validation


def validate_image_reference(image):
    """Return the image unchanged, or raise HijackError saying why a runtime would refuse it."""
    problem = image_reference_problem(image)
    if problem:
        raise HijackError(problem)
    return image


def validate_dns_label(value, what):
    if not is_dns_label(value):
        raise HijackError("%s %r is not a valid name: use at most 63 lower-case letters, digits and '-', "
                          "starting and ending with a letter or digit" % (what, value))
    return value


def validate_pod_name(value, what):
    if not is_dns_subdomain(value):
        raise HijackError("%s %r is not a valid pod name: use lower-case letters, digits, '-' and '.', "
                          "at most 253 characters" % (what, value))
    return value


def normalize_env(env):
    """Accept a dict {NAME: value} or a list of EnvVar dicts; return a list of EnvVar dicts."""
    if env is None:
        return None
    if isinstance(env, dict):
        items = [{"name": str(k), "value": "" if v is None else str(v)} for k, v in sorted(env.items())]
    elif isinstance(env, list):
        items = []
        for entry in env:
            if not isinstance(entry, dict) or "name" not in entry:
                raise HijackError("env entries must be dictionaries with a name, such as "
                                  "{name: LOG_LEVEL, value: debug}; got %r" % (entry,))
            item = dict(entry)
            if "value" in item and item["value"] is not None:
                item["value"] = str(item["value"])
            items.append(item)
    else:
        raise HijackError("env must be a dictionary {NAME: value} or a list of {name, value} entries")
    for item in items:
        if not _ENV_NAME.match(item["name"]):
            raise HijackError("invalid environment variable name %r" % item["name"])
    return items


# --------------------------------------------------------------------------------------------------
# Reading a pod


def resolve_container(pod, requested=None):
    """The container to act on: the requested one, the default-container annotation, or the only one."""
    names = container_names(pod)
    if requested:
        if requested in names:
            return requested
        hint = ""
        if requested in ephemeral_container_names(pod):
            hint = " (%s is an ephemeral container; its image cannot be changed)" % requested
        raise HijackError("container %r is not in pod %s%s; its containers are: %s"
                          % (requested, pod_ref(pod), hint, ", ".join(names)))
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if annotated and annotated in names:
        return annotated
    if len(names) == 1:
        return names[0]
    raise HijackError("pod %s has %d containers, so name one with the container option: %s"
                      % (pod_ref(pod), len(names), ", ".join(names)))


def check_hijackable(pod, mode, force):
    """Refuse what would be unsafe. A copy leaves the source untouched, so it needs no isolation."""
    if is_terminating(pod):
        raise HijackError("pod %s is terminating; there is nothing left to hijack" % pod_ref(pod))
    if mode == "copy" or force:
        return
    if not record.is_marked(pod):
        raise HijackError(
            "pod %s is still in service: it has no %s=true label, so Services and its controller may still "
            "select it and production traffic would reach the hijacked code. Isolate it first with "
            "triage.k8s.pod_isolate, use mode=copy, or set force=true if you really mean it"
            % (pod_ref(pod), record.ISOLATED_LABEL))


def read_original_images(pod):
    """The triage.k8s/original-images record as a dict; a damaged record is an error, never ignored."""
    try:
        return record.original_images(pod)
    except record.UndoRecordError:
        raise HijackError("pod %s has an unreadable %s annotation (%r); fix or remove it before hijacking"
                          % (pod_ref(pod), record.ORIGINAL_IMAGES,
                             ((pod.get("metadata") or {}).get("annotations") or {}).get(record.ORIGINAL_IMAGES)))


def _annotations(pod):
    return dict((pod.get("metadata") or {}).get("annotations") or {})


# --------------------------------------------------------------------------------------------------
# Mode image: the in-place swap


def build_image_patch(pod, container, image, now, user):
    """Strategic-merge patch that swaps one container's image and records the undo data.

    ``triage.k8s/original-images`` keeps the image a container had before its *first* hijack, so a
    second hijack never hides the true original from pod_restore.
    """
    current = find_container(pod, container)
    if current is None:
        raise HijackError("container %r is not in pod %s" % (container, pod_ref(pod)))
    originals = read_original_images(pod)
    if container not in originals:
        originals[container] = current.get("image")
    return {
        "metadata": {
            "resourceVersion": pod["metadata"]["resourceVersion"],
            "annotations": record.hijack_annotations(now, user, "image", original_images=originals),
        },
        "spec": {"containers": [{"name": container, "image": image}]},
    }


def build_rollback_patch(failed_pod, before_pod, container):
    """Put back the image and the hijack annotations exactly as they were before this hijack.

    The image is the one running before this call (not necessarily the first original), and
    annotations that did not exist then are removed (``null`` deletes a key in a strategic merge).
    """
    previous = find_container(before_pod, container).get("image")
    before = _annotations(before_pod)
    annotations = dict((key, before.get(key)) for key in record.HIJACK_ANNOTATIONS)
    return {
        "metadata": {"resourceVersion": failed_pod["metadata"]["resourceVersion"], "annotations": annotations},
        "spec": {"containers": [{"name": container, "image": previous}]},
    }


def image_mode_diff(pod, container, image, patch):
    """before/after for --diff: the container images and the triage.k8s/ annotations."""
    before_images = dict((c.get("name"), c.get("image")) for c in pod["spec"]["containers"])
    after_images = dict(before_images)
    after_images[container] = image
    before_ann = dict((k, v) for k, v in _annotations(pod).items() if k.startswith(record.PREFIX))
    after_ann = dict(before_ann)
    if patch:
        after_ann.update(patch["metadata"]["annotations"])
    return {
        "before": {"images": before_images, "annotations": before_ann},
        "after": {"images": after_images, "annotations": after_ann},
    }


# --------------------------------------------------------------------------------------------------
# Mode debug_container: an ephemeral container


def build_ephemeral_container(name, image, command=None, args=None, env=None, target_container=None,
                              profile="baseline", security_context=None, tty=False, stdin=False):
    """The EphemeralContainer object. ``security_context`` replaces the profile's settings entirely."""
    try:
        return ephemeral.build_ephemeral_container(
            name, image, command=command, args=args, env=normalize_env(env) if env else None,
            target_container=target_container, profile=profile, security_context=security_context, tty=tty,
            stdin=stdin)
    except ephemeral.EphemeralContainerError as exc:
        raise HijackError(str(exc))


def check_debug_container(pod, container):
    """Is the ephemeral container already there? 'absent', 'same' or raise when it differs.

    Ephemeral containers can never be changed, so an existing one with the same name but different
    settings cannot be fixed: the user must pick another name.
    """
    try:
        return ephemeral.check_ephemeral_container(pod, container)
    except ephemeral.EphemeralContainerError as exc:
        raise HijackError(str(exc))


build_ephemeral_patch = ephemeral.build_ephemeral_patch


def build_hijack_record_patch(pod, mode, now, user):
    """The hijacked-at/by/mode annotations, for modes whose main write cannot carry metadata."""
    return {
        "metadata": {
            "resourceVersion": pod["metadata"]["resourceVersion"],
            "annotations": record.hijack_annotations(now, user, mode),
        },
    }


# --------------------------------------------------------------------------------------------------
# Mode copy: a private clone, like kubectl debug --copy-to


def default_copy_name(source_name):
    suffix = "-hijack"
    return source_name[:MAX_NAME_LENGTH - len(suffix)].rstrip("-.") + suffix


_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _apply_overrides(container, image=None, command=None, args=None, env=None):
    if image:
        container["image"] = image
    if command is not None:
        container["command"] = list(command)
    if args is not None:
        container["args"] = list(args)
    if env is not None:
        merged = [dict(e) for e in container.get("env") or []]
        positions = dict((e["name"], i) for i, e in enumerate(merged))
        for entry in normalize_env(env):
            if entry["name"] in positions:
                merged[positions[entry["name"]]] = entry
            else:
                positions[entry["name"]] = len(merged)
                merged.append(entry)
        container["env"] = merged


def build_copy_pod(source, copy_name, container, now, user, image=None, command=None, args=None, env=None):
    """The Pod to create: the source's spec, under a new name, that nothing will ever select.

    - All labels are dropped (only the isolation marker is set), so no Service, EndpointSlice,
      ReplicaSet, PDB or NetworkPolicy selector that matched the source matches the copy.
    - ownerReferences are dropped so no controller adopts, counts or deletes it.
    - nodeName, ephemeral containers, status and server-set metadata are dropped; the scheduler places
      the copy afresh and ephemeral containers cannot be set on create (only through the subresource).
    - Probes are dropped, as kubectl debug does by default: an overridden command or image usually
      fails the original probes, and a liveness probe would keep killing the debug session.
    - The isolation record makes pod_restore state=absent and the reaper clean it up.
    """
    src_meta = source.get("metadata") or {}
    src_annotations = src_meta.get("annotations") or {}
    spec = copy.deepcopy(source.get("spec") or {})
    for key in ("nodeName", "ephemeralContainers"):
        spec.pop(key, None)
    for kind in ("containers", "initContainers"):
        for each in spec.get(kind) or []:
            for probe in _PROBES:
                each.pop(probe, None)
    target = None
    for each in spec.get("containers") or []:
        if each.get("name") == container:
            target = each
    if target is None:
        raise HijackError("container %r is not in pod %s" % (container, pod_ref(source)))
    _apply_overrides(target, image=image, command=command, args=args, env=env)

    annotations = record.build_copy_annotations(
        src_meta.get("name"), now, user,
        src_annotations.get(record.REASON) or "copy of pod %s made by triage.k8s.pod_hijack" % src_meta.get("name"),
        src_annotations.get(record.TICKET))
    if src_annotations.get(DEFAULT_CONTAINER_ANNOTATION):
        annotations[DEFAULT_CONTAINER_ANNOTATION] = src_annotations[DEFAULT_CONTAINER_ANNOTATION]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": copy_name,
            "namespace": src_meta.get("namespace"),
            "labels": {record.ISOLATED_LABEL: "true"},
            "annotations": annotations,
        },
        "spec": spec,
    }


# The container fields a user can override in a copy; an existing copy must agree on all of them.
_COPY_COMPARED_FIELDS = ("image", "command", "args", "env")


def check_existing_copy(existing, wanted, source_name):
    """'same' when the copy already exists as wanted; raise when the name is taken by something else."""
    meta = existing.get("metadata") or {}
    if record.copy_source(existing) != source_name:
        raise HijackError("pod %s already exists and is not a pod_hijack copy of %s; choose another copy_name"
                          % (pod_ref(existing), source_name))
    if meta.get("deletionTimestamp"):
        raise HijackError("the copy %s is being deleted; wait until it is gone and run again" % pod_ref(existing))
    differences = []
    wanted_containers = dict((c["name"], c) for c in wanted["spec"]["containers"])
    for have in (existing.get("spec") or {}).get("containers") or []:
        want = wanted_containers.get(have.get("name"))
        if want is None:
            continue
        for field in _COPY_COMPARED_FIELDS:
            if (have.get(field) or None) != (want.get(field) or None):
                differences.append("%s.%s" % (have["name"], field))
    if differences:
        raise HijackError(
            "the copy %s already exists with a different %s; pods cannot be changed in place, so remove it "
            "(triage.k8s.pod_restore state=absent) or choose another copy_name"
            % (pod_ref(existing), ", ".join(differences)))
    return "same"


def summarize_pod(pod):
    """The shared pod summary, with only the triage.k8s/ annotations (the undo and hijack record)."""
    return pod_summary(pod, annotation_prefix=record.PREFIX)
