# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The error sentences, produced from real HTTP answers and real connection failures."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import AUTH_ARG_SPEC, build_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import (
    ApiError,
    Conflict,
    Forbidden,
    KubeError,
    NotFound,
    Unauthorized,
    Unreachable,
    describe_error,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import request

POD_PATH = '/api/v1/namespaces/shop/pods/web-1'
FORBIDDEN = ('pods "web-1" is forbidden: User "alice" cannot patch resource "pods" in API group "" '
             'in the namespace "shop"')


def client_for(url, **overrides):
    settings = dict((name, None) for name in AUTH_ARG_SPEC)
    settings.update(host=url, **overrides)
    return build_api_client(settings)


def error_of(api_client, method='GET', path=POD_PATH, action='read', expected=ApiError):
    """The sentence of the error one request raises, checking it is the class of its status."""
    with pytest.raises(expected) as caught:
        request(api_client, action, 'Pod', method, path, name='web-1', namespace='shop',
                body={} if method != 'GET' else None)
    return str(caught.value)


def test_unauthorized_names_the_fix_and_the_object(fake_api, clean_env):
    fake_api.route_error('GET', POD_PATH, 401, 'Unauthorized', 'Unauthorized')
    message = error_of(client_for(fake_api.url, api_key='wrong'), expected=Unauthorized)
    assert message.startswith('unauthorized (check api_key/kubeconfig)')
    assert 'pod web-1 in namespace shop' in message
    assert fake_api.url in message
    assert 'wrong' not in message


def test_forbidden_names_user_verb_resource_and_namespace(fake_api, clean_env):
    fake_api.route_error('PATCH', POD_PATH, 403, 'Forbidden', FORBIDDEN)
    message = error_of(client_for(fake_api.url), method='PATCH', action='patch', expected=Forbidden)
    assert message == ('forbidden: user alice may not patch pods in namespace shop, so could not patch pod web-1 '
                       'in namespace shop; grant that verb on that resource in RBAC or use another identity')


def test_forbidden_subresource_in_a_group_at_cluster_scope():
    from kubernetes.client.exceptions import ApiException
    exc = ApiException(status=403, reason='Forbidden')
    exc.body = ('{"kind":"Status","code":403,"message":"deployments.apps is forbidden: User \\"bob\\" cannot '
                'list resource \\"deployments\\" in API group \\"apps\\" at the cluster scope"}')
    message = describe_error(exc, 'list', kind='Deployment')
    assert message.startswith('forbidden: user bob may not list deployments.apps at cluster scope')


def test_forbidden_without_the_usual_message_still_says_forbidden():
    from kubernetes.client.exceptions import ApiException
    exc = ApiException(status=403, reason='Forbidden')
    exc.body = '{"kind":"Status","code":403,"message":"admission webhook denied the request"}'
    assert describe_error(exc, 'delete', kind='Pod', name='p', namespace='n') == (
        'forbidden: not allowed to delete pod p in namespace n (admission webhook denied the request)')


def test_not_found_names_the_object(fake_api, clean_env):
    fake_api.route_error('GET', POD_PATH, 404, 'NotFound', 'pods "web-1" not found')
    assert error_of(client_for(fake_api.url), expected=NotFound) == (
        'not found: could not read pod web-1 in namespace shop (pods "web-1" not found)')


def test_conflict(fake_api, clean_env):
    fake_api.route_error('PATCH', POD_PATH, 409, 'Conflict', 'the object has been modified')
    assert error_of(client_for(fake_api.url), method='PATCH', action='patch', expected=Conflict).startswith(
        'conflict: could not patch pod web-1 in namespace shop')


def test_connection_refused_names_the_host(closed_port_url, clean_env):
    message = error_of(client_for(closed_port_url), expected=Unreachable)
    assert 'connection refused' in message
    assert closed_port_url.replace('http://', '') in message
    assert 'pod web-1 in namespace shop' in message
    assert 'Traceback' not in message


def test_tls_failure_names_the_host(fake_api, clean_env):
    # The fake server speaks plain HTTP, so a TLS handshake with it fails.
    https_url = fake_api.url.replace('http://', 'https://')
    message = error_of(client_for(https_url, validate_certs=False), expected=Unreachable)
    assert message.startswith('TLS failure talking to https://127.0.0.1:')
    assert 'check ca_cert' in message


def test_unexpected_exception_is_still_one_sentence():
    assert describe_error(ValueError('boom'), 'list', kind='Service', namespace='shop') == (
        'unexpected ValueError while trying to list service objects in namespace shop: boom')


def test_k8s_error_passes_through_unchanged():
    assert describe_error(KubeError('already clear'), 'read') == 'already clear'


def test_action_without_an_object_reads_naturally():
    assert describe_error(ValueError('x'), 'read the server version') == (
        'unexpected ValueError while trying to read the server version: x')
