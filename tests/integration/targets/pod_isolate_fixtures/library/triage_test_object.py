#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test support only: create/delete/patch one object from a definition, optionally wait until it is ready."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: triage_test_object
short_description: Integration-test fixture - create, merge-patch or delete a Kubernetes object
description: Test support for the pod_isolate/pod_restore targets; not part of the collection.
options:
  kubeconfig: {type: str, required: true, description: Path of the test cluster kubeconfig.}
  definition: {type: dict, required: true, description: The object (apiVersion, kind, metadata.name/namespace).}
  state: {type: str, default: present, choices: [present, absent, patched, read], description: What to do (read only GETs, e.g. to wait).}
  wait_ready: {type: bool, default: false, description: Wait until a Deployment/StatefulSet/DaemonSet has all replicas ready or a Pod is Ready.}
  timeout: {type: int, default: 60, description: Seconds to wait.}
author: triage.k8s contributors (@triage-k8s)
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import ApiError as ApiCallError
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import MERGE_PATCH, api_path
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import request as call

PLURALS = {"Namespace": "namespaces", "Pod": "pods", "Service": "services", "Deployment": "deployments",
           "StatefulSet": "statefulsets", "ReplicaSet": "replicasets", "PodDisruptionBudget": "poddisruptionbudgets",
           "DaemonSet": "daemonsets", "Job": "jobs", "HorizontalPodAutoscaler": "horizontalpodautoscalers",
           "NetworkPolicy": "networkpolicies", "Node": "nodes", "Endpoints": "endpoints",
           "Secret": "secrets"}


def collection_path(definition):
    api_version, kind = definition["apiVersion"], definition["kind"]
    prefix = "api/v1" if api_version == "v1" else "apis/" + api_version
    namespace = definition["metadata"].get("namespace")
    if namespace:
        return api_path(prefix, "namespaces", namespace, PLURALS[kind])
    return api_path(prefix, PLURALS[kind])


def is_ready(obj):
    kind = obj.get("kind")
    status = obj.get("status") or {}
    if kind in ("Deployment", "StatefulSet"):
        want = (obj.get("spec") or {}).get("replicas", 1)
        generation = (obj.get("metadata") or {}).get("generation")
        rolled_out = generation is None or status.get("observedGeneration", 0) >= generation
        if kind == "Deployment":
            rolled_out = rolled_out and status.get("updatedReplicas", 0) == want
        return rolled_out and status.get("readyReplicas", 0) == want and status.get("replicas", 0) == want
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled")
        return bool(want) and status.get("numberReady", 0) == want
    if kind == "Pod":
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return True


def main():
    module = AnsibleModule(argument_spec=dict(
        kubeconfig=dict(type="str", required=True), definition=dict(type="dict", required=True),
        state=dict(type="str", default="present", choices=["present", "absent", "patched", "read"]),
        wait_ready=dict(type="bool", default=False), timeout=dict(type="int", default=60)))
    api = get_api_client(module)
    definition = module.params["definition"]
    base = collection_path(definition)
    path = base + "/" + definition["metadata"]["name"]
    changed = False
    try:
        if module.params["state"] == "absent":
            try:
                call(api, "delete", definition["kind"], "DELETE", path, body={"propagationPolicy": "Background"})
                changed = True
            except ApiCallError as exc:
                if exc.status != 404:
                    raise
            module.exit_json(changed=changed)
        if module.params["state"] == "read":
            obj = call(api, "get", definition["kind"], "GET", path)
        elif module.params["state"] == "patched":
            obj = call(api, "patch", definition["kind"], "PATCH", path, body=definition, content_type=MERGE_PATCH)
            changed = True
        else:
            try:
                obj = call(api, "create", definition["kind"], "POST", base, body=definition)
                changed = True
            except ApiCallError as exc:
                if exc.status != 409:
                    raise
                obj = call(api, "get", definition["kind"], "GET", path)
        deadline = time.monotonic() + module.params["timeout"]
        # Test fixture only: a short poll is fine here; the collection's own waits are watch-based.
        while module.params["wait_ready"] and not is_ready(obj):
            if time.monotonic() > deadline:
                module.fail_json(msg="%s %s not ready after %ss" % (
                    definition["kind"], definition["metadata"]["name"], module.params["timeout"]), object=obj)
            time.sleep(0.2)
            obj = call(api, "get", definition["kind"], "GET", path)
    except ApiCallError as exc:
        module.fail_json(msg=exc.describe())
    module.exit_json(changed=changed, object=obj)


if __name__ == "__main__":
    main()
