# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one error vocabulary of the collection: one class per HTTP status, and one sentence per error.

Every request goes through kube/transport.py, which turns whatever the kubernetes client or urllib3 raised
into an ApiError subclass (``error_from``). Callers catch the class they can handle (``except NotFound``)
instead of comparing status codes, and everything else reaches the module glue, which prints ``str(exc)``:
what was attempted, on which object, and what to fix, never a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    from kubernetes.client.exceptions import ApiException
except ImportError:
    class ApiException(Exception):
        """Stand-in so that isinstance checks work without the client."""

try:
    from urllib3 import exceptions as urllib3_exceptions
except ImportError:
    urllib3_exceptions = None


class KubeError(Exception):
    """An error whose message is already a complete sentence for the user."""


class ConfigError(KubeError):
    """The connection options cannot be turned into a client (missing or unreadable kubeconfig, ...)."""


class StaleRead(KubeError):
    """The object changed (or disappeared) between our read and our conditioned write: re-read and re-plan."""


class StreamInterrupted(KubeError):
    """A streamed answer (watch, logs, exec output) stopped before its end; ``received`` bytes had arrived."""

    def __init__(self, message, received=0, cause=None):
        KubeError.__init__(self, message)
        self.received = received
        self.cause = cause


class WaitTimeout(KubeError):
    """A condition did not hold before the deadline; the message says what was still missing."""


class ApiError(KubeError):
    """A failed API request, with what we were doing: verb, resource, name, namespace, and the cause.

    ``status`` is the HTTP status (None when no response came back), ``cause`` the original exception.
    """

    status = None

    def __init__(self, cause, verb, resource, name=None, namespace=None, host=None):
        self.cause = cause
        self.verb = verb
        self.resource = resource
        self.name = name
        self.namespace = namespace
        self.host = host
        self.status = getattr(cause, "status", None) or type(self).status
        KubeError.__init__(self, self.describe())

    def status_body(self):
        """The decoded Status object the server sent ({} when there is none)."""
        return _status_of(self.cause)

    def server_message(self):
        return self.status_body().get("message") or getattr(self.cause, "reason", None) or str(self.cause)

    def target(self):
        text = self.resource
        if self.name:
            text += " %s" % self.name
        if self.namespace:
            text += " in namespace %s" % self.namespace
        return text

    def describe(self):
        """One sentence a human can act on, never a traceback."""
        return describe_error(self.cause, self.verb, kind=self.resource, name=self.name, namespace=self.namespace,
                              host=self.host)


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Gone(ApiError):
    """410: the resourceVersion asked for is older than the server's watch history."""
    status = 410


class Invalid(ApiError):
    status = 422


class TooManyRequests(ApiError):
    status = 429


class ServerError(ApiError):
    """5xx: the server (or a proxy in front of it) failed to answer."""
    status = 500


class Unreachable(ApiError):
    """No HTTP answer at all: connection refused or reset, TLS failure, timeout."""
    status = None


_BY_STATUS = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Gone, 422: Invalid,
              429: TooManyRequests}


def error_class(status):
    """The ApiError subclass for an HTTP status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status and status >= 500:
        return ServerError
    if not status:
        return Unreachable
    return ApiError


def is_api_exception(exc):
    # kubernetes >= 37 raises subclasses (NotFoundException, UnprocessableEntityException, ...).
    return any(cls.__name__ == "ApiException" for cls in type(exc).__mro__) and hasattr(exc, "status")


def is_transport_failure(exc):
    """No HTTP answer: urllib3, ssl and socket errors (and the client's status-0 ApiException)."""
    if is_api_exception(exc):
        return not getattr(exc, "status", 0)
    return type(exc).__module__.startswith(("urllib3", "ssl", "socket", "http.client")) or isinstance(
        exc, (OSError, IOError))


def is_tls_failure(exc):
    """A certificate or handshake problem: it will not go away by itself."""
    reason = getattr(exc, 'reason', None) or exc
    text = str(reason)
    # The kubernetes client turns a urllib3 SSLError into ApiException(status=0, reason="SSLError\n...").
    return (urllib3_exceptions is not None and isinstance(reason, urllib3_exceptions.SSLError)) or \
        'SSL' in type(reason).__name__ or 'CERTIFICATE' in text or text.startswith('SSLError')


def error_from(exc, verb, resource, name=None, namespace=None, host=None):
    """The ApiError for what the client raised, or None when ``exc`` is not an API or transport failure."""
    if isinstance(exc, ApiError):
        return exc
    if is_api_exception(exc) and getattr(exc, "status", 0):
        return error_class(exc.status)(exc, verb, resource, name, namespace, host)
    if is_transport_failure(exc):
        return Unreachable(exc, verb, resource, name, namespace, host)
    return None


class StatusFailure(ApiException):
    """A Status object that arrived inside a 200 answer (a watch ERROR event), shaped like an ApiException."""

    def __init__(self, status_object):
        ApiException.__init__(self)
        self.status = status_object.get("code") or 500
        self.reason = status_object.get("reason")
        self.body = json.dumps(status_object)


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
    text = str(reason).replace('\n', ': ')
    if is_tls_failure(exc):
        return ('TLS failure talking to %s while trying to %s: %s '
                '(check ca_cert, client_cert/client_key or validate_certs)' % (where, doing, text))
    if 'Connection refused' in text or 'NewConnectionError' in type(reason).__name__:
        return ('cannot connect to the Kubernetes API at %s (connection refused) while trying to %s; '
                'is the server running and is host/kubeconfig right?' % (where, doing))
    if urllib3_exceptions is not None and isinstance(
            reason, (urllib3_exceptions.ReadTimeoutError, urllib3_exceptions.ConnectTimeoutError)) and \
            'NewConnectionError' not in type(reason).__name__:
        return 'timed out talking to the Kubernetes API at %s while trying to %s' % (where, doing)
    return 'cannot reach the Kubernetes API at %s while trying to %s: %s' % (where, doing, text)


def describe_error(exc, action, kind=None, name=None, namespace=None, host=None):
    """One sentence: what failed, on which object, and what to check.

    action is a verb phrase such as 'patch' or 'list', kind/name/namespace name the object.
    """
    doing = ('%s %s' % (action, _target(kind, name, namespace))).strip()
    if isinstance(exc, KubeError):
        return str(exc)
    if (isinstance(exc, ApiException) or is_api_exception(exc)) and not getattr(exc, 'status', 0):
        # status 0: the client wrapped a transport failure (TLS) without an HTTP answer.
        return _describe_transport(exc, doing, host)
    if isinstance(exc, ApiException) or is_api_exception(exc):
        return _describe_api_exception(exc, doing, host)
    if urllib3_exceptions is not None and isinstance(exc, urllib3_exceptions.HTTPError):
        return _describe_transport(exc, doing, host)
    if isinstance(exc, (ConnectionError, OSError)):
        return 'cannot reach the Kubernetes API at %s while trying to %s: %s' % (host or 'the API server', doing, exc)
    return 'unexpected %s while trying to %s: %s' % (type(exc).__name__, doing, exc)
