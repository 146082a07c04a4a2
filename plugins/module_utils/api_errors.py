# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Turn kubernetes client and urllib3 errors into one sentence a responder can act on.

An incident responder reading a failed task needs to know what was attempted, on which
object, and what to fix, not a traceback. describe_error() builds that sentence;
api_call() is a context manager that re-raises any error as K8sError(sentence).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from contextlib import contextmanager

try:
    from kubernetes.client.exceptions import ApiException
except ImportError:
    class ApiException(Exception):
        """Stand-in so that isinstance checks work without the client."""

try:
    from urllib3 import exceptions as urllib3_exceptions
except ImportError:
    urllib3_exceptions = None


class K8sError(Exception):
    """An error whose message is already a complete sentence for the user."""


# 'pods "web-1" is forbidden: User "alice" cannot patch resource "pods" in API group "" in the namespace "shop"'
_FORBIDDEN_RE = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<namespace>[^"]*)"| at the cluster scope)?')


def _target(kind, name, namespace):
    """'pod web-1 in namespace shop', 'pod objects in namespace shop', or ''."""
    if kind and name:
        text = '%s %s' % (kind.lower(), name)
    elif kind:
        text = '%s objects' % kind.lower()
    else:
        text = ''
    if namespace:
        text = ('%s in namespace %s' % (text, namespace)).strip()
    return text


def _status_of(exc):
    """The decoded Status body of an ApiException, or {}."""
    body = getattr(exc, 'body', None)
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    if not body:
        return {}
    try:
        status = json.loads(body)
    except ValueError:
        return {'message': body.strip()[:300]}
    return status if isinstance(status, dict) else {}


def _describe_forbidden(message, doing):
    match = _FORBIDDEN_RE.search(message or '')
    if not match:
        return 'forbidden: not allowed to %s (%s)' % (doing, message or 'no reason given')
    resource = match.group('resource')
    group = match.group('group')
    if group:
        resource = '%s.%s' % (resource, group)
    where = 'in namespace %s' % match.group('namespace') if match.group('namespace') else 'at cluster scope'
    return ('forbidden: user %s may not %s %s %s, so could not %s; '
            'grant that verb on that resource in RBAC or use another identity'
            % (match.group('user'), match.group('verb'), resource, where, doing))


def _describe_api_exception(exc, doing, host):
    status = _status_of(exc)
    message = status.get('message') or getattr(exc, 'reason', None) or 'no message'
    code = getattr(exc, 'status', None)
    if code == 401:
        return ('unauthorized (check api_key/kubeconfig): the API server%s rejected the credentials '
                'while trying to %s' % (' at %s' % host if host else '', doing))
    if code == 403:
        return _describe_forbidden(message, doing)
    if code == 404:
        return 'not found: could not %s (%s)' % (doing, message)
    if code == 409:
        return 'conflict: could not %s because it changed meanwhile or already exists (%s)' % (doing, message)
    if code == 422:
        return 'invalid: the API server refused to %s (%s)' % (doing, message)
    if code == 429:
        return 'throttled: the API server asked to retry later while trying to %s (%s)' % (doing, message)
    return 'API error %s %s: could not %s (%s)' % (code, status.get('reason') or getattr(exc, 'reason', ''),
                                                   doing, message)


def _url_host(exc, host):
    pool = getattr(exc, 'pool', None)
    if pool is not None and getattr(pool, 'host', None):
        return '%s://%s:%s' % (getattr(pool, 'scheme', 'https'), pool.host, pool.port)
    return host or 'the API server'


def _describe_transport(exc, doing, host):
    reason = getattr(exc, 'reason', None) or exc
    where = _url_host(exc, host)
    text = str(reason)
    is_tls = isinstance(reason, urllib3_exceptions.SSLError) or 'SSL' in type(reason).__name__ or 'CERTIFICATE' in text
    if is_tls:
        return ('TLS failure talking to %s while trying to %s: %s '
                '(check ca_cert, client_cert/client_key or validate_certs)' % (where, doing, text))
    if 'Connection refused' in text or 'NewConnectionError' in type(reason).__name__:
        return ('cannot connect to the Kubernetes API at %s (connection refused) while trying to %s; '
                'is the server running and is host/kubeconfig right?' % (where, doing))
    if isinstance(reason, (urllib3_exceptions.ReadTimeoutError, urllib3_exceptions.ConnectTimeoutError)):
        return 'timed out talking to the Kubernetes API at %s while trying to %s' % (where, doing)
    return 'cannot reach the Kubernetes API at %s while trying to %s: %s' % (where, doing, text)


def describe_error(exc, action, kind=None, name=None, namespace=None, host=None):
    """One sentence: what failed, on which object, and what to check.

    action is a verb phrase such as 'patch' or 'list', kind/name/namespace name the object.
    """
    doing = ('%s %s' % (action, _target(kind, name, namespace))).strip()
    if isinstance(exc, K8sError):
        return str(exc)
    if isinstance(exc, ApiException):
        return _describe_api_exception(exc, doing, host)
    if urllib3_exceptions is not None and isinstance(exc, urllib3_exceptions.HTTPError):
        return _describe_transport(exc, doing, host)
    if isinstance(exc, (ConnectionError, OSError)):
        return 'cannot reach the Kubernetes API at %s while trying to %s: %s' % (host or 'the API server', doing, exc)
    return 'unexpected %s while trying to %s: %s' % (type(exc).__name__, doing, exc)


@contextmanager
def api_call(action, kind=None, name=None, namespace=None, host=None):
    """Run a block of API calls; any failure leaves as K8sError with a clear sentence."""
    try:
        yield
    except K8sError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise K8sError(describe_error(exc, action, kind=kind, name=name, namespace=namespace, host=host))
