# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every write to a pod, conditioned on what was read, and the one replan-and-retry loop.

- Label and annotation changes are JSON patches (RFC 6902) that start with
  {"op": "test", "path": "/metadata/resourceVersion", "value": <rv read>}. The server evaluates the test against
  the current object, so a concurrent change makes the patch fail with 422 Invalid and a generic message instead
  of silently overwriting. json_patch_pod turns that 422 into StaleRead after checking that the resourceVersion
  really moved.
- Container changes are strategic-merge patches whose body carries metadata.resourceVersion: the server answers
  409 Conflict when it is stale (also StaleRead). ``subresource="ephemeralcontainers"`` sends them to that
  subresource, where a 404 without the pod's name in its details means the server does not serve the
  subresource (an API server before 1.23), never a stale read: that is SubresourceMissing.
- Deletes carry uid + resourceVersion preconditions (409 on mismatch, StaleRead).
- write_with_replan is the loop every verb uses: read, plan, write; on StaleRead read again and plan again
  (the new plan may be "nothing left to do"), at most MAX_CONFLICT_RETRIES times.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import (
    ApiError,
    Conflict,
    Invalid,
    KubeError,
    NotFound,
    StaleRead,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import pod_path
from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import JSON_PATCH, STRATEGIC_MERGE_PATCH, api_path
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import format_rfc3339, utc_now

EVENT_COMPONENT = "triage.k8s"
MAX_CONFLICT_RETRIES = 5


class SubresourceMissing(KubeError):
    """The API server does not serve the subresource a write was sent to."""


class KeptChanging(KubeError):
    """write_with_replan met a conflict on every attempt."""


def _rv_test(pod):
    return {"op": "test", "path": "/metadata/resourceVersion", "value": pod["metadata"]["resourceVersion"]}


def conditioned_patch(pod, ops):
    """The ops preceded by the resourceVersion test; [] when there is nothing to change."""
    return [_rv_test(pod)] + list(ops) if ops else []


def _where(pod):
    return pod["metadata"]["namespace"], pod["metadata"]["name"]


def json_patch_pod(api_client, pod, ops):
    """Send the ops as one JSON patch conditioned on the pod's resourceVersion. Returns the updated pod
    (``pod`` itself when there is nothing to change); raises StaleRead on a lost race."""
    namespace, name = _where(pod)
    body = conditioned_patch(pod, ops)
    if not body:
        return pod
    try:
        return transport.request(api_client, "patch", "pods", "PATCH", pod_path(namespace, name), name=name,
                                 namespace=namespace, body=body, content_type=JSON_PATCH, repeatable=True)
    except NotFound:
        raise StaleRead("pod %s was deleted while we were changing it" % name)
    except Invalid:
        # A failed test op and a genuinely invalid patch both give 422; tell them apart by re-reading.
        try:
            current = transport.request(api_client, "get", "pods", "GET", pod_path(namespace, name), name=name,
                                        namespace=namespace)
        except NotFound:
            raise StaleRead("pod %s was deleted while we were changing it" % name)
        if current["metadata"].get("resourceVersion") != pod["metadata"]["resourceVersion"]:
            raise StaleRead("pod %s changed since it was read (resourceVersion %s -> %s)" % (
                name, pod["metadata"]["resourceVersion"], current["metadata"].get("resourceVersion")))
        raise


def strategic_patch_pod(api_client, pod, body, subresource=None):
    """Send a strategic-merge patch whose body carries metadata.resourceVersion as its precondition.

    For container changes by name (a JSON patch would address containers by index, a merge patch would replace
    the whole list). A stale resourceVersion gives 409 Conflict; that becomes StaleRead.
    """
    namespace, name = _where(pod)
    path = pod_path(namespace, name)
    resource = "pods"
    if subresource:
        path += "/" + subresource
        resource += "/" + subresource
    try:
        # Safe to repeat only when the body carries the resourceVersion read (every body pod_hijack builds does).
        return transport.request(api_client, "patch", resource, "PATCH", path, name=name, namespace=namespace, body=body,
                                 content_type=STRATEGIC_MERGE_PATCH,
                                 repeatable=bool((body.get("metadata") or {}).get("resourceVersion")))
    except Conflict:
        raise StaleRead("pod %s changed since it was read (resourceVersion %s)" % (
            name, pod["metadata"]["resourceVersion"]))
    except NotFound as exc:
        if subresource and not (exc.status_body().get("details") or {}).get("name"):
            # kubectl debug's own test for a server without the subresource.
            raise SubresourceMissing(
                "the API server does not serve %s (ephemeral containers need Kubernetes 1.23 or later): %s"
                % (resource, exc.server_message()))
        raise StaleRead("pod %s was deleted while we were changing it" % name)


def delete_pod(api_client, pod, grace_period=None):
    """Delete exactly this pod (uid + resourceVersion preconditions). Nothing else is deleted: no cascade."""
    namespace, name = _where(pod)
    body = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"uid": pod["metadata"]["uid"], "resourceVersion": pod["metadata"]["resourceVersion"]},
    }
    if grace_period is not None:
        body["gracePeriodSeconds"] = grace_period
    try:
        return transport.request(api_client, "delete", "pods", "DELETE", pod_path(namespace, name), name=name,
                                 namespace=namespace, body=body, repeatable=True)
    except (NotFound, Conflict):
        raise StaleRead("pod %s changed or disappeared before it could be deleted" % name)


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
        # A duplicate Event is harmless, a lost one is not: repeating the create is safe.
        transport.request(api_client, "create", "events", "POST", api_path("api/v1/namespaces", metadata["namespace"], "events"),
                          namespace=metadata["namespace"], body=body, repeatable=True)
    except ApiError as exc:
        return "the %s Event for pod %s could not be created: %s" % (reason, metadata["name"], exc)
    return None


def create_pod(api_client, namespace, body):
    """Create a pod; Conflict when the name is taken. Not repeated after a lost answer (only after a 429 or a
    connection that never opened): the caller's Conflict handling reads what exists instead."""
    return transport.request(api_client, "create", "pods", "POST", pod_path(namespace), name=body["metadata"]["name"],
                             namespace=namespace, body=body)


def write_with_replan(read, replan, what, first=None):
    """The one conflict loop: ``replan(obj)`` returns None (nothing left to write) or ``write(obj)`` -> written.

    ``first`` is an object already read (else ``read()`` is called). On StaleRead the object is read again and
    planned again. Returns ``(written, planned_from)``; written is None when the plan said there is nothing to
    do. Raises KeptChanging after MAX_CONFLICT_RETRIES lost races, naming ``what`` was being done.
    """
    obj = first if first is not None else read()
    for _attempt in range(MAX_CONFLICT_RETRIES):
        write = replan(obj)
        if write is None:
            return None, obj
        try:
            return write(obj), obj
        except StaleRead:
            obj = read()
    raise KeptChanging("%s: the object kept changing under us; gave up after %d conflicting writes in a row, "
                       "the last one was not applied" % (what, MAX_CONFLICT_RETRIES))
