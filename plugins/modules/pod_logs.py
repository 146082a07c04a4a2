#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_logs
short_description: Stream the logs of a pod's containers (current and previous) into an incident bundle
version_added: 1.0.0
description:
  - Writes the log of every container of the pod (init, regular and ephemeral), or of the ones named in
    O(containers), to C(logs/<container>.log), and the log of the previous, crashed instance (usually the
    evidence) to C(logs/<container>.previous.log) when the container has restarted.
  - Streamed to disk in chunks, so memory stays flat whatever the log size. Each log has a byte cap
    (O(max_bytes)); a log cut by it is marked C(truncated) in the manifest and keeps its tail (where a crash is)
    or its head (O(keep)).
  - Timestamps are on by default (the API server's RFC 3339 time in front of each line).
  - Logs that cannot exist are skipped without a request (a container that never started, a previous log of a
    container that never restarted) and listed in RV(unavailable).
  - A stream that ends early is fetched again up to two more times; when it still fails, the partial file is kept,
    marked C(complete=false), and the failure is recorded (for example C(previous log of container app cut after
    4096 bytes)), never a quietly short file.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  containers:
    description: Only these containers (any kind). Default all. An unknown name is an error that lists the pod's.
    type: list
    elements: str
  previous:
    description: Also fetch the previous instance's log of each container that restarted.
    type: bool
    default: true
  since:
    description: Only lines newer than this duration (V(10m), V(2h), V(90) seconds), as C(kubectl logs --since).
    type: str
  tail_lines:
    description: Only the last N lines, as C(kubectl logs --tail) (applied by the API server, before O(max_bytes)).
    type: int
  max_bytes:
    description: The byte cap of each log file. Default 50 MiB.
    type: int
    default: 52428800
  keep:
    description: Which end of a log longer than O(max_bytes) is kept. A kept tail starts at a whole line.
    type: str
    choices: [tail, head]
    default: tail
  timestamps:
    description: Prefix each line with its time, as C(kubectl logs --timestamps).
    type: bool
    default: true
extends_documentation_fragment:
  - triage.k8s.evidence
  - triage.k8s.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reads the pod and returns which logs would be collected; reads no log, writes nothing.
  diff_mode:
    support: none
    description: Nothing in the cluster changes.
  action_group:
    support: full
    membership: [triage.k8s.pods]
    description: Use C(group/triage.k8s.pods) in C(module_defaults) to set the connection options.
notes:
  - Needs C(get) on C(pods) and C(pods/log) (the shipped Role grants both).
  - The logs API serves only the newest log file of a container and only the last restart as C(previous);
    collect early, before another restart replaces it.
'''

EXAMPLES = r'''
- name: All logs, current and previous, into the bundle
  triage.k8s.pod_logs:
    name: web-7d9c-abcde
    namespace: shop
    bundle: "{{ incident.path }}"

- name: The last hour of one container, the first 5 MiB, into a plain directory
  triage.k8s.pod_logs:
    name: web-7d9c-abcde
    namespace: shop
    containers: [app]
    previous: false
    since: 1h
    max_bytes: 5242880
    keep: head
    dest: /tmp/web-logs
'''

RETURN = r'''
logs:
  description: One entry per log written (or, in check mode, that would be).
  returned: always
  type: list
  elements: dict
  contains:
    container: {description: Container name., type: str}
    previous: {description: Whether this is the previous instance's log., type: bool}
    path: {description: Path relative to the bundle or dest., type: str, sample: logs/app.previous.log}
    size: {description: Bytes written., type: int}
    sha256: {description: sha256 of the file., type: str}
    truncated: {description: The log was longer than max_bytes., type: bool}
    original_size: {description: 'With keep=tail and truncated, the bytes the log had.', type: int}
    complete: {description: False when the stream was cut and could not be fetched again., type: bool}
    attempts: {description: Fetches made (more than 1 after a cut stream)., type: int}
unavailable:
  description: Logs that do not exist, with the reason (C(container init has no earlier instance ...)).
  returned: always
  type: list
  elements: dict
failures:
  description: Logs that could not be collected (also recorded in the manifest), each with C(what) and C(error).
  returned: always
  type: list
  elements: dict
pod:
  description: The pod (name, namespace, uid, node, phase, containers).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_pod
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import parse_duration
from ansible_collections.triage.k8s.plugins.module_utils.evidence import logs
from ansible_collections.triage.k8s.plugins.module_utils.evidence import module_support
from ansible_collections.triage.k8s.plugins.module_utils.evidence.pod_facts import container_names


def main():
    module = AnsibleModule(
        argument_spec=module_support.collector_argument_spec(
            containers=dict(type="list", elements="str"),
            previous=dict(type="bool", default=True),
            since=dict(type="str"),
            tail_lines=dict(type="int"),
            max_bytes=dict(type="int", default=50 * 1024 * 1024),
            keep=dict(type="str", default="tail", choices=["tail", "head"]),
            timestamps=dict(type="bool", default=True),
        ),
        mutually_exclusive=module_support.COLLECTOR_MUTUALLY_EXCLUSIVE,
        required_one_of=module_support.COLLECTOR_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    params = module.params
    if params["max_bytes"] < 1:
        module.fail_json(msg="max_bytes must be at least 1, got %d" % params["max_bytes"])
    if params["tail_lines"] is not None and params["tail_lines"] < 0:
        module.fail_json(msg="tail_lines must not be negative, got %d" % params["tail_lines"])
    since_seconds = None
    if params["since"]:
        try:
            since_seconds = max(1, int(parse_duration(params["since"])))
        except ValueError as exc:
            module.fail_json(msg="since: %s" % exc)
    options = dict(containers=params["containers"], previous=params["previous"], since_seconds=since_seconds,
                   tail_lines=params["tail_lines"], max_bytes=params["max_bytes"], keep=params["keep"],
                   timestamps=params["timestamps"])
    api_client = get_api_client(module)
    try:
        pod = read_pod(api_client, params["namespace"], params["name"])
    except module_support.KNOWN_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc))
    target = module_support.open_target(module)
    summary = {"name": params["name"], "namespace": params["namespace"], "uid": pod["metadata"].get("uid"),
               "node": (pod.get("spec") or {}).get("nodeName"), "phase": (pod.get("status") or {}).get("phase"),
               "containers": container_names(pod)}
    try:
        collected = logs.collect(api_client, target, pod, options, check_mode=module.check_mode)
    except logs.LogPlanError as exc:
        module.fail_json(msg=str(exc), pod=summary)
    except module_support.KNOWN_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc), pod=summary, changed=False)
    finally:
        if target is not None and not target.is_bundle:
            target.close()
    result = dict(changed=bool(collected["logs"]), pod=summary, **collected)
    module_support.finish(module, result, collected["failures"], "logs")


if __name__ == "__main__":
    main()
