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

from ansible_collections.triage.k8s.plugins.module_utils.isolate.plan import (
    plan_isolation,
    plan_service_cut,
)
from ansible_collections.triage.k8s.plugins.module_utils.isolate.quarantine import quarantine_after_cut
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import Forbidden, NotFound, WaitTimeout
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
    pods, _rv = list_pods(api_client, namespace)
    controller, top = read_owner_chain(api_client, pod)
    if check_node:
        warnings.extend(node_hazards(pod, read_node_if_readable(api_client, (pod.get("spec") or {}).get("nodeName"))))
    return {
        "pod": pod,
        "services": services,
        "pods": pods,
        "controller": controller,
        "top_owner": top,
        "pdbs": list_optional(api_client, namespace, ["apis/policy/v1"], "PodDisruptionBudget",
                              "poddisruptionbudgets", warnings),
        "hpas": list_optional(api_client, namespace, ["apis/autoscaling/v2", "apis/autoscaling/v1"],
                              "HorizontalPodAutoscaler", "horizontalpodautoscalers", warnings),
        "network_policies": list_optional(api_client, namespace, ["apis/networking.k8s.io/v1"], "NetworkPolicy",
                                          "networkpolicies", warnings),
    }


def wait_for_replacement(api_client, pod, controller, pods_before, since, deadline):
    """Wait until the controller released `pod` and a new pod it owns is Ready; return that pod's name."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    uid = controller.get("uid")
    since_time = parse_rfc3339(since) if since else None

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

    return watch_until(api_client, "api/v1", "pods", namespace, condition, deadline, describe)


def wait_for_endpoints_drained(api_client, pod, services, deadline, notes):
    """Wait until no Endpoints/EndpointSlice of `services` lists the pod (by uid or IP)."""
    if not services:
        return
    namespace = pod["metadata"]["namespace"]
    uid = pod["metadata"]["uid"]
    ip = (pod.get("status") or {}).get("podIP")

    def listed(address):
        return (address.get("targetRef") or {}).get("uid") == uid or (ip and address.get("ip") == ip)

    def endpoints_holding(objects):
        holding = []
        for service in services:
            endpoints = objects.get(service) or {}
            for subset in endpoints.get("subsets") or []:
                if any(listed(a) for a in (subset.get("addresses") or []) + (subset.get("notReadyAddresses") or [])):
                    holding.append(service)
                    break
        return holding

    watch_until(api_client, "api/v1", "endpoints", namespace, lambda objs: not endpoints_holding(objs), deadline,
                lambda objs: "pod %s is still an endpoint of Service(s) %s" % (
                    pod["metadata"]["name"], ", ".join(endpoints_holding(objs))))

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


def _releasing_is_stale(record, wait_timeout):
    """A `releasing` record older than wait_timeout belongs to a run that was interrupted (or gave up).

    Younger records belong to a run that is still waiting for its replacement and will cut the Service labels
    itself. An unreadable timestamp cannot prove that anyone is still working on it, so it counts as stale.
    """
    try:
        written = parse_rfc3339(record.get("isolated_at"))
    except ValueError:
        return True
    return (utc_now() - written).total_seconds() >= wait_timeout


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
        phase = (current["metadata"].get("annotations") or {}).get(undo_record.PHASE)
        if phase != undo_record.PHASE_RELEASING:
            return {"outcome": "isolated", "pod": current}
        return None

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
        settled = _await_other_run(api_client, pod, deadline)
        if settled is None:
            # The other run used up its whole wait_timeout without cutting: treat it as interrupted.
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
    if record.get("phase") == undo_record.PHASE_RELEASING:
        if check_mode:
            return {"changed": True, "pod": pod_summary(pod), "plan": {"resume": True, "record": record},
                    "warnings": ["pod %s is in the middle of a replace-first isolation; a real run resumes "
                                 "it" % name], "timings": timer.timings}
        return _finish_replace_first(api_client, pod, record, None, options, timer, deadline, [],
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
            plan["controller"], plan["top_owner"], plan["services"])
        first_changes = plan["release_labels"] if replace_first else plan["label_changes"]
        new_labels = dict((k, c["to"]) for k, c in first_changes.items())
        new_labels[undo_record.ISOLATED_LABEL] = "true"
        ops = set_metadata_ops(pod, "labels", new_labels) + set_metadata_ops(pod, "annotations", annotations)
        state.update(plan=plan, warnings=warnings, pods_before=set(p["metadata"]["name"] for p in view["pods"]))
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
        return _finish_replace_first(api_client, pod, record, state["pods_before"], options, timer, deadline,
                                     warnings, plan, changed=True, before=before)
    replacement = None
    notes = []
    try:
        if options["wait"]:
            if plan["replacement_expected"]:
                replacement = wait_for_replacement(api_client, pod, plan["controller"], state["pods_before"],
                                                   record["isolated_at"], deadline)
                timer.mark("replacement_ready")
            wait_for_endpoints_drained(api_client, pod, plan["services"], deadline, notes)
            timer.mark("endpoints_drained")
    except WaitTimeout as exc:
        raise PartialFailure("pod %s is isolated (labels and record written) but the wait did not finish within "
                             "wait_timeout: %s" % (name, exc), _result(pod, before, plan, replacement, timer,
                                                                       warnings + notes))
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


def _finish_replace_first(api_client, pod, record, pods_before, options, timer, deadline, warnings, plan, changed,
                          before=None):
    """Phase 2 of replace-first: wait for the Ready replacement, then cut the Service labels."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    before = before or pod
    replacement = None
    controller = record.get("controller")
    try:
        if controller:
            replacement = wait_for_replacement(api_client, pod, controller, pods_before, record.get("isolated_at"),
                                               deadline)
        timer.mark("replacement_ready")
    except WaitTimeout as exc:
        raise PartialFailure(
            "pod %s was released from its controller but still serves traffic: %s. It is marked %s=%s; run the "
            "isolation again to resume." % (name, exc, undo_record.PHASE, undo_record.PHASE_RELEASING),
            _result(pod, before, plan, None, timer, warnings, changed=changed))
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

    written, current = write_with_replan(lambda: read_pod(api_client, namespace, name), replan,
                                         "cutting the Service labels of pod %s in namespace %s" % (name, namespace))
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
    event_plan = plan if not plan.get("resume") else {
        "strategy": "replace-first", "services": record.get("services"), "controller": controller}
    event_warning = create_event(api_client, pod, "Isolated", _event_message(event_plan, options))
    return _result(pod, before, plan, replacement, timer, warnings + notes + ([event_warning] if event_warning else []),
                   changed=changed)
