# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How connection options become a client: precedence, aliases, kubeconfig, headers on the wire."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import (
    AUTH_ARG_SPEC,
    AUTH_ENV_VARS,
    auth_argument_spec,
    build_api_client,
    resolve_auth,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import ConfigError as K8sError
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import request

VERSION = {'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0+kubesim'}


def settings(**overrides):
    values = dict((name, None) for name in AUTH_ARG_SPEC)
    values.update(overrides)
    return values


def write_kubeconfig(path, contexts):
    """contexts: {name: (server, token)}; the first one is current."""
    names = list(contexts)
    document = {
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': names[0],
        'clusters': [{'name': n, 'cluster': {'server': contexts[n][0]}} for n in names],
        'users': [{'name': n, 'user': {'token': contexts[n][1]}} for n in names],
        'contexts': [{'name': n, 'context': {'cluster': n, 'user': n}} for n in names],
    }
    path.write_text(json.dumps(document))  # JSON is YAML
    return str(path)


def get_version(api_client):
    return request(api_client, 'read the server version', '', 'GET', '/version')


def only_request(fake_api):
    assert len(fake_api.requests) == 1, [r.path for r in fake_api.requests]
    return fake_api.requests[0]


class TestPrecedence:
    def test_parameter_wins_over_environment(self):
        env = {'K8S_AUTH_HOST': 'https://from-env', 'K8S_AUTH_CONTEXT': 'env-ctx'}
        resolved = resolve_auth({'host': 'https://from-param'}, env)
        assert resolved['host'] == 'https://from-param'
        assert resolved['context'] == 'env-ctx'

    def test_every_option_has_a_documented_env_var(self):
        assert set(AUTH_ENV_VARS) == set(AUTH_ARG_SPEC)
        for option, names in AUTH_ENV_VARS.items():
            assert names[0] == 'K8S_AUTH_%s' % option.upper()

    @pytest.mark.parametrize('value, expected', [('no', False), ('False', False), ('0', False), ('yes', True), ('1', True)])
    def test_verify_ssl_env_spelling_is_read_as_bool(self, value, expected):
        assert resolve_auth({}, {'K8S_AUTH_VERIFY_SSL': value})['validate_certs'] is expected

    def test_primary_env_spelling_wins_over_alias_spelling(self):
        env = {'K8S_AUTH_VALIDATE_CERTS': 'false', 'K8S_AUTH_VERIFY_SSL': 'true'}
        assert resolve_auth({}, env)['validate_certs'] is False

    def test_alias_env_spellings_of_paths(self):
        env = {'K8S_AUTH_SSL_CA_CERT': '/ca.pem', 'K8S_AUTH_CERT_FILE': '/c.pem', 'K8S_AUTH_KEY_FILE': '/k.pem'}
        resolved = resolve_auth({}, env)
        assert (resolved['ca_cert'], resolved['client_cert'], resolved['client_key']) == ('/ca.pem', '/c.pem', '/k.pem')

    def test_groups_env_is_comma_separated(self):
        assert resolve_auth({}, {'K8S_AUTH_IMPERSONATE_GROUPS': 'sre, oncall,,'})['impersonate_groups'] == ['sre', 'oncall']

    def test_empty_env_value_counts_as_unset(self):
        assert resolve_auth({}, {'K8S_AUTH_HOST': ''})['host'] is None

    def test_parameter_false_is_not_overridden_by_env(self):
        assert resolve_auth({'validate_certs': False}, {'K8S_AUTH_VALIDATE_CERTS': 'true'})['validate_certs'] is False


class TestAliases:
    @pytest.mark.parametrize('alias, option, value', [
        ('verify_ssl', 'validate_certs', False),
        ('ssl_ca_cert', 'ca_cert', '/tmp/ca.pem'),
        ('cert_file', 'client_cert', '/tmp/cert.pem'),
        ('key_file', 'client_key', '/tmp/key.pem'),
    ])
    def test_alias_reaches_the_option(self, module_args_ctx, alias, option, value):
        with module_args_ctx({alias: value}):
            module = AnsibleModule(argument_spec=auth_argument_spec())
        assert module.params[option] == value

    def test_api_key_is_no_log(self):
        assert AUTH_ARG_SPEC['api_key']['no_log'] is True

    def test_api_key_from_the_environment_is_masked_in_module_output(self, module_args_ctx, clean_env, monkeypatch):
        monkeypatch.setenv('K8S_AUTH_API_KEY', 'env-secret-token')
        with module_args_ctx({'host': 'http://127.0.0.1:1'}):
            module = AnsibleModule(argument_spec=auth_argument_spec())
        get_api_client(module)
        assert 'env-secret-token' in module.no_log_values

    def test_kubeconfig_dict_credentials_are_masked_in_module_output(self, module_args_ctx, clean_env, fake_api):
        # Before the fix, a token inside a kubeconfig dict was printed in the module invocation at -vvvv.
        document = {
            'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'a',
            'clusters': [{'name': 'a', 'cluster': {'server': fake_api.url}}],
            'users': [
                {'name': 'a', 'user': {'token': 'dict-secret-token'}},
                {'name': 'b', 'user': {'username': 'u', 'password': 'dict-password', 'client-key-data': 'S0VZ'}},
                {'name': 'c', 'user': {'auth-provider': {'name': 'oidc', 'config': {
                    'id-token': 'oidc-id-token', 'refresh-token': 'oidc-refresh', 'client-secret': 'oidc-secret',
                    'client-id': 'public-id'}}}},
                {'name': 'd', 'user': {'exec': {'command': 'x', 'env': [{'name': 'TOKEN', 'value': 'exec-env-secret'}]}}},
            ],
            'contexts': [{'name': 'a', 'context': {'cluster': 'a', 'user': 'a'}}],
        }
        with module_args_ctx({'kubeconfig': document}):
            module = AnsibleModule(argument_spec=auth_argument_spec())
        get_api_client(module)
        for secret in ('dict-secret-token', 'dict-password', 'S0VZ', 'oidc-id-token', 'oidc-refresh', 'oidc-secret',
                       'exec-env-secret'):
            assert secret in module.no_log_values
        assert 'public-id' not in module.no_log_values
        from ansible.module_utils.common.parameters import remove_values
        shown = remove_values({'module_args': module.params}, module.no_log_values)
        assert 'dict-secret-token' not in json.dumps(shown)

    def test_kubeconfig_file_token_is_masked_too(self, module_args_ctx, clean_env, fake_api, tmp_path):
        path = write_kubeconfig(tmp_path / 'config', {'sim': (fake_api.url, 'file-secret-token')})
        with module_args_ctx({'kubeconfig': path}):
            module = AnsibleModule(argument_spec=auth_argument_spec())
        get_api_client(module)
        assert 'file-secret-token' in module.no_log_values

    def test_argument_spec_copy_is_independent(self):
        spec = auth_argument_spec()
        spec['host']['default'] = 'x'
        assert 'default' not in AUTH_ARG_SPEC['host']


class TestClientOnTheWire:
    def test_host_and_api_key_send_bearer_token(self, fake_api, clean_env):
        fake_api.route('GET', '/version', body=VERSION)
        client = build_api_client(settings(host=fake_api.url, api_key='s3cr3t-token'))
        assert get_version(client)['gitVersion'] == 'v1.32.0+kubesim'
        assert only_request(fake_api).header_values('Authorization') == ['Bearer s3cr3t-token']

    def test_impersonation_headers(self, fake_api, clean_env):
        fake_api.route('GET', '/version', body=VERSION)
        client = build_api_client(settings(host=fake_api.url, impersonate_user='oncall',
                                           impersonate_groups=['sre', 'incident']))
        get_version(client)
        get_version(client)  # the group headers must not pile up across requests
        for request in fake_api.requests:
            assert request.header_values('Impersonate-User') == ['oncall']
            assert request.header_values('Impersonate-Group') == ['sre', 'incident']

    def test_no_impersonation_headers_by_default(self, fake_api, clean_env):
        fake_api.route('GET', '/version', body=VERSION)
        get_version(build_api_client(settings(host=fake_api.url)))
        request = only_request(fake_api)
        assert request.header_values('Impersonate-User') == []
        assert request.header_values('Impersonate-Group') == []

    def test_kubeconfig_context_is_selected(self, fake_api, clean_env, tmp_path):
        fake_api.route('GET', '/version', body=VERSION)
        path = write_kubeconfig(tmp_path / 'kubeconfig', {
            'prod': ('http://127.0.0.1:1', 'prod-token'),
            'sim': (fake_api.url, 'sim-token'),
        })
        get_version(build_api_client(settings(kubeconfig=path, context='sim')))
        assert only_request(fake_api).header_values('Authorization') == ['Bearer sim-token']

    def test_kubeconfig_from_env_and_api_key_param_overrides_its_token(self, fake_api, clean_env, tmp_path, monkeypatch):
        fake_api.route('GET', '/version', body=VERSION)
        path = write_kubeconfig(tmp_path / 'kubeconfig', {'sim': (fake_api.url, 'file-token')})
        monkeypatch.setenv('K8S_AUTH_KUBECONFIG', path)
        get_version(build_api_client(resolve_auth({'api_key': 'param-token'})))
        assert only_request(fake_api).header_values('Authorization') == ['Bearer param-token']

    def test_kubeconfig_as_dict(self, fake_api, clean_env, tmp_path):
        fake_api.route('GET', '/version', body=VERSION)
        path = write_kubeconfig(tmp_path / 'kubeconfig', {'sim': (fake_api.url, 'dict-token')})
        with open(path) as handle:
            document = json.load(handle)
        get_version(build_api_client(settings(kubeconfig=document)))
        assert only_request(fake_api).header_values('Authorization') == ['Bearer dict-token']

    def test_default_kubeconfig_is_the_last_resort(self, fake_api, clean_env):
        fake_api.route('GET', '/version', body=VERSION)
        kube_dir = clean_env / 'home' / '.kube'
        kube_dir.mkdir()
        write_kubeconfig(kube_dir / 'config', {'default': (fake_api.url, 'home-token')})
        get_version(build_api_client(resolve_auth({})))
        assert only_request(fake_api).header_values('Authorization') == ['Bearer home-token']

    def test_explicit_host_never_reads_the_default_kubeconfig(self, fake_api, clean_env):
        fake_api.route('GET', '/version', body=VERSION)
        kube_dir = clean_env / 'home' / '.kube'
        kube_dir.mkdir()
        write_kubeconfig(kube_dir / 'config', {'default': ('http://127.0.0.1:1', 'home-token')})
        get_version(build_api_client(resolve_auth({'host': fake_api.url})))
        assert only_request(fake_api).header_values('Authorization') == []


class TestSetupErrors:
    def test_nothing_configured_is_one_clear_sentence(self, clean_env):
        with pytest.raises(K8sError, match='no cluster connection configured: set kubeconfig, context or host'):
            build_api_client(resolve_auth({}))

    def test_missing_kubeconfig_file_is_named(self, clean_env, tmp_path):
        missing = str(tmp_path / 'nope.yml')
        with pytest.raises(K8sError, match='kubeconfig file %s does not exist' % missing):
            build_api_client(settings(kubeconfig=missing))

    def test_unknown_context_is_reported(self, clean_env, tmp_path):
        path = write_kubeconfig(tmp_path / 'kubeconfig', {'sim': ('http://127.0.0.1:1', 't')})
        with pytest.raises(K8sError, match='cannot load the kubeconfig: .*nope'):
            build_api_client(settings(kubeconfig=path, context='nope'))

    def test_kubeconfig_of_wrong_type(self, clean_env):
        with pytest.raises(K8sError, match='kubeconfig must be a file path or a dictionary, not list'):
            build_api_client(settings(kubeconfig=['a']))
