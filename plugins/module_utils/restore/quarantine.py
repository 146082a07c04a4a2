# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pod_restore's half of the network quarantine: delete the NetworkPolicy the pod's record names.

Only a policy with this collection's labels for this pod's uid is ever deleted, and the DELETE carries the uid
and resourceVersion that were read as preconditions, so a policy replaced meanwhile is never the one deleted.
The quarantine label and record go with the rest of the record in the restore's label patch, after the
policy is gone (an interruption leaves the record, and a rerun finishes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import Conflict, NotFound, StaleRead
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import write_with_replan
from ansible_collections.triage.k8s.plugins.module_utils.model import netpol
from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record

NETPOL_PREFIX = "apis/networking.k8s.io/v1"


def _path(namespace, name):
    return transport.api_path(NETPOL_PREFIX, "namespaces", namespace, "networkpolicies", name)


def release_quarantine(api_client, pod, check_mode=False):
    """Delete the quarantine policy of ``pod`` (as read before its record goes). Returns None when the pod has no
    network quarantine, else (summary, diff or None, warnings)."""
    quarantine = undo_record.network_quarantine(pod)
    if quarantine is None:
        return None
    namespace, pod_name, pod_uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
    name = quarantine["policy"]
    summary = {"policy": name, "deleted": False}
    warnings = []
    state = {}

    def read():
        try:
            return transport.request(api_client, "get", "networkpolicies", "GET", _path(namespace, name), name=name,
                                     namespace=namespace)
        except NotFound:
            return {}

    def replan(policy):
        state["policy"] = policy
        if not policy:
            summary["message"] = "NetworkPolicy %s is already gone" % name
            return None
        if not netpol.is_quarantine_policy(policy, pod_uid):
            warnings.append("NetworkPolicy %s is not the quarantine triage.k8s made for pod %s (uid %s): it was left "
                            "alone; check whether it still isolates the pod" % (name, pod_name, pod_uid))
            return None
        if check_mode:
            summary["deleted"] = True
            return None
        metadata = policy["metadata"]
        body = {"apiVersion": "v1", "kind": "DeleteOptions",
                "preconditions": {"uid": metadata["uid"], "resourceVersion": metadata["resourceVersion"]}}

        def delete(_current):
            try:
                transport.request(api_client, "delete", "networkpolicies", "DELETE", _path(namespace, name), name=name,
                                  namespace=namespace, body=body)
            except (Conflict, NotFound):
                raise StaleRead("NetworkPolicy %s changed or disappeared before it could be deleted" % name)
            summary["deleted"] = True
            return policy
        return delete

    write_with_replan(read, replan, "deleting NetworkPolicy %s in namespace %s" % (name, namespace))
    diff = None
    if summary["deleted"]:
        diff = netpol.policy_diff(state.get("policy"), None, name)
        diff["after_header"] = "networkpolicy %s (deleted)" % name
    return summary, diff, warnings


def merge_released(result, released):
    """Add what release_quarantine() calls returned (one per planning pass) to a pod_restore result."""
    released = [r for r in released if r is not None]
    if not released:
        return result
    summary = dict(released[-1][0], deleted=any(r[0]["deleted"] for r in released))
    result["network_quarantine"] = summary
    warnings = result.setdefault("warnings", [])
    for _summary, _diff, more in released:
        warnings.extend(w for w in more if w not in warnings)
    diffs = [d for _s, d, _w in released if d][:1]
    if diffs:
        existing = result.get("diff")
        result["diff"] = ([existing] if isinstance(existing, dict) else list(existing or [])) + diffs
    return result
