# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one exec and log stream implementation of the collection.

exec: a websocket to pods/exec speaking the channel protocol (v5.channel.k8s.io, else v4): every frame is one
channel byte and a payload; 0 stdin, 1 stdout, 2 stderr, 3 the exit Status (JSON), 255 the v5 close signal
(`[255, 0]` ends stdin). stdout and stderr go to the caller's sinks chunk by chunk, so nothing is buffered whole.
The kubernetes client's WSClient is not used: it keeps a copy of all output in memory (capture_all) and drops the
impersonation headers. The exit code comes from the Status on channel 3, never from the output.

port-forward: a websocket to pods/portforward (v4.channel.k8s.io, as the kubelet's websocket port-forward and the
Python client speak it): channel 0 carries the bytes of one TCP connection to the container port, channel 1 the
kubelet's error text; the first frame on each is the port number (2 bytes, little-endian), not data.

proxy: one HTTP request through the API server's pods/proxy, the response returned unread (any status: what the
container answered is the caller's business), so the caller can cap the body it reads.

logs: GET pods/log with the body streamed in chunks (urllib3, no preload). A connection that ends before the
body is complete raises StreamError, which names the container and how many bytes arrived.

Opening a stream follows the transport's retry policy (kube/transport.py, docs/retries.md), within the same
budget as every other request of the module: opening a log stream or a port-forward is a read (nothing reaches
the container before the upgrade is complete) and is retried on 429, 5xx and connections that fail; an exec
is a write (the command may run) and is retried only where the server cannot have started it: 429 and a
connection that could not be opened. A stream that is cut once open is never repeated here: the caller knows
whether a repeat is safe (pod_fetch resumes from its last verified offset, pod_logs fetches again).
An exec the server accepted is noted as a write on the client (transport.accepted_writes).

Everything that touches the wire is in this file, so the kube layer can replace it in one place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import ssl
import time

try:
    from urllib.parse import urlencode, urlparse
except ImportError:  # pragma: no cover
    from urllib import urlencode  # type: ignore
    from urlparse import urlparse  # type: ignore

try:
    import websocket
    HAS_WEBSOCKET = True
except ImportError:  # websocket-client comes with kubernetes
    websocket = None
    HAS_WEBSOCKET = False

try:
    from urllib3 import exceptions as urllib3_exceptions
except ImportError:
    urllib3_exceptions = None

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import (
    ApiError,
    ApiException,
    KubeError,
    describe_error,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import (
    api_path,
    maybe_applied,
    note_write,
    server_host,
    with_retries,
)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
CHUNK = 64 * 1024
# How long one blocking read of the socket waits before the loop checks its deadline again.
POLL_SECONDS = 0.5


class StreamError(Exception):
    """A stream ended before it was complete; the message says which stream and how much arrived."""

    def __init__(self, message, received=0):
        Exception.__init__(self, message)
        self.received = received


class StreamRefused(KubeError):
    """The API server answered the stream request with an error; `status` is its HTTP code (None without one),
    `transient` says whether asking again may help (429, 5xx, no answer)."""

    def __init__(self, message, status=None):
        KubeError.__init__(self, message)
        self.status = status
        self.transient = status is None or status == 429 or status >= 500


class ExecResult(object):
    """What one exec returned: rc (None when the Status carries no exit code), the raw Status, byte counts."""

    def __init__(self, status, stdout_bytes, stderr_bytes, started, ended, protocol, deadline_hit):
        self.status = status
        self.stdout_bytes = stdout_bytes
        self.stderr_bytes = stderr_bytes
        self.started = started
        self.ended = ended
        self.protocol = protocol
        # True when the local deadline ended the stream before an exit Status arrived.
        self.deadline_hit = deadline_hit
        self.deadline_passed = deadline_hit
        self.rc = exit_code(status)

    @property
    def message(self):
        return (self.status or {}).get("message") or ""


def exit_code(status):
    """0 for Success, the ExitCode cause for NonZeroExitCode, None when there is none (the command never ran,
    the container is gone): callers must then read the Status message, not invent a code."""
    if not status:
        return None
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message"))
            except (TypeError, ValueError):
                return None
    return None


# ---------------------------------------------------------------- connection details from the ApiClient

def _auth_headers(api_client):
    """Authorization and the impersonation headers the ApiClient sends on every request."""
    configuration = api_client.configuration
    headers = []
    for setting in (configuration.auth_settings() or {}).values():
        if setting.get("in") == "header" and setting.get("value"):
            headers.append("%s: %s" % (setting["key"], setting["value"]))
            break
    for name, value in (getattr(api_client, "default_headers", None) or {}).items():
        if name.lower().startswith("impersonate-"):
            headers.append("%s: %s" % (name, value))
    for group in getattr(api_client, "impersonate_groups", None) or ():
        headers.append("Impersonate-Group: %s" % group)
    return headers


def _ssl_options(configuration):
    if not configuration.verify_ssl:
        options = {"cert_reqs": ssl.CERT_NONE}
    else:
        options = {"cert_reqs": ssl.CERT_REQUIRED}
        if configuration.ssl_ca_cert:
            options["ca_certs"] = configuration.ssl_ca_cert
        if getattr(configuration, "assert_hostname", None) is not None:
            options["check_hostname"] = configuration.assert_hostname
    if configuration.cert_file:
        options["certfile"] = configuration.cert_file
    if configuration.key_file:
        options["keyfile"] = configuration.key_file
    if getattr(configuration, "tls_server_name", None):
        options["server_hostname"] = configuration.tls_server_name
    return options


def _proxy_options(configuration, url):
    options = {}
    if configuration.proxy:
        proxy = urlparse(configuration.proxy)
        options.update(http_proxy_host=proxy.hostname, http_proxy_port=proxy.port,
                       proxy_type=proxy.scheme if proxy.scheme in ("socks4", "socks5", "socks5h") else "http")
        if configuration.no_proxy:
            options["http_no_proxy"] = [h.strip() for h in configuration.no_proxy.split(",") if h.strip()]
    return options


def _websocket_url(api_client, path, query):
    host = api_client.configuration.host.rstrip("/")
    if host.startswith("https://"):
        host = "wss://" + host[len("https://"):]
    elif host.startswith("http://"):
        host = "ws://" + host[len("http://"):]
    return host + path + "?" + urlencode(query)


class _HandshakeRefused(ApiError):
    """An upgrade the API server answered with an HTTP error, shaped as the transport's errors so that its retry
    policy applies (status, Retry-After, the Status body); the message is the one _describe_handshake words."""

    def __init__(self, exc, what, host):
        code = getattr(exc, "status_code", None)
        body = getattr(exc, "resp_body", None) or b""
        cause = ApiException(status=code, reason="")
        cause.body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        cause.headers = dict((k.title(), v) for k, v in (getattr(exc, "resp_headers", None) or {}).items())
        self.message = _describe_handshake(exc, what)
        ApiError.__init__(self, cause, what, None, host=host)

    def describe(self):
        return self.message


class _HandshakeUnreachable(ApiError):
    """No answer to the upgrade at all (refused, reset, timed out)."""

    def __init__(self, exc, what, host):
        self.message = "cannot open the stream to %s: %s" % (what, exc)
        ApiError.__init__(self, exc, what, None, host=host)

    def describe(self):
        return self.message


def _connect_once(api_client, path, query, what, protocols):
    configuration = api_client.configuration
    url = _websocket_url(api_client, path, query)
    sock = websocket.WebSocket(sslopt=_ssl_options(configuration), skip_utf8_validation=True)
    try:
        sock.connect(url, header=_auth_headers(api_client) + ["Sec-WebSocket-Protocol: %s" % ",".join(protocols)],
                     timeout=30, **_proxy_options(configuration, url))
    except websocket.WebSocketBadStatusException as exc:
        raise _HandshakeRefused(exc, what, server_host(api_client))
    except (websocket.WebSocketException, socket.error, ssl.SSLError) as exc:
        raise _HandshakeUnreachable(exc, what, server_host(api_client))
    protocol = getattr(sock, "subprotocol", None)
    if not protocol:
        for name, value in (sock.getheaders() or {}).items():
            if name.lower() == "sec-websocket-protocol":
                protocol = value
    return sock, protocol or V4


def _connect(api_client, path, query, what, protocols=(V5, V4), write=None):
    """Open the websocket, retried by the transport's policy; ``write`` = (resource, name, namespace) for an
    upgrade that starts something (exec): not repeated on a 5xx or a lost answer, and noted as a write.
    Raises KubeError (the last refusal, with the attempts made) when it cannot be opened."""
    if not HAS_WEBSOCKET:
        raise KubeError("the websocket-client library (a dependency of kubernetes) is missing; cannot %s" % what)
    try:
        opened = with_retries(api_client, lambda: _connect_once(api_client, path, query, what, protocols), what,
                              None, repeatable=write is None)
    except ApiError as exc:
        if write is not None and maybe_applied(exc):
            note_write(api_client, "create", write[0], write[1], write[2], certain=False)
        raise KubeError(str(exc))
    if write is not None:
        note_write(api_client, "create", write[0], write[1], write[2])
    return opened


def _describe_handshake(exc, what):
    body = getattr(exc, "resp_body", None) or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    code = getattr(exc, "status_code", None)
    # Worded like any API error (403 names the missing permission, 401 the credentials).
    error = ApiException(status=code, reason="")
    error.body = body
    if code == 400:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = body.strip()
        return "cannot %s: %s" % (what, message or "bad request")
    return describe_error(error, what)


# ---------------------------------------------------------------- exec

def exec_stream(api_client, namespace, pod, container, argv, on_stdout, on_stderr, stdin=None, deadline=None,
                on_deadline=None, after_deadline=5.0):
    """Run argv in the container; deliver stdout/stderr chunks to the sinks; return an ExecResult.

    stdin: None, bytes, or a file object read in chunks (sent, then closed with the v5 close signal).
    deadline: time.monotonic() value after which the stream is closed locally (ExecResult.deadline_hit).
    on_deadline: called once when the deadline passes, while the stream is still open (to stop the remote
    process, see evidence/exec_run.py); the stream is then read `after_deadline` seconds longer for the exit
    Status. ExecResult.deadline_passed says whether it was called.
    Raises KubeError when the stream cannot be opened, StreamError when it ends without an exit Status.
    """
    what = "exec in container %s of pod %s in namespace %s" % (container, pod, namespace)
    query = [("command", arg) for arg in argv] + [
        ("container", container), ("stdin", "true" if stdin is not None else "false"),
        ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
    path = api_path("api/v1/namespaces", namespace, "pods", pod, "exec")
    started = time.time()
    sock, protocol = _connect(api_client, path, query, what, write=("pods/exec", pod, namespace))
    counts = {STDOUT: 0, STDERR: 0}
    sinks = {STDOUT: on_stdout, STDERR: on_stderr}
    status = None
    deadline_hit = False
    deadline_passed = False
    try:
        if stdin is not None:
            _send_stdin(sock, stdin, protocol)
        sock.settimeout(POLL_SECONDS)
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                if on_deadline is not None and not deadline_passed:
                    deadline_passed = True
                    on_deadline()
                    deadline = time.monotonic() + after_deadline
                    continue
                deadline_hit = True
                break
            try:
                opcode, frame = sock.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, socket.error, ssl.SSLError) as exc:
                raise StreamError("%s: the stream was cut after %d bytes of stdout and %d of stderr, before the "
                                  "exit status (%s)" % (what, counts[STDOUT], counts[STDERR], exc or "closed"),
                                  counts[STDOUT] + counts[STDERR])
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT) or not frame.data:
                continue
            data = frame.data if isinstance(frame.data, bytes) else frame.data.encode("utf-8")
            channel, payload = data[0], data[1:]
            if channel in sinks:
                if payload:
                    counts[channel] += len(payload)
                    sinks[channel](payload)
            elif channel == ERROR:
                status = _parse_status(payload)
    finally:
        try:
            sock.close(timeout=1)
        except Exception:  # pylint: disable=broad-except
            pass
    if status is None and not deadline_hit:
        raise StreamError("%s: the stream ended after %d bytes of stdout and %d of stderr without an exit status"
                          % (what, counts[STDOUT], counts[STDERR]), counts[STDOUT] + counts[STDERR])
    result = ExecResult(status, counts[STDOUT], counts[STDERR], started, time.time(), protocol, deadline_hit)
    result.deadline_passed = deadline_passed or deadline_hit
    return result


def _parse_status(payload):
    text = payload.decode("utf-8", "replace")
    try:
        status = json.loads(text)
    except ValueError:
        # The unversioned protocol writes only the message text.
        return {"status": "Failure", "message": text}
    return status if isinstance(status, dict) else {"status": "Failure", "message": text}


def _send_stdin(sock, stdin, protocol):
    if isinstance(stdin, (bytes, bytearray)):
        for start in range(0, len(stdin), CHUNK):
            sock.send_binary(bytes([STDIN]) + bytes(stdin[start:start + CHUNK]))
    elif isinstance(stdin, str):
        _send_stdin(sock, stdin.encode("utf-8"), protocol)
        return
    else:
        while True:
            chunk = stdin.read(CHUNK)
            if not chunk:
                break
            sock.send_binary(bytes([STDIN]) + chunk)
    if protocol == V5:
        sock.send_binary(bytes([CLOSE, STDIN]))


# ---------------------------------------------------------------- logs

def _open_response(api_client, path, timeout):
    """GET path with the body not read yet (both generations of the kubernetes client)."""
    headers = {"Accept": "*/*"}
    if hasattr(api_client, "param_serialize"):
        request = api_client.param_serialize("GET", path, header_params=headers, auth_settings=["BearerToken"])
        response = api_client.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            api_client.response_deserialize(response, {})
        return response.response
    return api_client.call_api(path, "GET", header_params=headers, auth_settings=["BearerToken"],
                               _preload_content=False, _return_http_data_only=True, _request_timeout=timeout)


def log_chunks(api_client, namespace, pod, container, previous=False, timestamps=True, since_seconds=None,
               tail_lines=None, limit_bytes=None, read_timeout=60):
    """Yield the log of one container in chunks.

    Raises KubeError when the request is refused (the message is the API server's: no previous instance, the
    container is waiting), StreamError when the body ends early.
    """
    which = "previous log" if previous else "log"
    what = "read the %s of container %s of pod %s in namespace %s" % (which, container, pod, namespace)
    query = dict(container=container, timestamps="true" if timestamps else None,
                 previous="true" if previous else None, sinceSeconds=since_seconds, tailLines=tail_lines,
                 limitBytes=limit_bytes)
    path = api_path("api/v1/namespaces", namespace, "pods", pod, "log", **query)
    try:
        response = with_retries(api_client, lambda: _open_response(api_client, path, (30, read_timeout)), what,
                                None, repeatable=True)
    except ApiError as exc:
        # The transport already retried what a retry may help with: asking again at once would not.
        refused = StreamRefused(_log_refusal(exc.cause, what) if exc.status == 400 else str(exc), exc.status)
        refused.transient = False
        raise refused
    except Exception as exc:  # pylint: disable=broad-except
        raise StreamRefused(_log_refusal(exc, what), getattr(exc, "status", None) or None)
    received = 0
    try:
        for chunk in _body_chunks(response):
            received += len(chunk)
            yield chunk
    except Exception as exc:  # pylint: disable=broad-except
        if urllib3_exceptions is not None and isinstance(exc, urllib3_exceptions.HTTPError) or isinstance(
                exc, (socket.error, ssl.SSLError)):
            raise StreamError("%s of container %s cut after %d bytes: %s" % (which, container, received, exc),
                              received)
        raise
    finally:
        response.release_conn()


def _body_chunks(response):
    """The body as it arrives. urllib3 2's read1 hands over what came before a cut (read(amt) would drop it
    with the IncompleteRead); urllib3 1.26 has only stream()."""
    if hasattr(response, "read1"):
        while True:
            chunk = response.read1(CHUNK)
            if not chunk:
                return
            yield chunk
    else:
        yield from response.stream(CHUNK, decode_content=True)


def _log_refusal(exc, what):
    body = getattr(exc, "body", None)
    if getattr(exc, "status", None) == 400 and body:
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            return "cannot %s: %s" % (what, json.loads(body).get("message"))
        except (ValueError, AttributeError):
            return "cannot %s: %s" % (what, body.strip()[:300])
    return describe_error(exc, what)


# ---------------------------------------------------------------- port-forward

class PortForward(object):
    """One TCP connection to a container port over pods/portforward.

    send(data) writes to the port; recv() returns the next bytes from it, b"" once the container closed the
    connection; a message on the error channel (nothing listens there, the pod went away) raises KubeError.
    """

    def __init__(self, api_client, namespace, pod, port, timeout=30):
        self.what = "port-forward to port %s of pod %s in namespace %s" % (port, pod, namespace)
        path = api_path("api/v1/namespaces", namespace, "pods", pod, "portforward")
        self._sock, self.protocol = _connect(api_client, path, [("ports", str(port))], self.what, protocols=(V4,))
        self._sock.settimeout(timeout)
        self._prefix_seen = {0: False, 1: False}
        self._closed = False
        self.received = 0

    def send(self, data):
        for start in range(0, len(data), CHUNK):
            try:
                self._sock.send_binary(bytes([0]) + bytes(data[start:start + CHUNK]))
            except (websocket.WebSocketException, socket.error, ssl.SSLError) as exc:
                raise StreamError("%s: the connection was cut while sending (%s)" % (self.what, exc), 0)

    def _strip_prefix(self, channel, payload):
        if not self._prefix_seen[channel]:
            self._prefix_seen[channel] = True
            return payload[2:]
        return payload

    def recv(self):
        while not self._closed:
            try:
                opcode, frame = self._sock.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                raise StreamError("%s: no answer within the timeout after %d bytes" % (self.what, self.received),
                                  self.received)
            except (websocket.WebSocketConnectionClosedException, socket.error, ssl.SSLError):
                self._closed = True
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self._closed = True
                break
            if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT) or not frame.data:
                continue
            data = frame.data if isinstance(frame.data, bytes) else frame.data.encode("utf-8")
            channel = data[0]
            if channel not in (0, 1):
                continue
            payload = self._strip_prefix(channel, data[1:])
            if channel == 1 and payload:
                raise KubeError("%s: %s" % (self.what, payload.decode("utf-8", "replace").strip()))
            if channel == 0 and payload:
                self.received += len(payload)
                return payload
        return b""

    def close(self):
        try:
            self._sock.close(timeout=1)
        except Exception:  # pylint: disable=broad-except
            pass


def open_port_forward(api_client, namespace, pod, port, timeout=30):
    """A PortForward, or StreamRefused/KubeError when the API server refuses the upgrade."""
    return PortForward(api_client, namespace, pod, port, timeout=timeout)


# ---------------------------------------------------------------- pods/proxy

def proxy_open(api_client, namespace, pod, port, method, path, headers, body, timeout):
    """Send one request through pods/proxy; return the urllib3 response unread (status, headers, stream()).

    Whatever status comes back is returned, not raised: a 500 from the container is an answer. Raises KubeError
    when the API server cannot be reached at all.
    """
    what = "the proxy to port %s of pod %s in namespace %s" % (port, pod, namespace)
    target = api_path("api/v1/namespaces", namespace, "pods", "%s:%s" % (pod, port), "proxy")
    url = api_client.configuration.host.rstrip("/") + target + "/" + path.lstrip("/")
    sent = dict(headers)
    for line in _auth_headers(api_client):
        name, value = line.split(": ", 1)
        sent[name] = value
    try:
        import urllib3
        return api_client.rest_client.pool_manager.request(
            method, url, body=body, headers=sent, preload_content=False, redirect=False, retries=False,
            timeout=urllib3.Timeout(connect=min(timeout, 30), read=timeout))
    except Exception as exc:  # pylint: disable=broad-except
        if urllib3_exceptions is not None and isinstance(exc, urllib3_exceptions.HTTPError) or isinstance(
                exc, (socket.error, ssl.SSLError)):
            raise StreamRefused("cannot reach %s: %s" % (what, exc), None)
        raise
