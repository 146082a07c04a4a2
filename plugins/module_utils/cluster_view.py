# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reads the planner needs, with a fixed, small number of requests per pod.

One GET of the pod, one LIST of Services (selectors are matched locally), one LIST of pods, the owner chain
(controller, then its controller: ReplicaSet -> Deployment, Job -> CronJob), one LIST each of PDBs, HPAs and
NetworkPolicies. Everything is returned as plain JSON dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube_requests import ApiCallError, api_path, call

# kind -> (API prefix, plural) for the owners we follow.
OWNER_KINDS = {
    "ReplicaSet": ("apis/apps/v1", "replicasets"),
    "Deployment": ("apis/apps/v1", "deployments"),
    "StatefulSet": ("apis/apps/v1", "statefulsets"),
    "DaemonSet": ("apis/apps/v1", "daemonsets"),
    "Job": ("apis/batch/v1", "jobs"),
    "CronJob": ("apis/batch/v1", "cronjobs"),
}


class PodNotFound(Exception):
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
        pod = call(api_client, "get", "pods", "GET", pod_path(namespace, name), name=name, namespace=namespace)
    except ApiCallError as exc:
        if exc.status != 404:
            raise
        raise PodNotFound(_not_found_message(api_client, namespace, name))
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    return pod


def pod_summary(pod, annotation_prefix=None):
    """What every module reports about a pod it handled. ``annotation_prefix`` keeps only the annotations
    in that prefix (pod_hijack reports just the triage.k8s/ record)."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    return {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "uid": metadata.get("uid"),
        "ip": status.get("podIP"),
        "node": spec.get("nodeName"),
        "phase": status.get("phase"),
        "labels": dict(metadata.get("labels") or {}),
        "annotations": dict((k, v) for k, v in (metadata.get("annotations") or {}).items()
                            if annotation_prefix is None or k.startswith(annotation_prefix)),
        # Where the containers listen, for the port-forward hint in the runbook summary.
        "ports": sorted(set(p.get("containerPort") for c in spec.get("containers") or []
                            for p in c.get("ports") or [] if p.get("containerPort"))),
        "containers": [c.get("name") for c in spec.get("containers") or []],
    }


def _not_found_message(api_client, namespace, name):
    try:
        call(api_client, "get", "namespaces", "GET", api_path("api/v1/namespaces", namespace), name=namespace)
    except ApiCallError as exc:
        if exc.status == 404:
            return "namespace %s not found (looking for pod %s in it)" % (namespace, name)
    return "pod %s not found in namespace %s" % (name, namespace)


def list_objects(api_client, prefix, plural, namespace, kind, label_selector=None):
    """(items, resourceVersion) of one namespaced LIST."""
    path = api_path(prefix, "namespaces", namespace, plural, labelSelector=label_selector)
    result = call(api_client, "list", plural, "GET", path, namespace=namespace)
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
        obj = call(api_client, "get", plural, "GET", api_path(prefix, "namespaces", namespace, plural, ref["name"]),
                   name=ref["name"], namespace=namespace)
    except ApiCallError as exc:
        if exc.status == 404:
            return None
        raise
    obj.setdefault("apiVersion", prefix.split("/", 1)[1])
    obj.setdefault("kind", ref["kind"])
    if ref.get("uid") and (obj.get("metadata") or {}).get("uid") != ref["uid"]:
        return None
    return obj


def controller_ref(obj):
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def read_owner_chain(api_client, pod):
    """(controller, top_owner): e.g. (ReplicaSet, Deployment), (StatefulSet, None), (Job, CronJob)."""
    namespace = pod["metadata"]["namespace"]
    controller = read_owner(api_client, namespace, controller_ref(pod))
    top = None
    if controller is not None and controller.get("kind") in ("ReplicaSet", "Job"):
        top = read_owner(api_client, namespace, controller_ref(controller))
    return controller, top


def _optional_list(api_client, namespace, candidates, kind, warnings):
    """LIST the first served API version of an optional resource; on 403/404 warn and return []."""
    last = None
    for prefix in candidates:
        try:
            items, _rv = list_objects(api_client, prefix, kind[1], namespace, kind[0])
            return items
        except ApiCallError as exc:
            if exc.status not in (403, 404):
                raise
            last = exc
    warnings.append("could not list %s in namespace %s, so the checks that use them were skipped: %s" % (
        kind[1], namespace, last.describe()))
    return []


def read_view(api_client, pod, warnings):
    """Everything plan_isolation() needs for this pod. Unreadable optional resources add to `warnings`."""
    namespace = pod["metadata"]["namespace"]
    services, _rv = list_objects(api_client, "api/v1", "services", namespace, "Service")
    pods, _rv = list_pods(api_client, namespace)
    controller, top = read_owner_chain(api_client, pod)
    return {
        "pod": pod,
        "services": services,
        "pods": pods,
        "controller": controller,
        "top_owner": top,
        "pdbs": _optional_list(api_client, namespace, ["apis/policy/v1"], ("PodDisruptionBudget", "poddisruptionbudgets"),
                               warnings),
        "hpas": _optional_list(api_client, namespace, ["apis/autoscaling/v2", "apis/autoscaling/v1"],
                               ("HorizontalPodAutoscaler", "horizontalpodautoscalers"), warnings),
        "network_policies": _optional_list(api_client, namespace, ["apis/networking.k8s.io/v1"],
                                           ("NetworkPolicy", "networkpolicies"), warnings),
    }
