# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shipped least-privilege Role and preflight's permission list must say the same thing.

preflight tells a user what is missing; the Role is what they apply to get it. If one gains a permission
the other lacks, preflight reports a Role user as short of rights, or the Role grants more than preflight
(and docs/rbac.md) admit. The integration target rbac_least_privilege proves the Role is enough.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

from ansible_collections.triage.k8s.plugins.module_utils.preflight.checks import REQUIRED_PERMISSIONS

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
ROLE_FILE = os.path.join(COLLECTION_ROOT, 'docs', 'rbac', 'triage-k8s-role.yaml')
RBAC_DOC = os.path.join(COLLECTION_ROOT, 'docs', 'rbac.md')


def load_role_documents():
    with open(ROLE_FILE) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def granted_permissions(role):
    """Every (verb, group, resource, subresource) a Role's rules grant, with no wildcard allowed."""
    granted = set()
    for rule in role['rules']:
        for group in rule['apiGroups']:
            for resource in rule['resources']:
                name, _sep, subresource = resource.partition('/')
                for verb in rule['verbs']:
                    granted.add((verb, group, name, subresource))
    return granted


def test_the_file_is_one_namespaced_role_without_a_namespace():
    docs = load_role_documents()
    assert [(d['apiVersion'], d['kind']) for d in docs] == [('rbac.authorization.k8s.io/v1', 'Role')]
    # No namespace in the file: `kubectl -n NS apply -f` puts it where the user triages.
    assert 'namespace' not in docs[0]['metadata']
    assert docs[0]['metadata']['name'] == 'triage-k8s'


def test_no_wildcards_and_no_resource_names():
    for rule in load_role_documents()[0]['rules']:
        assert '*' not in rule['verbs'] + rule['resources'] + rule['apiGroups'], rule
        assert 'resourceNames' not in rule, rule
        assert 'nonResourceURLs' not in rule, rule


def test_role_grants_exactly_what_preflight_checks():
    granted = granted_permissions(load_role_documents()[0])
    required = set(REQUIRED_PERMISSIONS)
    assert sorted(required - granted) == [], 'preflight checks permissions the Role does not grant'
    assert sorted(granted - required) == [], 'the Role grants permissions preflight does not check'
    assert len(required) == len(REQUIRED_PERMISSIONS), 'preflight lists a permission twice'


def test_exec_and_port_forward_allow_both_websocket_and_post():
    # A websocket upgrade is a GET (authorized as "get"); SPDY and older clients POST ("create").
    granted = granted_permissions(load_role_documents()[0])
    for subresource in ('exec', 'portforward'):
        assert ('get', '', 'pods', subresource) in granted
        assert ('create', '', 'pods', subresource) in granted


def test_every_rule_is_explained_in_the_rbac_page():
    with open(RBAC_DOC) as handle:
        page = handle.read()
    for verb, group, resource, subresource in REQUIRED_PERMISSIONS:
        name = resource + ('/' + subresource if subresource else '')
        assert '`%s`' % name in page, '%s is not explained in docs/rbac.md' % name
