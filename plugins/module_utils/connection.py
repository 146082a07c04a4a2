# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one place that turns the connection options into a kubernetes ApiClient.

Every module of the collection takes AUTH_ARG_SPEC (documented by the doc fragment
triage.k8s.k8s_auth) and calls get_api_client(module). Resolution order:

1. the module's own parameters;
2. the K8S_AUTH_* environment variables of the host that runs the module;
3. the kubeconfig (path or dict) and context named by 1. or 2.;
4. if no kubeconfig, context or host was named: the in-cluster service account,
   then the default kubeconfig (KUBECONFIG or ~/.kube/config), as kubectl does.

Explicit values (host, api_key, certificates, validate_certs, proxy) override what
a kubeconfig says.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ConfigException(Exception):
        """Stand-in so that except clauses stay valid without the client."""

try:
    from urllib3 import HTTPHeaderDict  # urllib3 >= 2
except ImportError:
    try:
        from urllib3._collections import HTTPHeaderDict  # urllib3 1.26
    except ImportError:  # urllib3 comes with kubernetes; only missing when kubernetes is
        HTTPHeaderDict = None

from ansible_collections.triage.k8s.plugins.module_utils.api_errors import (
    K8sError,
    describe_error,
)


AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type='raw'),
    context=dict(type='str'),
    host=dict(type='str'),
    api_key=dict(type='str', no_log=True),
    validate_certs=dict(type='bool', aliases=['verify_ssl']),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert']),
    client_cert=dict(type='path', aliases=['cert_file']),
    client_key=dict(type='path', aliases=['key_file'], no_log=False),
    proxy=dict(type='str'),
    no_proxy=dict(type='str'),
    impersonate_user=dict(type='str'),
    impersonate_groups=dict(type='list', elements='str'),
)

# Environment variables read for each option, in order. The second spelling is the
# kubernetes client's attribute name, which kubernetes.core also accepts.
AUTH_ENV_VARS = dict(
    kubeconfig=['K8S_AUTH_KUBECONFIG'],
    context=['K8S_AUTH_CONTEXT'],
    host=['K8S_AUTH_HOST'],
    api_key=['K8S_AUTH_API_KEY'],
    validate_certs=['K8S_AUTH_VALIDATE_CERTS', 'K8S_AUTH_VERIFY_SSL'],
    ca_cert=['K8S_AUTH_CA_CERT', 'K8S_AUTH_SSL_CA_CERT'],
    client_cert=['K8S_AUTH_CLIENT_CERT', 'K8S_AUTH_CERT_FILE'],
    client_key=['K8S_AUTH_CLIENT_KEY', 'K8S_AUTH_KEY_FILE'],
    proxy=['K8S_AUTH_PROXY'],
    no_proxy=['K8S_AUTH_NO_PROXY'],
    impersonate_user=['K8S_AUTH_IMPERSONATE_USER'],
    impersonate_groups=['K8S_AUTH_IMPERSONATE_GROUPS'],
)

_FALSE_STRINGS = ('0', 'false', 'no', 'off', 'n', 'f')


def auth_argument_spec():
    """A fresh copy of AUTH_ARG_SPEC for a module to extend."""
    return dict((name, dict(spec)) for name, spec in AUTH_ARG_SPEC.items())


def _from_env(option, environ):
    for var in AUTH_ENV_VARS[option]:
        value = environ.get(var)
        if value not in (None, ''):
            return value
    return None


def resolve_auth(params, environ=None):
    """Return the effective connection settings: parameters first, then K8S_AUTH_* variables."""
    environ = os.environ if environ is None else environ
    settings = {}
    for option in AUTH_ARG_SPEC:
        value = params.get(option)
        if value is None:
            value = _from_env(option, environ)
            if value is not None and option == 'validate_certs':
                value = value.strip().lower() not in _FALSE_STRINGS
            elif value is not None and option == 'impersonate_groups':
                value = [group.strip() for group in value.split(',') if group.strip()]
            elif value is not None and option in ('ca_cert', 'client_cert', 'client_key'):
                value = os.path.expanduser(value)
        settings[option] = value
    if isinstance(settings['kubeconfig'], str):
        settings['kubeconfig'] = os.path.expanduser(settings['kubeconfig'])
    return settings


def _load_kubeconfig(settings, configuration):
    kubeconfig = settings['kubeconfig']
    context = settings['context']
    if isinstance(kubeconfig, dict):
        k8s_config.load_kube_config_from_dict(
            config_dict=kubeconfig, context=context, client_configuration=configuration)
        return 'kubeconfig (dict)'
    if kubeconfig is not None and not isinstance(kubeconfig, str):
        raise K8sError('kubeconfig must be a file path or a dictionary, not %s' % type(kubeconfig).__name__)
    if kubeconfig is not None and not os.path.exists(kubeconfig):
        raise K8sError('kubeconfig file %s does not exist' % kubeconfig)
    # config_file=None lets the client pick KUBECONFIG or ~/.kube/config; only
    # reached when the user named a context but no file.
    k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    return 'kubeconfig %s' % (kubeconfig or 'default')


def _load_default(configuration):
    """In-cluster service account first, then the default kubeconfig (like kubectl)."""
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
        return 'in-cluster service account'
    except ConfigException:
        pass
    try:
        k8s_config.load_kube_config(client_configuration=configuration)
    except (ConfigException, OSError) as exc:
        raise K8sError(
            'no cluster connection configured: set kubeconfig, context or host (or K8S_AUTH_KUBECONFIG); '
            'not running in a cluster and the default kubeconfig could not be loaded (%s)' % exc)
    return 'default kubeconfig'


# Options copied as they are onto kubernetes.client.Configuration (option name -> attribute name).
_PLAIN_CONFIGURATION_ATTRIBUTES = (
    ('validate_certs', 'verify_ssl'),
    ('ca_cert', 'ssl_ca_cert'),
    ('client_cert', 'cert_file'),
    ('client_key', 'key_file'),
    ('proxy', 'proxy'),
    ('no_proxy', 'no_proxy'),
)


def build_configuration(settings):
    """Build a kubernetes.client.Configuration from resolved settings. Raises K8sError."""
    configuration = k8s_client.Configuration()
    try:
        if settings['kubeconfig'] is not None or settings['context'] is not None:
            _load_kubeconfig(settings, configuration)
        elif settings['host'] is None:
            _load_default(configuration)
    except ConfigException as exc:
        raise K8sError('cannot load the kubeconfig: %s' % exc)

    if settings['host'] is not None:
        configuration.host = settings['host'].rstrip('/')
    if settings['api_key'] is not None:
        # Clients before 36 read the 'authorization' key, 36+ read 'BearerToken' first (and the
        # kubeconfig loader fills it), so both are replaced: the explicit token must win over
        # the kubeconfig's. 36.0.0/36.0.1 ignore 'authorization' and are excluded in requirements.txt.
        bearer = 'Bearer %s' % settings['api_key']
        configuration.api_key = {'authorization': bearer, 'BearerToken': bearer}
        configuration.api_key_prefix = {}
        # The kubeconfig loader installs a hook that re-reads its own token before each request.
        configuration.refresh_api_key_hook = None
    for option, attribute in _PLAIN_CONFIGURATION_ATTRIBUTES:
        if settings[option] is not None:
            setattr(configuration, attribute, settings[option])
    return configuration


def _add_group_headers(api_client, groups):
    """Send one Impersonate-Group header per group.

    The generated client keeps default headers in a plain dict (one value per name),
    and a list value makes it fail, so the groups are added to each request's headers
    just before it reaches urllib3.
    """
    send = api_client.rest_client.request

    def request_with_groups(*args, **kwargs):
        headers = HTTPHeaderDict(kwargs.get('headers') or {})
        for group in groups:
            headers.add('Impersonate-Group', group)
        kwargs['headers'] = headers
        return send(*args, **kwargs)

    api_client.rest_client.request = request_with_groups


def build_api_client(settings):
    """Build an ApiClient (with impersonation headers) from resolved settings."""
    api_client = k8s_client.ApiClient(configuration=build_configuration(settings))
    if settings['impersonate_user']:
        api_client.set_default_header('Impersonate-User', settings['impersonate_user'])
    if settings['impersonate_groups']:
        _add_group_headers(api_client, settings['impersonate_groups'])
    return api_client


def check_kubernetes_library(module):
    """Fail the module with the standard message when the kubernetes client is missing."""
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=KUBERNETES_IMPORT_ERROR)


def get_api_client(module):
    """The entry point for modules: resolve options, build the client, or fail cleanly."""
    check_kubernetes_library(module)
    settings = resolve_auth(module.params)
    if settings['api_key']:
        # no_log only masks the api_key parameter; a token from K8S_AUTH_API_KEY must be masked in every
        # result, warning and error message too.
        module.no_log_values.add(settings['api_key'])
    try:
        return build_api_client(settings)
    except K8sError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        # Anything the client library raises while reading credentials becomes one sentence.
        module.fail_json(msg=describe_error(exc, 'set up the connection', host=settings.get('host')))


def server_host(api_client):
    """The API server URL a client talks to (for error messages)."""
    return getattr(api_client.configuration, 'host', None)


def request_json(api_client, method, path, body=None, query=None, content_type='application/json', timeout=None):
    """Send one authenticated request and return the decoded JSON body.

    Works with both transports of the kubernetes client: the generated API before 37
    (call_api with _preload_content=False) and the 37+ one (param_serialize/call_api).
    Raises kubernetes.client.ApiException for non-2xx answers, like the typed APIs do.
    """
    headers = {'Accept': 'application/json'}
    if body is not None:
        headers['Content-Type'] = content_type
    query = list((query or {}).items())
    if hasattr(api_client, 'param_serialize'):
        request = api_client.param_serialize(
            method.upper(), path, query_params=query, header_params=headers, body=body,
            auth_settings=['BearerToken'])
        response = api_client.call_api(*request, _request_timeout=timeout)
        response.read()
        if not 200 <= response.status <= 299:
            api_client.response_deserialize(response, {})  # raises the matching ApiException
        data = response.data
    else:
        response = api_client.call_api(
            path, method.upper(), query_params=query, header_params=headers, body=body,
            auth_settings=['BearerToken'], _preload_content=False, _return_http_data_only=True,
            _request_timeout=timeout)
        data = response.data
    if not data:
        return {}
    if isinstance(data, bytes):
        data = data.decode('utf-8')
    return json.loads(data)
