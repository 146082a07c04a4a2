# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""triage.k8s.preflight against a fake API server that answers like Kubernetes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.preflight.checks import REQUIRED_PERMISSIONS
from ansible_collections.triage.k8s.plugins.modules import preflight

DENIED = {('delete', '', 'pods', ''), ('create', '', 'pods', 'exec')}
SSR_PATH = '/apis/authentication.k8s.io/v1/selfsubjectreviews'
SSAR_PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'


def answer_access_review(request):
    attributes = request.body['spec']['resourceAttributes']
    key = (attributes['verb'], attributes['group'], attributes['resource'], attributes.get('subresource', ''))
    review = dict(request.body, status={'allowed': key not in DENIED})
    return 201, review


@pytest.fixture
def cluster(fake_api, clean_env):
    fake_api.route('GET', '/version', body={'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0+kubesim'})
    fake_api.route('POST', SSR_PATH, status=201, body={
        'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview',
        'status': {'userInfo': {'username': 'oncall', 'groups': ['sre', 'system:authenticated']}}})
    fake_api.route('POST', SSAR_PATH, handler=answer_access_review)
    return fake_api


def test_reports_version_user_permissions_and_missing(cluster, module_runner):
    result, failed = module_runner(preflight.main, {'host': cluster.url, 'api_key': 'tok', 'namespace': 'shop'})
    assert not failed
    assert result['changed'] is False
    assert result['server_version'] == 'v1.32.0+kubesim'
    # The product does not speak of its test double: the test harness reads the version itself.
    assert 'is_kubesim' not in result
    assert (result['user'], result['groups']) == ('oncall', ['sre', 'system:authenticated'])
    assert result['permissions_checked'] is True
    assert len(result['permissions']) == len(REQUIRED_PERMISSIONS)
    assert sorted(result['missing']) == ['create pods/exec', 'delete pods']
    by_name = dict((p['permission'], p) for p in result['permissions'])
    assert by_name['get deployments.apps']['allowed'] is True
    assert by_name['patch pods/ephemeralcontainers']['subresource'] == 'ephemeralcontainers'
    assert result['warnings'] == []


def test_access_reviews_ask_about_the_namespace(cluster, module_runner):
    module_runner(preflight.main, {'host': cluster.url, 'namespace': 'shop'})
    reviews = [r.body for r in cluster.requests if r.path == SSAR_PATH]
    assert reviews and all(r['spec']['resourceAttributes']['namespace'] == 'shop' for r in reviews)
    assert {'verb': 'get', 'group': '', 'resource': 'pods', 'subresource': 'log', 'namespace': 'shop'} in [
        r['spec']['resourceAttributes'] for r in reviews]


def test_read_only_requests_only(cluster, module_runner):
    module_runner(preflight.main, {'host': cluster.url})
    writes = [(r.method, r.path) for r in cluster.requests if r.method != 'GET']
    assert set(writes) <= {('POST', SSR_PATH), ('POST', SSAR_PATH)}


def test_check_mode_gives_the_same_report(cluster, module_runner):
    normal, normal_failed = module_runner(preflight.main, {'host': cluster.url})
    checked, failed = module_runner(preflight.main, {'host': cluster.url, '_ansible_check_mode': True})
    assert not failed and not normal_failed
    assert checked == normal


def test_fail_on_missing_lists_the_missing_permissions(cluster, module_runner):
    result, failed = module_runner(preflight.main, {'host': cluster.url, 'namespace': 'shop', 'fail_on_missing': True})
    assert failed
    assert result['msg'] == 'missing permissions in namespace shop: delete pods, create pods/exec'
    assert result['permissions']


def test_any_server_version_is_reported_as_it_is(cluster, module_runner):
    cluster.route('GET', '/version', body={'major': '1', 'minor': '30', 'gitVersion': 'v1.30.2'})
    result, failed = module_runner(preflight.main, {'host': cluster.url})
    assert not failed
    assert result['server_version'] == 'v1.30.2' and 'is_kubesim' not in result


def test_server_without_self_subject_review_gives_unknown_user(cluster, module_runner):
    del cluster.routes[('POST', SSR_PATH)]
    result, failed = module_runner(preflight.main, {'host': cluster.url})
    assert not failed
    assert result['user'] == 'unknown'
    assert any('SelfSubjectReview' in w for w in result['warnings'])
    assert result['permissions_checked'] is True


def test_server_without_access_reviews_degrades_with_a_warning(cluster, module_runner):
    del cluster.routes[('POST', SSAR_PATH)]
    result, failed = module_runner(preflight.main, {'host': cluster.url})
    assert not failed
    assert (result['permissions_checked'], result['permissions'], result['missing']) == (False, [], [])
    assert any('SelfSubjectAccessReview' in w for w in result['warnings'])


def test_unauthorized_fails_with_one_sentence(cluster, module_runner):
    cluster.route_error('GET', '/version', 401, 'Unauthorized', 'Unauthorized')
    result, failed = module_runner(preflight.main, {'host': cluster.url, 'api_key': 'expired'})
    assert failed
    assert result['msg'].startswith('unauthorized (check api_key/kubeconfig)')
    assert 'Traceback' not in json.dumps(result)


def test_access_review_forbidden_is_explained(cluster, module_runner):
    cluster.route_error('POST', SSAR_PATH, 403, 'Forbidden',
                        'selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "robot" cannot create '
                        'resource "selfsubjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope')
    result, failed = module_runner(preflight.main, {'host': cluster.url})
    assert failed
    assert result['msg'].startswith(
        'forbidden: user robot may not create selfsubjectaccessreviews.authorization.k8s.io at cluster scope')


def test_unreachable_server_names_the_host(closed_port_url, clean_env, module_runner):
    result, failed = module_runner(preflight.main, {'host': closed_port_url})
    assert failed
    assert 'connection refused' in result['msg']
    assert closed_port_url.replace('http://', '') in result['msg']


def test_no_connection_configured_fails_clearly(clean_env, module_runner):
    result, failed = module_runner(preflight.main, {})
    assert failed
    assert result['msg'].startswith('no cluster connection configured')


def test_api_key_never_appears_in_the_output(cluster, module_args_ctx, capsys):
    """The real exit_json masks no_log values (B7); a mocked one would not."""
    secret = 'very-secret-bearer-token-123'
    cluster.route_error('POST', SSAR_PATH, 403, 'Forbidden', 'denied for token %s' % secret)
    with module_args_ctx({'host': cluster.url, 'api_key': secret}):
        with pytest.raises(SystemExit):
            preflight.main()
    output = capsys.readouterr().out
    assert json.loads(output)['failed'] is True
    assert secret not in output
    assert any(r.header_values('Authorization') == ['Bearer %s' % secret] for r in cluster.requests)
