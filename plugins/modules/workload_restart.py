#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: workload_restart
short_description: Restart a Deployment, StatefulSet or DaemonSet as kubectl rollout restart does, and wait for it
version_added: 1.0.0
description:
  - After a fix to a Secret or ConfigMap that the pods read when they start (environment variables from
    C(secretKeyRef), a config file read once), the pods must start again to see it. This module restarts the
    workload the way C(kubectl rollout restart) does and then waits, as C(kubectl rollout status) does, until the
    rollout is complete; or it sends a reload signal to each pod in turn (O(mode=reload)).
  - B(The workload.) Given by O(kind) and O(name), or found from one of its pods (O(pod)) through the pod's
    ownerReferences (pod, ReplicaSet, Deployment; or the StatefulSet or DaemonSet). For a pod this collection
    isolated, whose ownerReferences the controller removed, its isolation record names the workload.
  - B(Restart.) One JSON patch, conditioned on the resourceVersion that was read (its first op is a C(test) of it;
    a concurrent change makes the module read again and decide again), sets the pod template annotation
    C(kubectl.kubernetes.io/restartedAt) to the current time (RFC 3339, UTC). The controller then replaces the pods
    by the workload's own update strategy (maxSurge and maxUnavailable, the StatefulSet's ordinals and partition).
    A paused Deployment is refused, as kubectl refuses it.
  - B(Waiting.) With O(wait=true) the module watches the workload (it never polls with sleeps) until the rollout is
    complete as C(kubectl rollout status) decides it - the controller observed the new generation; for a
    Deployment every replica is updated, no old one is left and every updated one is available; for a StatefulSet
    every replica is ready and (without a partition) currentRevision equals updateRevision, (with one) the pods
    above the partition are updated; for a DaemonSet updatedNumberScheduled and numberAvailable reach
    desiredNumberScheduled. When the Deployment controller sets the Progressing condition to
    C(ProgressDeadlineExceeded) (after C(spec.progressDeadlineSeconds)), the module fails with that reason at once.
    On any failure RV(not_ready_pods) names each pod that is not ready and why (C(CrashLoopBackOff), the exit
    code), with the last O(log_lines) log lines of each crashed container (of its previous instance when it
    restarted, as C(kubectl logs --previous) shows them).
  - B(Idempotence.) Without O(restart_after) every run restarts, as kubectl does. With it, the module restarts
    only when some pod of the workload started (C(status.startTime)) before that time and the pod template was
    not already restarted at or after it; RV(reason) and RV(pods_started_before) say which. So a rerun of the same
    task, after the fix and the restart, is C(ok).
  - B(Guards.) When a rollout is already in progress (pods of two templates - updatedReplicas below the replica
    count or old replicas left, a StatefulSet's currentRevision and updateRevision differ, a DaemonSet not fully
    updated, or the controller has not observed the latest generation) the module refuses unless O(force=true),
    since a restart would start yet another revision. Replicas that are all of the current template but crash are
    not a rollout in progress; restarting them is what the module is for. A StatefulSet or DaemonSet with
    C(updateStrategy) V(OnDelete) has no rollout (its pods take the new template only when deleted); with
    O(wait=true) the module refuses it and changes nothing.
  - B(Isolated pods.) Pods this collection isolated (label C(triage.k8s/isolated=true)) were released from their
    controller; the restart does not replace them, reload does not signal them, and the wait does not count them.
    RV(isolated_pods) lists the ones whose record names this workload.
  - B(Reload.) O(mode=reload) restarts nothing. For each pod of the workload in turn (by name) it runs
    O(reload_command) over exec in O(container) (by default C(kill -s HUP 1), the signal O(signal) to PID 1, the
    container's main process), then watches the pod for O(settle_seconds); it must stay Ready with no container
    restart. The first failure (the command fails, the pod was not Ready before, or it stops being Ready or
    restarts) stops the run; the pods after it are left alone. A reload is always reported as changed.
  - Check mode decides and reports the patch (with C(--diff), the template annotations before and after) or the
    pods that would be signalled, and sends no mutating request (no patch, no exec).
author:
  - triage.k8s contributors (@triage-k8s)
options:
  kind:
    description:
      - Kind of the workload named by O(name). Required with O(name).
    type: str
    choices: [Deployment, StatefulSet, DaemonSet]
  name:
    description:
      - Name of the workload. Mutually exclusive with O(pod).
    type: str
  pod:
    description:
      - Name of one of the workload's pods; the workload is found from its ownerReferences (or, for a pod this
        collection isolated, from its isolation record). Mutually exclusive with O(name).
      - A restart replaces every pod, so a rerun of a task that names a pod fails with the pod not found; use
        O(kind) and O(name) in a task that may run twice.
    type: str
  mode:
    description:
      - V(restart) replaces the pods by a rollout; V(reload) signals the main process of each pod in turn.
    type: str
    choices: [restart, reload]
    default: restart
  restart_after:
    description:
      - An RFC 3339 time (for example the time the Secret was fixed, V(2026-12-02T03:00:00Z)). Restart only when
        some pod of the workload started before it; see the description. Only for O(mode=restart).
    type: str
  force:
    description:
      - Restart even when a rollout is already in progress.
  signal:
    description:
      - The signal the default O(reload_command) sends to PID 1 (a name for C(kill -s)).
    type: str
    default: HUP
  reload_command:
    description:
      - The argv to run in each pod for O(mode=reload) instead of C(kill -s SIGNAL 1), for example
        V([killall, -HUP, nginx]) (seed 001) for an image whose main process is not PID 1. Its exit code must be 0.
    type: list
    elements: str
  container:
    description:
      - The container the reload command runs in. Defaults to the first container of the pod.
    type: str
  settle_seconds:
    description:
      - With O(mode=reload), how long each pod must stay Ready, without a container restart, after its signal before
        the next pod is signalled.
    type: int
    default: 10
  log_lines:
    description:
      - How many of the last log lines of each crashed container RV(not_ready_pods) carries. V(0) reads no log.
    type: int
    default: 20
  wait:
    description:
      - With O(mode=restart), wait until the rollout is complete (see the description). O(mode=reload) always waits
        for each pod.
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
  diff_mode:
    support: full
requirements:
  - kubernetes
  - websocket-client (for O(mode=reload))
notes:
  - The Role in C(docs/rbac/triage-k8s-role.yaml) grants what this module needs (get, list, watch and patch on
    deployments, statefulsets and daemonsets; the pod reads, C(pods/log) and C(pods/exec) it already had).
seealso:
  - module: triage.k8s.pod_isolate
  - name: kubectl rollout restart
    description: What the restart does.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_restart/
'''

EXAMPLES = r'''
- name: The Secret is fixed; restart the Deployment once and wait until every replica is available
  triage.k8s.workload_restart:
    namespace: shop
    kind: Deployment
    name: hello-path-go
    restart_after: "{{ secret_fixed_at }}"
    wait_timeout: 300
  register: restarted

- name: Restart whatever workload owns a crashing pod
  triage.k8s.workload_restart:
    namespace: shop
    pod: hello-path-go-5c48979c88-wfndp

- name: Reload nginx in each pod in turn (seed 001's killall -HUP nginx), each must stay Ready for 15 seconds
  triage.k8s.workload_restart:
    namespace: web
    kind: Deployment
    name: frontend
    mode: reload
    reload_command: [killall, -HUP, nginx]
    settle_seconds: 15
'''

RETURN = r'''
changed:
  description: Whether the workload was restarted or a pod signalled (or would be, in check mode).
  returned: always
  type: bool
restarted:
  description: Whether this run restarted the workload (or would, in check mode).
  returned: always
  type: bool
restarted_at:
  description: The value written to the C(kubectl.kubernetes.io/restartedAt) template annotation.
  returned: when restarted
  type: str
  sample: "2026-12-02T03:12:44Z"
reason:
  description: Why the module restarted or did not (restart_after, an earlier restart).
  returned: mode=restart
  type: str
  sample: "2 pod(s) started before restart_after: web-5c48979c88-wfndp, web-5c48979c88-x2k9q"
pods_started_before:
  description: The pods of the workload that started before O(restart_after).
  returned: mode=restart
  type: list
  elements: str
workload:
  description: The workload (kind, name, namespace, uid) and how it was found (C(given), or from which pod).
  returned: when the workload was found
  type: dict
rollout:
  description: The rollout status as C(kubectl rollout status) decides it (done, message, failure, reason) with the
    counts (desired, replicas, updated, ready, available, generation, observed_generation; a StatefulSet's
    current_revision and update_revision), after the wait or, without it, right after the patch.
  returned: mode=restart
  type: dict
not_ready_pods:
  description: When the rollout failed or timed out, each pod of the workload that is not ready (name, revision,
    problems); each problem names the container, its state, reason, message, exit code, restart count and, for a
    crashed container, its C(last_log_lines).
  returned: on failure of the wait
  type: list
  elements: dict
isolated_pods:
  description: Pods this collection isolated from the workload; they were left alone (see C(isolated_note)).
  returned: always
  type: list
  elements: str
reloaded:
  description: mode=reload, each pod signalled in order (pod, rc, stdout, stderr, seconds, stayed_ready).
  returned: mode=reload
  type: list
  elements: dict
would_reload:
  description: The pods check mode would signal, in order.
  returned: mode=reload in check mode
  type: list
  elements: str
timings:
  description: Seconds spent per phase.
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as connect, finish, run
from ansible_collections.triage.k8s.plugins.module_utils.glue.options import input_problems, module_spec, verb_options
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import parse_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.rollout.run import reload_workload, restart_workload
from ansible_collections.triage.k8s.plugins.module_utils.rollout.status import KINDS


def argument_spec():
    return module_spec(
        wait_timeout=300,
        force=True,
        kind=dict(type="str", choices=list(KINDS)),
        pod=dict(type="str"),
        mode=dict(type="str", default="restart", choices=["restart", "reload"]),
        restart_after=dict(type="str"),
        signal=dict(type="str", default="HUP"),
        reload_command=dict(type="list", elements="str"),
        container=dict(type="str"),
        settle_seconds=dict(type="int", default=10),
        log_lines=dict(type="int", default=20),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("name", "pod")],
        required_one_of=[("name", "pod")],
        required_together=[("name", "kind")],
        supports_check_mode=True,
    )
    params = module.params
    problems = input_problems(params, {"settle_seconds": 0, "log_lines": 0})
    if params["restart_after"]:
        try:
            parse_rfc3339(params["restart_after"])
        except ValueError as exc:
            problems.append("restart_after: %s" % exc)
        if params["mode"] == "reload":
            problems.append("restart_after applies to mode=restart only")
    if params["mode"] == "restart" and params["reload_command"]:
        problems.append("reload_command applies to mode=reload only")
    if problems:
        module.fail_json(msg="; ".join(problems))
    options = verb_options(params)
    api_client = connect(module)
    verb = reload_workload if params["mode"] == "reload" else restart_workload
    result = run(module, lambda: verb(api_client, options, check_mode=module.check_mode), client=api_client)
    finish(module, result)


if __name__ == "__main__":
    main()
