#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_restore
short_description: Put an isolated pod back into service, or delete isolated pods safely
version_added: 1.0.0
description:
  - Undoes M(triage.k8s.pod_isolate) from the undo record it left on the pod (the C(triage.k8s/) label and
    annotations).
  - B(state=in_service) puts the original labels back and removes every C(triage.k8s/) label and annotation. The
    ReplicaSet adopts the pod again and, in the same sync, deletes one surplus pod (the lowest-ranked one). By
    default the restored pod is the one kept - the module sets C(controller.kubernetes.io/pod-deletion-cost) to
    the highest value for that scale-down and removes it again afterwards - and RV(removed_pods) reports which pod
    the controller removed.
  - It refuses, and changes nothing, when the Deployment rolled to a new template since the isolation (the old
    ReplicaSet is gone, scaled to zero or of another revision); that ReplicaSet would adopt the pod and delete it at
    once. Delete the pod instead. It also refuses, even with O(force), a pod that is terminating.
  - When M(triage.k8s.pod_hijack) swapped images (annotation C(triage.k8s/original-images)) and O(revert_image) is
    true, the original images are put back first, while the pod is still out of traffic, and the module waits
    until the containers restarted and the pod is Ready before restoring the labels.
  - B(state=absent) deletes the pod, only when it carries the C(triage.k8s/isolated=true) label unless
    O(force=true). Exactly that pod is deleted (with uid and resourceVersion preconditions); no owner or other
    object is deleted or modified, and there is no cascade. The module waits until the pod is gone.
  - B(Reaper.) With O(state=absent), no O(name) and O(isolated_before), the module deletes the isolated pods of the
    namespace that were isolated longer ago than that, oldest first, at most O(max_pods) of them; the others are
    reported in RV(not_deleted).
  - Records a core/v1 Event C(Restored) or C(Deleted) on the pod. Check mode reports the plan and the diff and sends
    no mutating request. Already restored or already gone pods give C(ok).
author:
  - triage.k8s contributors (@triage-k8s)
options:
  name:
    description:
      - Name of the isolated pod. Required with O(state=in_service); with O(state=absent) either O(name) or
        O(isolated_before).
    type: str
  state:
    description:
      - V(in_service) puts the pod back behind its Services and controller; V(absent) deletes it.
    type: str
    choices: [in_service, absent]
    default: in_service
  isolated_before:
    description:
      - Reaper mode of O(state=absent) without O(name) - delete pods isolated longer ago than this duration, e.g.
        V(24h), V(90m), V(1h30m), V(7d) or a number of seconds.
    type: str
  max_pods:
    description:
      - At most this many pods are deleted by the reaper in one run.
    type: int
    default: 1
  force:
    description:
      - With O(state=absent), delete the named pod even when it is not marked as isolated.
      - With O(state=in_service), restore even when the workload rolled since the isolation or the pod came from a
        controller other than a ReplicaSet or DaemonSet.
  keep_restored:
    description:
      - Steer the controller's scale-down so the restored pod is kept and another one is removed, with
        C(controller.kubernetes.io/pod-deletion-cost). With V(false) the controller picks by its usual ranking.
    type: bool
    default: true
  revert_image:
    description:
      - Put back the images recorded by M(triage.k8s.pod_hijack) before restoring the labels.
    type: bool
    default: true
  grace_period:
    description:
      - Termination grace period in seconds for O(state=absent). The pod's own setting when omitted.
    type: int
  wait:
    description:
      - Wait for the adoption and the surplus removal (V(in_service)) or until the pod is gone (V(absent)).
  wait_timeout:
    default: 300
extends_documentation_fragment:
  - triage.k8s.k8s_auth
  - triage.k8s.common.namespace
  - triage.k8s.common.wait
  - triage.k8s.common.force
  - triage.k8s.common.attributes
attributes:
  check_mode:
    support: full
    details: Reports the plan and the diff; sends no mutating request.
  diff_mode:
    support: full
    details: Labels and annotations before and after, or the pod before deletion.
notes:
  - Required RBAC in the namespace - pods get, list, watch, patch, delete; replicasets and deployments get;
    events create.
seealso:
  - module: triage.k8s.pod_isolate
'''

EXAMPLES = r'''
- name: The fix is found, put the pod back (seed "Performing Maintenance on Pods")
  triage.k8s.pod_restore:
    namespace: shop
    name: nginx-1802606028-1posu
  register: restored

- name: Say which pod the ReplicaSet removed instead
  ansible.builtin.debug:
    msg: "Kept {{ restored.pod.name }}, the controller removed {{ restored.removed_pods | join(', ') }}"

- name: Investigation over, delete the isolated pod (seed "Kubernetes Isolate Crashed Pod", cleaning up)
  triage.k8s.pod_restore:
    namespace: ah
    name: login-audit-trail-service-b6bdb4645-274np
    state: absent

- name: Nightly reaper - delete pods isolated more than a day ago, five at most
  triage.k8s.pod_restore:
    namespace: shop
    state: absent
    isolated_before: 24h
    max_pods: 5
'''

RETURN = r'''
changed:
  description: Whether anything was changed (or would be, in check mode).
  returned: always
  type: bool
pod:
  description: The pod handled (name, namespace, uid, ip, node, phase, labels, annotations, ports, containers) after the change.
  returned: when a named pod exists
  type: dict
restore:
  description: The restore plan (labels_before, labels_after, remove_annotations, add_annotations, revert_images,
    reverted_images (the images this run put back), hijacked_images_kept (with O(revert_image=false)),
    adoption_expected, controller, forced), or C(already_in_service=true).
  returned: state=in_service
  type: dict
removed_pods:
  description: Pods the controller deleted as surplus after adopting the restored pod.
  returned: state=in_service with wait and a ReplicaSet owner
  type: list
  elements: str
  sample: [web-5d4b8f7c9-q7zlm]
deleted:
  description: Names of the pods deleted (or that would be, in check mode).
  returned: state=absent
  type: list
  elements: str
not_deleted:
  description: Reaper candidates not deleted, each with name and reason. Called C(skipped) in 1.0.0; renamed
    because ansible-core 2.21 takes a result's C(skipped) as the task's skipped flag (and so showed a reaper run
    that deleted pods as skipped).
  returned: reaper mode
  type: list
  elements: dict
timings:
  description: Seconds per phase.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as connect, finish, run
from ansible_collections.triage.k8s.plugins.module_utils.glue.options import input_problems, module_spec, verb_options
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import parse_duration
from ansible_collections.triage.k8s.plugins.module_utils.restore.run import delete_isolated, reap, restore_in_service


def argument_spec():
    return module_spec(
        wait_timeout=300,
        force=True,
        state=dict(type="str", default="in_service", choices=["in_service", "absent"]),
        isolated_before=dict(type="str"),
        max_pods=dict(type="int", default=1),
        keep_restored=dict(type="bool", default=True),
        revert_image=dict(type="bool", default=True),
        grace_period=dict(type="int"),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("state", "in_service", ("name",))],
        mutually_exclusive=[("name", "isolated_before")],
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "absent" and not params["name"] and not params["isolated_before"]:
        module.fail_json(msg="state=absent needs name (one pod) or isolated_before (the reaper)")
    if params["state"] == "in_service" and params["isolated_before"]:
        module.fail_json(msg="isolated_before only applies to state=absent")
    problems = input_problems(params, {"max_pods": 1})
    if problems:
        module.fail_json(msg="; ".join(problems))
    if params["grace_period"] is not None and params["grace_period"] < 0:
        module.fail_json(msg="grace_period must not be negative, got %d" % params["grace_period"])
    older_than = None
    if params["isolated_before"]:
        try:
            older_than = parse_duration(params["isolated_before"])
        except ValueError as exc:
            module.fail_json(msg="isolated_before: %s" % exc)
    options = verb_options(params)
    api_client = connect(module)

    def work():
        if params["state"] == "in_service":
            return restore_in_service(api_client, params["namespace"], params["name"], options, module.check_mode)
        if params["name"]:
            return delete_isolated(api_client, params["namespace"], params["name"], options, module.check_mode)
        return reap(api_client, params["namespace"], older_than, options, module.check_mode)

    finish(module, run(module, work, client=api_client), client=api_client)


if __name__ == "__main__":
    main()
