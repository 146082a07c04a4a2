# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The isolation planner: pure functions from what was read to what will be written.

No API calls happen here, so every rule is unit-tested without a cluster. Inputs are the plain JSON
objects isolate/run.py read (the pod, every Service in the namespace, the owner chain, PDBs, HPAs,
NetworkPolicies, the other pods of the namespace).

The Kubernetes behaviour the rules rest on:
- A Service stops sending traffic to a pod when its selector no longer matches the pod's labels (the
  endpoints and EndpointSlice controllers drop it).
- The owning ReplicaSet/DaemonSet/Job releases a pod whose labels stop matching its selector (it removes its
  ownerReference) and then creates a replacement to get back to its replica count. Every ReplicaSet selector
  of a Deployment carries pod-template-hash, which no Service normally selects on: changing only that key
  releases the pod while Services keep sending it traffic. That is the "replace-first" strategy.
- A StatefulSet cannot replace a pod while a pod with the same name exists, bare pods have no
  controller, Job pods are released without their success or failure being counted: all three are
  refused unless forced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import itertools
import math
import re

from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.model.names import (
    is_valid_label_key,
    is_valid_label_value,
    label_selector_matches,
    service_selector_matches,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    controller_ref,
    is_pod_ready,
    is_serving_endpoint,
    is_terminating,
    labels_of as _labels,
    name_of as _name,
)

POD_TEMPLATE_HASH = "pod-template-hash"
QUARANTINE_PREFIX = "quarantined-"
STRATEGY_CHOICES = ("auto", "replace-first", "immediate")
# Controllers that re-create a released pod under a new name, so the old one can stay for debugging.
REPLACING_CONTROLLERS = ("ReplicaSet", "DaemonSet")
# Above this many candidate keys the exact smallest-hitting-set search switches to a greedy one.
_EXACT_SEARCH_LIMIT = 16


class PlanError(Refused):
    """The request cannot be planned at all (bad input, or no label change can break a match)."""


def quarantine_value(value):
    """The new value for a label: "quarantined-<old>", kept a valid label value that differs from <old>.

    Label values are at most 63 characters and must start and end with an alphanumeric character.
    """
    if not value:
        return "quarantined"
    candidate = (QUARANTINE_PREFIX + value)[:63]
    candidate = re.sub(r"[^A-Za-z0-9]+$", "", candidate)
    if candidate == value or not is_valid_label_value(candidate):
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:10]
        candidate = QUARANTINE_PREFIX + digest
    return candidate


def _selector_targets(pod, services, controller, include_controller):
    """The matches to break: [(target_id, description, matcher(labels) -> bool)]."""
    targets = []
    for service in services:
        selector = (service.get("spec") or {}).get("selector")
        targets.append((
            "service/" + _name(service),
            "Service %s" % _name(service),
            lambda labels, selector=selector: service_selector_matches(selector, labels),
        ))
    if include_controller and controller is not None:
        selector = (controller.get("spec") or {}).get("selector")
        targets.append((
            "controller",
            "%s %s" % (controller.get("kind"), _name(controller)),
            lambda labels, selector=selector: label_selector_matches(selector, labels),
        ))
    return targets


def _hits(labels, new_values, targets):
    """For each pod label key: the set of targets that stop matching when only that key changes."""
    hits = {}
    for key in labels:
        changed = dict(labels)
        changed[key] = new_values[key]
        broken = set(target_id for target_id, _desc, matches in targets if matches(labels) and not matches(changed))
        if broken:
            hits[key] = broken
    return hits


def plan_service_cut(pod, services):
    """The label changes that remove ``pod`` from every Service still selecting it, and those Services' names.

    What a resumed replace-first writes: only Services are cut (the controller released the pod already), and
    pod-template-hash is avoided, as in the first plan.
    """
    labels = _labels(pod)
    selecting = [s for s in services if service_selector_matches((s.get("spec") or {}).get("selector"), labels)]
    if not selecting:
        return {}, []
    targets = _selector_targets(pod, selecting, None, include_controller=False)
    new_values = dict((k, quarantine_value(v)) for k, v in labels.items())
    keys = smallest_hitting_set(_hits(labels, new_values, targets), set(t[0] for t in targets),
                                avoid=(POD_TEMPLATE_HASH,))
    changes = dict((k, {"from": labels[k], "to": new_values[k]}) for k in keys or [])
    return changes, sorted(_name(s) for s in selecting)


def smallest_hitting_set(hits, required, avoid=()):
    """The fewest keys whose hit sets together cover `required`.

    Among sets of equal size, sets avoiding `avoid` keys win, then the alphabetical order, so the result is
    deterministic. Returns None when no combination covers `required`.
    """
    required = set(required)
    if not required:
        return []
    candidates = sorted(k for k, broken in hits.items() if broken & required)
    if not candidates:
        return None
    if not required <= set().union(*(hits[k] for k in candidates)):
        return None
    if len(candidates) <= _EXACT_SEARCH_LIMIT:
        for size in range(1, len(candidates) + 1):
            covering = [
                combo for combo in itertools.combinations(candidates, size)
                if required <= set().union(*(hits[k] for k in combo))
            ]
            if covering:
                covering.sort(key=lambda combo: (sum(1 for k in combo if k in avoid), combo))
                return list(covering[0])
    # Greedy fallback for unusually many keys: always pick the key breaking the most remaining matches.
    chosen, remaining = [], set(required)
    while remaining:
        best = max(candidates, key=lambda k: (len(hits[k] & remaining), k not in avoid, -candidates.index(k)))
        chosen.append(best)
        remaining -= hits[best]
    return sorted(chosen)


def _pdb_disruptions_allowed(pdb, pods, leaving):
    """disruptionsAllowed computed from the pods read, like the disruption controller does."""
    selector = (pdb.get("spec") or {}).get("selector")
    matching = [p for p in pods if not is_terminating(p) and label_selector_matches(selector, _labels(p))]
    healthy = sum(1 for p in matching if is_pod_ready(p) and _name(p) not in leaving)
    expected = len(matching)
    spec = pdb.get("spec") or {}

    def resolve(value):
        if isinstance(value, str) and value.endswith("%"):
            return int(math.ceil(float(value[:-1]) * expected / 100.0))
        return int(value)

    if spec.get("minAvailable") is not None:
        desired = resolve(spec["minAvailable"])
    elif spec.get("maxUnavailable") is not None:
        desired = expected - resolve(spec["maxUnavailable"])
    else:
        desired = expected
    return healthy - desired, healthy, desired


def pdb_budget(pdb, pods, leaving):
    """How many disruptions a PDB allows now, and where that number comes from.

    The disruption controller's own figure (status.disruptionsAllowed) is the truth: it counts the pods the
    workload's scale expects, including ones that are missing, which the pods we read cannot show. It is used
    when the status is current (observedGeneration). It cannot know about pods this run has just isolated
    (`leaving`), so then the smaller of it and our own count wins. Without a status (a fresh PDB, or a
    cluster without the disruption controller) the figure is computed from the pods read.
    """
    metadata = pdb.get("metadata") or {}
    status = pdb.get("status") or {}
    computed, healthy, desired = _pdb_disruptions_allowed(pdb, pods, leaving)
    current = status.get("disruptionsAllowed") is not None and (
        metadata.get("generation") is None or int(status.get("observedGeneration") or 0) >= int(metadata["generation"]))
    if not current:
        return {"name": _name(pdb), "disruptions_allowed": computed, "healthy": healthy, "desired": desired,
                "source": "computed from the pods (the PDB has no current status)"}
    allowed = int(status["disruptionsAllowed"])
    source = "status.disruptionsAllowed"
    if leaving and computed < allowed:
        allowed = computed
        source = "computed from the pods, lower than status.disruptionsAllowed after this run's own isolations"
    else:
        healthy = int(status.get("currentHealthy", healthy))
        desired = int(status.get("desiredHealthy", desired))
    return {"name": _name(pdb), "disruptions_allowed": allowed, "healthy": healthy, "desired": desired,
            "source": source}


def _workload_uid(controller_summary, top_summary):
    if top_summary and top_summary.get("uid"):
        return top_summary["uid"]
    if controller_summary:
        return controller_summary.get("uid")
    return None


def count_isolated_for_workload(pods, workload_uid):
    """Pods already isolated from this workload, found through the owner recorded in their undo record."""
    if not workload_uid:
        return 0
    count = 0
    for pod in pods:
        if not undo_record.is_marked(pod):
            continue
        try:
            record = undo_record.parse_record(pod)
        except undo_record.UndoRecordError:
            continue
        if _workload_uid(record.get("controller"), record.get("top_owner")) == workload_uid:
            count += 1
    return count


def plan_isolation(view, keys=None, values=None, strategy="auto", force=False, max_isolated=1, leaving=()):
    """Plan the isolation of view["pod"].

    view: {"pod", "services", "pods", "controller", "top_owner", "pdbs", "hpas", "network_policies"}
          controller/top_owner are the owner objects or None; "pods" are all pods of the namespace.
    keys: user-named label keys to rewrite instead of the computed smallest set.
    values: {key: new value} overrides for the rewritten values.
    leaving: names of pods this run isolates before this one (they count as gone).
    Returns a dict (see the module's RETURN "plan"); raises PlanError for requests that cannot work.
    """
    pod = view["pod"]
    labels = _labels(pod)
    values = dict(values or {})
    leaving = set(leaving)
    if strategy not in STRATEGY_CHOICES:
        raise PlanError("strategy must be one of %s, got %r" % (", ".join(STRATEGY_CHOICES), strategy))
    for key, value in values.items():
        if not is_valid_label_key(key):
            raise PlanError("values: %r is not a valid label key" % (key,))
        if not isinstance(value, str) or not is_valid_label_value(value):
            raise PlanError(
                "values: %r is not a valid label value for %s (at most 63 characters of letters, digits, '-', '_' "
                "or '.', starting and ending with a letter or digit)" % (value, key))
        if key in labels and labels[key] == value:
            raise PlanError("values: the new value for %s equals its current value %r, so it would break nothing"
                            % (key, value))
    if keys is not None:
        missing = [k for k in keys if k not in labels]
        if missing:
            raise PlanError("keys: pod %s has no label %s (its labels: %s)" % (
                _name(pod), ", ".join(missing), ", ".join(sorted(labels)) or "none"))

    new_values = dict((key, values.get(key, quarantine_value(value))) for key, value in labels.items())
    services = [s for s in view.get("services") or []
                if service_selector_matches((s.get("spec") or {}).get("selector"), labels)]
    service_names = sorted(_name(s) for s in services)
    controller = view.get("controller")
    top_owner = view.get("top_owner")
    ref = controller_ref(pod)
    controller_kind = (controller or {}).get("kind") or (ref or {}).get("kind")
    controller_summary = undo_record.owner_summary(controller) or (
        dict((k, ref.get(k)) for k in ("apiVersion", "kind", "name", "uid")) if ref else None)
    top_summary = undo_record.owner_summary(top_owner, template_hash=labels.get(POD_TEMPLATE_HASH)
                                            if (top_owner or {}).get("kind") == "Deployment" else None)

    targets = _selector_targets(pod, services, controller, include_controller=True)
    target_desc = dict((t[0], t[1]) for t in targets)
    hits = _hits(labels, new_values, targets)
    service_ids = set("service/" + n for n in service_names)
    all_ids = set(target_desc)

    # The release-only keys: break the controller's selector but no Service's (replace-first, phase 1).
    release_only = dict((k, v) for k, v in hits.items() if "controller" in v and not (v & service_ids))
    if keys is not None:
        release_only = dict((k, v) for k, v in release_only.items() if k in keys)
    release_keys = smallest_hitting_set(release_only, {"controller"}) if controller is not None else None
    replace_first_possible = bool(release_keys) and controller_kind in REPLACING_CONTROLLERS
    serving = is_serving_endpoint(pod) and bool(services)

    if strategy == "auto":
        if replace_first_possible and serving:
            chosen = "replace-first"
            why = "the pod is serving and its %s can be released first (by %s) while Services still select it" % (
                controller_kind, ", ".join(release_keys))
        else:
            chosen = "immediate"
            if not serving:
                why = "the pod is not a ready endpoint of any Service, so no traffic is at stake"
            elif controller_kind not in REPLACING_CONTROLLERS:
                why = "replace-first needs a ReplicaSet or DaemonSet owner (owner: %s)" % (controller_kind or "none")
            else:
                why = "no label releases the pod from its %s without also removing it from a Service" % controller_kind
    elif strategy == "replace-first":
        if not replace_first_possible:
            raise PlanError(
                "strategy replace-first is not possible for pod %s: it needs a ReplicaSet or DaemonSet owner and a "
                "label (normally %s) that its selector uses but no Service does (owner: %s). Use strategy immediate "
                "or auto." % (_name(pod), POD_TEMPLATE_HASH, controller_kind or "none"))
        chosen, why = "replace-first", "requested"
    else:
        chosen, why = "immediate", "requested"

    # The keys that cut every match at the end of the isolation.
    if keys is not None:
        chosen_keys = sorted(set(keys))
        changed = dict(labels)
        for key in chosen_keys:
            changed[key] = new_values[key]
        still = [target_desc[t] for t, _d, matches in targets if matches(labels) and matches(changed)]
        if still:
            raise PlanError("keys: changing %s leaves pod %s selected by %s; add a key from their selectors" % (
                ", ".join(chosen_keys), _name(pod), ", ".join(still)))
        release_keys = release_keys if chosen == "replace-first" else None
        cut_keys = [k for k in chosen_keys if k not in (release_keys or [])]
    elif chosen == "replace-first":
        service_hits = dict((k, v & service_ids) for k, v in hits.items() if k not in release_keys)
        cut_keys = smallest_hitting_set(service_hits, service_ids, avoid=(POD_TEMPLATE_HASH,))
        if cut_keys is None:
            raise PlanError("no label change removes pod %s from Services %s" % (_name(pod), ", ".join(service_names)))
    else:
        required = all_ids
        cut_keys = smallest_hitting_set(hits, required, avoid=(POD_TEMPLATE_HASH,))
        if cut_keys is None:
            unbreakable = sorted(target_desc[t] for t in required if not any(t in h for h in hits.values()))
            raise PlanError("no label change breaks the match of %s for pod %s (their selectors use operators a "
                            "value rewrite cannot defeat, e.g. Exists)" % (", ".join(unbreakable), _name(pod)))
        release_keys = None

    release_changes = dict((k, {"from": labels[k], "to": new_values[k]}) for k in (release_keys or []))
    cut_changes = dict((k, {"from": labels[k], "to": new_values[k]}) for k in cut_keys)
    final_labels = dict(labels)
    for key, change in list(release_changes.items()) + list(cut_changes.items()):
        final_labels[key] = change["to"]
    final_labels[undo_record.ISOLATED_LABEL] = "true"

    replacement_expected = controller_kind in REPLACING_CONTROLLERS and controller is not None and (
        controller_kind == "DaemonSet" or int((controller.get("spec") or {}).get("replicas", 1) or 0) > 0)
    if controller_kind == "Job":
        replacement_expected = not any(c.get("type") == "Complete" and c.get("status") == "True"
                                       for c in ((controller or {}).get("status") or {}).get("conditions") or [])

    guards, warnings = [], []

    def guard(guard_id, message):
        guards.append({"id": guard_id, "message": message})

    if is_terminating(pod):
        guard("terminating", "pod %s is terminating (deletionTimestamp %s); isolating it is pointless" % (
            _name(pod), pod["metadata"]["deletionTimestamp"]))
    if ref is None:
        guard("bare_pod", "pod %s has no controller, so nothing will replace it; its traffic share is lost" % _name(pod))
    elif controller_kind == "StatefulSet":
        guard("statefulset", "pod %s belongs to StatefulSet %s, which cannot create a replacement while a pod named "
              "%s exists: the set stays one replica short until the pod is deleted or restored"
              % (_name(pod), ref.get("name"), _name(pod)))
    elif controller_kind == "Job":
        guard("job", "pod %s belongs to Job %s: once released, its outcome is never counted and the Job starts "
              "another pod" % (_name(pod), ref.get("name")))
    elif controller_kind not in REPLACING_CONTROLLERS:
        guard("unknown_controller", "pod %s is controlled by %s %s, whose reaction to a label change is unknown"
              % (_name(pod), controller_kind, ref.get("name")))
    elif controller is None:
        guard("controller_missing", "the %s %s that controls pod %s could not be read" % (
            controller_kind, ref.get("name"), _name(pod)))

    pods = view.get("pods") or []
    others = [p for p in pods if _name(p) != _name(pod) and _name(p) not in leaving and not undo_record.is_marked(p)]
    if is_serving_endpoint(pod):
        for service in services:
            selector = (service.get("spec") or {}).get("selector")
            ready_others = [p for p in others
                            if is_serving_endpoint(p) and service_selector_matches(selector, _labels(p))]
            if ready_others:
                continue
            if not replacement_expected:
                guard("last_endpoint", "pod %s is the last ready endpoint of Service %s and no replacement will "
                      "come: the Service would have no endpoint at all" % (_name(pod), _name(service)))
            elif chosen == "immediate":
                warnings.append("pod %s is the last ready endpoint of Service %s: with strategy immediate the Service "
                                "has no ready endpoint until the replacement is Ready (replace-first avoids this)"
                                % (_name(pod), _name(service)))

    pdb_checks = []
    # replace-first is not checked: the pod stays selected by every PDB until its replacement is Ready, so the
    # budget's healthy count never drops below what it was (the guard would only refuse a safe isolation).
    if chosen == "immediate" and is_pod_ready(pod) and not is_terminating(pod):
        for pdb in view.get("pdbs") or []:
            selector = (pdb.get("spec") or {}).get("selector")
            if not label_selector_matches(selector, labels) or label_selector_matches(selector, final_labels):
                continue
            check = pdb_budget(pdb, pods, leaving)
            pdb_checks.append(check)
            if check["disruptions_allowed"] < 1:
                guard("pdb", "PodDisruptionBudget %s allows no disruption (%d healthy, %d required, %s); isolating "
                      "pod %s immediately would violate it" % (
                          check["name"], check["healthy"], check["desired"], check["source"], _name(pod)))

    workload_uid = _workload_uid(controller_summary, top_summary)
    already = count_isolated_for_workload(pods, workload_uid) + sum(
        1 for p in pods if _name(p) in leaving and not undo_record.is_marked(p)
        and workload_uid and _pod_workload_uid(p, view) == workload_uid)
    if workload_uid and already >= max_isolated:
        owner_desc = top_summary or controller_summary
        guard("max_isolated", "%s %s already has %d isolated pod(s), the limit max_isolated is %d" % (
            owner_desc.get("kind"), owner_desc.get("name"), already, max_isolated))

    workload_names = set()
    for summary in (controller_summary, top_summary):
        if summary:
            workload_names.add((summary.get("kind"), summary.get("name")))
    hpas = sorted(_name(h) for h in view.get("hpas") or []
                  if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") and (
                      h["spec"]["scaleTargetRef"].get("kind"), h["spec"]["scaleTargetRef"].get("name")) in workload_names)
    for name in hpas:
        warnings.append("HorizontalPodAutoscaler %s scales this workload; it counts the replacement, not the isolated "
                        "pod, and may scale while you investigate" % name)
    network_policies = sorted(
        _name(n) for n in view.get("network_policies") or []
        if label_selector_matches((n.get("spec") or {}).get("podSelector"), final_labels))
    if network_policies:
        warnings.append("NetworkPolicies still selecting pod %s after isolation: %s" % (
            _name(pod), ", ".join(network_policies)))

    blocking = list(guards)
    return {
        "pod": _name(pod),
        "namespace": (pod.get("metadata") or {}).get("namespace"),
        "strategy": chosen,
        "strategy_reason": why,
        "services": service_names,
        "controller": controller_summary,
        "top_owner": top_summary,
        "release_labels": release_changes,
        "cut_labels": cut_changes,
        "label_changes": dict(list(release_changes.items()) + list(cut_changes.items())),
        "final_labels": final_labels,
        "replacement_expected": bool(replacement_expected),
        "guards": guards,
        "forced": [g["id"] for g in blocking] if force else [],
        "blocked": bool(blocking) and not force,
        "warnings": warnings,
        "hpas": hpas,
        "network_policies": network_policies,
        "pdbs": pdb_checks,
    }


def _pod_workload_uid(pod, view):
    """The workload uid of a pod this run already isolated (its controller chain equals the view's)."""
    ref = controller_ref(pod)
    if ref is None:
        return None
    controller = view.get("controller")
    if controller and ref.get("uid") == (controller.get("metadata") or {}).get("uid"):
        top = view.get("top_owner")
        return ((top or controller).get("metadata") or {}).get("uid")
    return ref.get("uid")
