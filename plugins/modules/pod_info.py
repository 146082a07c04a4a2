#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_info
short_description: List pods with their readiness, owner and isolation record
version_added: 1.0.0
description:
  - Reads pods of a namespace by name or label selector and returns, for each, its IP, node, readiness, controller
    and the isolation record left by M(triage.k8s.pod_isolate) (parsed), so a runbook can show what is isolated.
  - Read-only; behaves the same in check mode.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  name:
    description: One pod. Mutually exclusive with O(label_selector).
    type: str
  label_selector:
    description: Label selector, for example V(triage.k8s/isolated=true) to list every isolated pod.
    type: str
extends_documentation_fragment:
  - triage.k8s.k8s_auth
  - triage.k8s.common.namespace
  - triage.k8s.common.attributes
attributes:
  check_mode:
    support: full
    details: Read-only.
  diff_mode:
    support: none
    details: Nothing changes.
'''

EXAMPLES = r'''
- name: Which pods are isolated in the shop namespace?
  triage.k8s.pod_info:
    namespace: shop
    label_selector: triage.k8s/isolated=true
  register: isolated

- name: Print them with their reason
  ansible.builtin.debug:
    msg: "{{ item.name }} since {{ item.record.isolated_at }}: {{ item.record.reason }}"
  loop: "{{ isolated.pods }}"
'''

RETURN = r'''
pods:
  description: The pods found, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Pod name., type: str}
    uid: {description: UID., type: str}
    ip: {description: Pod IP., type: str}
    node: {description: Node name., type: str}
    phase: {description: status.phase., type: str}
    ready: {description: Whether the Ready condition is True., type: bool}
    terminating: {description: Whether a deletion is pending., type: bool}
    controller: {description: The controller ownerReference with kind name and uid or null., type: dict}
    labels: {description: Labels., type: dict}
    isolated: {description: Whether the pod carries the triage.k8s/isolated=true label., type: bool}
    record: {description: The parsed isolation record or null., type: dict}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as connect, finish, run
from ansible_collections.triage.k8s.plugins.module_utils.glue.options import input_problems, module_spec
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import list_pods, read_pod
from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    controller_ref,
    is_pod_ready,
    is_terminating,
    pod_summary,
)

# The fields of the shared pod summary that pod_info returns (RETURN documents them).
SUMMARY_FIELDS = ("name", "uid", "ip", "node", "phase", "labels")


def describe(pod):
    """The shared pod summary, plus readiness, the controller and the parsed record."""
    summary = pod_summary(pod)
    ref = controller_ref(pod)
    try:
        parsed = record.parse_record(pod)
    except record.UndoRecordError as exc:
        parsed = {"error": str(exc)}
    described = dict((k, summary[k]) for k in SUMMARY_FIELDS)
    described.update(
        ready=is_pod_ready(pod), terminating=is_terminating(pod),
        controller=dict((k, ref.get(k)) for k in ("kind", "name", "uid")) if ref else None,
        isolated=record.is_marked(pod), record=parsed)
    return described


def main():
    spec = module_spec(label_selector=dict(type="str"))
    module = AnsibleModule(argument_spec=spec, mutually_exclusive=[("name", "label_selector")],
                           supports_check_mode=True)
    params = module.params
    problems = input_problems(params, {})
    if problems:
        module.fail_json(msg="; ".join(problems))
    api_client = connect(module)

    def work():
        if params["name"]:
            pods = [read_pod(api_client, params["namespace"], params["name"])]
        else:
            pods, _rv = list_pods(api_client, params["namespace"], params["label_selector"])
        return {"changed": False, "pods": sorted((describe(p) for p in pods), key=lambda p: p["name"])}

    finish(module, run(module, work, client=api_client), client=api_client)


if __name__ == "__main__":
    main()
