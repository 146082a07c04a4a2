# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pod_isolate network_quarantine: after the traffic cut, a NetworkPolicy of this collection denies the pod every
connection but the ones quarantine_allow names.

Order of the writes, so that an interruption never leaves a policy without a record:
  1. one JSON patch of the pod (resourceVersion test): the label triage.k8s/quarantine=<pod uid> that the policy
     selects, the rewrites of the labels that other allowing policies select the pod by (the extra hitting set),
     and the record annotation triage.k8s/network-quarantine naming the policy;
  2. the policy itself (create; an existing one is ours only with our labels for this pod's uid).
A rerun finds both in place and changes nothing. Check mode reads and shows both writes, and sends neither.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.isolate.plan import quarantine_value, smallest_hitting_set
from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import Conflict, KubeError, NotFound, StaleRead
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import list_optional, read_pod
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import json_patch_pod, write_with_replan
from ansible_collections.triage.k8s.plugins.module_utils.model import netpol
from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import PartialFailure, Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.patches import (
    apply_ops_locally,
    metadata_diff,
    set_metadata_ops,
    with_metadata,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import pod_summary

NETPOL_PREFIX = "apis/networking.k8s.io/v1"


def plan_quarantine(pod, labels, policies, options):
    """What the quarantine of ``pod`` writes, when its labels are ``labels`` after the traffic cut.

    The extra hitting set: the fewest label keys whose rewrite stops every allowing NetworkPolicy that selects the
    pod from selecting it. The policies no rewrite escapes are reported with what they still admit.
    """
    new_values = dict((k, quarantine_value(v)) for k, v in labels.items())
    hits, selecting, unescapable = netpol.escape_hits(labels, new_values, policies)
    escapable = set(selecting) - set(u["name"] for u in unescapable)
    keys = smallest_hitting_set(hits, escapable) or []
    escape = dict((k, {"from": labels[k], "to": new_values[k]}) for k in sorted(keys))
    policy = netpol.build_policy(pod, options.get("quarantine_allow"), options.get("isolated_by"),
                                 options.get("reason"), options.get("ticket"))
    existing = undo_record.network_quarantine(pod) or {}
    label_values = dict((k, c["to"]) for k, c in escape.items())
    label_values[undo_record.QUARANTINE_LABEL] = pod["metadata"]["uid"]
    escaped_before = sorted(set(existing.get("escapeLabels") or []) | set(escape))
    annotation = undo_record.dump_network_quarantine({
        "policy": policy["metadata"]["name"], "escapeLabels": escaped_before,
        "allow": dict((k, v) for k, v in (options.get("quarantine_allow") or {}).items() if v)})
    warnings = []
    for item in unescapable:
        warnings.append("NetworkPolicy %s still selects quarantined pod %s: %s; it still admits %s" % (
            item["name"], pod["metadata"]["name"], item["reason"], "; ".join(item["admits"]) or "nothing"))
    return {
        "policy": policy,
        "escape_labels": escape,
        "escaped_policies": sorted(escapable),
        "unescaped_policies": unescapable,
        "label_values": label_values,
        "annotation": annotation,
        "not_evaluated": netpol.NOT_EVALUATED,
        "warnings": warnings,
    }


def _pod_ops(pod, plan):
    labels = (pod["metadata"].get("labels") or {})
    annotations = (pod["metadata"].get("annotations") or {})
    wanted_labels = dict((k, v) for k, v in plan["label_values"].items() if labels.get(k) != v)
    wanted_annotations = {}
    if annotations.get(undo_record.NETWORK_QUARANTINE) != plan["annotation"]:
        wanted_annotations[undo_record.NETWORK_QUARANTINE] = plan["annotation"]
    return set_metadata_ops(pod, "labels", wanted_labels) + set_metadata_ops(pod, "annotations", wanted_annotations)


def _policy_path(namespace, name=None):
    return transport.api_path(NETPOL_PREFIX, "namespaces", namespace, "networkpolicies", *([name] if name else []))


def read_policy(api_client, namespace, name):
    """The NetworkPolicy, or None when there is none of that name."""
    try:
        return transport.request(api_client, "get", "networkpolicies", "GET", _policy_path(namespace, name),
                                 name=name, namespace=namespace)
    except NotFound:
        return None


def _ensure_policy(api_client, pod, wanted):
    """Create the policy, or bring ours up to date. Returns (policy before, policy after, changed)."""
    namespace, name = pod["metadata"]["namespace"], wanted["metadata"]["name"]
    existing = read_policy(api_client, namespace, name)
    if existing is None:
        try:
            created = transport.request(api_client, "create", "networkpolicies", "POST", _policy_path(namespace),
                                        name=name, namespace=namespace, body=wanted)
            return None, created, True
        except Conflict:
            existing = read_policy(api_client, namespace, name)
            if existing is None:
                raise StaleRead("NetworkPolicy %s appeared and disappeared while it was created" % name)
    if not netpol.is_quarantine_policy(existing, pod["metadata"]["uid"]):
        raise QuarantineBlocked(
            "a NetworkPolicy named %s already exists in namespace %s and is not triage.k8s's quarantine of pod %s "
            "(uid %s); it was left alone" % (name, namespace, pod["metadata"]["name"], pod["metadata"]["uid"]))
    if netpol.same_spec(existing, wanted):
        return existing, existing, False
    body = dict(wanted, metadata=dict(wanted["metadata"], resourceVersion=existing["metadata"]["resourceVersion"],
                                      uid=existing["metadata"]["uid"]))
    updated = transport.request(api_client, "update", "networkpolicies", "PUT", _policy_path(namespace, name),
                                name=name, namespace=namespace, body=body)
    return existing, updated, True


class QuarantineBlocked(KubeError):
    """The quarantine policy's name is taken by a policy that is not ours."""


def quarantine_after_cut(api_client, namespace, name, options, result, check_mode=False):
    """Add the network quarantine to an isolation ``result`` (fresh, resumed or already done)."""
    warnings = result.setdefault("warnings", [])
    try:
        pod = read_pod(api_client, namespace, name)
        policies = list_optional(api_client, namespace, [NETPOL_PREFIX], "NetworkPolicy", "networkpolicies", warnings)
        if check_mode and not undo_record.is_marked(pod):
            labels = dict((result.get("plan") or {}).get("final_labels") or pod["metadata"].get("labels") or {})
        else:
            labels = dict(pod["metadata"].get("labels") or {})
        plan = plan_quarantine(pod, labels, policies or [], options)
        warnings.extend(plan["warnings"])
        diffs = [result["diff"]] if isinstance(result.get("diff"), dict) else list(result.get("diff") or [])
        if check_mode:
            return _check_result(api_client, pod, labels, plan, result, diffs)
        state = {}

        def replan(current):
            if not undo_record.is_marked(current):
                raise QuarantineBlocked("pod %s is no longer isolated (restored meanwhile); no quarantine was added"
                                        % name)
            state["before"] = current
            ops = _pod_ops(current, plan)
            return (lambda latest: json_patch_pod(api_client, latest, ops)) if ops else None

        written, seen = write_with_replan(lambda: read_pod(api_client, namespace, name), replan,
                                          "labelling pod %s in namespace %s for its network quarantine" % (name,
                                                                                                           namespace),
                                          first=pod)
        current = written or seen
        if written is not None:
            result["changed"] = True
            diffs.append(dict(metadata_diff(seen, written, name), after_header="pod %s (network quarantine)" % name))
        before, after, policy_changed = _ensure_policy(api_client, current, plan["policy"])
        if policy_changed:
            result["changed"] = True
            diffs.append(netpol.policy_diff(before, after, plan["policy"]["metadata"]["name"]))
    except KubeError as exc:
        partial = dict(result, warnings=warnings)
        if check_mode:
            raise Refused("pod %s in namespace %s: a real run would isolate it but could not quarantine it: %s" % (
                name, namespace, _describe(exc)), partial)
        raise PartialFailure("pod %s in namespace %s is isolated, but its network quarantine is not in place: %s. "
                             "Run the task again to finish it." % (name, namespace, _describe(exc)), partial)
    result["pod"] = pod_summary(current)
    result["network_quarantine"] = _summary(plan, after, created=before is None, changed=policy_changed)
    if diffs:
        result["diff"] = diffs
    return result


def _describe(exc):
    describe = getattr(exc, "describe", None)
    return describe() if callable(describe) else str(exc)


def _summary(plan, policy, created, changed):
    return {
        "policy": plan["policy"]["metadata"]["name"],
        "uid": ((policy or {}).get("metadata") or {}).get("uid"),
        "created": bool(created and changed),
        "updated": bool(changed and not created),
        "label": {undo_record.QUARANTINE_LABEL: plan["label_values"][undo_record.QUARANTINE_LABEL]},
        "escape_labels": plan["escape_labels"],
        "escaped_policies": plan["escaped_policies"],
        "unescaped_policies": plan["unescaped_policies"],
        "spec": (policy or plan["policy"]).get("spec"),
        "not_evaluated": plan["not_evaluated"],
    }


def _check_result(api_client, pod, labels, plan, result, diffs):
    """Check mode: both writes as they would be made, from reads only."""
    name = pod["metadata"]["name"]
    shown = with_metadata(pod, labels, dict(pod["metadata"].get("annotations") or {}))
    labels_after, annotations_after = apply_ops_locally(shown, _pod_ops(shown, plan))
    would_label = labels_after != labels or annotations_after != (shown["metadata"].get("annotations") or {})
    if would_label:
        diffs.append(dict(metadata_diff(shown, with_metadata(pod, labels_after, annotations_after), name),
                          after_header="pod %s (network quarantine)" % name))
    existing = read_policy(api_client, pod["metadata"]["namespace"], plan["policy"]["metadata"]["name"])
    if existing is not None and not netpol.is_quarantine_policy(existing, pod["metadata"]["uid"]):
        raise QuarantineBlocked("a NetworkPolicy named %s already exists and is not triage.k8s's quarantine of pod "
                                "%s; a real run would stop there" % (plan["policy"]["metadata"]["name"], name))
    policy_changes = existing is None or not netpol.same_spec(existing, plan["policy"])
    if policy_changes:
        diffs.append(netpol.policy_diff(existing, plan["policy"], plan["policy"]["metadata"]["name"]))
    result["changed"] = bool(result.get("changed") or would_label or policy_changes)
    result["network_quarantine"] = _summary(plan, existing if not policy_changes else None, created=existing is None,
                                            changed=policy_changes)
    if diffs:
        result["diff"] = diffs
    return result
