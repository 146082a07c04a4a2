# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for how pod_hijack reads the kubelet's progress: verdicts on a pod, and watching one pod."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.hijack import verdicts as waits
from ansible_collections.triage.k8s.plugins.module_utils.kube import errors, transport


def pod_with(status, generation=2, observed=None, ephemeral=None, phase="Running", deleting=False):
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "resourceVersion": "10", "generation": generation},
        "status": {"phase": phase, "containerStatuses": [status] if status else []},
    }
    if observed is not None:
        pod["status"]["observedGeneration"] = observed
    if ephemeral is not None:
        pod["status"]["ephemeralContainerStatuses"] = [ephemeral]
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-11-21T07:00:00Z"
    return pod


def running(image, restarts, ready=True, name="app"):
    return {"name": name, "image": image, "imageID": image + "@sha256:" + "d" * 64, "restartCount": restarts,
            "ready": ready, "state": {"running": {"startedAt": "2026-11-21T07:00:01Z"}},
            "containerID": "kubesim://%d" % restarts}


def waiting(image, restarts, reason, message="", name="app"):
    return {"name": name, "image": image, "imageID": "", "restartCount": restarts, "ready": False,
            "state": {"waiting": {"reason": reason, "message": message}}}


def test_old_container_still_running_is_pending():
    assert waits.image_verdict(pod_with(running("kubesim/web:1", 0)), "app", "kubesim/web:2", 0)[0] == "pending"


def test_new_image_running_but_not_ready_is_pending():
    pod = pod_with(running("kubesim/web:2", 1, ready=False))
    assert waits.image_verdict(pod, "app", "kubesim/web:2", 0)[0] == "pending"


def test_restart_with_new_image_and_ready_is_done():
    outcome, detail = waits.image_verdict(pod_with(running("docker.io/kubesim/web:2", 1)), "app", "kubesim/web:2", 0)
    assert outcome == "done"
    assert detail["image_id"].startswith("docker.io/kubesim/web:2@sha256:")
    assert detail["restart_count"] == 1


def test_new_image_without_a_restart_is_not_done():
    # The restart count is the proof the kubelet replaced the container (§5.2).
    assert waits.image_verdict(pod_with(running("kubesim/web:2", 3)), "app", "kubesim/web:2", 3)[0] == "pending"


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "InvalidImageName"])
def test_failures_of_the_new_image_fail_with_reason_and_message(reason):
    pod = pod_with(waiting("registry.invalid/app:1", 0, reason, "pull access denied"))
    outcome, detail = waits.image_verdict(pod, "app", "registry.invalid/app:1", 0)
    assert outcome == "failed"
    assert detail["reason"] == reason and detail["message"] == "pull access denied"


def test_a_crash_loop_of_the_old_image_is_not_blamed_on_the_new_one():
    pod = pod_with(waiting("kubesim/crash:1", 5, "CrashLoopBackOff"), observed=1)
    assert waits.image_verdict(pod, "app", "kubesim/web:2", 5)[0] == "pending"


def test_observed_generation_marks_a_status_about_the_new_spec():
    # The runtime may report a different spelling of the image; observedGeneration is authoritative.
    pod = pod_with(waiting("some-other-spelling", 0, "ErrImagePull"), generation=2, observed=2)
    assert waits.image_verdict(pod, "app", "registry.invalid/app:1", 0, generation=2)[0] == "failed"


def test_a_deleted_pod_fails_the_wait():
    pod = pod_with(running("kubesim/web:1", 0), deleting=True)
    assert waits.image_verdict(pod, "app", "kubesim/web:2", 0)[0] == "failed"


def test_ephemeral_container_states():
    base = pod_with(running("kubesim/web:1", 0))
    assert waits.ephemeral_verdict(base, "dbg")[0] == "pending"
    up = pod_with(running("kubesim/web:1", 0), ephemeral=running("busybox", 0, name="dbg"))
    assert waits.ephemeral_verdict(up, "dbg")[0] == "done"
    pull_failure = waiting("registry.invalid/x:1", 0, "ErrImagePull", name="dbg")
    bad = pod_with(running("kubesim/web:1", 0), ephemeral=pull_failure)
    outcome, detail = waits.ephemeral_verdict(bad, "dbg")
    assert outcome == "failed" and detail["reason"] == "ErrImagePull"


def test_copy_states():
    assert waits.copy_verdict(pod_with(None, phase="Pending"), "app")[0] == "pending"
    assert waits.copy_verdict(pod_with(running("kubesim/web:2", 0)), "app")[0] == "done"
    outcome, detail = waits.copy_verdict(pod_with(waiting("kubesim/crash:1", 2, "CrashLoopBackOff")), "app")
    assert outcome == "failed" and detail["container"] == "app"
    assert waits.copy_verdict(pod_with(None, phase="Succeeded"), "app")[0] == "done"


class FakeStream:
    """Stands in for transport.watch_events: replays one scripted batch of events per watch request."""

    def __init__(self, *batches):
        self.batches = list(batches)
        self.paths = []

    def __call__(self, api_client, path, timeout_seconds, **kwargs):
        self.paths.append(path)
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        yield from batch


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        self.now += 1.0
        return self.now


@pytest.fixture
def watch(monkeypatch):
    """watch_pod of pod ns/p through the shared watch loop, with a scripted stream and LIST (the re-read)."""
    def run(start, verdict, timeout, stream, read=None):
        monkeypatch.setattr(transport, "watch_events", stream)

        def request(api_client, verb, resource, method, path, **kwargs):
            assert method == "GET" and "fieldSelector=metadata.name%3Dp" in path and "watch" not in path
            pod = read(api_client, "ns", "p")
            return {"metadata": {"resourceVersion": pod["metadata"]["resourceVersion"]}, "items": [pod]}

        monkeypatch.setattr(transport, "request", request)
        return waits.watch_pod(None, "ns", "p", start, verdict, timeout, clock=FakeClock())
    return run


def modified(pod, rv):
    pod["metadata"]["resourceVersion"] = rv
    return {"type": "MODIFIED", "object": pod}


def swapped_to_web2(pod):
    return waits.image_verdict(pod, "app", "kubesim/web:2", 0)


def test_watch_pod_follows_events_until_done_and_resumes_closed_watches(watch):
    start = pod_with(running("kubesim/web:1", 0))
    stream = FakeStream(
        [modified(pod_with(waiting("kubesim/web:2", 0, "ContainerCreating")), "11")],
        [modified(pod_with(running("kubesim/web:2", 1, ready=False)), "12"),
         modified(pod_with(running("kubesim/web:2", 1)), "13"),
         modified(pod_with(running("kubesim/web:2", 1)), "14")],
    )
    outcome, _detail, last, _seconds = watch(start, swapped_to_web2, 60, stream)
    assert outcome == "done" and last["metadata"]["resourceVersion"] == "13"
    # The first watch starts at the version in hand, the resumed one where the first stopped,
    # and both watch only this pod.
    assert "resourceVersion=10" in stream.paths[0] and "resourceVersion=11" in stream.paths[1]
    assert all("watch=1" in p and "fieldSelector=metadata.name%3Dp" in p for p in stream.paths)


def test_watch_pod_times_out_with_the_last_state(watch):
    stream = FakeStream(*([[modified(pod_with(waiting("kubesim/web:2", 0, "ContainerCreating")), "11")]] * 100))
    outcome, detail, _pod, _seconds = watch(pod_with(running("kubesim/web:1", 0)), swapped_to_web2, 5, stream)
    assert outcome == "timeout" and detail["reason"] == "ContainerCreating"


def test_watch_pod_reports_deletion(watch):
    stream = FakeStream([{"type": "DELETED", "object": pod_with(None)}])
    outcome, detail, _pod, _seconds = watch(pod_with(running("kubesim/web:1", 0)), swapped_to_web2, 30, stream)
    assert outcome == "failed" and detail["reason"] == "Deleted"


def test_watch_pod_rereads_after_410_gone_event_or_exception(watch):
    class GoneCause(Exception):
        status = 410

    reads = []

    def read(api_client, namespace, name):
        reads.append(name)
        return pod_with(running("kubesim/web:2", 1))

    for gone in ([{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}],
                 errors.Gone(GoneCause(), "watch", "pods", namespace="ns")):
        outcome, _detail, _pod, _seconds = watch(pod_with(running("kubesim/web:1", 0)), swapped_to_web2, 30,
                                                 FakeStream(gone), read=read)
        assert outcome == "done"
    assert reads == ["p", "p"]


def test_other_watch_errors_are_reported(watch):
    stream = FakeStream([{"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "boom"}}])
    with pytest.raises(errors.ServerError, match="boom"):
        watch(pod_with(running("kubesim/web:1", 0)), swapped_to_web2, 30, stream)
