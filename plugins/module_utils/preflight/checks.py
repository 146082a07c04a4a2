# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the triage.k8s.preflight module checks: who am I, which server, may I do the job.

Everything here is read-only: /version, a SelfSubjectReview and SelfSubjectAccessReviews
(both are "create" calls that the API server answers without storing anything).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import ApiError
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import server_host

# (verb, group, resource, subresource): the requests the collection's modules make (derived from the
# API paths in module_utils), plus the investigation the playbooks print next (logs, exec, port-forward).
# The shipped Role docs/rbac/triage-k8s-role.yaml grants exactly this list (a unit test compares the two);
# docs/rbac.md explains each entry.
REQUIRED_PERMISSIONS = (
    ('get', '', 'pods', ''),
    ('list', '', 'pods', ''),
    ('watch', '', 'pods', ''),
    ('patch', '', 'pods', ''),
    ('delete', '', 'pods', ''),
    ('create', '', 'pods', ''),
    ('patch', '', 'pods', 'ephemeralcontainers'),
    ('get', '', 'pods', 'log'),
    ('get', '', 'pods', 'exec'),
    ('create', '', 'pods', 'exec'),
    ('get', '', 'pods', 'portforward'),
    ('create', '', 'pods', 'portforward'),
    ('create', '', 'events', ''),
    ('list', '', 'events', ''),
    ('list', '', 'services', ''),
    ('list', '', 'endpoints', ''),
    ('watch', '', 'endpoints', ''),
    ('list', 'discovery.k8s.io', 'endpointslices', ''),
    ('watch', 'discovery.k8s.io', 'endpointslices', ''),
    ('get', '', 'namespaces', ''),
    ('get', 'apps', 'replicasets', ''),
    ('get', 'apps', 'deployments', ''),
    ('get', 'apps', 'statefulsets', ''),
    ('get', 'apps', 'daemonsets', ''),
    ('get', 'batch', 'jobs', ''),
    ('get', 'batch', 'cronjobs', ''),
    ('list', 'policy', 'poddisruptionbudgets', ''),
    ('list', 'autoscaling', 'horizontalpodautoscalers', ''),
    ('list', 'networking.k8s.io', 'networkpolicies', ''),
    ('get', 'networking.k8s.io', 'networkpolicies', ''),
    ('create', 'networking.k8s.io', 'networkpolicies', ''),
    ('update', 'networking.k8s.io', 'networkpolicies', ''),
    ('delete', 'networking.k8s.io', 'networkpolicies', ''),
)

SELF_SUBJECT_REVIEW_PATH = '/apis/authentication.k8s.io/v1/selfsubjectreviews'
ACCESS_REVIEW_PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'


def permission_label(verb, group, resource, subresource):
    """'patch pods', 'create pods/exec', 'list deployments.apps'."""
    name = resource + ('/' + subresource if subresource else '')
    if group:
        name = '%s.%s' % (name, group)
    return '%s %s' % (verb, name)


def _absent(exc):
    """True when the server does not serve an endpoint (an old server)."""
    return exc.status in (404, 405, 501)


def server_version(api_client):
    """The /version document (read by everyone, even anonymous users on most clusters)."""
    return transport.request(api_client, 'read the server version', '', 'GET', '/version') or {}


def current_user(api_client, warnings):
    """(username, groups) from a SelfSubjectReview, or ('unknown', []) if unsupported."""
    body = {'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview'}
    try:
        review = transport.request(api_client, 'review the current user', '', 'POST', SELF_SUBJECT_REVIEW_PATH,
                                   body=body) or {}
    except ApiError as exc:
        if not _absent(exc):
            raise
        warnings.append('the server does not serve authentication.k8s.io/v1 SelfSubjectReview '
                        '(Kubernetes < 1.28?), so user is reported as "unknown"')
        return 'unknown', []
    info = review.get('status', {}).get('userInfo', {})
    return info.get('username') or 'unknown', info.get('groups') or []


def check_permission(api_client, namespace, verb, group, resource, subresource):
    """One SelfSubjectAccessReview; returns the result entry of the module."""
    attributes = {'namespace': namespace, 'verb': verb, 'group': group, 'resource': resource}
    if subresource:
        attributes['subresource'] = subresource
    body = {
        'apiVersion': 'authorization.k8s.io/v1',
        'kind': 'SelfSubjectAccessReview',
        'spec': {'resourceAttributes': attributes},
    }
    review = transport.request(api_client, 'review the permissions', 'Pod', 'POST', ACCESS_REVIEW_PATH,
                               namespace=namespace, body=body) or {}
    status = review.get('status', {})
    return {
        'permission': permission_label(verb, group, resource, subresource),
        'verb': verb,
        'group': group,
        'resource': resource,
        'subresource': subresource,
        'allowed': bool(status.get('allowed')),
        'reason': status.get('reason') or status.get('evaluationError') or '',
    }


def check_permissions(api_client, namespace, warnings):
    """Check all REQUIRED_PERMISSIONS in a namespace. Returns (results, checked)."""
    results = []
    for verb, group, resource, subresource in REQUIRED_PERMISSIONS:
        try:
            results.append(check_permission(api_client, namespace, verb, group, resource, subresource))
        except ApiError as exc:
            if not _absent(exc):
                raise
            warnings.append('the server does not serve authorization.k8s.io/v1 SelfSubjectAccessReview, '
                            'so permissions could not be checked')
            return [], False
    return results, True


def run_preflight(api_client, namespace):
    """The whole preflight report. Raises ApiError with a clear sentence on failure."""
    warnings = []
    host = server_host(api_client)
    version = server_version(api_client)
    git_version = version.get('gitVersion', '')
    user, groups = current_user(api_client, warnings)
    permissions, checked = check_permissions(api_client, namespace, warnings)
    return {
        'host': host,
        'server_version': git_version,
        'user': user,
        'groups': groups,
        'namespace': namespace,
        'permissions_checked': checked,
        'permissions': permissions,
        'missing': [entry['permission'] for entry in permissions if not entry['allowed']],
    }, warnings
