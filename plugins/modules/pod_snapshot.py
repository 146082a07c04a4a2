#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_snapshot
short_description: Write the pod, its owners, Services, Endpoints, PDBs, HPAs, Node and Events into a bundle
version_added: 1.0.0
description:
  - Writes JSON files under C(snapshot/) in the bundle (or O(dest)), each read on its own, so one that fails is
    recorded in the manifest and the others are still written.
  - C(pod.json) the pod without managedFields; C(owners.json) its owner chain; C(services.json) the Services
    that select the pod, or selected it before isolation (from the isolation record), with their Endpoints and
    EndpointSlices; C(policies.json) the PodDisruptionBudgets that select it and the HorizontalPodAutoscalers of
    its workload; C(node.json) the Node's conditions, allocatable, capacity and info; C(events.json) the core/v1
    Events of the pod and of each owner, sorted by time, with their counts; C(references.json) the ConfigMaps
    and Secrets the pod references, by name only.
  - Secrets are never read.
  - Redaction is on by default. Env values whose name or content looks like a credential (password, token,
    secret, key, credential, a DSN or URL with a password, a bearer or basic Authorization value, a private key,
    a JWT), the same inside C(kubectl.kubernetes.io/last-applied-configuration), and command-line arguments that
    carry one (C(--password=...), C(--mysecret 4321)) are replaced by a marker that gives only the length
    (C(<redacted 7 chars>) style, see docs/evidence.md). The manifest counts what was redacted per rule. O(redact=false) writes the values
    as they are, in files named C(*.unredacted.json).
  - The incident report (M(triage.k8s.incident_bundle) O(triage.k8s.incident_bundle#module:state=closed)) takes
    its timeline from C(events.json) when there is one.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  redact:
    description: Replace credential-looking values by a length marker (see the description).
    type: bool
    default: true
extends_documentation_fragment:
  - triage.k8s.evidence
  - triage.k8s.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reads the pod and returns the files that would be written; writes nothing.
  diff_mode:
    support: none
    description: Nothing in the cluster changes.
  action_group:
    support: full
    membership: [triage.k8s.pods]
    description: Use C(group/triage.k8s.pods) in C(module_defaults) to set the connection options.
notes:
  - Reads with the shipped Role only, except the Node, which is cluster-scoped (C(get) on C(nodes), a ClusterRole).
    Without it the Node section is recorded as a failure and the rest is written.
'''

EXAMPLES = r'''
- name: Snapshot the pod and its surroundings into the bundle
  triage.k8s.pod_snapshot:
    name: web-7d9c-abcde
    namespace: shop
    bundle: "{{ incident.path }}"
'''

RETURN = r'''
files:
  description: The files written (path, size, sha256, redacted with count and rules), or in check mode, that would be.
  returned: always
  type: list
  elements: dict
redacted:
  description: How many values were redacted in all files.
  returned: always
  type: int
failures:
  description: Sections that could not be read (recorded in the manifest too), with C(what) and C(error).
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_pod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import module_support, snapshot


def main():
    module = AnsibleModule(
        argument_spec=module_support.collector_argument_spec(redact=dict(type="bool", default=True)),
        mutually_exclusive=module_support.COLLECTOR_MUTUALLY_EXCLUSIVE,
        required_one_of=module_support.COLLECTOR_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    params = module.params
    api_client = get_api_client(module)
    try:
        pod = read_pod(api_client, params["namespace"], params["name"])
    except module_support.KNOWN_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc))
    target = module_support.open_target(module)
    try:
        collected = snapshot.collect(api_client, target, pod, redact=params["redact"], check_mode=module.check_mode)
    except module_support.KNOWN_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc))
    finally:
        if target is not None and not target.is_bundle:
            target.close()
    result = dict(changed=bool(collected["files"]), **collected)
    module_support.finish(module, result, collected["failures"], "snapshot sections")


if __name__ == "__main__":
    main()
