# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one way the collection talks HTTP to the API server: raw JSON through a kubernetes ApiClient.

``request`` sends one request and returns the decoded JSON body (None for an empty body), ``open_stream``
returns the unread response of a long request (logs, watches), ``watch_events`` yields the events of a watch.
Every failure leaves as an ApiError subclass from kube/errors.py.

Transient failures are retried here, once for the whole collection (docs/retries.md says where this differs
from client-go's rest client):
- 429 Too Many Requests (API Priority and Fairness rejects before it handles the request, so any verb) and a
  connection that could not be opened (nothing was sent): always, honouring Retry-After;
- 500, 502, 503, 504, a reset or dropped connection, a read timeout: only for a request that is safe to repeat.
  A GET always is; a write is when its caller says so (``repeatable=True``): a patch conditioned on the
  resourceVersion (a repeat of an applied patch fails its test, and the caller re-reads and replans), a delete
  with a uid precondition, an Event create (a duplicate Event is harmless, a lost one is not);
- bounded: exponential back-off with jitter (0.25 s doubling, at most 5 s a wait; Retry-After is honoured as
  given), at most MAX_ATTEMPTS attempts, and never past the client's retry budget (set_retry_budget: the module's
  wait_timeout). A request that gives up says how many attempts it made, over how long, and the last error.
- every accepted write is noted on the client (accepted_writes), so a module that fails later still reports
  ``changed: true``.

Why not the typed CoreV1Api methods: the kubernetes client changed generators between 35.x (python-legacy
models) and 36+ (openapi-generator 7, pydantic models with strict types). The collection only needs plain JSON
documents, and plain dicts keep it independent of either model layer. Both generators still share the
ApiClient's configuration, TLS and bearer-token handling, which is reused here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import time

try:
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for the import sanity test
    from urllib import quote, urlencode  # type: ignore

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import (
    StreamInterrupted,
    error_from,
    is_transport_failure,
    is_tls_failure,
)

RETRYABLE_STATUS = (429, 500, 502, 503, 504)
MAX_ATTEMPTS = 10
FIRST_WAIT = 0.25
MAX_WAIT = 5.0
# Retry-After beyond this is not waited for (the budget usually ends sooner anyway).
MAX_RETRY_AFTER = 60.0
DEFAULT_BUDGET = 30.0
# connect, read: a silent server must not hang a module for ever (watches pass their own).
REQUEST_TIMEOUT = (10, 60)
MUTATING_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# What the retry loop waits and counts with; unit tests replace them.
_clock = time.monotonic
_sleep = time.sleep
_random = random.random

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


class RetryBudget(object):
    """How long the transient-error retries of one module may take in total."""

    def __init__(self, seconds):
        self.end = _clock() + max(0.0, float(seconds))

    def remaining(self):
        return max(0.0, self.end - _clock())


def set_retry_budget(api_client, seconds):
    """Bound the retries of every request of this client to ``seconds`` from now (the module's deadline)."""
    api_client.triage_retry_budget = RetryBudget(seconds)


def accepted_writes(api_client):
    """[(verb, resource, name, namespace, certain)] of the writes the server accepted through this client;
    ``certain`` is False for a write whose answer was lost (it may have been applied)."""
    return list(getattr(api_client, "triage_accepted_writes", None) or [])


def note_write(api_client, verb, resource, name, namespace, certain=True):
    try:
        api_client.triage_accepted_writes = accepted_writes(api_client) + [(verb, resource, name, namespace, certain)]
    except AttributeError:  # pragma: no cover - a client that takes no attributes
        pass


def maybe_applied(error):
    """A write whose answer did not say it was refused: it may have been applied (a lost answer, a gateway
    timeout, an internal error after the change)."""
    if error.status is None:
        return not _nothing_sent(error) and not is_tls_failure(error.cause)
    return error.status in (500, 502, 504)


def _budget(api_client):
    budget = getattr(api_client, "triage_retry_budget", None)
    if budget is None:
        budget = RetryBudget(DEFAULT_BUDGET)
        try:
            api_client.triage_retry_budget = budget
        except AttributeError:  # pragma: no cover
            pass
    return budget


def _retry_after(error):
    """The Retry-After seconds the server asked for, or None."""
    headers = getattr(error.cause, "headers", None) or {}
    try:
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
    except Exception:  # pylint: disable=broad-except
        value = None
    if value is None:
        value = (error.status_body().get("details") or {}).get("retryAfterSeconds")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _nothing_sent(error):
    """A connection that could not be opened: the server never saw the request."""
    text = "%s %s" % (type(getattr(error.cause, "reason", None) or error.cause).__name__, error.cause)
    return "NewConnectionError" in text or "Connection refused" in text or "ConnectTimeout" in text


def is_retryable(error, repeatable):
    """Should this failure be tried again? (see the module docstring for the policy)"""
    if error.status == 429:
        return True
    if error.status is None:
        if is_tls_failure(error.cause):
            return False
        return repeatable or _nothing_sent(error)
    return repeatable and error.status in RETRYABLE_STATUS


def backoff(attempt, retry_after=None):
    """Seconds to wait before attempt ``attempt + 1``: Retry-After as given, else exponential with jitter."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    ceiling = min(MAX_WAIT, FIRST_WAIT * (2 ** (attempt - 1)))
    return ceiling * (0.5 + _random() / 2)


def pause(seconds):
    """Wait before trying again (the one sleep of the collection: retries and dropped watch streams)."""
    if seconds > 0:
        _sleep(seconds)


def _gave_up(error, attempts, started, why):
    if attempts > 1:
        error.args = ("%s (gave up after %d attempts over %.1f s%s)" % (error, attempts, _clock() - started, why),)
    error.attempts = attempts
    return error


def with_retries(api_client, send, verb, resource, name=None, namespace=None, repeatable=False,
                 attempts=MAX_ATTEMPTS):
    """Call ``send()`` until it succeeds, fails for good, or the policy says stop; raise the last ApiError."""
    budget = _budget(api_client)
    started = _clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return send()
        except Exception as exc:  # pylint: disable=broad-except
            error = _failed(exc, verb, resource, name, namespace, api_client)
            if error is None:
                raise
        if not is_retryable(error, repeatable):
            raise _gave_up(error, attempt, started, "")
        if attempt >= attempts:
            raise _gave_up(error, attempt, started, ", the most this collection makes" if attempts > 1 else "")
        wait = backoff(attempt, _retry_after(error))
        if wait > budget.remaining():
            raise _gave_up(error, attempt, started, ", the retry budget (wait_timeout) was used up")
        pause(wait)


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
            timeout=REQUEST_TIMEOUT, repeatable=None, is_write=None, retry=True):
    """One request, retried on transient failures; the decoded JSON body (None when the body is empty).

    ``verb``, ``resource``, ``name`` and ``namespace`` say what is being done, for the error message.
    ``repeatable``: a write that is safe to send twice (GETs always are). ``is_write=False`` for a POST that
    stores nothing (access reviews). ``retry=False`` sends it once whatever happens (a probe that measures the
    failures). Raises an ApiError subclass (NotFound, Conflict, Invalid, Unreachable, ...).
    """
    method = method.upper()
    if repeatable is None:
        repeatable = method == "GET"
    writes = (method in MUTATING_METHODS) if is_write is None else is_write
    ambiguous = []

    def send():
        try:
            return _send(api_client, method, path, body=body, content_type=content_type, timeout=timeout).data
        except Exception as exc:  # pylint: disable=broad-except
            error = _failed(exc, verb, resource, name, namespace, api_client)
            if writes and error is not None and maybe_applied(error):
                ambiguous.append(error)
            raise

    try:
        data = with_retries(api_client, send, verb, resource, name, namespace, repeatable=repeatable,
                            attempts=MAX_ATTEMPTS if retry else 1)
    except Exception:
        if ambiguous:
            note_write(api_client, verb, resource, name, namespace, certain=False)
        raise
    if writes:
        note_write(api_client, verb, resource, name, namespace)
    return _decode(data)


def open_stream(api_client, verb, resource, path, name=None, namespace=None, timeout=None):
    """A GET whose body the caller reads itself (``response.stream()``); close or release it when done.
    Opening it is retried like any GET; what happens to the stream afterwards is the caller's concern."""
    return with_retries(api_client, lambda: _send(api_client, "GET", path, timeout=timeout), verb, resource, name,
                        namespace, repeatable=True)


def read_chunks(response, what, chunk_size=65536):
    """Yield the body of a streamed response; a connection that drops part-way raises StreamInterrupted, which
    says what was being read and how much had arrived, so a short result is never taken for a whole one."""
    received = 0
    try:
        for chunk in response.stream(chunk_size, decode_content=True):
            received += len(chunk)
            yield chunk
    except Exception as exc:  # pylint: disable=broad-except
        if not is_transport_failure(exc):
            raise
        raise StreamInterrupted("the stream of %s was cut after %d bytes: %s" % (what, received, exc),
                                received=received, cause=exc)


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
        for chunk in read_chunks(response, "the watch of %s" % resource, 4096):
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
