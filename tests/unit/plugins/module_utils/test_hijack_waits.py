# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for how pod_hijack reads the kubelet's progress (k8s_semantics.md §5.2, §5.3)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.triage.k8s.plugins.module_utils import hijack_waits as waits


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
    bad = pod_with(running("kubesim/web:1", 0), ephemeral=waiting("registry.invalid/x:1", 0, "ErrImagePull",
                                                                   name="dbg"))
    outcome, detail = waits.ephemeral_verdict(bad, "dbg")
    assert outcome == "failed" and detail["reason"] == "ErrImagePull"


def test_copy_states():
    assert waits.copy_verdict(pod_with(None, phase="Pending"), "app")[0] == "pending"
    assert waits.copy_verdict(pod_with(running("kubesim/web:2", 0)), "app")[0] == "done"
    outcome, detail = waits.copy_verdict(pod_with(waiting("kubesim/crash:1", 2, "CrashLoopBackOff")), "app")
    assert outcome == "failed" and detail["container"] == "app"
    assert waits.copy_verdict(pod_with(None, phase="Succeeded"), "app")[0] == "done"


class FakeWatch:
    """Stands in for kubernetes.watch.Watch: replays scripted event batches, one per stream() call."""

    batches = []
    calls = []

    def __init__(self):
        self.stopped = False

    def stream(self, func, namespace, **kwargs):
        FakeWatch.calls.append(kwargs)
        batch = FakeWatch.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        for event in batch:
            if self.stopped:
                return
            yield event

    def stop(self):
        self.stopped = True


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        self.now += 1.0
        return self.now


@pytest.fixture
def fake_watch(monkeypatch):
    monkeypatch.setattr(waits.k8s_watch, "Watch", FakeWatch)
    FakeWatch.calls = []
    return FakeWatch


class FakeCore:
    """Only the method names matter to the fake watch; reads return ``pod_on_read``."""

    def __init__(self, pod_on_read=None):
        self.pod_on_read = pod_on_read

    def list_namespaced_pod(self, namespace, **kwargs):
        raise AssertionError("the watch, not a list, must be used")

    def read_namespaced_pod(self, name, namespace, _preload_content):
        class Response:
            data = json.dumps(self.pod_on_read)
        return Response()


def modified(pod, rv):
    pod["metadata"]["resourceVersion"] = rv
    return {"type": "MODIFIED", "raw_object": pod}


def test_watch_pod_follows_events_until_done_and_resumes_closed_watches(fake_watch):
    start = pod_with(running("kubesim/web:1", 0))
    fake_watch.batches = [
        [modified(pod_with(waiting("kubesim/web:2", 0, "ContainerCreating")), "11")],
        [modified(pod_with(running("kubesim/web:2", 1, ready=False)), "12"),
         modified(pod_with(running("kubesim/web:2", 1)), "13"),
         modified(pod_with(running("kubesim/web:2", 1)), "14")],
    ]

    def verdict(pod):
        return waits.image_verdict(pod, "app", "kubesim/web:2", 0)

    outcome, detail, last, _ = waits.watch_pod(FakeCore(), "ns", "p", start, verdict, 60, clock=FakeClock())
    assert outcome == "done" and last["metadata"]["resourceVersion"] == "13"
    # The first watch starts at the version in hand, the resumed one where the first stopped.
    assert [c["resource_version"] for c in fake_watch.calls] == ["10", "11"]
    assert fake_watch.calls[0]["field_selector"] == "metadata.name=p"


def test_watch_pod_times_out_with_the_last_state(fake_watch):
    fake_watch.batches = [[modified(pod_with(waiting("kubesim/web:2", 0, "ContainerCreating")), "11")]] * 100

    def verdict(pod):
        return waits.image_verdict(pod, "app", "kubesim/web:2", 0)

    outcome, detail, _, _ = waits.watch_pod(FakeCore(), "ns", "p", pod_with(running("kubesim/web:1", 0)), verdict, 5,
                                            clock=FakeClock())
    assert outcome == "timeout" and detail["reason"] == "ContainerCreating"


def test_watch_pod_reports_deletion(fake_watch):
    fake_watch.batches = [[{"type": "DELETED", "raw_object": pod_with(None)}]]
    outcome, detail, _, _ = waits.watch_pod(FakeCore(), "ns", "p", pod_with(running("kubesim/web:1", 0)),
                                            lambda pod: waits.image_verdict(pod, "app", "kubesim/web:2", 0), 30,
                                            clock=FakeClock())
    assert outcome == "failed" and detail["reason"] == "Deleted"


def test_watch_pod_rereads_after_410_gone(fake_watch):
    class Gone(waits.ApiException):
        def __init__(self):
            super(Gone, self).__init__(status=410, reason="Expired")

    fake_watch.batches = [Gone()]
    outcome, _, _, _ = waits.watch_pod(FakeCore(pod_with(running("kubesim/web:2", 1))), "ns", "p", pod_with(running("kubesim/web:1", 0)),
                                       lambda pod: waits.image_verdict(pod, "app", "kubesim/web:2", 0), 30,
                                       clock=FakeClock())
    assert outcome == "done"
