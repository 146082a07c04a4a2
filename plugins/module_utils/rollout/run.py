# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""workload_restart's flow: find the workload, decide, write one conditioned patch, watch the rollout; or reload
each pod in turn over exec.

restart_workload:  read the workload (given, or from a pod's owner chain), its pods and the pods this collection
                   isolated from it -> decide (restart_after, a rollout already in progress, a paused Deployment)
                   -> one JSON patch that tests the resourceVersion read and sets the restartedAt template
                   annotation -> watch the workload until `kubectl rollout status` would say done, or fail with
                   the controller's reason and the pods that are not ready (with the last log lines of each
                   crashed container).
reload_workload:   for each pod in turn: exec the reload command, then watch the pod for settle_seconds: it must
                   stay Ready without a container restart; the first failure stops the run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import (
    Invalid,
    KubeError,
    NotFound,
    StaleRead,
    WaitTimeout,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube import reads, streams, transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import JSON_PATCH, api_path
from ansible_collections.triage.k8s.plugins.module_utils.kube.watch import watch_until
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import conditioned_patch, write_with_replan
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import (
    Deadline,
    PhaseTimer,
    format_rfc3339,
    parse_rfc3339,
    utc_now,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.names import label_selector_matches
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import PartialFailure, Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    controller_ref,
    is_pod_ready,
    is_terminating,
    metadata,
)
from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.rollout import plan
from ansible_collections.triage.k8s.plugins.module_utils.rollout.status import (
    KINDS,
    counts,
    describe_problem,
    pod_problems,
    rollout_in_progress,
    rollout_status,
)

ISOLATED_NOTE = ("pods this collection isolated were released from the controller: they are not restarted, "
                 "signalled or waited for (pod_restore puts them back)")
OUTPUT_LIMIT = 4096


# ------------------------------------------------------------------------------------------------ reads

def _workload_path(kind, namespace, name=None):
    prefix, plural = plan.WORKLOAD_RESOURCES[kind]
    if name is None:
        return api_path(prefix, "namespaces", namespace, plural)
    return api_path(prefix, "namespaces", namespace, plural, name)


def read_workload(api_client, kind, namespace, name):
    _prefix, plural = plan.WORKLOAD_RESOURCES[kind]
    try:
        obj = transport.request(api_client, "get", plural, "GET", _workload_path(kind, namespace, name), name=name,
                                namespace=namespace)
    except NotFound:
        raise Refused("%s %s not found in namespace %s; nothing was changed" % (kind, name, namespace))
    obj.setdefault("apiVersion", "apps/v1")
    obj.setdefault("kind", kind)
    return obj


def workload_of_pod(api_client, namespace, pod_name):
    """(kind, name, how): the Deployment, StatefulSet or DaemonSet a pod belongs to, following its
    ownerReferences (pod -> ReplicaSet -> Deployment), or the isolation record of a pod this collection isolated."""
    pod = reads.read_pod(api_client, namespace, pod_name)
    if record.is_marked(pod):
        parsed = record.parse_record(pod) or {}
        for owner in (parsed.get("top_owner"), parsed.get("controller")):
            if owner and owner.get("kind") in KINDS:
                return (owner["kind"], owner["name"],
                        "the isolation record of pod %s (isolated, so released from its controller)" % pod_name)
        raise Refused("pod %s in namespace %s is isolated and its record names no Deployment, StatefulSet or "
                      "DaemonSet; nothing was changed" % (pod_name, namespace))
    controller, top = reads.read_owner_chain(api_client, pod)
    for owner in (top, controller):
        if owner is not None and owner.get("kind") in KINDS:
            chain = " -> ".join("%s %s" % (o["kind"], metadata(o).get("name")) for o in (controller, top) if o)
            return owner["kind"], metadata(owner)["name"], "the ownerReferences of pod %s (%s)" % (pod_name, chain)
    ref = controller_ref(pod)
    raise Refused("pod %s in namespace %s belongs to no Deployment, StatefulSet or DaemonSet (its controller: %s); "
                  "nothing was changed" % (pod_name, namespace,
                                           "%s %s" % (ref.get("kind"), ref.get("name")) if ref else "none"))


def _selector_string(selector):
    """The matchLabels part as a LIST selector (matchExpressions are matched locally)."""
    return ",".join("%s=%s" % (k, v) for k, v in sorted((selector.get("matchLabels") or {}).items())) or None


class _Owners(object):
    """Which pods a workload controls: its own controllerRef, or (Deployment) that of the ReplicaSet it owns."""

    def __init__(self, api_client, workload):
        self.api_client = api_client
        self.workload = workload
        self.uid = metadata(workload).get("uid")
        self.replicasets = {}

    def controls(self, pod):
        ref = controller_ref(pod)
        if not ref:
            return False
        if self.workload["kind"] != "Deployment":
            return ref.get("uid") == self.uid
        if ref.get("kind") != "ReplicaSet":
            return False
        if ref.get("uid") not in self.replicasets:
            rs = reads.read_owner(self.api_client, metadata(pod)["namespace"], ref)
            self.replicasets[ref.get("uid")] = rs is not None and (controller_ref(rs) or {}).get("uid") == self.uid
        return self.replicasets[ref.get("uid")]


def workload_pods(api_client, workload):
    """(pods it controls, pods this collection isolated from it): the first are what a restart replaces."""
    namespace = metadata(workload)["namespace"]
    selector = (workload.get("spec") or {}).get("selector") or {}
    pods, _rv = reads.list_pods(api_client, namespace, _selector_string(selector))
    owners = _Owners(api_client, workload)
    controlled = sorted((p for p in pods if label_selector_matches(selector, metadata(p).get("labels"))
                         and not record.is_marked(p) and owners.controls(p)),
                        key=lambda p: metadata(p)["name"])
    marked, _rv = reads.list_pods(api_client, namespace, "%s=true" % record.ISOLATED_LABEL)
    return controlled, plan.isolated_for(marked, workload)


def _log_tail(api_client, namespace, pod, container, lines, previous):
    chunks = []
    try:
        for chunk in streams.log_chunks(api_client, namespace, pod, container, previous=previous, timestamps=False,
                                        tail_lines=lines, limit_bytes=64 * 1024, read_timeout=20):
            chunks.append(chunk)
    except KubeError as exc:
        return None, str(exc)
    text = b"".join(chunks).decode("utf-8", "replace")
    return text.splitlines()[-lines:], None


def not_ready_pods(api_client, workload, log_lines):
    """The workload's pods that are not ready, each with why, and the last log lines of each crashed container
    (its previous instance when it restarted, as `kubectl logs --previous` shows the crash)."""
    pods, _isolated = workload_pods(api_client, workload)
    found = []
    for pod in pods:
        if is_pod_ready(pod) and not is_terminating(pod):
            continue
        name = metadata(pod)["name"]
        problems = pod_problems(pod) if not is_terminating(pod) else [
            {"container": None, "state": "terminating", "reason": "Terminating", "crashed": False,
             "restart_count": 0}]
        for problem in problems:
            if problem.get("crashed") and problem.get("container") and log_lines:
                previous = problem.get("state") != "terminated" and problem.get("restart_count", 0) > 0
                lines, error = _log_tail(api_client, metadata(pod)["namespace"], name, problem["container"],
                                         log_lines, previous)
                if lines is not None:
                    problem["last_log_lines"] = lines
                else:
                    problem["log_error"] = error
        found.append({"name": name, "revision": _revision_label(pod), "problems": problems})
    return found


def _revision_label(pod):
    labels = metadata(pod).get("labels") or {}
    return labels.get("pod-template-hash") or labels.get("controller-revision-hash")


def _summarize(pods):
    parts = []
    for pod in pods:
        words = "; ".join(describe_problem(p) for p in pod["problems"]) or "not ready"
        logs = [line for p in pod["problems"] for line in (p.get("last_log_lines") or [])[-3:]]
        if logs:
            words += "; last log lines: %s" % " | ".join(logs)
        parts.append("%s (%s)" % (pod["name"], words))
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------------- restart

def _patch_workload(api_client, obj, ops):
    kind, namespace, name = obj["kind"], metadata(obj)["namespace"], metadata(obj)["name"]
    _prefix, plural = plan.WORKLOAD_RESOURCES[kind]
    path = _workload_path(kind, namespace, name)
    try:
        written = transport.request(api_client, "patch", plural, "PATCH", path, name=name, namespace=namespace,
                                    body=conditioned_patch(obj, ops), content_type=JSON_PATCH)
    except NotFound:
        raise StaleRead("%s %s was deleted while we were restarting it" % (kind, name))
    except Invalid:
        current = read_workload(api_client, kind, namespace, name)
        if metadata(current).get("resourceVersion") != metadata(obj).get("resourceVersion"):
            raise StaleRead("%s %s changed since it was read" % (kind, name))
        raise
    written.setdefault("apiVersion", "apps/v1")
    written.setdefault("kind", kind)
    return written


def _target(api_client, options):
    namespace = options["namespace"]
    if options.get("pod"):
        kind, name, how = workload_of_pod(api_client, namespace, options["pod"])
        return kind, name, "found from %s" % how
    return options["kind"], options["name"], "given"


def _summary(workload, how):
    meta = metadata(workload)
    return {"kind": workload["kind"], "name": meta.get("name"), "namespace": meta.get("namespace"),
            "uid": meta.get("uid"), "found": how}


def restart_workload(api_client, options, check_mode=False):
    """The result of mode=restart; raises Refused before any write, PartialFailure after one."""
    timer = PhaseTimer()
    deadline = Deadline(options["wait_timeout"])
    namespace = options["namespace"]
    kind, name, how = _target(api_client, options)
    restart_after = parse_rfc3339(options["restart_after"]) if options.get("restart_after") else None
    result = {"changed": False, "restarted": False, "warnings": []}
    decided = {}

    def read():
        return read_workload(api_client, kind, namespace, name)

    def replan(obj):
        pods, isolated = workload_pods(api_client, obj)
        restart, reason, before = plan.restart_decision(obj, pods, restart_after)
        decided.update(workload=obj, restart=restart, reason=reason, before=before, isolated=isolated,
                       pods=[metadata(p)["name"] for p in pods])
        if not restart:
            return None
        if obj["kind"] == "Deployment" and (obj.get("spec") or {}).get("paused"):
            raise Refused("deployment %s in namespace %s is paused: kubectl refuses too (\"can't restart paused "
                          "deployment (run rollout resume first)\"); nothing was changed" % (name, namespace),
                          _decided_result(decided, how))
        no_rollout = rollout_status(obj)
        if no_rollout.reason == "OnDelete" and options["wait"]:
            raise Refused("%s; nothing was changed (with wait=false the module only sets the annotation, and the "
                          "pods take the new template when they are deleted)" % no_rollout.failure,
                          _decided_result(decided, how))
        busy = rollout_in_progress(obj)
        if busy and not options.get("force"):
            raise Refused("%s in namespace %s; a restart now would start yet another revision. Wait for it, or "
                          "set force=true; nothing was changed" % (busy, namespace), _decided_result(decided, how))
        stamp = format_rfc3339(utc_now())
        decided.update(stamp=stamp, diff=plan.restart_diff(obj, stamp))
        if check_mode:
            return lambda current: None
        return lambda current: _patch_workload(api_client, current, plan.restart_ops(current, stamp))

    what = "restart %s %s in namespace %s" % (kind, name, namespace)
    written, planned_from = write_with_replan(read, replan, what)
    timer.mark("restart")
    result.update(_decided_result(decided, how))
    if decided["restart"]:
        result.update(changed=True, restarted=True, restarted_at=decided["stamp"], diff=decided["diff"])
    workload = written if written is not None else planned_from
    result["rollout"] = dict(rollout_status(workload).as_dict(), **counts(workload))
    if check_mode or not options["wait"]:
        result["timings"] = timer.timings
        return result
    try:
        final = wait_for_rollout(api_client, workload, deadline)
    except (_RolloutFailed, WaitTimeout) as exc:
        final = getattr(exc, "workload", None) or workload
        result["rollout"] = dict(rollout_status(final).as_dict(), **counts(final))
        result["not_ready_pods"] = not_ready_pods(api_client, final, options["log_lines"])
        timer.mark("rollout")
        result["timings"] = timer.timings
        if isinstance(exc, _RolloutFailed):
            what = str(exc)
        else:
            what = "the rollout did not complete within wait_timeout=%ds: %s" % (options["wait_timeout"], exc)
        pods = _summarize(result["not_ready_pods"])
        prefix = "restarted %s %s at %s, but " % (kind, name, result["restarted_at"]) if result["restarted"] else ""
        raise PartialFailure("%s%s%s" % (prefix, what, "; pods not ready: %s" % pods if pods else ""), result)
    timer.mark("rollout")
    result["rollout"] = dict(rollout_status(final).as_dict(), **counts(final))
    result["timings"] = timer.timings
    return result


def _decided_result(decided, how):
    result = {"reason": decided.get("reason"), "pods_started_before": decided.get("before", []),
              "isolated_pods": decided.get("isolated", [])}
    if "workload" in decided:
        result["workload"] = _summary(decided["workload"], how)
    if decided.get("isolated"):
        result["isolated_note"] = ISOLATED_NOTE
    return result


class _RolloutFailed(KubeError):
    def __init__(self, message, workload):
        KubeError.__init__(self, message)
        self.workload = workload


def wait_for_rollout(api_client, workload, deadline):
    """Watch the workload until its rollout completes (the returned object); _RolloutFailed when the controller
    reports it cannot (ProgressDeadlineExceeded, an update strategy without a rollout), WaitTimeout at the
    deadline."""
    kind, namespace, name = workload["kind"], metadata(workload)["namespace"], metadata(workload)["name"]
    prefix, plural = plan.WORKLOAD_RESOURCES[kind]
    last = {"obj": workload}

    def condition(objects):
        obj = objects.get(name)
        if obj is None:
            raise _RolloutFailed("%s %s was deleted during its rollout" % (kind, name), last["obj"])
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", "apps/v1")
        last["obj"] = obj
        status = rollout_status(obj)
        if status.failure:
            raise _RolloutFailed(status.failure, obj)
        return obj if status.done else None

    def describe(_objects):
        return rollout_status(last["obj"]).message

    return watch_until(api_client, prefix, plural, namespace, condition, deadline, describe,
                       field_selector="metadata.name=%s" % name,
                       start=({name: workload}, metadata(workload).get("resourceVersion")))


# ------------------------------------------------------------------------------------------------ reload

class _Bounded(object):
    def __init__(self):
        self.data = b""

    def __call__(self, chunk):
        if len(self.data) < OUTPUT_LIMIT:
            self.data += chunk[:OUTPUT_LIMIT - len(self.data)]

    def text(self):
        return self.data.decode("utf-8", "replace").strip()


def _restarts(pod):
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def _stays_ready(api_client, pod, seconds, deadline):
    """None when the pod stayed Ready, without a container restart, for ``seconds`` (watching it); else why not."""
    namespace, name, uid = metadata(pod)["namespace"], metadata(pod)["name"], metadata(pod)["uid"]
    restarts = _restarts(pod)
    window = Deadline(min(seconds, deadline.remaining()))

    def condition(objects):
        current = objects.get(name)
        if current is None or metadata(current).get("uid") != uid:
            return "pod %s was deleted" % name
        if _restarts(current) > restarts:
            why = "; ".join(describe_problem(p) for p in pod_problems(current)) or "it is ready again"
            return "a container of pod %s restarted (%s)" % (name, why)
        if not is_pod_ready(current):
            why = "; ".join(describe_problem(p) for p in pod_problems(current))
            return "pod %s is no longer Ready (%s)" % (name, why)
        return None

    try:
        return watch_until(api_client, "api/v1", "pods", namespace, condition, window, lambda _o: "",
                           field_selector="metadata.name=%s" % name)
    except WaitTimeout:
        return None


def reload_workload(api_client, options, check_mode=False):
    """The result of mode=reload; raises Refused before the first signal, PartialFailure after one."""
    timer = PhaseTimer()
    deadline = Deadline(options["wait_timeout"])
    namespace = options["namespace"]
    kind, name, how = _target(api_client, options)
    workload = read_workload(api_client, kind, namespace, name)
    pods, isolated = workload_pods(api_client, workload)
    argv = plan.reload_argv(options["signal"], options.get("reload_command"))
    result = {"changed": False, "restarted": False, "reloaded": [], "reload_command": argv,
              "workload": _summary(workload, how), "isolated_pods": isolated, "warnings": []}
    if isolated:
        result["isolated_note"] = ISOLATED_NOTE
    pods = [p for p in pods if not is_terminating(p)]
    if not pods:
        raise Refused("%s %s in namespace %s has no running pod to reload; nothing was changed" % (
            kind, name, namespace), result)
    container = options.get("container") or ((pods[0].get("spec") or {}).get("containers") or [{}])[0].get("name")
    result["container"] = container
    if check_mode:
        result.update(changed=True, would_reload=[metadata(p)["name"] for p in pods])
        return result
    for pod in pods:
        pod_name = metadata(pod)["name"]
        current = reads.read_pod(api_client, namespace, pod_name)
        if not is_pod_ready(current):
            _reload_failed(result, "pod %s is not Ready before its reload (%s)" % (
                pod_name, "; ".join(describe_problem(p) for p in pod_problems(current))), pod_name, timer)
        out, err = _Bounded(), _Bounded()
        started = time.monotonic()
        outcome = streams.exec_stream(api_client, namespace, pod_name, container, argv, out, err,
                                      deadline=time.monotonic() + max(1.0, min(30.0, deadline.remaining())))
        entry = {"pod": pod_name, "rc": outcome.rc, "stdout": out.text(), "stderr": err.text(),
                 "seconds": round(time.monotonic() - started, 3)}
        if outcome.rc != 0:
            result["stopped_at"] = entry
            _reload_failed(result, "the reload command %s in container %s of pod %s %s" % (
                " ".join(argv), container, pod_name,
                "exited with code %s: %s" % (outcome.rc, entry["stderr"] or entry["stdout"] or outcome.message)
                if outcome.rc is not None else "gave no exit code: %s" % (outcome.message or "deadline")),
                pod_name, timer)
        result["reloaded"].append(entry)
        result["changed"] = True
        problem = _stays_ready(api_client, current, options["settle_seconds"], deadline)
        if problem:
            entry["stayed_ready"] = False
            _reload_failed(result, "after its reload, %s" % problem, pod_name, timer)
        entry["stayed_ready"] = True
        timer.mark("reload %s" % pod_name)
    result["timings"] = timer.timings
    return result


def _reload_failed(result, message, pod_name, timer):
    result["timings"] = timer.timings
    done = [r["pod"] for r in result["reloaded"] if r.get("stayed_ready")]
    raise PartialFailure("%s; stopped there: %s" % (message, "reloaded before it: %s" % ", ".join(done)
                                                    if done else "no pod was reloaded before it"), result)
