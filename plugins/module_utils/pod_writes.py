# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every write to a pod, conditioned on the resourceVersion that was read.

Label and annotation changes are JSON patches (RFC 6902) that start with
    {"op": "test", "path": "/metadata/resourceVersion", "value": <rv read>}
The server evaluates the test against the current object, so a concurrent change makes the patch fail with
422 Invalid and a generic message (k8s_semantics.md §6) instead of silently overwriting. pod_writes turns that
422 into StaleRead after checking the resourceVersion really moved, and callers re-read, re-plan and retry.
Deletes carry uid + resourceVersion preconditions for the same reason (409 on mismatch).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.cluster_view import pod_path
from ansible_collections.triage.k8s.plugins.module_utils.durations import format_rfc3339, utc_now
from ansible_collections.triage.k8s.plugins.module_utils.kube_requests import (
    JSON_PATCH,
    STRATEGIC_MERGE_PATCH,
    ApiCallError,
    api_path,
    call,
)

EVENT_COMPONENT = "triage.k8s"
MAX_CONFLICT_RETRIES = 5


class StaleRead(Exception):
    """The pod changed between our read and our write; re-read and re-plan."""


def escape_pointer(key):
    """A label/annotation key as a JSON-pointer segment (RFC 6901): "~" -> "~0", "/" -> "~1"."""
    return key.replace("~", "~0").replace("/", "~1")


def _rv_test(pod):
    return {"op": "test", "path": "/metadata/resourceVersion", "value": pod["metadata"]["resourceVersion"]}


def set_metadata_ops(pod, field, values):
    """Ops that set each key of metadata.<field> (labels/annotations), creating the map when absent."""
    existing = (pod.get("metadata") or {}).get(field)
    if existing is None:
        return [{"op": "add", "path": "/metadata/" + field, "value": dict(values)}] if values else []
    return [{"op": "add", "path": "/metadata/%s/%s" % (field, escape_pointer(k)), "value": v}
            for k, v in sorted(values.items())]


def remove_metadata_ops(pod, field, keys):
    existing = (pod.get("metadata") or {}).get(field) or {}
    return [{"op": "remove", "path": "/metadata/%s/%s" % (field, escape_pointer(k))}
            for k in sorted(keys) if k in existing]


def conditioned_patch(pod, ops):
    """The ops preceded by the resourceVersion test; [] when there is nothing to change."""
    return [_rv_test(pod)] + list(ops) if ops else []


def apply_ops_locally(pod, ops):
    """The metadata the patch would produce (used for check mode and diffs; only add/replace/remove)."""
    labels = dict((pod.get("metadata") or {}).get("labels") or {})
    annotations = dict((pod.get("metadata") or {}).get("annotations") or {})
    maps = {"labels": labels, "annotations": annotations}
    for op in ops:
        parts = op["path"].split("/")
        if len(parts) < 3 or parts[1] != "metadata" or parts[2] not in maps:
            continue
        if len(parts) == 3:
            if op["op"] in ("add", "replace"):
                maps[parts[2]].clear()
                maps[parts[2]].update(op["value"])
            continue
        key = parts[3].replace("~1", "/").replace("~0", "~")
        if op["op"] in ("add", "replace"):
            maps[parts[2]][key] = op["value"]
        elif op["op"] == "remove":
            maps[parts[2]].pop(key, None)
    return labels, annotations


def patch_pod(api_client, pod, ops):
    """Send a conditioned JSON patch. Returns the updated pod; raises StaleRead on a lost race."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    body = conditioned_patch(pod, ops)
    if not body:
        return pod
    try:
        return call(api_client, "patch", "pods", "PATCH", pod_path(namespace, name), name=name, namespace=namespace,
                    body=body, content_type=JSON_PATCH)
    except ApiCallError as exc:
        if exc.status == 404:
            raise StaleRead("pod %s was deleted while we were changing it" % name)
        if exc.status != 422:
            raise
        # A failed test op and a genuinely invalid patch both give 422; tell them apart by re-reading.
        current = call(api_client, "get", "pods", "GET", pod_path(namespace, name), name=name, namespace=namespace)
        if current["metadata"].get("resourceVersion") != pod["metadata"]["resourceVersion"]:
            raise StaleRead("pod %s changed since it was read (resourceVersion %s -> %s)" % (
                name, pod["metadata"]["resourceVersion"], current["metadata"].get("resourceVersion")))
        raise


def strategic_patch_pod(api_client, pod, body):
    """Send a strategic-merge patch whose body carries metadata.resourceVersion as its precondition.

    For container changes by name (a JSON patch would address containers by index, a merge patch would replace
    the whole list, k8s_semantics.md §5). A stale resourceVersion gives 409 Conflict; that becomes StaleRead.
    """
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    try:
        return call(api_client, "patch", "pods", "PATCH", pod_path(namespace, name), name=name, namespace=namespace,
                    body=body, content_type=STRATEGIC_MERGE_PATCH)
    except ApiCallError as exc:
        if exc.status == 404:
            raise StaleRead("pod %s was deleted while we were changing it" % name)
        if exc.status == 409:
            raise StaleRead("pod %s changed since it was read (resourceVersion %s)" % (
                name, pod["metadata"]["resourceVersion"]))
        raise


def delete_pod(api_client, pod, grace_period=None):
    """Delete exactly this pod (uid + resourceVersion preconditions). Nothing else is deleted: no cascade."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    body = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"uid": pod["metadata"]["uid"], "resourceVersion": pod["metadata"]["resourceVersion"]},
    }
    if grace_period is not None:
        body["gracePeriodSeconds"] = grace_period
    try:
        return call(api_client, "delete", "pods", "DELETE", pod_path(namespace, name), name=name,
                    namespace=namespace, body=body)
    except ApiCallError as exc:
        if exc.status in (404, 409):
            raise StaleRead("pod %s changed or disappeared before it could be deleted" % name)
        raise


def create_event(api_client, pod, reason, message, event_type="Normal"):
    """A core/v1 Event on the pod, as `kubectl describe pod` shows it. Returns None or a warning string.

    A failure here never fails the task: the change itself is done and recorded on the pod.
    """
    metadata = pod["metadata"]
    now = format_rfc3339(utc_now())
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "%s." % metadata["name"], "namespace": metadata["namespace"]},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": EVENT_COMPONENT},
        "reportingComponent": EVENT_COMPONENT,
        "reportingInstance": EVENT_COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        call(api_client, "create", "events", "POST", api_path("api/v1/namespaces", metadata["namespace"], "events"),
             namespace=metadata["namespace"], body=body)
    except ApiCallError as exc:
        return "the %s Event for pod %s could not be created: %s" % (reason, metadata["name"], exc.describe())
    return None
