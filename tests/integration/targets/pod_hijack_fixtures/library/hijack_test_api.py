#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test support only: one raw API request (GET a path, or add/clear a kubesim fault rule)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: hijack_test_api
short_description: Integration-test fixture - one raw request to the test API server
description: Test support for the pod_hijack targets; not part of the collection.
options:
  kubeconfig: {type: str, required: true, description: Path of the test cluster kubeconfig.}
  path: {type: str, required: true, description: "API path, e.g. /api/v1/namespaces/ns/endpoints/web."}
  method: {type: str, default: GET, choices: [GET, POST, DELETE], description: HTTP method.}
  body: {type: dict, description: JSON body for POST.}
author: triage.k8s contributors (@triage-k8s)
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import ApiError as ApiCallError
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import request as call


def main():
    module = AnsibleModule(argument_spec=dict(
        kubeconfig=dict(type="str", required=True), path=dict(type="str", required=True),
        method=dict(type="str", default="GET", choices=["GET", "POST", "DELETE"]), body=dict(type="dict")))
    api = get_api_client(module)
    params = module.params
    try:
        body = call(api, params["method"].lower(), "test", params["method"], params["path"], body=params["body"])
    except ApiCallError as exc:
        module.fail_json(msg=exc.describe(), status=exc.status)
    # A GET changes nothing; the fault endpoint does, but only in the emulator.
    module.exit_json(changed=params["method"] != "GET", body=body)


if __name__ == "__main__":
    main()
