# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A log stream that drops mid-body: fetched again, and when it keeps dropping, the partial file is kept, marked
incomplete, and the failure names the container and the bytes that arrived. A raw HTTP server announces a body
longer than what it sends, then closes the connection, as a cut network does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import threading

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import build_api_client, resolve_auth
from ansible_collections.triage.k8s.plugins.module_utils.evidence import bundle as bundle_mod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import logs
from ansible_collections.triage.k8s.plugins.module_utils.evidence import manifest as manifest_file
from ansible_collections.triage.k8s.plugins.module_utils.kube import streams

from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.evidence.evidence_objects import POD

BODY = b"2026-12-01T10:04:58Z java.lang.OutOfMemoryError: Java heap space\n" * 50


class CuttingServer(object):
    """Answers each request with Content-Length len(BODY); the first `cuts` answers stop after 100 bytes."""

    def __init__(self, cuts):
        self.cuts = cuts
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.requests.append(data.split(b"\r\n", 1)[0].decode())
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)
            if len(self.requests) <= self.cuts:
                conn.sendall(head + BODY[:100])
            else:
                conn.sendall(head + BODY)
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def api(clean_env):
    def make(cuts):
        server = CuttingServer(cuts)
        client = build_api_client(resolve_auth({"host": server.url, "api_key": "t"}, environ={}))
        return server, client
    return make


@pytest.fixture
def target(tmp_path):
    from ansible_collections.triage.k8s.plugins.module_utils.evidence import incident
    header = incident.build_incident(POD, "u", "c", "w", None, None, "2026-12-01T10:06:07.000Z", "id")
    path = bundle_mod.create_bundle(bundle_mod.check_evidence_dir(str(tmp_path / "e"), False), header)
    return bundle_mod.BundleTarget(path)


def options(**extra):
    base = dict(containers=["app"], previous=False, since_seconds=None, tail_lines=None, max_bytes=1 << 20,
                keep="tail", timestamps=True)
    base.update(extra)
    return base


def test_a_cut_body_is_a_stream_error_naming_what_arrived(api):
    server, client = api(cuts=1)
    with pytest.raises(streams.StreamError, match=r"log of container app cut after 100 bytes"):
        b"".join(streams.log_chunks(client, "shop", "web-1", "app"))
    server.close()


def test_a_cut_log_is_fetched_again(api, target, monkeypatch):
    monkeypatch.setattr(logs, "RETRY_PAUSE", 0)
    server, client = api(cuts=1)
    result = logs.collect(client, target, POD, options())
    server.close()
    assert result["failures"] == []
    assert result["logs"][0]["attempts"] == 2 and result["logs"][0]["complete"] is True
    with open(target.root + "/logs/app.log", "rb") as handle:
        assert handle.read() == BODY
    assert len(server.requests) == 2 and "timestamps=true" in server.requests[0]


def test_a_log_that_keeps_dropping_is_kept_partial_and_recorded(api, target, monkeypatch):
    monkeypatch.setattr(logs, "RETRY_PAUSE", 0)
    server, client = api(cuts=10)
    result = logs.collect(client, target, POD, options(keep="head"))
    server.close()
    assert len(server.requests) == 3
    entry = result["logs"][0]
    assert entry["complete"] is False and entry["size"] == 100 and entry["attempts"] == 3
    manifest = manifest_file.load(target.root)
    assert manifest["failures"][0]["error"].startswith("log of container app cut after 100 bytes")
    assert manifest["failures"][0]["bytes_kept"] == 100
    _manifest, problems = manifest_file.verify_dir(target.root)
    assert problems == []
