#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: preflight
short_description: Check the connection, identity and permissions before an incident response
version_added: 1.0.0
description:
  - Connects to the Kubernetes API server and reports its version, who you are, and which of the permissions
    the collection needs you have in a namespace.
  - Run it first in a runbook, so a missing RBAC permission stops the play before any pod is touched.
  - It never changes anything. Identity and permissions are asked with C(SelfSubjectReview) and
    C(SelfSubjectAccessReview), which the API server answers without storing anything.
  - When the server does not serve those reviews, the module warns and reports RV(user) as V(unknown)
    or an empty permission list instead of failing.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  namespace:
    description:
      - The namespace whose permissions are checked.
    type: str
    default: default
  fail_on_missing:
    description:
      - Fail when any of the required permissions is denied, listing the missing ones.
    type: bool
    default: false
extends_documentation_fragment:
  - triage.k8s.k8s_auth
  - triage.k8s.common.attributes
attributes:
  check_mode:
    support: full
    details: The module is read-only and runs the same way in check mode.
  diff_mode:
    support: none
    details: Nothing is changed, so there is nothing to diff.
'''

EXAMPLES = r'''
- name: Check that we may isolate pods in the shop namespace
  triage.k8s.preflight:
    kubeconfig: /etc/triage/kubeconfig
    context: prod-eu
    namespace: shop
  register: preflight

- name: Stop here if a permission is missing
  ansible.builtin.assert:
    that: preflight.missing | length == 0
    fail_msg: "missing permissions: {{ preflight.missing | join(', ') }}"

- name: Refuse to touch a cluster older than 1.28
  triage.k8s.preflight:
    kubeconfig: /etc/triage/kubeconfig
  register: preflight
  failed_when: preflight.server_version is version('v1.28', '<')

- name: Check as an impersonated on-call user, failing on any missing permission
  triage.k8s.preflight:
    host: https://k8s.example.com:6443
    api_key: "{{ vault_oncall_token }}"
    impersonate_user: oncall
    impersonate_groups: [sre]
    namespace: shop
    fail_on_missing: true
'''

RETURN = r'''
host:
  description: The URL of the API server that answered.
  returned: always
  type: str
  sample: https://127.0.0.1:41234
server_version:
  description: The server's C(gitVersion) from C(/version).
  returned: always
  type: str
  sample: v1.32.0
user:
  description: Your user name as the server sees it (after impersonation), or C(unknown) if the server
    does not serve C(SelfSubjectReview).
  returned: always
  type: str
  sample: oncall@example.com
groups:
  description: Your groups as the server sees them.
  returned: always
  type: list
  elements: str
  sample: [system:masters, system:authenticated]
namespace:
  description: The namespace whose permissions were checked.
  returned: always
  type: str
  sample: shop
permissions_checked:
  description: Whether the server answered the access reviews. If false, RV(permissions) is empty.
  returned: always
  type: bool
  sample: true
permissions:
  description: One entry per permission the collection uses.
  returned: always
  type: list
  elements: dict
  contains:
    permission:
      description: Verb and resource, for example C(patch pods) or C(list deployments.apps).
      type: str
      sample: create pods/exec
    verb:
      description: The API verb.
      type: str
      sample: create
    group:
      description: The API group, empty for the core group.
      type: str
      sample: ''
    resource:
      description: The resource.
      type: str
      sample: pods
    subresource:
      description: The subresource, empty if none.
      type: str
      sample: exec
    allowed:
      description: Whether the server allows it.
      type: bool
      sample: true
    reason:
      description: The authorizer's reason, often empty.
      type: str
      sample: ''
missing:
  description: The RV(permissions[].permission) values that are denied.
  returned: always
  type: list
  elements: str
  sample: [delete pods, create pods/exec]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as connect, finish, run
from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import auth_argument_spec
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import Refused
from ansible_collections.triage.k8s.plugins.module_utils.preflight.checks import run_preflight


def main():
    argument_spec = auth_argument_spec()
    argument_spec.update(
        namespace=dict(type='str', default='default'),
        fail_on_missing=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    api_client = connect(module)

    def work():
        report, warnings = run_preflight(api_client, module.params['namespace'])
        if module.params['fail_on_missing'] and report['missing']:
            raise Refused('missing permissions in namespace %s: %s' % (report['namespace'], ', '.join(report['missing'])),
                          dict(report, warnings=warnings))
        return dict(report, changed=False, warnings=warnings)

    finish(module, run(module, work, client=api_client), client=api_client)


if __name__ == '__main__':
    main()
