# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure planning for pod_hijack: which container, which image, and the exact request bodies.

Nothing here talks to the API server, so every body pod_hijack sends can be unit tested. The module
(plugins/modules/pod_hijack.py) reads the pod, calls these functions and sends what they return.

Why the bodies look the way they do (k8s_semantics.md §5):
- An in-place image swap is a strategic-merge patch whose ``spec.containers`` list holds only
  ``{"name", "image"}``: containers merge by ``name``, so the other fields and containers stay. A JSON
  merge patch would replace the whole list, drop the defaulted fields and be rejected as a forbidden
  pod update. No ``$setElementOrder`` directive is needed because the list order does not change.
- Every patch carries ``metadata.resourceVersion`` of the pod that was read, so a concurrent change
  gives 409 Conflict instead of silently winning (§6).
- Ephemeral containers go through the ``ephemeralcontainers`` subresource as a strategic-merge patch of
  ``spec.ephemeralContainers`` (merged by name, §5.3). They can never be changed or removed afterwards.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

# The undo record shared with pod_isolate / pod_restore: the names are defined once, in undo_record.
from ansible_collections.triage.k8s.plugins.module_utils import undo_record
from ansible_collections.triage.k8s.plugins.module_utils.cluster_view import pod_summary

ISOLATED_LABEL = undo_record.ISOLATED_LABEL
ANNOTATION_ORIGINAL_LABELS = undo_record.ORIGINAL_LABELS
ANNOTATION_ISOLATED_AT = undo_record.ISOLATED_AT
ANNOTATION_ISOLATED_BY = undo_record.ISOLATED_BY
ANNOTATION_REASON = undo_record.REASON
ANNOTATION_TICKET = undo_record.TICKET
ANNOTATION_STRATEGY = undo_record.STRATEGY
ANNOTATION_PHASE = undo_record.PHASE
ANNOTATION_OWNER = undo_record.OWNER
ANNOTATION_SERVICES = undo_record.SERVICES
ANNOTATION_ORIGINAL_IMAGES = undo_record.ORIGINAL_IMAGES
# Added by pod_hijack.
ANNOTATION_HIJACKED_AT = "triage.k8s/hijacked-at"
ANNOTATION_HIJACKED_BY = "triage.k8s/hijacked-by"
ANNOTATION_HIJACK_MODE = "triage.k8s/hijack-mode"
ANNOTATION_COPY_OF = "triage.k8s/copy-of"

HIJACK_ANNOTATIONS = (ANNOTATION_ORIGINAL_IMAGES, ANNOTATION_HIJACKED_AT, ANNOTATION_HIJACKED_BY,
                      ANNOTATION_HIJACK_MODE)

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

MODES = ("image", "debug_container", "copy")

# Security settings for ephemeral containers, modelled on kubectl debug --profile (peers.md §3).
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

# Waiting reasons that mean the new image will not come up without a human (kubelet images/types.go,
# kuberuntime). CrashLoopBackOff means it started and keeps dying.
FAILURE_REASONS = frozenset((
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CrashLoopBackOff",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
))

_MAX_NAME_LENGTH = 253
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

# Image reference grammar of github.com/distribution/reference (what container runtimes accept).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    r"^(?P<name>(?:(?P<domain>%s)/)?%s(?:/%s)*)(?::(?P<tag>%s))?(?:@(?P<digest>%s))?$"
    % (_DOMAIN, _PATH_COMPONENT, _PATH_COMPONENT, _TAG, _DIGEST))


class HijackError(Exception):
    """A problem the user can fix (bad input, wrong container, refused pod). The message says how."""


# --------------------------------------------------------------------------------------------------
# Input validation


def validate_image_reference(image):
    """Return the image unchanged, or raise HijackError saying why a runtime would refuse it."""
    if not isinstance(image, str) or not image:
        raise HijackError("image must be a non-empty image reference such as registry.example.com/app:1.2")
    if image != image.strip() or any(c.isspace() for c in image):
        raise HijackError("invalid image reference %r: it must not contain whitespace" % image)
    match = _REFERENCE.match(image)
    if not match:
        raise HijackError(
            "invalid image reference %r: expected [registry[:port]/]path[:tag][@algorithm:digest] with a "
            "lower-case path, for example registry.example.com/team/app:1.2" % image)
    if len(match.group("name")) > 255:
        raise HijackError("invalid image reference %r: the repository name is longer than 255 characters"
                          % image)
    return image


def normalize_image(image):
    """The fully qualified form a runtime reports (docker.io/library/nginx:latest), for comparisons."""
    if not image:
        return image
    match = _REFERENCE.match(image)
    if not match:
        return image
    name, tag, digest = match.group("name"), match.group("tag"), match.group("digest")
    first, sep, rest = name.partition("/")
    # Like the Docker normalizer: the first component is a registry only if it looks like a host.
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    result = "%s/%s" % (domain, path)
    if tag:
        result += ":" + tag
    elif not digest:
        result += ":latest"
    if digest:
        result += "@" + digest
    return result


def images_equivalent(requested, reported):
    """True when the runtime's reported image (or image ID) is the requested reference."""
    if not requested or not reported:
        return False
    if requested == reported:
        return True
    norm_requested = normalize_image(requested)
    if norm_requested == normalize_image(reported):
        return True
    # A digest-pinned request is satisfied by an imageID with the same digest.
    if "@" in requested and reported.endswith("@" + requested.split("@", 1)[1]):
        return True
    return False


def validate_dns_label(value, what):
    if not isinstance(value, str) or len(value) > 63 or not _DNS_LABEL.match(value):
        raise HijackError("%s %r is not a valid name: use at most 63 lower-case letters, digits and '-', "
                          "starting and ending with a letter or digit" % (what, value))
    return value


def validate_pod_name(value, what):
    if not isinstance(value, str) or len(value) > _MAX_NAME_LENGTH or not _DNS_SUBDOMAIN.match(value):
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


def container_names(pod):
    return [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]


def ephemeral_container_names(pod):
    return [c.get("name") for c in (pod.get("spec") or {}).get("ephemeralContainers") or []]


def find_container(pod, name):
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == name:
            return container
    return None


def container_ports(pod, name):
    """The containerPorts of a container, for the "port-forward to it" hint."""
    return [p["containerPort"] for p in (find_container(pod, name) or {}).get("ports") or [] if p.get("containerPort")]


def container_status(pod, name, ephemeral=False):
    key = "ephemeralContainerStatuses" if ephemeral else "containerStatuses"
    for status in (pod.get("status") or {}).get(key) or []:
        if status.get("name") == name:
            return status
    return None


def pod_ref(pod):
    meta = pod.get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


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


def is_isolated(pod):
    return undo_record.is_marked(pod)


def is_terminating(pod):
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def check_hijackable(pod, mode, force):
    """Refuse what would be unsafe. A copy leaves the source untouched, so it needs no isolation."""
    if is_terminating(pod):
        raise HijackError("pod %s is terminating; there is nothing left to hijack" % pod_ref(pod))
    if mode == "copy" or force:
        return
    if not is_isolated(pod):
        raise HijackError(
            "pod %s is still in service: it has no %s=true label, so Services and its controller may still "
            "select it and production traffic would reach the hijacked code. Isolate it first with "
            "triage.k8s.pod_isolate, use mode=copy, or set force=true if you really mean it"
            % (pod_ref(pod), ISOLATED_LABEL))


def read_original_images(pod):
    """The triage.k8s/original-images record as a dict; a damaged record is an error, never ignored."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_ORIGINAL_IMAGES)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise HijackError("pod %s has an unreadable %s annotation (%r); fix or remove it before hijacking"
                          % (pod_ref(pod), ANNOTATION_ORIGINAL_IMAGES, raw))
    return value


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
            "annotations": {
                ANNOTATION_ORIGINAL_IMAGES: json.dumps(originals, sort_keys=True, separators=(",", ":")),
                ANNOTATION_HIJACKED_AT: now,
                ANNOTATION_HIJACKED_BY: user,
                ANNOTATION_HIJACK_MODE: "image",
            },
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
    annotations = dict((key, before.get(key)) for key in HIJACK_ANNOTATIONS)
    return {
        "metadata": {"resourceVersion": failed_pod["metadata"]["resourceVersion"], "annotations": annotations},
        "spec": {"containers": [{"name": container, "image": previous}]},
    }


def build_image_revert_patch(pod, containers=None):
    """For pod_restore: put every recorded original image back and drop the hijack record.

    Returns None when nothing needs reverting. ``containers`` limits the revert to some containers;
    the record keeps the others.
    """
    originals = read_original_images(pod)
    if containers is not None:
        originals = dict((k, v) for k, v in originals.items() if k in containers)
    changes = []
    for name in sorted(originals):
        spec = find_container(pod, name)
        if spec is not None and spec.get("image") != originals[name]:
            changes.append({"name": name, "image": originals[name]})
    remaining = dict((k, v) for k, v in read_original_images(pod).items() if k not in originals)
    annotations = {}
    if remaining:
        annotations[ANNOTATION_ORIGINAL_IMAGES] = json.dumps(remaining, sort_keys=True, separators=(",", ":"))
    elif ANNOTATION_ORIGINAL_IMAGES in _annotations(pod):
        annotations[ANNOTATION_ORIGINAL_IMAGES] = None
    if not changes and not annotations:
        return None
    body = {"metadata": {"resourceVersion": pod["metadata"]["resourceVersion"]}}
    if annotations:
        body["metadata"]["annotations"] = annotations
    if changes:
        body["spec"] = {"containers": changes}
    return body


def image_mode_diff(pod, container, image, patch):
    """before/after for --diff: the container images and the triage.k8s/ annotations."""
    before_images = dict((c.get("name"), c.get("image")) for c in pod["spec"]["containers"])
    after_images = dict(before_images)
    after_images[container] = image
    before_ann = dict((k, v) for k, v in _annotations(pod).items() if k.startswith("triage.k8s/"))
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
    if profile not in DEBUG_PROFILES:
        raise HijackError("unknown profile %r; choose one of: %s" % (profile, ", ".join(sorted(DEBUG_PROFILES))))
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
        container["env"] = normalize_env(env)
    if target_container:
        container["targetContainerName"] = target_container
    context = copy.deepcopy(security_context if security_context is not None else DEBUG_PROFILES[profile])
    if context:
        container["securityContext"] = context
    return container


def check_debug_container(pod, container):
    """Is the ephemeral container already there? 'absent', 'same' or raise when it differs.

    Ephemeral containers can never be changed, so an existing one with the same name but different
    settings cannot be fixed: the user must pick another name.
    """
    if container.get("targetContainerName") and container["targetContainerName"] not in container_names(pod):
        raise HijackError("target_container %r is not in pod %s; its containers are: %s"
                          % (container["targetContainerName"], pod_ref(pod), ", ".join(container_names(pod))))
    if container["name"] in container_names(pod):
        raise HijackError("%r is already the name of a regular container of pod %s; choose another debug_name"
                          % (container["name"], pod_ref(pod)))
    for existing in (pod.get("spec") or {}).get("ephemeralContainers") or []:
        if existing.get("name") != container["name"]:
            continue
        differences = [key for key in ("image", "command", "args", "targetContainerName")
                       if existing.get(key) != container.get(key)]
        if differences:
            raise HijackError(
                "pod %s already has an ephemeral container %r with a different %s; ephemeral containers can "
                "never be changed or removed, so choose another debug_name"
                % (pod_ref(pod), container["name"], ", ".join(differences)))
        return "same"
    return "absent"


def build_ephemeral_patch(pod, container):
    """Strategic-merge patch for the ephemeralcontainers subresource (merged by name, §5.3)."""
    return {
        "metadata": {"resourceVersion": pod["metadata"]["resourceVersion"]},
        "spec": {"ephemeralContainers": [container]},
    }


def build_hijack_record_patch(pod, mode, now, user):
    """The hijacked-at/by/mode annotations, for modes whose main write cannot carry metadata."""
    return {
        "metadata": {
            "resourceVersion": pod["metadata"]["resourceVersion"],
            "annotations": {
                ANNOTATION_HIJACKED_AT: now,
                ANNOTATION_HIJACKED_BY: user,
                ANNOTATION_HIJACK_MODE: mode,
            },
        },
    }


# --------------------------------------------------------------------------------------------------
# Mode copy: a private clone, like kubectl debug --copy-to


def default_copy_name(source_name):
    suffix = "-hijack"
    return source_name[:_MAX_NAME_LENGTH - len(suffix)].rstrip("-.") + suffix


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
      the copy afresh and ephemeral containers cannot be set on create (§5.3).
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

    annotations = {
        ANNOTATION_COPY_OF: src_meta.get("name"),
        # An empty record: putting a copy "back into service" must never give it the source's labels.
        ANNOTATION_ORIGINAL_LABELS: "{}",
        ANNOTATION_ISOLATED_AT: now,
        ANNOTATION_ISOLATED_BY: user,
        ANNOTATION_REASON: src_annotations.get(ANNOTATION_REASON)
        or "copy of pod %s made by triage.k8s.pod_hijack" % src_meta.get("name"),
        ANNOTATION_STRATEGY: "copy",
        ANNOTATION_PHASE: undo_record.PHASE_ISOLATED,
        ANNOTATION_SERVICES: "[]",
        ANNOTATION_HIJACKED_AT: now,
        ANNOTATION_HIJACKED_BY: user,
        ANNOTATION_HIJACK_MODE: "copy",
    }
    if src_annotations.get(ANNOTATION_TICKET):
        annotations[ANNOTATION_TICKET] = src_annotations[ANNOTATION_TICKET]
    if src_annotations.get(DEFAULT_CONTAINER_ANNOTATION):
        annotations[DEFAULT_CONTAINER_ANNOTATION] = src_annotations[DEFAULT_CONTAINER_ANNOTATION]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": copy_name,
            "namespace": src_meta.get("namespace"),
            "labels": {ISOLATED_LABEL: "true"},
            "annotations": annotations,
        },
        "spec": spec,
    }


# The container fields a user can override in a copy; an existing copy must agree on all of them.
_COPY_COMPARED_FIELDS = ("image", "command", "args", "env")


def check_existing_copy(existing, wanted, source_name):
    """'same' when the copy already exists as wanted; raise when the name is taken by something else."""
    meta = existing.get("metadata") or {}
    if (meta.get("annotations") or {}).get(ANNOTATION_COPY_OF) != source_name:
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
    return pod_summary(pod, annotation_prefix=undo_record.PREFIX)
