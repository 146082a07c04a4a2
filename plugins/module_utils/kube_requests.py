# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw JSON requests through a kubernetes ApiClient.

Why not the typed CoreV1Api methods: the kubernetes client changed generators between 35.x (python-legacy
models) and 37.x (pydantic models with strict types). The isolation code only needs plain JSON documents
(labels, annotations, ownerReferences), and plain dicts keep it independent of either model layer. Both
generators still share the ApiClient's configuration, TLS and bearer-token handling, which we reuse here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for the import sanity test
    from urllib import quote, urlencode  # type: ignore

from ansible_collections.triage.k8s.plugins.module_utils.api_errors import describe_error

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


def api_path(*segments, **query):
    """Build an API path with every segment URL-quoted and an optional query string.

    api_path("api/v1/namespaces", "ns", "pods", watch="true") -> "/api/v1/namespaces/ns/pods?watch=true"
    The first segment is a literal prefix; the rest are names and are quoted.
    """
    prefix = "/" + segments[0].strip("/")
    rest = [quote(str(s), safe="") for s in segments[1:]]
    path = "/".join([prefix] + rest)
    pairs = [(k, v) for k, v in sorted(query.items()) if v is not None]
    if pairs:
        path += "?" + urlencode(pairs)
    return path


def _send(api_client, method, path, body=None, content_type=None, timeout=None):
    """Send one request; return the urllib3 response with its body not yet consumed.

    Non-2xx responses raise kubernetes.client.rest.ApiException, like the typed methods do.
    """
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type or "application/json"
    if hasattr(api_client, "param_serialize"):
        # kubernetes >= 36 (openapi-generator 7)
        request = api_client.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = api_client.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            # response_deserialize raises the client's own ApiException with status, reason and body set.
            api_client.response_deserialize(response, {})
        return response.response
    # kubernetes <= 35 (python-legacy generator): raises ApiException itself on non-2xx.
    return api_client.call_api(
        path, method, header_params=headers, body=body, auth_settings=["BearerToken"],
        _preload_content=False, _return_http_data_only=True, _request_timeout=timeout,
    )


def request_json(api_client, method, path, body=None, content_type=None, timeout=None):
    """One request; the decoded JSON body (None when the body is empty)."""
    response = _send(api_client, method, path, body=body, content_type=content_type, timeout=timeout)
    data = response.data
    if not data:
        return None
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data)


def watch_json(api_client, path, timeout_seconds):
    """Stream a watch: yield each event as a dict {"type": ..., "object": {...}}.

    `path` must already carry watch=1 and resourceVersion. The server ends the stream after
    timeoutSeconds; the client-side read timeout is a little longer so a silent server cannot hang us.
    """
    response = _send(api_client, "GET", path, timeout=(10, timeout_seconds + 10))
    buffered = b""
    drained = False
    try:
        for chunk in response.stream(4096, decode_content=True):
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                line = line.strip()
                if line:
                    yield json.loads(line.decode("utf-8"))
        drained = True
        if buffered.strip():
            yield json.loads(buffered.decode("utf-8"))
    finally:
        if drained:
            # The server ended the stream: the connection is at a clean boundary and can be reused.
            response.release_conn()
        else:
            # The caller stopped reading (condition met, error, timeout) while the server may still be
            # streaming. Returning that socket to the pool would hand the next request a connection with
            # the rest of this watch still in it, so close it instead.
            response.close()


class ApiCallError(Exception):
    """A failed API call with what we were doing: verb, resource, name, namespace, and the cause.

    `status` is the HTTP status (None for connection failures), `cause` the original exception.
    """

    def __init__(self, cause, verb, resource, name=None, namespace=None):
        self.cause = cause
        self.verb = verb
        self.resource = resource
        self.name = name
        self.namespace = namespace
        self.status = getattr(cause, "status", None) or None  # 0 means "no HTTP response" in the client
        Exception.__init__(self, self.describe())

    def status_body(self):
        body = getattr(self.cause, "body", None)
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            return json.loads(body) if body else {}
        except ValueError:
            return {}

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
        """One sentence a human can act on (the shared api_errors wording), never a traceback."""
        if self.status == 404:
            return "%s not found" % self.target()
        return describe_error(self.cause, self.verb, kind=self.resource, name=self.name, namespace=self.namespace)


def _is_api_exception(exc):
    # kubernetes >= 37 raises subclasses (NotFoundException, UnprocessableEntityException, ...).
    return any(cls.__name__ == "ApiException" for cls in type(exc).__mro__) and hasattr(exc, "status")


def call(api_client, verb, resource, method, path, name=None, namespace=None, body=None, content_type=None,
         timeout=None):
    """request_json with failures turned into ApiCallError (HTTP errors and connection errors alike)."""
    try:
        return request_json(api_client, method, path, body=body, content_type=content_type, timeout=timeout)
    except Exception as exc:  # pylint: disable=broad-except
        if _is_api_exception(exc) and getattr(exc, "status", 0):
            raise ApiCallError(exc, verb, resource, name, namespace)
        if _is_api_exception(exc) or type(exc).__module__.startswith(("urllib3", "ssl", "socket")) or isinstance(
                exc, (OSError, IOError)):
            raise ApiCallError(exc, verb, resource, name, namespace)
        raise
