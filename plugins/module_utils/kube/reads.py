# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reads: a pod, a namespaced LIST, an owner and the owner chain, optional resources. Plain JSON dicts.

LIST answers omit apiVersion/kind on their items; they are filled in here, so every caller sees whole objects.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import Forbidden, KubeError, NotFound
from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import api_path
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import controller_ref

# kind -> (API prefix, plural) for the owners we follow.
OWNER_KINDS = {
    "ReplicaSet": ("apis/apps/v1", "replicasets"),
    "Deployment": ("apis/apps/v1", "deployments"),
    "StatefulSet": ("apis/apps/v1", "statefulsets"),
    "DaemonSet": ("apis/apps/v1", "daemonsets"),
    "Job": ("apis/batch/v1", "jobs"),
    "CronJob": ("apis/batch/v1", "cronjobs"),
}


class PodNotFound(KubeError):
    """The pod does not exist; the message names the pod and the namespace (and whether the namespace exists)."""


def _kind_of_list(items, api_version, kind):
    # LIST responses omit apiVersion/kind on items; the planner and the record want them.
    for item in items:
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
    return items


def pod_path(namespace, name=None, **query):
    if name is None:
        return api_path("api/v1/namespaces", namespace, "pods", **query)
    return api_path("api/v1/namespaces", namespace, "pods", name, **query)


def read_pod(api_client, namespace, name):
    """The pod, or PodNotFound with a message that says whether the namespace itself is missing."""
    try:
        pod = transport.request(api_client, "get", "pods", "GET", pod_path(namespace, name), name=name, namespace=namespace)
    except NotFound:
        raise PodNotFound(_not_found_message(api_client, namespace, name))
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    return pod


def read_pod_if_exists(api_client, namespace, name):
    """The pod, or None when it does not exist."""
    try:
        pod = transport.request(api_client, "get", "pods", "GET", pod_path(namespace, name), name=name, namespace=namespace)
    except NotFound:
        return None
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    return pod


def read_node(api_client, name):
    """The Node (cluster-scoped: the shipped namespaced Role cannot grant it)."""
    node = transport.request(api_client, "get", "nodes", "GET", api_path("api/v1/nodes", name), name=name)
    node.setdefault("apiVersion", "v1")
    node.setdefault("kind", "Node")
    return node


def read_node_if_readable(api_client, name):
    """The Node, or None when there is none or this identity may not read Nodes: callers that only warn treat
    a node's facts as optional."""
    if not name:
        return None
    try:
        return read_node(api_client, name)
    except (Forbidden, NotFound):
        return None


def _not_found_message(api_client, namespace, name):
    try:
        transport.request(api_client, "get", "namespaces", "GET", api_path("api/v1/namespaces", namespace), name=namespace)
    except NotFound:
        return "namespace %s not found (looking for pod %s in it)" % (namespace, name)
    return "pod %s not found in namespace %s" % (name, namespace)


def list_objects(api_client, prefix, plural, namespace, kind, label_selector=None, field_selector=None):
    """(items, resourceVersion) of one namespaced LIST."""
    path = api_path(prefix, "namespaces", namespace, plural, labelSelector=label_selector, fieldSelector=field_selector)
    result = transport.request(api_client, "list", plural, "GET", path, namespace=namespace) or {}
    api_version = prefix.split("/", 1)[1] if prefix.startswith("apis/") else "v1"
    items = _kind_of_list(result.get("items") or [], api_version, kind)
    return items, (result.get("metadata") or {}).get("resourceVersion")


def list_pods(api_client, namespace, label_selector=None):
    return list_objects(api_client, "api/v1", "pods", namespace, "Pod", label_selector)


def read_owner(api_client, namespace, ref):
    """The owner object an ownerReference points at, or None when it is gone or of a kind we do not follow.

    A different uid under the same name means the owner was recreated; that is treated as gone.
    """
    if not ref or ref.get("kind") not in OWNER_KINDS:
        return None
    prefix, plural = OWNER_KINDS[ref["kind"]]
    try:
        obj = transport.request(api_client, "get", plural, "GET", api_path(prefix, "namespaces", namespace, plural, ref["name"]),
                                name=ref["name"], namespace=namespace)
    except NotFound:
        return None
    obj.setdefault("apiVersion", prefix.split("/", 1)[1])
    obj.setdefault("kind", ref["kind"])
    if ref.get("uid") and (obj.get("metadata") or {}).get("uid") != ref["uid"]:
        return None
    return obj


def read_owner_chain(api_client, pod):
    """(controller, top_owner): e.g. (ReplicaSet, Deployment), (StatefulSet, None), (Job, CronJob)."""
    namespace = pod["metadata"]["namespace"]
    controller = read_owner(api_client, namespace, controller_ref(pod))
    top = None
    if controller is not None and controller.get("kind") in ("ReplicaSet", "Job"):
        top = read_owner(api_client, namespace, controller_ref(controller))
    return controller, top


def list_optional(api_client, namespace, candidates, kind, plural, warnings):
    """LIST the first served API version of an optional resource; on 403/404 warn and return []."""
    last = None
    for prefix in candidates:
        try:
            items, _rv = list_objects(api_client, prefix, plural, namespace, kind)
            return items
        except (Forbidden, NotFound) as exc:
            last = exc
    warnings.append("could not list %s in namespace %s, so the checks that use them were skipped: %s" % (
        plural, namespace, last.describe()))
    return []
