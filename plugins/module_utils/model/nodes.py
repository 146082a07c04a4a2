# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a pod's node means for an isolated pod: relabelling takes the pod out of its Services and its
ReplicaSet, but not off its node. A cordoned node is usually about to be drained (a drain evicts every pod,
isolated or not), and the taint manager deletes a pod on a node with a NoExecute taint it does not tolerate, at
once or after its tolerationSeconds. Either way the evidence goes with the pod. Pure: no requests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def tolerates(toleration, taint):
    """Whether one toleration matches one taint, as the API's Toleration.ToleratesTaint decides: an empty effect
    matches every effect, an empty key (with operator Exists) every key; Equal (the default) compares values."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def _taint_text(taint):
    value = taint.get("value")
    return "%s%s:%s" % (taint.get("key"), "=" + value if value else "", taint.get("effect"))


def node_hazards(pod, node):
    """Warnings for an isolated pod on ``node`` (a Node dict, or None when it could not be read)."""
    if not node:
        return []
    node_name = (node.get("metadata") or {}).get("name")
    pod_name = (pod.get("metadata") or {}).get("name")
    spec = node.get("spec") or {}
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    warnings = []
    if spec.get("unschedulable"):
        warnings.append(
            "node %s is cordoned (spec.unschedulable): the isolated pod %s keeps running there, but a drain of the "
            "node evicts it like any other pod; collect its evidence before the node is drained" % (node_name, pod_name))
    for taint in spec.get("taints") or []:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            warnings.append(
                "node %s has the taint %s, which pod %s does not tolerate: the taint manager deletes the pod, isolated "
                "or not; collect its evidence now" % (node_name, _taint_text(taint), pod_name))
            continue
        # A toleration without tolerationSeconds tolerates forever; with several, the taint manager uses the
        # smallest.
        seconds = [t.get("tolerationSeconds") for t in matching]
        if all(s is not None for s in seconds):
            warnings.append(
                "node %s has the taint %s, which pod %s tolerates for %ss only: the taint manager deletes the pod "
                "after that, isolated or not; collect its evidence before then" % (
                    node_name, _taint_text(taint), pod_name, max(0, min(seconds))))
    return warnings
