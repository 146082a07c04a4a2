# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Carry out an isolation plan: read, plan, write conditionally, replan on conflicts, wait, report.

Phases (their durations come back as `timings`):
  plan               reads and planning
  release            the first patch (replace-first: pod-template-hash; immediate: every key)
  replacement_ready  the controller released the pod and its replacement is Ready
  service_cut        replace-first only: the Service labels are rewritten
  endpoints_drained  the pod IP left the Endpoints and EndpointSlices of every Service that selected it
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import uuid

from ansible_collections.triage.k8s.plugins.module_utils.isolate.plan import (
    plan_isolation,
    plan_service_cut,
)
from ansible_collections.triage.k8s.plugins.module_utils.isolate.quarantine import quarantine_after_cut
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import (
    Forbidden,
    KubeError,
    NotFound,
    StaleRead,
    WaitTimeout,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import (
    list_objects,
    list_optional,
    list_pods,
    read_node_if_readable,
    read_owner_chain,
    read_pod,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.watch import watch_until
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import (
    create_event,
    json_patch_pod,
    write_with_replan,
)
from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import (
    Deadline,
    PhaseTimer,
    format_rfc3339,
    parse_rfc3339,
    utc_now,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.nodes import node_hazards
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import PartialFailure, Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.patches import (
    apply_ops_locally,
    metadata_diff,
    set_metadata_ops,
    with_metadata,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import is_serving_endpoint, owned_by, pod_summary

# How many times a marked pod is looked at again when another run changed it meanwhile (restored, replaced).
MAX_RECHECKS = 5


class IsolationRefused(Refused):
    """A guard failed (and force was not set). ``plan`` holds the full plan for the result."""

    def __init__(self, message, plan):
        Refused.__init__(self, message, {"plan": plan})
        self.plan = plan


def read_view(api_client, pod, warnings, check_node=False):
    """Everything plan_isolation() needs for this pod, with a fixed, small number of requests: one LIST of
    Services (selectors are matched locally), one LIST of pods, the owner chain, one LIST each of PDBs, HPAs
    and NetworkPolicies, and with ``check_node`` the pod's Node where this identity may read it (a cordoned or NoExecute-tainted node
    adds to ``warnings``: the isolated pod stays exposed to drains and the taint manager). Unreadable optional
    resources add to ``warnings``."""
    namespace = pod["metadata"]["namespace"]
    services, _rv = list_objects(api_client, "api/v1", "services", namespace, "Service")
    pods, pods_rv = list_pods(api_client, namespace)
    controller, top = read_owner_chain(api_client, pod)
    if check_node:
        warnings.extend(node_hazards(pod, read_node_if_readable(api_client, (pod.get("spec") or {}).get("nodeName"))))
    return {
        "pod": pod,
        "services": services,
        "pods": pods,
        # The wait for the replacement watches from here instead of listing every pod again (in a namespace of
        # 5,000 pods that second LIST was the largest avoidable cost of an isolation: docs/benchmarks.md).
        "pods_resource_version": pods_rv,
        "controller": controller,
        "top_owner": top,
        "pdbs": list_optional(api_client, namespace, ["apis/policy/v1"], "PodDisruptionBudget",
                              "poddisruptionbudgets", warnings),
        "hpas": list_optional(api_client, namespace, ["apis/autoscaling/v2", "apis/autoscaling/v1"],
                              "HorizontalPodAutoscaler", "horizontalpodautoscalers", warnings),
        "network_policies": list_optional(api_client, namespace, ["apis/networking.k8s.io/v1"], "NetworkPolicy",
                                          "networkpolicies", warnings),
    }


def wait_for_replacement(api_client, pod, controller, since, deadline, start=None):
    """Wait until the controller released `pod` and a new pod it owns is Ready; return that pod's name.

    ``start``: ``(pods_by_name, resourceVersion)`` of the LIST the plan was made from; the watch begins there,
    and a pod is new when that LIST did not have it. Without it (a rerun finishing another run's work), a pod is
    new when it was created at or after ``since``."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    uid = controller.get("uid")
    since_time = parse_rfc3339(since) if since else None
    pods_before = set(start[0]) if start is not None else None

    def is_new(candidate):
        if pods_before is not None:
            return candidate["metadata"]["name"] not in pods_before
        created = candidate["metadata"].get("creationTimestamp")
        return bool(created and since_time and parse_rfc3339(created) >= since_time)

    def condition(objects):
        current = objects.get(name)
        if current is not None and owned_by(current, uid):
            return None
        ready = [p for p in objects.values()
                 if p["metadata"]["name"] != name and owned_by(p, uid) and is_new(p) and is_serving_endpoint(p)]
        if not ready:
            return None
        ready.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
        return ready[-1]["metadata"]["name"]

    def describe(objects):
        current = objects.get(name)
        if current is not None and owned_by(current, uid):
            return "%s %s has not released pod %s yet" % (controller.get("kind"), controller.get("name"), name)
        new = sorted(p["metadata"]["name"] for p in objects.values()
                     if p["metadata"]["name"] != name and owned_by(p, uid) and is_new(p))
        if not new:
            return "%s %s released pod %s but has created no replacement" % (
                controller.get("kind"), controller.get("name"), name)
        return "the replacement pod(s) %s of %s %s are not Ready yet" % (
            ", ".join(new), controller.get("kind"), controller.get("name"))

    return watch_until(api_client, "api/v1", "pods", namespace, condition, deadline, describe, start=start)


def wait_for_endpoints_drained(api_client, pod, services, deadline, notes):
    """Wait until no Endpoints/EndpointSlice of `services` lists the pod (by uid or IP)."""
    if not services:
        return
    namespace = pod["metadata"]["namespace"]
    uid = pod["metadata"]["uid"]
    ip = (pod.get("status") or {}).get("podIP")

    def listed(address):
        return (address.get("targetRef") or {}).get("uid") == uid or (ip and address.get("ip") == ip)

    def holds(endpoints):
        for subset in (endpoints or {}).get("subsets") or []:
            if any(listed(a) for a in (subset.get("addresses") or []) + (subset.get("notReadyAddresses") or [])):
                return True
        return False

    # One Endpoints object per Service, read by name (a field selector), not every Endpoints of the namespace:
    # with 1,000 Services that LIST was 10 MB for the one or two objects that matter.
    for service in sorted(services):
        watch_until(api_client, "api/v1", "endpoints", namespace, lambda objs, s=service: not holds(objs.get(s)),
                    deadline, lambda objs, s=service: "pod %s is still an endpoint of Service %s" % (
                        pod["metadata"]["name"], s),
                    field_selector="metadata.name=%s" % service)

    def slices_holding(objects):
        holding = set()
        for endpoint_slice in objects.values():
            for endpoint in endpoint_slice.get("endpoints") or []:
                if (endpoint.get("targetRef") or {}).get("uid") == uid:
                    holding.add(((endpoint_slice.get("metadata") or {}).get("labels") or {}).get(
                        "kubernetes.io/service-name", endpoint_slice["metadata"]["name"]))
        return sorted(holding)

    selector = "kubernetes.io/service-name in (%s)" % ",".join(sorted(services))
    try:
        watch_until(api_client, "apis/discovery.k8s.io/v1", "endpointslices", namespace,
                    lambda objs: not slices_holding(objs), deadline,
                    lambda objs: "pod %s is still in the EndpointSlices of Service(s) %s" % (
                        pod["metadata"]["name"], ", ".join(slices_holding(objs))),
                    label_selector=selector)
    except (Forbidden, NotFound) as exc:
        notes.append("EndpointSlices were not checked: %s" % exc.describe())


def _owner_deadline(record, wait_timeout):
    """Until when the run that wrote a `releasing` record may still cut the Services itself (a datetime), or
    None when nobody can be: the record says interrupted, or its times are unreadable.

    The record's own run-deadline counts; records written before it existed get isolated-at + wait_timeout.
    """
    if record.get("phase") == undo_record.PHASE_INTERRUPTED:
        return None
    try:
        if record.get("run_deadline"):
            return parse_rfc3339(record["run_deadline"])
        return parse_rfc3339(record.get("isolated_at")) + datetime.timedelta(seconds=wait_timeout)
    except (TypeError, ValueError):
        return None


def _releasing_is_stale(record, wait_timeout):
    """A `releasing` record whose run is gone: it said so (phase interrupted), or its deadline has passed.

    Before that deadline the record belongs to a run that is still waiting for its replacement and will cut the
    Service labels itself. An unreadable time cannot prove that anyone is still working on it: stale.
    """
    deadline = _owner_deadline(record, wait_timeout)
    return deadline is None or utc_now() >= deadline


def _await_other_run(api_client, pod, deadline):
    """Watch the pod until the run that owns its `releasing` record finishes (or it is restored or deleted).

    Returns {"outcome": "isolated" | "restored" | "gone", "pod": ...}, or None when the deadline passed first.
    """
    namespace, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"].get("uid")

    def settled(objects):
        current = objects.get(name)
        if current is None or current["metadata"].get("uid") != uid:
            return {"outcome": "gone", "pod": None}
        if not undo_record.is_marked(current):
            return {"outcome": "restored", "pod": current}
        phase = undo_record.record_phase(current)
        if phase == undo_record.PHASE_RELEASING:
            return None
        if phase == undo_record.PHASE_INTERRUPTED:
            return {"outcome": "interrupted", "pod": current}
        return {"outcome": "isolated", "pod": current}

    try:
        return watch_until(api_client, "api/v1", "pods", namespace, settled, deadline,
                           lambda objects: "pod %s is still being isolated by another run" % name,
                           field_selector="metadata.name=%s" % name)
    except WaitTimeout:
        return None


def _isolated_elsewhere(pod, record, timer, warnings, waited):
    """The ok result when another run isolated (or is isolating) the pod."""
    if not waited:
        warnings = warnings + ["pod %s is being isolated by another run (%s, phase %s since %s); it will cut the "
                               "Service labels" % (pod["metadata"]["name"], record.get("isolated_by") or "unknown",
                                                   record.get("phase"), record.get("isolated_at"))]
    return {"changed": False, "pod": pod_summary(pod), "record": record,
            "plan": {"already_isolated": True, "record": record, "isolated_by_another_run": True},
            "warnings": warnings, "timings": timer.timings}


def _marked(api_client, pod, options, check_mode, timer, deadline):
    """The result for a pod that already carries the marker, or None when it changed meanwhile (look again)."""
    name = pod["metadata"]["name"]
    record = undo_record.parse_record(pod)
    if record.get("phase") == undo_record.PHASE_RELEASING and not _releasing_is_stale(
            record, options["wait_timeout"]):
        # Another run wrote this record moments ago and owns the Service cut: let it finish and
        # report ok, so two concurrent isolations give one changed and one ok.
        if check_mode or not options["wait"]:
            return _isolated_elsewhere(pod, record, timer, [], waited=False)
        # Wait at most until that run's own deadline: after it, nobody else will cut, so this run does.
        owner_left = (_owner_deadline(record, options["wait_timeout"]) - utc_now()).total_seconds()
        settled = _await_other_run(api_client, pod, Deadline(max(0.0, min(owner_left, deadline.remaining()))))
        if settled is None or settled["outcome"] == "interrupted":
            # The other run's deadline passed without a cut, or it said it failed: finish the cut here.
            pod = read_pod(api_client, pod["metadata"]["namespace"], name)
            if not undo_record.is_marked(pod):
                return None
            record = undo_record.parse_record(pod)
        elif settled["outcome"] == "isolated":
            timer.mark("other_run")
            return _isolated_elsewhere(settled["pod"], undo_record.parse_record(settled["pod"]), timer, [],
                                       waited=True)
        else:
            return None  # restored or replaced meanwhile: read and plan again
    if record.get("phase") in (undo_record.PHASE_RELEASING, undo_record.PHASE_INTERRUPTED):
        if check_mode:
            return {"changed": True, "pod": pod_summary(pod), "plan": {"resume": True, "record": record},
                    "warnings": ["pod %s is in the middle of a replace-first isolation; a real run resumes "
                                 "it" % name], "timings": timer.timings}
        return _finish_replace_first(api_client, pod, record, options, timer, deadline, [],
                                     {"resume": True, "record": record}, changed=False)
    return {"changed": False, "pod": pod_summary(pod), "record": record,
            "plan": {"already_isolated": True, "record": record}, "warnings": [], "timings": timer.timings}


def isolate_pod(api_client, namespace, name, options, check_mode=False, leaving=()):
    """Isolate one pod and, with options["network_quarantine"], quarantine it after the traffic cut."""
    result = _isolate_pod(api_client, namespace, name, options, check_mode=check_mode, leaving=leaving)
    if options.get("network_quarantine"):
        result = quarantine_after_cut(api_client, namespace, name, options, result, check_mode=check_mode)
    return result


def _isolate_pod(api_client, namespace, name, options, check_mode=False, leaving=()):
    """Isolate one pod. Returns the per-pod result dict; raises IsolationRefused, PlanError (Refused),
    PartialFailure, or a KubeError (PodNotFound, ApiError, KeptChanging) with messages meant for the user.

    ``options`` holds every option of the module (isolated_by already defaulted by the glue).
    """
    timer = PhaseTimer()
    deadline = Deadline(options["wait_timeout"])
    run_id = uuid.uuid4().hex[:16]
    run_deadline = format_rfc3339(utc_now() + datetime.timedelta(seconds=options["wait_timeout"]))
    state = {}

    def replan(pod):
        state.clear()
        if undo_record.is_marked(pod):
            state["marked"] = pod
            return None
        warnings = []
        view = read_view(api_client, pod, warnings, check_node=options.get("check_node", False))
        plan = plan_isolation(view, keys=options["keys"], values=options["values"], strategy=options["strategy"],
                              force=options["force"], max_isolated=options["max_isolated"], leaving=leaving)
        warnings.extend(plan["warnings"])
        timer.mark("plan")
        if plan["blocked"]:
            raise IsolationRefused(
                "refusing to isolate pod %s in namespace %s: %s. Nothing was changed; set force: true to override." % (
                    name, namespace, "; ".join(g["message"] for g in plan["guards"])), plan)
        if plan["forced"]:
            warnings.append("guards overridden by force: %s" % ", ".join(plan["forced"]))
        replace_first = plan["strategy"] == "replace-first"
        annotations = undo_record.build_annotations(
            dict(pod["metadata"].get("labels") or {}), format_rfc3339(utc_now()), options["isolated_by"],
            options["reason"], options["ticket"], plan["strategy"],
            undo_record.PHASE_RELEASING if replace_first else undo_record.PHASE_ISOLATED,
            plan["controller"], plan["top_owner"], plan["services"],
            run_id=run_id if replace_first else None, run_deadline=run_deadline if replace_first else None)
        first_changes = plan["release_labels"] if replace_first else plan["label_changes"]
        new_labels = dict((k, c["to"]) for k, c in first_changes.items())
        new_labels[undo_record.ISOLATED_LABEL] = "true"
        ops = set_metadata_ops(pod, "labels", new_labels) + set_metadata_ops(pod, "annotations", annotations)
        state.update(plan=plan, warnings=warnings,
                     pods_start=(dict((p["metadata"]["name"], p) for p in view["pods"]),
                                 view["pods_resource_version"]))
        if check_mode:
            final_annotations = dict(annotations)
            final_annotations[undo_record.PHASE] = undo_record.PHASE_ISOLATED
            labels_after, annotations_after = apply_ops_locally(
                pod, set_metadata_ops(pod, "labels", plan["final_labels"]) +
                set_metadata_ops(pod, "annotations", final_annotations))
            state["check"] = {"changed": True, "pod": pod_summary(pod), "plan": plan, "warnings": warnings,
                              "diff": metadata_diff(pod, with_metadata(pod, labels_after, annotations_after), name),
                              "timings": timer.timings}
            return None
        return lambda current: json_patch_pod(api_client, current, ops)

    def read():
        return read_pod(api_client, namespace, name)

    for _look in range(MAX_RECHECKS):
        pod, before = write_with_replan(read, replan, "isolating pod %s in namespace %s" % (name, namespace))
        if pod is not None:
            break
        if "check" in state:
            return state["check"]
        result = _marked(api_client, state["marked"], options, check_mode, timer, deadline)
        if result is not None:
            return result
    else:
        raise PartialFailure("pod %s in namespace %s kept changing between isolated and not isolated; nothing was "
                             "changed by this run" % (name, namespace), {"changed": False})
    timer.mark("release")
    plan, warnings = state["plan"], state["warnings"]
    record = undo_record.parse_record(pod)
    if plan["strategy"] == "replace-first":
        return _finish_replace_first(api_client, pod, record, options, timer, deadline, warnings, plan,
                                     changed=True, before=before, run_id=run_id, pods_start=state["pods_start"])
    replacement = None
    notes = []
    try:
        if options["wait"]:
            if plan["replacement_expected"]:
                replacement = wait_for_replacement(api_client, pod, plan["controller"], record["isolated_at"],
                                                   deadline, start=state["pods_start"])
                timer.mark("replacement_ready")
            wait_for_endpoints_drained(api_client, pod, plan["services"], deadline, notes)
            timer.mark("endpoints_drained")
    except WaitTimeout as exc:
        raise PartialFailure("pod %s is isolated (labels and record written) but the wait did not finish within "
                             "wait_timeout: %s" % (name, exc), _result(pod, before, plan, replacement, timer,
                                                                       warnings + notes))
    except KubeError as exc:
        raise PartialFailure(
            "pod %s in namespace %s is isolated (labels and record written: no Service and no controller selects "
            "it any more), but following the change failed: %s. A rerun reports it isolated." % (
                name, namespace, exc), _result(pod, before, plan, replacement, timer, warnings + notes))
    event_warning = create_event(api_client, pod, "Isolated", _event_message(plan, options))
    return _result(pod, before, plan, replacement, timer, warnings + notes + ([event_warning] if event_warning else []))


def _event_message(plan, options):
    message = "Isolated by triage.k8s (strategy %s): left Service(s) %s" % (
        plan.get("strategy") or "replace-first", ", ".join(plan.get("services") or []) or "none")
    if plan.get("controller"):
        message += " and %s %s" % (plan["controller"].get("kind"), plan["controller"].get("name"))
    if options.get("reason"):
        message += "; reason: %s" % options["reason"]
    if options.get("ticket"):
        message += "; ticket: %s" % options["ticket"]
    return message


def _result(pod, before, plan, replacement, timer, warnings, changed=True):
    return {
        "changed": changed,
        "pod": pod_summary(pod),
        "plan": plan,
        "replacement": replacement,
        "timings": timer.timings,
        "warnings": [w for w in warnings if w],
        "diff": metadata_diff(before, pod, pod["metadata"]["name"]),
    }


def _mark_interrupted(api_client, namespace, name, run_id=None):
    """Say on the record that the run owning `releasing` failed, so that a rerun finishes the cut at once
    instead of waiting for the run's deadline. Only a `releasing` record (of run ``run_id`` when given) is
    marked. Returns True when the mark was written; a failure to write it is not an error (the deadline in the
    record still hands the cut to the next run)."""
    def replan(current):
        record = undo_record.parse_record(current) if undo_record.is_marked(current) else None
        if not record or record.get("phase") != undo_record.PHASE_RELEASING or (
                run_id and record.get("run_id") not in (None, run_id)):
            return None
        ops = set_metadata_ops(current, "annotations", {undo_record.PHASE: undo_record.PHASE_INTERRUPTED})
        return lambda latest: json_patch_pod(api_client, latest, ops)

    try:
        written, _current = write_with_replan(lambda: read_pod(api_client, namespace, name), replan,
                                              "marking the record of pod %s interrupted" % name)
    except KubeError:
        return False
    return written is not None


def _serving_state(pod, record, controller, marked):
    """What a failure before the Service cut leaves, in words, and what a rerun will do."""
    services = ("Service(s) %s" % ", ".join(record.get("services"))) if record.get("services") else "its Services"
    released = ("was released from %s %s" % (controller.get("kind"), controller.get("name"))) if controller else \
        "had its controller labels changed"
    return ("pod %s in namespace %s %s, but %s still select it, so it still serves traffic. Its record says "
            "phase %s; a rerun of pod_isolate cuts the Service labels and finishes the isolation%s" % (
                pod["metadata"]["name"], pod["metadata"]["namespace"], released, services,
                undo_record.PHASE_INTERRUPTED if marked else undo_record.PHASE_RELEASING,
                "" if marked else " (once this run's deadline in the record has passed)"))


def _finish_replace_first(api_client, pod, record, options, timer, deadline, warnings, plan, changed,
                          before=None, run_id=None, pods_start=None):
    """Phase 2 of replace-first: wait for the Ready replacement, then cut the Service labels.

    Any failure before the cut is written marks the record interrupted (when it can) and says that the pod still
    serves traffic; ``changed`` stays true when this run wrote anything.
    """
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    before = before or pod
    replacement = None
    controller = record.get("controller")
    cut = {}

    def replan(current):
        current_record = undo_record.parse_record(current)
        if current_record and current_record.get("phase") == undo_record.PHASE_ISOLATED:
            return None  # another run finished the cut
        services, _rv = list_objects(api_client, "api/v1", "services", namespace, "Service")
        cut["changes"], cut["services"] = plan_service_cut(current, services)
        ops = set_metadata_ops(current, "labels", dict((k, c["to"]) for k, c in cut["changes"].items()))
        ops += set_metadata_ops(current, "annotations", {undo_record.PHASE: undo_record.PHASE_ISOLATED})
        return lambda latest: json_patch_pod(api_client, latest, ops)

    try:
        if controller:
            replacement = wait_for_replacement(api_client, pod, controller, record.get("isolated_at"), deadline,
                                               start=pods_start)
        timer.mark("replacement_ready")
        written, current = write_with_replan(lambda: read_pod(api_client, namespace, name), replan,
                                             "cutting the Service labels of pod %s in namespace %s" % (
                                                 name, namespace))
    except (KubeError, StaleRead) as exc:
        marked = _mark_interrupted(api_client, namespace, name, run_id)
        why = ("its replacement was not Ready within wait_timeout (%s)" % exc) if isinstance(exc, WaitTimeout) \
            else "the run failed: %s" % exc
        raise PartialFailure("%s. Why: %s." % (_serving_state(pod, record, controller, marked), why),
                             _result(pod, before, plan, replacement, timer, warnings, changed=changed))
    if written is None:
        pod = current
    else:
        pod = written
        changed = True
        if isinstance(plan, dict) and "cut_labels" in plan and not plan.get("resume"):
            plan["cut_labels"] = cut["changes"]
        timer.mark("service_cut")
    notes = []
    try:
        if options["wait"]:
            wait_for_endpoints_drained(api_client, pod, cut.get("services") or record.get("services") or [], deadline,
                                       notes)
            timer.mark("endpoints_drained")
    except WaitTimeout as exc:
        raise PartialFailure("pod %s is isolated but the wait did not finish within wait_timeout: %s" % (name, exc),
                             _result(pod, before, plan, replacement, timer, warnings + notes, changed=changed))
    except KubeError as exc:
        raise PartialFailure(
            "pod %s in namespace %s is isolated (Service labels cut, record phase %s), but following the endpoints "
            "failed: %s. A rerun reports it isolated." % (name, namespace, undo_record.PHASE_ISOLATED, exc),
            _result(pod, before, plan, replacement, timer, warnings + notes, changed=changed))
    event_plan = plan if not plan.get("resume") else {
        "strategy": "replace-first", "services": record.get("services"), "controller": controller}
    event_warning = create_event(api_client, pod, "Isolated", _event_message(event_plan, options))
    return _result(pod, before, plan, replacement, timer, warnings + notes + ([event_warning] if event_warning else []),
                   changed=changed)
