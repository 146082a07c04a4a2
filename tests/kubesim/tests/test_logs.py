"""pods/log: container, previous, tailLines, sinceSeconds, limitBytes, timestamps, follow, and the API
server's errors (spec §6, §8 for `follow` through `watch.Watch`)."""
from __future__ import annotations

import json
import shutil
import subprocess
import re
import threading
import time

import pytest
from kubernetes import client, watch

from test_kubelet_support import eventually, pod_manifest, start_pod


def hit(core, namespace, pod, path):
    """One HTTP request to the pod's web server (through the pod proxy): one log line."""
    return core.connect_get_namespaced_pod_proxy_with_path(pod, namespace, path.lstrip("/"))


@pytest.fixture
def web_pod(core, namespace):
    start_pod(core, namespace, pod_manifest("web"))
    for i in range(5):
        hit(core, namespace, "web", f"/req-{i}")
    eventually(lambda: "/req-4" in core.read_namespaced_pod_log("web", namespace))
    return "web"


def test_log_has_the_request_lines_of_the_web_server(core, namespace, web_pod):
    log = core.read_namespaced_pod_log(web_pod, namespace)
    lines = log.splitlines()
    assert lines[0] == "kubesim web server v1 listening on :8080"
    assert [re.search(r'"GET (\S+) HTTP', line).group(1) for line in lines[1:]] == \
        [f"/req-{i}" for i in range(5)]


def test_tail_lines_and_limit_bytes(core, namespace, web_pod):
    full = core.read_namespaced_pod_log(web_pod, namespace)
    tail = core.read_namespaced_pod_log(web_pod, namespace, tail_lines=2)
    assert tail.splitlines() == full.splitlines()[-2:]
    assert core.read_namespaced_pod_log(web_pod, namespace, tail_lines=0) == ""
    assert core.read_namespaced_pod_log(web_pod, namespace, limit_bytes=10) == full[:10]


def test_timestamps_prefix_every_line_with_rfc3339nano(core, namespace, web_pod):
    plain = core.read_namespaced_pod_log(web_pod, namespace).splitlines()
    stamped = core.read_namespaced_pod_log(web_pod, namespace, timestamps=True).splitlines()
    assert len(plain) == len(stamped)
    for p, s in zip(plain, stamped):
        stamp, _, rest = s.partition(" ")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), stamp
        assert rest == p


def test_since_seconds_keeps_only_recent_lines(core, namespace, web_pod):
    time.sleep(1.2)
    hit(core, namespace, web_pod, "/recent")
    recent = eventually(lambda: (log := core.read_namespaced_pod_log(web_pod, namespace, since_seconds=1))
                        and log)
    assert "/recent" in recent
    assert "/req-0" not in recent


def test_follow_streams_new_lines_until_the_container_stops(core, namespace, web_pod):
    """follow=true streams (read through watch.Watch as the Python client does for logs, §8) and the stream
    ends when the container stops (here: the pod is deleted)."""
    got = []
    done = threading.Event()

    def follow():
        for line in watch.Watch().stream(core.read_namespaced_pod_log, web_pod, namespace, tail_lines=1):
            got.append(line)
        done.set()
    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    eventually(lambda: got)  # the tail line
    hit(core, namespace, web_pod, "/while-following")
    eventually(lambda: any("/while-following" in line for line in got))
    core.delete_namespaced_pod(web_pod, namespace)
    assert done.wait(10), "the follow stream did not end when the container stopped"
    assert "/req-4" in got[0]


def test_previous_logs_and_their_errors(core, namespace, web_pod):
    """§6: `previous` needs a terminated container; after an image swap it is the old instance's log."""
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod_log(web_pod, namespace, previous=True)
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == \
        'previous terminated container "app" in pod "web" not found'
    core.patch_namespaced_pod(web_pod, namespace, {"spec": {"containers": [{"name": "app",
                                                                             "image": "kubesim/web:v2"}]}})
    eventually(lambda: core.read_namespaced_pod(web_pod, namespace).status.container_statuses[0].restart_count)
    previous = core.read_namespaced_pod_log(web_pod, namespace, previous=True)
    assert "/req-4" in previous
    current = core.read_namespaced_pod_log(web_pod, namespace)
    assert current.startswith("kubesim web server v2") and "/req-4" not in current


def test_container_name_rules(core, namespace):
    manifest = pod_manifest("two")
    manifest["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    start_pod(core, namespace, manifest)
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod_log("two", namespace)
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == \
        "a container name must be specified for pod two, choose one of: [app sidecar]"
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod_log("two", namespace, container="nope")
    assert json.loads(err.value.body)["message"] == "container nope is not valid for pod two"
    assert core.read_namespaced_pod_log("two", namespace, container="sidecar") == ""
    assert "listening on :8080" in core.read_namespaced_pod_log("two", namespace, container="app")


def test_waiting_container_has_no_log_yet(core, namespace):
    core.create_namespaced_pod(namespace, pod_manifest("pulling", image="registry.invalid/app:1"))
    eventually(lambda: (cs := core.read_namespaced_pod("pulling", namespace).status.container_statuses)
               and cs[0].state.waiting and cs[0].state.waiting.reason == "ImagePullBackOff")
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod_log("pulling", namespace)
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == \
        'container "app" in pod "pulling" is waiting to start: trying and failing to pull image'


def test_invalid_options_are_rejected(kubesim, namespace, core, web_pod):
    status, _, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/pods/{web_pod}/log?limitBytes=0")
    assert status == 422
    body = json.loads(body)
    assert body["reason"] == "Invalid" and body["details"]["kind"] == "PodLogOptions"
    status, _, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/pods/{web_pod}/log?tailLines=x")
    assert status == 400


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed on this machine")
def test_kubectl_logs(kubesim, namespace, web_pod):
    result = subprocess.run(["kubectl", "--kubeconfig", kubesim.kubeconfig, "logs", "-n", namespace, web_pod,
                             "--tail=1"], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert b'"GET /req-4 HTTP/1.1" 200' in result.stdout and len(result.stdout.splitlines()) == 1
