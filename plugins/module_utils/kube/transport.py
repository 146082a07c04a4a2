# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one way the collection talks HTTP to the API server: raw JSON through a kubernetes ApiClient.

``request`` sends one request and returns the decoded JSON body (None for an empty body), ``open_stream``
returns the unread response of a long request (logs, watches), ``watch_events`` yields the events of a watch.
Every failure leaves as an ApiError subclass from kube/errors.py.

Why not the typed CoreV1Api methods: the kubernetes client changed generators between 35.x (python-legacy
models) and 36+ (openapi-generator 7, pydantic models with strict types). The collection only needs plain JSON
documents, and plain dicts keep it independent of either model layer. Both generators still share the
ApiClient's configuration, TLS and bearer-token handling, which is reused here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for the import sanity test
    from urllib import quote, urlencode  # type: ignore

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import error_from

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


def server_host(api_client):
    """The API server URL a client talks to (for error messages)."""
    return getattr(getattr(api_client, "configuration", None), "host", None)


def _send(api_client, method, path, body=None, content_type=None, timeout=None):
    """Send one request; return the urllib3 response with its body not yet consumed.

    Non-2xx responses raise kubernetes.client.rest.ApiException, as the typed methods do.
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


def _decode(data):
    if not data:
        return None
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data)


def _failed(exc, verb, resource, name, namespace, api_client):
    """The ApiError to raise for what the client raised (anything else is a bug and propagates)."""
    return error_from(exc, verb, resource, name, namespace, host=server_host(api_client))


def request(api_client, verb, resource, method, path, name=None, namespace=None, body=None, content_type=None,
            timeout=None):
    """One request; the decoded JSON body (None when the body is empty).

    ``verb``, ``resource``, ``name`` and ``namespace`` say what is being done, for the error message.
    Raises an ApiError subclass (NotFound, Conflict, Invalid, Unreachable, ...).
    """
    try:
        response = _send(api_client, method, path, body=body, content_type=content_type, timeout=timeout)
        return _decode(response.data)
    except Exception as exc:  # pylint: disable=broad-except
        error = _failed(exc, verb, resource, name, namespace, api_client)
        if error is None:
            raise
        raise error


def open_stream(api_client, verb, resource, path, name=None, namespace=None, timeout=None):
    """A GET whose body the caller reads itself (``response.stream()``); close or release it when done."""
    try:
        return _send(api_client, "GET", path, timeout=timeout)
    except Exception as exc:  # pylint: disable=broad-except
        error = _failed(exc, verb, resource, name, namespace, api_client)
        if error is None:
            raise
        raise error


def watch_events(api_client, path, timeout_seconds, resource="objects", namespace=None):
    """Stream a watch: yield each event as a dict {"type": ..., "object": {...}}.

    ``path`` must already carry watch=1 and resourceVersion. The server ends the stream after
    timeoutSeconds; the client-side read timeout is a little longer so a silent server cannot hang us.
    """
    response = open_stream(api_client, "watch", resource, path, namespace=namespace,
                           timeout=(10, timeout_seconds + 10))
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
