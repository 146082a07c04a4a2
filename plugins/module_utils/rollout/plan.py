# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The restart planner: which workload, whether to restart, and the one patch. Pure: no requests.

`kubectl rollout restart` (k8s.io/kubectl pkg/polymorphichelpers/objectrestarter.go) sets the pod template
annotation kubectl.kubernetes.io/restartedAt to the current time in RFC 3339, refuses a paused Deployment, and
leaves the rest to the controller: a changed template is a new revision, rolled out by the workload's own
strategy (maxSurge/maxUnavailable, the StatefulSet's ordinals and partition). This planner writes the same
annotation (in UTC) with one JSON patch whose first op tests the resourceVersion that was read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.triage.k8s.plugins.module_utils.model.durations import parse_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.model.patches import escape_pointer
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import metadata
from ansible_collections.triage.k8s.plugins.module_utils.model import record

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
WORKLOAD_RESOURCES = {
    "Deployment": ("apis/apps/v1", "deployments"),
    "StatefulSet": ("apis/apps/v1", "statefulsets"),
    "DaemonSet": ("apis/apps/v1", "daemonsets"),
}


def template_annotations(obj):
    return dict(((((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}))


def restarted_at(obj):
    """The restartedAt annotation of the pod template as a datetime, or None (absent or unreadable)."""
    value = template_annotations(obj).get(RESTARTED_AT)
    try:
        return parse_rfc3339(value) if value else None
    except ValueError:
        return None


def restart_ops(obj, stamp):
    """The JSON patch ops (without the resourceVersion test) that set the restartedAt annotation to ``stamp``."""
    template = (obj.get("spec") or {}).get("template") or {}
    if template.get("metadata") is None:
        return [{"op": "add", "path": "/spec/template/metadata", "value": {"annotations": {RESTARTED_AT: stamp}}}]
    if template["metadata"].get("annotations") is None:
        return [{"op": "add", "path": "/spec/template/metadata/annotations", "value": {RESTARTED_AT: stamp}}]
    return [{"op": "add", "path": "/spec/template/metadata/annotations/" + escape_pointer(RESTARTED_AT),
             "value": stamp}]


def restart_diff(obj, stamp):
    """--diff: the pod template's annotations before and after."""
    after = copy.deepcopy(template_annotations(obj))
    after[RESTARTED_AT] = stamp
    name = "%s/%s" % (obj["kind"], metadata(obj).get("name"))
    return {"before": {"spec": {"template": {"metadata": {"annotations": template_annotations(obj)}}}},
            "after": {"spec": {"template": {"metadata": {"annotations": after}}}},
            "before_header": name, "after_header": name}


def pod_started(pod):
    """status.startTime of a pod as a datetime (when the kubelet accepted it), or None before that."""
    value = (pod.get("status") or {}).get("startTime")
    try:
        return parse_rfc3339(value) if value else None
    except ValueError:
        return None


def restart_decision(obj, pods, restart_after):
    """(restart, reason, started_before): whether a restart is needed for ``restart_after`` (a datetime or None).

    Without restart_after every run restarts, as kubectl does. With it, a restart is needed when some pod of the
    workload started before that time, unless the template already carries a restartedAt at or after it (a
    restart this or an earlier run made, whose rollout may still be going on).
    """
    if restart_after is None:
        return True, "restart_after was not given: every run restarts", []
    before = sorted(metadata(p).get("name") for p in pods
                    if pod_started(p) is not None and pod_started(p) < restart_after)
    if not before:
        if not pods:
            return False, "the workload has no pod, so none started before restart_after", []
        return False, "every pod of the workload started at or after restart_after", []
    already = restarted_at(obj)
    if already is not None and already >= restart_after:
        return False, "%d pod(s) started before restart_after (%s), but the pod template was already restarted " \
                      "at %s: its rollout replaces them" % (len(before), ", ".join(before),
                                                            template_annotations(obj).get(RESTARTED_AT)), before
    return True, "%d pod(s) started before restart_after: %s" % (len(before), ", ".join(before)), before


def isolated_for(pods, workload):
    """The pods this collection isolated from ``workload`` (their record names it, or the ReplicaSet it owns, as
    the controller or the top owner): released from the controller, never restarted or signalled here."""
    uid = metadata(workload).get("uid")
    found = []
    for pod in pods:
        if not record.is_marked(pod):
            continue
        try:
            parsed = record.parse_record(pod) or {}
        except record.UndoRecordError:
            parsed = {}
        owners = [parsed.get("controller") or {}, parsed.get("top_owner") or {}]
        if any(o.get("uid") == uid for o in owners if o):
            found.append(metadata(pod).get("name"))
    return sorted(found)


def reload_argv(signal, command):
    """What reload runs in each pod: ``command`` when given, else ``kill -s SIGNAL 1`` (the container's main
    process is PID 1 of its PID namespace)."""
    if command:
        return list(command)
    return ["kill", "-s", signal, "1"]
