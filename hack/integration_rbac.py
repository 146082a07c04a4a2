# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the --rbac file for the kubesim that hack/integration.sh starts.

It is tests/integration/kubesim-rbac.yml (fixed test identities) plus identities bound to the Role the
collection ships (docs/rbac/triage-k8s-role.yaml), read from that file, not copied, so that the
rbac_least_privilege target proves the shipped Role itself:

- LEAST_PRIVILEGE_TOKEN: user triage-least-privilege, bound to exactly the shipped Role in each test
  namespace;
- NO_EPHEMERAL_TOKEN: user triage-no-ephemeral, bound to the shipped Role minus pods/ephemeralcontainers
  (the proof that pod_hijack names that permission when it is missing).

Usage: python hack/integration_rbac.py FIXED_RBAC SHIPPED_ROLE OUTPUT NAMESPACE [NAMESPACE ...]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import sys

import yaml

LEAST_PRIVILEGE_TOKEN = 'triage-least-privilege-token'
LEAST_PRIVILEGE_USER = 'triage-least-privilege'
NO_EPHEMERAL_TOKEN = 'triage-no-ephemeral-token'
NO_EPHEMERAL_USER = 'triage-no-ephemeral'
DROPPED_FOR_NO_EPHEMERAL = 'pods/ephemeralcontainers'


def shipped_role(path):
    with open(path) as handle:
        docs = [doc for doc in yaml.safe_load_all(handle) if doc]
    roles = [doc for doc in docs if doc.get('kind') == 'Role']
    if len(roles) != 1 or len(docs) != 1:
        raise SystemExit('%s: expected exactly one Role, found kinds %s' % (path, [d.get('kind') for d in docs]))
    return roles[0]


def without_resource(role, resource):
    """A copy of the Role whose rules no longer name `resource` (rules left empty are dropped)."""
    if not any(resource in rule['resources'] for rule in role['rules']):
        raise SystemExit('the shipped Role does not grant %s, so the no-ephemeral identity would prove nothing'
                         % resource)
    reduced = copy.deepcopy(role)
    rules = []
    for rule in reduced['rules']:
        rule['resources'] = [r for r in rule['resources'] if r != resource]
        if rule['resources']:
            rules.append(rule)
    reduced['rules'] = rules
    return reduced


def bound(role, name, namespace, user):
    placed = copy.deepcopy(role)
    placed['metadata'] = dict(placed['metadata'], name=name, namespace=namespace)
    binding = {
        'apiVersion': 'rbac.authorization.k8s.io/v1',
        'kind': 'RoleBinding',
        'metadata': {'name': name, 'namespace': namespace},
        'roleRef': {'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'Role', 'name': name},
        'subjects': [{'apiGroup': 'rbac.authorization.k8s.io', 'kind': 'User', 'name': user}],
    }
    return [placed, binding]


def main(argv):
    if len(argv) < 5:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    fixed_path, role_path, output, namespaces = argv[1], argv[2], argv[3], argv[4:]
    with open(fixed_path) as handle:
        fixed = [doc for doc in yaml.safe_load_all(handle) if doc]
    role = shipped_role(role_path)
    reduced = without_resource(role, DROPPED_FOR_NO_EPHEMERAL)
    objects = []
    for namespace in namespaces:
        objects += bound(role, role['metadata']['name'], namespace, LEAST_PRIVILEGE_USER)
        objects += bound(reduced, role['metadata']['name'] + '-no-ephemeral', namespace, NO_EPHEMERAL_USER)
    generated = {
        'tokens': [
            {'token': LEAST_PRIVILEGE_TOKEN, 'user': LEAST_PRIVILEGE_USER},
            {'token': NO_EPHEMERAL_TOKEN, 'user': NO_EPHEMERAL_USER},
        ],
        'objects': objects,
    }
    with open(output, 'w') as handle:
        yaml.safe_dump_all(fixed + [generated], handle, default_flow_style=False, sort_keys=False)


if __name__ == '__main__':
    main(sys.argv)
