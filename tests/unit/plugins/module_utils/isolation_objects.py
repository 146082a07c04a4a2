# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builders of the JSON objects the isolation planner reads, shaped like API server output."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

NS = "shop"


def owner_ref(kind, name, uid, api_version="apps/v1"):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True,
            "blockOwnerDeletion": True}


def pod(name, labels, owner=None, ready=True, ip="10.0.0.1", terminating=False, annotations=None):
    metadata = {"name": name, "namespace": NS, "uid": "uid-" + name, "resourceVersion": "100",
                "labels": dict(labels), "creationTimestamp": "2026-01-01T00:00:00Z"}
    if owner:
        metadata["ownerReferences"] = [owner]
    if annotations:
        metadata["annotations"] = dict(annotations)
    if terminating:
        metadata["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
        "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "kubesim/web:1"}]},
        "status": {"phase": "Running", "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def service(name, selector):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": dict(selector), "ports": [{"port": 80}]}}


def workload(kind, name, selector, replicas=3, owner=None, api_version="apps/v1", status=None):
    metadata = {"name": name, "namespace": NS, "uid": "uid-" + name}
    if owner:
        metadata["ownerReferences"] = [owner]
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata,
            "spec": {"replicas": replicas, "selector": selector}, "status": status or {}}


def deployment_fleet(replicas=3, ready=True, service_selector=None, extra_services=()):
    """A Deployment "web" (app=web) with its ReplicaSet and `replicas` pods, plus Service "web"."""
    deploy = workload("Deployment", "web", {"matchLabels": {"app": "web"}}, replicas)
    rs = workload("ReplicaSet", "web-5d4b8f7c9", {"matchLabels": {"app": "web", "pod-template-hash": "5d4b8f7c9"}},
                  replicas, owner=owner_ref("Deployment", "web", "uid-web"))
    pods = [pod("web-5d4b8f7c9-%s" % suffix, {"app": "web", "pod-template-hash": "5d4b8f7c9"},
                owner_ref("ReplicaSet", "web-5d4b8f7c9", "uid-web-5d4b8f7c9"), ready=ready, ip="10.0.0.%d" % (i + 1))
            for i, suffix in enumerate(["aaaaa", "bbbbb", "ccccc", "ddddd", "eeeee"][:replicas])]
    services = [service("web", service_selector or {"app": "web"})] + list(extra_services)
    return {"pod": pods[0], "pods": pods, "services": services, "controller": rs, "top_owner": deploy,
            "pdbs": [], "hpas": [], "network_policies": []}
