# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The record triage.k8s leaves on a pod: every triage.k8s/ label and annotation, its layout and its parsing.

No other file spells a triage.k8s/ key. The isolation record is written in the same JSON patch as the label
change, so an interruption can never leave labels changed without the record (or the reverse). Layout (the
names are a contract between pod_isolate, pod_restore, pod_hijack and every earlier version of them):

label      triage.k8s/isolated: "true"              `kubectl get pods -l triage.k8s/isolated` finds them all
annotation triage.k8s/original-labels               JSON object of ALL labels before isolation
           triage.k8s/isolated-at                   RFC 3339 UTC
           triage.k8s/isolated-by                   who
           triage.k8s/reason, triage.k8s/ticket     why (ticket only when one was given)
           triage.k8s/strategy                      replace-first | immediate | copy
           triage.k8s/phase                         releasing (replace-first, Services not cut yet) | isolated
           triage.k8s/owner                         JSON {controller: {...}, top: {..., templateHash}}
           triage.k8s/services                      JSON list of the Service names that selected the pod
           triage.k8s/original-images               JSON {container: image before its first hijack}
           triage.k8s/hijacked-at, triage.k8s/hijacked-by, triage.k8s/hijack-mode
                                                    the last pod_hijack (mode image | debug_container | copy)
           triage.k8s/copy-of                       name of the source pod, on a copy made by pod_hijack mode=copy
                                                    (its strategy is `copy`, its original-labels `{}`, no owner)
label      triage.k8s/quarantine: <pod uid>          pod_isolate network_quarantine: what its NetworkPolicy selects
annotation triage.k8s/network-quarantine            JSON {policy, escapeLabels, allow}: the policy to delete on restore

On the NetworkPolicy of a quarantine (model/netpol.py builds it; an ownerReference to the pod as well):
label      app.kubernetes.io/managed-by: triage.k8s
           triage.k8s/quarantine-of: <pod uid>      only a policy with both, for this pod, is ever deleted
annotation triage.k8s/quarantine-pod: <pod name>
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

PREFIX = "triage.k8s/"
ISOLATED_LABEL = PREFIX + "isolated"
ORIGINAL_LABELS = PREFIX + "original-labels"
ISOLATED_AT = PREFIX + "isolated-at"
ISOLATED_BY = PREFIX + "isolated-by"
REASON = PREFIX + "reason"
TICKET = PREFIX + "ticket"
STRATEGY = PREFIX + "strategy"
PHASE = PREFIX + "phase"
OWNER = PREFIX + "owner"
SERVICES = PREFIX + "services"
ORIGINAL_IMAGES = PREFIX + "original-images"
HIJACKED_AT = PREFIX + "hijacked-at"
HIJACKED_BY = PREFIX + "hijacked-by"
HIJACK_MODE = PREFIX + "hijack-mode"
COPY_OF = PREFIX + "copy-of"
QUARANTINE_LABEL = PREFIX + "quarantine"
NETWORK_QUARANTINE = PREFIX + "network-quarantine"
QUARANTINE_OF = PREFIX + "quarantine-of"
QUARANTINE_POD = PREFIX + "quarantine-pod"

# The annotations one pod_hijack writes (and its rollback restores as they were).
HIJACK_ANNOTATIONS = (ORIGINAL_IMAGES, HIJACKED_AT, HIJACKED_BY, HIJACK_MODE)

PHASE_RELEASING = "releasing"
PHASE_ISOLATED = "isolated"
STRATEGY_COPY = "copy"
# The strategies of a record: pod_isolate writes the first two, pod_hijack mode=copy the last.
STRATEGIES = ("replace-first", "immediate", STRATEGY_COPY)


class UndoRecordError(Exception):
    """The record on a pod is missing or unreadable; the message says which annotation and why."""


def build_annotations(original_labels, isolated_at, isolated_by, reason, ticket, strategy, phase,
                      controller, top_owner, services):
    """The annotations of a fresh isolation record (all values are strings, as the API requires)."""
    if strategy not in STRATEGIES:
        raise ValueError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    owner = {"controller": controller, "top": top_owner}
    annotations = {
        ORIGINAL_LABELS: json.dumps(original_labels, sort_keys=True, separators=(",", ":")),
        ISOLATED_AT: isolated_at,
        ISOLATED_BY: isolated_by or "",
        REASON: reason or "",
        STRATEGY: strategy,
        PHASE: phase,
        OWNER: json.dumps(owner, sort_keys=True, separators=(",", ":")),
        SERVICES: json.dumps(sorted(services), separators=(",", ":")),
    }
    if ticket:
        # Most isolations have no ticket: an empty annotation would only be noise in `kubectl describe`.
        # Same rule as pod_hijack's copy record; parse_record then reports ticket None.
        annotations[TICKET] = ticket
    return annotations


def build_copy_annotations(source_name, isolated_at, isolated_by, reason, ticket, hijack_mode="copy"):
    """The record of a copy made by pod_hijack: isolated from birth, no labels to give back, no owner."""
    annotations = build_annotations({}, isolated_at, isolated_by, reason, ticket, STRATEGY_COPY, PHASE_ISOLATED,
                                    None, None, [])
    del annotations[OWNER]
    annotations[COPY_OF] = source_name
    annotations.update(hijack_annotations(isolated_at, isolated_by, hijack_mode))
    return annotations


def hijack_annotations(hijacked_at, hijacked_by, mode, original_images=None):
    """The hijacked-at/by/mode annotations (and original-images when given)."""
    annotations = {HIJACKED_AT: hijacked_at, HIJACKED_BY: hijacked_by, HIJACK_MODE: mode}
    if original_images is not None:
        annotations[ORIGINAL_IMAGES] = dump_images(original_images)
    return annotations


def dump_images(images):
    """The original-images annotation value for {container: image}."""
    return json.dumps(images, sort_keys=True, separators=(",", ":"))


def original_images(pod):
    """The original-images record as a dict ({} when absent); raises UndoRecordError when it is damaged."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if not annotations.get(ORIGINAL_IMAGES):
        return {}
    return _load_json(annotations, ORIGINAL_IMAGES, dict)


def copy_source(pod):
    """The name of the pod this pod is a pod_hijack copy of, or None."""
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(COPY_OF)


def network_quarantine(pod):
    """The network-quarantine record ({policy, escapeLabels, allow}) or None; UndoRecordError when damaged."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if not annotations.get(NETWORK_QUARANTINE):
        return None
    value = _load_json(annotations, NETWORK_QUARANTINE, dict)
    if not isinstance(value.get("policy"), str) or not value["policy"]:
        raise UndoRecordError("annotation %s names no policy: %r" % (
            NETWORK_QUARANTINE, annotations[NETWORK_QUARANTINE][:200]))
    return value


def dump_network_quarantine(value):
    """The network-quarantine annotation value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def record_phase(pod):
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(PHASE)


def is_marked(pod):
    """The pod carries the isolation marker label."""
    return ((pod.get("metadata") or {}).get("labels") or {}).get(ISOLATED_LABEL) == "true"


def record_keys(pod):
    """(labels, annotations) keys in the triage.k8s/ prefix present on the pod."""
    metadata = pod.get("metadata") or {}
    labels = [k for k in (metadata.get("labels") or {}) if k.startswith(PREFIX)]
    annotations = [k for k in (metadata.get("annotations") or {}) if k.startswith(PREFIX)]
    return sorted(labels), sorted(annotations)


def _load_json(annotations, key, expected_type):
    raw = annotations.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise UndoRecordError("annotation %s is not valid JSON (%s): %r" % (key, exc, raw[:200]))
    if not isinstance(value, expected_type):
        raise UndoRecordError("annotation %s should hold a JSON %s, got %r" % (key, expected_type.__name__, raw[:200]))
    return value


def parse_record(pod):
    """The record as a dict, or None when the pod has no triage.k8s/ annotations at all.

    Raises UndoRecordError when the record is present but unusable (restore must not guess labels).
    """
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if not any(k.startswith(PREFIX) for k in annotations) and not is_marked(pod):
        return None
    original_labels = _load_json(annotations, ORIGINAL_LABELS, dict)
    if original_labels is not None:
        for key, value in original_labels.items():
            if not isinstance(value, str):
                raise UndoRecordError("annotation %s: label %r has a non-string value %r" % (ORIGINAL_LABELS, key, value))
    owner = _load_json(annotations, OWNER, dict) or {}
    services = _load_json(annotations, SERVICES, list) or []
    images = _load_json(annotations, ORIGINAL_IMAGES, dict)
    return {
        "marked": is_marked(pod),
        "original_labels": original_labels,
        "isolated_at": annotations.get(ISOLATED_AT),
        "isolated_by": annotations.get(ISOLATED_BY),
        "reason": annotations.get(REASON),
        "ticket": annotations.get(TICKET),
        "strategy": annotations.get(STRATEGY),
        "phase": annotations.get(PHASE),
        "controller": owner.get("controller"),
        "top_owner": owner.get("top"),
        "services": services,
        "original_images": images,
        "network_quarantine": network_quarantine(pod),
    }


def owner_summary(obj, template_hash=None):
    """The {apiVersion, kind, name, uid} identity of an owner object (plus templateHash when known)."""
    if not obj:
        return None
    metadata = obj.get("metadata") or {}
    summary = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
    }
    if template_hash:
        summary["templateHash"] = template_hash
    return summary
