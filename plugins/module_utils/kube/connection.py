# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one place that turns the connection options into a kubernetes ApiClient.

Every module of the collection takes AUTH_ARG_SPEC (documented by the doc fragment
triage.k8s.k8s_auth); the module glue (glue/module.py, api_client(module)) calls connect(). Resolution order:

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

import os
import traceback

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

try:
    import yaml
except ImportError:  # PyYAML comes with the kubernetes client
    yaml = None

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import ConfigError, describe_error


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
        raise ConfigError('kubeconfig must be a file path or a dictionary, not %s' % type(kubeconfig).__name__)
    if kubeconfig is not None and not os.path.exists(kubeconfig):
        raise ConfigError('kubeconfig file %s does not exist' % kubeconfig)
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
        raise ConfigError(
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
    """Build a kubernetes.client.Configuration from resolved settings. Raises ConfigError."""
    configuration = k8s_client.Configuration()
    try:
        if settings['kubeconfig'] is not None or settings['context'] is not None:
            _load_kubeconfig(settings, configuration)
        elif settings['host'] is None:
            _load_default(configuration)
    except ConfigException as exc:
        raise ConfigError('cannot load the kubeconfig: %s' % exc)

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
    # urllib3 would otherwise retry on its own (three times, sleeping out Retry-After of a 429/503 for idempotent
    # requests), behind the back of the collection's one retry policy in kube/transport.py and its budget.
    configuration.retries = False
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


# Keys of a kubeconfig's users[].user whose values are credentials (client-go's AuthInfo), and the keys
# inside auth-provider config / exec env that carry secrets.
_USER_SECRET_KEYS = ('token', 'password', 'client-key-data', 'client-certificate-data')
_PROVIDER_SECRET_KEYS = ('id-token', 'refresh-token', 'access-token', 'client-secret', 'secret')


def _kubeconfig_document(kubeconfig):
    """The kubeconfig as a dict (given as a dict, or read from its file); {} when it cannot be read."""
    if isinstance(kubeconfig, dict):
        return kubeconfig
    if not isinstance(kubeconfig, str) or yaml is None:
        return {}
    try:
        with open(kubeconfig) as handle:
            document = yaml.safe_load(handle)
    except (OSError, IOError, ValueError, yaml.YAMLError):
        return {}
    return document if isinstance(document, dict) else {}


def kubeconfig_secrets(kubeconfig):
    """Every credential a kubeconfig carries, in every user entry: tokens, passwords, key data, the secrets
    of auth-provider configs and exec plugin environments. The module masks them in all output."""
    secrets = set()
    for entry in _kubeconfig_document(kubeconfig).get('users') or []:
        user = (entry or {}).get('user') if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        for key in _USER_SECRET_KEYS:
            if isinstance(user.get(key), str):
                secrets.add(user[key])
        provider = (user.get('auth-provider') or {}).get('config') or {}
        if isinstance(provider, dict):
            for key, value in provider.items():
                if isinstance(value, str) and (key in _PROVIDER_SECRET_KEYS or 'secret' in key or 'token' in key):
                    secrets.add(value)
        for env in (user.get('exec') or {}).get('env') or []:
            if isinstance(env, dict) and isinstance(env.get('value'), str):
                secrets.add(env['value'])
    return secrets


def configuration_secrets(configuration):
    """The credentials a loaded Configuration will send (a token from a tokenFile or exec plugin included)."""
    secrets = set()
    for value in (getattr(configuration, 'api_key', None) or {}).values():
        if isinstance(value, str):
            secrets.add(value)
            if value.startswith('Bearer '):
                secrets.add(value[len('Bearer '):])
    if getattr(configuration, 'password', None):
        secrets.add(configuration.password)
    return secrets


def connect(params, environ=None):
    """(api_client, secrets) for a module's connection parameters.

    ``secrets`` holds every credential value the settings and the kubeconfig carry, so the caller can mask
    them (AnsibleModule.no_log_values). Raises ConfigError with one sentence when no client can be built.
    """
    if not HAS_KUBERNETES:
        raise ConfigError('the kubernetes Python client is not installed')
    settings = resolve_auth(params, environ)
    secrets = kubeconfig_secrets(settings['kubeconfig'])
    if settings['api_key']:
        # no_log only masks the api_key parameter; a token from K8S_AUTH_API_KEY must be masked too.
        secrets.add(settings['api_key'])
    try:
        api_client = build_api_client(settings)
    except ConfigError as exc:
        exc.secrets = secrets
        raise
    except Exception as exc:  # pylint: disable=broad-except
        # Anything the client library raises while reading credentials becomes one sentence.
        error = ConfigError(describe_error(exc, 'set up the connection', host=settings.get('host')))
        error.secrets = secrets
        raise error
    secrets.update(configuration_secrets(api_client.configuration))
    return api_client, set(s for s in secrets if s)
