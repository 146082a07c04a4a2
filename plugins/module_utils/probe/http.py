# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""HTTP/1.1 on a byte stream for triage.k8s.pod_request: the request bytes, the response read with the
standard library's parser (status line, headers, Content-Length or chunked bodies) from any recv() source, the
body capped while it is read, and credential headers masked before anything is returned or recorded."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io

try:
    import http.client as http_client
except ImportError:  # pragma: no cover
    import httplib as http_client  # type: ignore

# Header names whose values are credentials: never returned, never written to a bundle.
SECRET_HEADERS = frozenset(["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                            "x-auth-token", "x-csrf-token"])
MASK = "<redacted>"
READ_CHUNK = 64 * 1024


class ProbeError(Exception):
    """The request could not be sent or its answer not read; the message says which pod and port."""


def masked_headers(headers):
    """{name: value} with the values of credential headers replaced; names kept as given."""
    return dict((name, MASK if name.lower() in SECRET_HEADERS else value) for name, value in headers.items())


def request_bytes(method, path, host, headers, body):
    """The bytes of one HTTP/1.1 request that asks the server to close the connection after answering."""
    lines = ["%s %s HTTP/1.1" % (method, path)]
    given = dict((name.lower(), name) for name in headers)
    if "host" not in given:
        lines.append("Host: %s" % host)
    for name, value in headers.items():
        if "\r" in str(value) or "\n" in str(value) or "\r" in name or "\n" in name or ":" in name:
            raise ProbeError("header %r has a line break or colon in its name or value" % name)
        lines.append("%s: %s" % (name, value))
    if "connection" not in given:
        lines.append("Connection: close")
    if "user-agent" not in given:
        lines.append("User-Agent: triage.k8s.pod_request")
    if body is not None and "content-length" not in given:
        lines.append("Content-Length: %d" % len(body))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


class _RecvRaw(io.RawIOBase):
    """A readable raw stream over a recv() function that returns b"" at the end."""

    def __init__(self, recv):
        io.RawIOBase.__init__(self)
        self._recv = recv
        self._pending = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        if not self._pending:
            self._pending = self._recv()
            if not self._pending:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class _SocketLike(object):
    """What http.client.HTTPResponse needs of a socket: makefile('rb')."""

    def __init__(self, recv):
        self._file = io.BufferedReader(_RecvRaw(recv), READ_CHUNK)

    def makefile(self, mode, *args, **kwargs):
        return self._file


def read_response(recv, method, max_body_bytes):
    """Parse one response from recv(); read at most max_body_bytes of the body (one more byte tells whether
    there was more). Returns dict(status, reason, headers, body (bytes), body_truncated, body_bytes)."""
    response = http_client.HTTPResponse(_SocketLike(recv), method=method)
    try:
        response.begin()
    except (http_client.HTTPException, ValueError) as exc:
        raise ProbeError("the answer is not HTTP/1.x (%s: %s)" % (type(exc).__name__, exc))
    headers = dict(response.getheaders())
    return dict(status=response.status, reason=response.reason, headers=headers,
                **read_capped(response.read, max_body_bytes))


def read_capped(read, max_body_bytes):
    """Read a body through read(amt) up to the cap; dict(body, body_truncated, body_bytes)."""
    chunks, size, truncated = [], 0, False
    while True:
        try:
            chunk = read(min(READ_CHUNK, max_body_bytes + 1 - size))
        except http_client.IncompleteRead as exc:
            raise ProbeError("the body ended early, after %d bytes (%s)" % (size + len(exc.partial), exc))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body_bytes:
            truncated = True
            break
    body = b"".join(chunks)[:max_body_bytes]
    return dict(body=body, body_truncated=truncated, body_bytes=len(body))


def body_text(body):
    """(text, encoding): UTF-8 text when the body is text, else base64."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        import base64
        return base64.b64encode(body).decode("ascii"), "base64"
