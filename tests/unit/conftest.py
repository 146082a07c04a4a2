# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared unit-test helpers.

- fake_api: a real HTTP server on 127.0.0.1 that answers canned Kubernetes JSON and records
  every request (method, path, headers, body), so tests see what really goes on the wire.
- run_module: run a module's main() with arguments and return its result or failure.
- clean_env: no KUBECONFIG, no K8S_AUTH_*, HOME in a temporary directory, so nothing can
  reach the developer's own cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class RecordedRequest:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # list of (name, value), repeated names kept
        self.body = body

    def header_values(self, name):
        return [value for key, value in self.headers if key.lower() == name.lower()]


RESET = 'reset'


class FakeApiServer:
    """Routes map (METHOD, path) to a handler(request) -> (status, dict) or (status, dict, {header: value}),
    or RESET: the connection is closed without an answer (what a load balancer cutting it looks like)."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get('Content-Length') or 0)
                raw = self.rfile.read(length) if length else b''
                body = json.loads(raw) if raw else None
                path = self.path.split('?', 1)[0]
                request = RecordedRequest(self.command, path, list(self.headers.items()), body)
                server.requests.append(request)
                handler = server.routes.get((self.command, path))
                if handler is None:
                    status, payload = 404, status_body(404, 'NotFound', 'the server could not find the requested resource')
                else:
                    answer = handler(request)
                    if answer == RESET:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    status, payload = answer[0], answer[1]
                    extra_headers = answer[2] if len(answer) > 2 else {}
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (extra_headers if handler is not None else {}).items():
                    self.send_header(name, value)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_port
        # serve_forever checks for shutdown() every poll_interval: the default 0.5 s was added to every test's
        # teardown
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.01}, daemon=True)
        self.thread.start()

    def route(self, method, path, status=200, body=None, handler=None):
        self.routes[(method, path)] = handler or (lambda request: (status, body if body is not None else {}))

    def route_error(self, method, path, code, reason, message):
        self.route(method, path, status=code, body=status_body(code, reason, message))

    def route_sequence(self, method, path, answers):
        """Answer the requests to (method, path) one after the other from ``answers`` (the last one repeats)."""
        answers = list(answers)

        def handler(request):
            return answers.pop(0) if len(answers) > 1 else answers[0]
        self.route(method, path, handler=handler)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def status_body(code, reason, message):
    return {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'message': message,
            'reason': reason, 'code': code}


@pytest.fixture
def fake_api():
    server = FakeApiServer()
    yield server
    server.close()


@pytest.fixture
def closed_port_url():
    """A URL on which nothing listens (the port was just released)."""
    probe = ThreadingHTTPServer(('127.0.0.1', 0), BaseHTTPRequestHandler)
    port = probe.server_port
    probe.server_close()
    return 'http://127.0.0.1:%d' % port


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    import os
    for name in list(os.environ):
        if name.startswith('K8S_AUTH_') or name in ('KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    (tmp_path / 'home').mkdir()
    return tmp_path


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result.get('msg', ''))
        self.result = result
        self.failed = failed


@contextmanager
def module_args(args):
    """Pass args to AnsibleModule; ansible-core 2.19 also needs a serialization profile (B7)."""
    serialized = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    with patch.object(basic, '_ANSIBLE_ARGS', serialized):
        with patch.object(basic, '_ANSIBLE_PROFILE', 'legacy', create=True):
            yield


def run_module(main, args):
    """Run main() and return (result, failed). Warnings are in result['warnings']."""
    warnings = []

    def exit_json(module, **kwargs):
        kwargs.setdefault('warnings', list(warnings))
        raise ModuleExit(kwargs, failed=False)

    def fail_json(module, **kwargs):
        kwargs.setdefault('warnings', list(warnings))
        raise ModuleExit(kwargs, failed=True)

    def warn(module, message):
        warnings.append(message)

    with module_args(args):
        with patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json, warn=warn):
            try:
                main()
            except ModuleExit as done:
                return done.result, done.failed
    raise AssertionError('the module returned without calling exit_json or fail_json')


@pytest.fixture
def module_runner():
    return run_module


@pytest.fixture
def module_args_ctx():
    return module_args
