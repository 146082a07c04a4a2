"""Streams that end early end quietly: a watch or a log follow closed by the client mid-stream, and a SIGTERM while
streams are open, leave no traceback on kubesim's stderr and the server keeps serving / exits 0.

Each test starts its own kubesim (through the CLI, as conftest does) and reads its whole stderr file: the module
fixture only sees the last 4000 characters of the shared server's stderr.
"""
from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client

from test_kubelet_support import pod_manifest, start_pod


def _full_stderr(server) -> str:
    with open(server.stderr_path, encoding="utf-8", errors="replace") as f:
        return f.read()


class _Churn:
    """Keeps the server writing to the open streams: patches a ConfigMap (watch events) and proxies requests to a
    kubesim/web pod (each request is a container log line)."""

    def __init__(self, core, namespace, pod=None):
        self.core, self.namespace, self.pod = core, namespace, pod
        self.stop = threading.Event()
        self.rounds = 0
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            try:
                self.core.patch_namespaced_config_map("churn", self.namespace, {"data": {"n": str(self.rounds)}})
                if self.pod:
                    self.core.connect_get_namespaced_pod_proxy_with_path(self.pod, self.namespace, "churn")
            except Exception as exc:  # the server went away (SIGTERM test); otherwise wait_rounds reports it
                self.error = exc
                return
            self.rounds += 1
            time.sleep(0.005)

    def __enter__(self):
        self.core.create_namespaced_config_map(self.namespace, {"metadata": {"name": "churn"}})
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)

    def wait_rounds(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        start = self.rounds
        while self.rounds < start + n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.rounds >= start + n, f"the churn requests stopped: {self.error!r}"


@pytest.fixture
def server(kubesim_factory):
    return kubesim_factory()


def _setup(server):
    api = server.api_client()
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "streams"}})
    start_pod(core, "streams", pod_manifest("web"))
    return api, core


def test_client_closing_watches_and_log_follows_mid_stream_is_quiet(server):
    api, core = _setup(server)
    with _Churn(core, "streams", pod="web") as churn:
        for _ in range(5):
            streams_api = server.api_client()  # its own connections: the churn client's pool stays intact
            streamer = client.CoreV1Api(streams_api)
            watch = streamer.list_namespaced_config_map("streams", watch=True, _preload_content=False)
            logs = streamer.read_namespaced_pod_log("web", "streams", follow=True, _preload_content=False)
            assert watch.read(20) and logs.read(10)  # both streams are live
            # Close abruptly: the socket goes away while the server still has events and log lines to write.
            for stream in (watch, logs):
                stream.connection.sock.close()
            churn.wait_rounds(10)
            streams_api.close()
    # The server is still healthy after the disconnects.
    assert core.read_namespaced_pod("web", "streams").status.phase == "Running"
    api.close()
    assert server.stop() == 0
    err = _full_stderr(server)
    assert "Traceback" not in err and "Error handling request" not in err, err


def test_sigterm_with_open_watch_and_log_follow_exits_cleanly(server):
    api, core = _setup(server)
    streamer = client.CoreV1Api(server.api_client())
    watch = streamer.list_namespaced_config_map("streams", watch=True, _preload_content=False)
    logs = streamer.read_namespaced_pod_log("web", "streams", follow=True, _preload_content=False)
    with _Churn(core, "streams", pod="web") as churn:
        assert watch.read(20) and logs.read(10)
        churn.wait_rounds(5)
        started = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - started < 10
    # The watch ended with a clean end of stream: the rest of its body reads without a protocol error.
    watch.read()
    api.close()
    err = _full_stderr(server)
    assert "Traceback" not in err and "Error handling request" not in err, err
