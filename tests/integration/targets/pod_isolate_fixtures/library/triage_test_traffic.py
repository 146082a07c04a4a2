#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test support only: send requests through the API server proxy and count who answered and what failed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: triage_test_traffic
short_description: Integration-test fixture - requests through a Service or pod proxy
description: Test support for the pod_isolate/pod_restore targets; not part of the collection.
options:
  kubeconfig: {type: str, required: true, description: Path of the test cluster kubeconfig.}
  namespace: {type: str, required: true, description: Namespace.}
  service: {type: str, description: Service to send requests through (its proxy subresource).}
  pod: {type: str, description: Pod to send requests to directly (its proxy subresource).}
  count: {type: int, default: 10, description: Requests to send when no stop_file is given.}
  stop_file: {type: str, description: Keep sending until this file exists (at most max_seconds).}
  max_seconds: {type: int, default: 60, description: Upper bound for the stop_file loop.}
author: triage.k8s contributors (@triage-k8s)
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import api_path, request


def main():
    module = AnsibleModule(argument_spec=dict(
        kubeconfig=dict(type="str", required=True), namespace=dict(type="str", required=True),
        service=dict(type="str"), pod=dict(type="str"), count=dict(type="int", default=10),
        stop_file=dict(type="str"), max_seconds=dict(type="int", default=60)),
        required_one_of=[("service", "pod")], mutually_exclusive=[("service", "pod")])
    params = module.params
    api = get_api_client(module)
    if params["service"]:
        path = api_path("api/v1/namespaces", params["namespace"], "services", params["service"], "proxy") + "/"
    else:
        path = api_path("api/v1/namespaces", params["namespace"], "pods", params["pod"], "proxy") + "/"
    answered_by, failures, sent = {}, [], 0
    deadline = time.monotonic() + params["max_seconds"]
    while True:
        if params["stop_file"]:
            if os.path.exists(params["stop_file"]) or time.monotonic() > deadline:
                break
        elif sent >= params["count"]:
            break
        sent += 1
        try:
            # retry=False: this probe counts the failed requests, it must not hide them.
            answer = request(api, "proxy", "services" if params["service"] else "pods", "GET", path, timeout=5,
                             retry=False)
            answered_by[answer["pod"]] = answered_by.get(answer["pod"], 0) + 1
        except Exception as exc:  # pylint: disable=broad-except
            failures.append("%s: %s" % (type(exc).__name__, str(exc)[:200]))
        if params["stop_file"]:
            time.sleep(0.02)  # pacing between requests of the background load
    module.exit_json(changed=False, sent=sent, ok=sent - len(failures), failed=len(failures),
                     failures=failures[:20], answered_by=answered_by, pods=sorted(answered_by))


if __name__ == "__main__":
    main()
