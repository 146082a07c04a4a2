# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""watch_until: LIST then WATCH, re-list on 410 Gone, resume a dropped stream, deadline, no sleeping."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube import watch
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import WaitTimeout
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import Deadline


class waiting(object):  # pylint: disable=invalid-name
    """The names these tests use, where they live now."""
    wait_until = staticmethod(watch.watch_until)
    Deadline = Deadline
    WaitTimeout = WaitTimeout


def obj(name, rv, ready=False):
    return {"metadata": {"name": name, "resourceVersion": str(rv)}, "ready": ready}


class FakeApi(object):
    """Scripted LIST answers and WATCH streams; records the paths asked for."""

    def __init__(self, lists, watches):
        self.lists = list(lists)
        self.watches = list(watches)
        self.paths = []

    def call(self, api_client, verb, resource, method, path, **kwargs):
        self.paths.append(("list", path))
        return self.lists.pop(0)

    def watch(self, api_client, path, timeout, **kwargs):
        self.paths.append(("watch", path))
        yield from self.watches.pop(0)


@pytest.fixture
def fake(monkeypatch):
    def install(lists, watches):
        api = FakeApi(lists, watches)
        monkeypatch.setattr(transport, "request", api.call)
        monkeypatch.setattr(transport, "watch_events", api.watch)
        monkeypatch.setattr(time, "sleep", lambda s: pytest.fail("watch_until must not sleep"))
        return api
    return install


def ready_name(objects):
    return next((name for name, o in objects.items() if o["ready"]), None)


def test_condition_already_true_after_the_list(fake):
    api = fake([{"metadata": {"resourceVersion": "5"}, "items": [obj("a", 5, ready=True)]}], [])
    assert waiting.wait_until(None, "api/v1", "pods", "ns", ready_name, waiting.Deadline(5), str) == "a"
    assert [kind for kind, _p in api.paths] == ["list"]


def test_watch_continues_from_the_list_resource_version_and_skips_bookmarks(fake):
    api = fake([{"metadata": {"resourceVersion": "5"}, "items": [obj("a", 5)]}],
               [[{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "6"}}},
                 {"type": "MODIFIED", "object": obj("a", 7, ready=True)}]])
    assert waiting.wait_until(None, "api/v1", "pods", "ns", ready_name, waiting.Deadline(5), str) == "a"
    assert "resourceVersion=5" in api.paths[1][1] and "watch=1" in api.paths[1][1]


def test_410_gone_relists(fake):
    api = fake([{"metadata": {"resourceVersion": "5"}, "items": [obj("a", 5)]},
                {"metadata": {"resourceVersion": "90"}, "items": [obj("a", 90, ready=True)]}],
               [[{"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}]])
    assert waiting.wait_until(None, "api/v1", "pods", "ns", ready_name, waiting.Deadline(5), str) == "a"
    assert [kind for kind, _p in api.paths] == ["list", "watch", "list"]


def test_deleted_objects_leave_the_cache(fake):
    fake([{"metadata": {"resourceVersion": "5"}, "items": [obj("a", 5), obj("b", 5)]}],
         [[{"type": "DELETED", "object": obj("a", 6)}]])
    result = waiting.wait_until(None, "api/v1", "pods", "ns", lambda objs: "a" not in objs and "gone",
                                waiting.Deadline(5), str)
    assert result == "gone"


def test_timeout_says_what_is_missing(fake):
    clock = iter([0, 0, 10, 10, 10, 10])
    fake([{"metadata": {"resourceVersion": "5"}, "items": [obj("a", 5)]}], [[]])
    deadline = waiting.Deadline(5, clock=lambda: next(clock))
    with pytest.raises(waiting.WaitTimeout, match="still waiting for a"):
        waiting.wait_until(None, "api/v1", "pods", "ns", ready_name, deadline,
                           lambda objs: "still waiting for %s" % ",".join(sorted(objs)))


def _closing_watch(closed, events):
    def watch(api_client, path, timeout, **kwargs):
        try:
            yield from events
        finally:
            closed.append(path)
    return watch


def test_a_condition_met_mid_watch_closes_the_watch_stream(monkeypatch):
    """Returning from inside the watch loop closes the stream, so watch_events closes its half-read connection."""
    closed = []
    monkeypatch.setattr(transport, "request", lambda *a, **k: {"metadata": {"resourceVersion": "1"}, "items": [obj("a", 1)]})
    monkeypatch.setattr(transport, "watch_events", _closing_watch(closed, [
        {"type": "MODIFIED", "object": obj("a", 2, ready=True)}, {"type": "MODIFIED", "object": obj("a", 3)}]))
    assert waiting.wait_until(None, "api/v1", "pods", "ns", ready_name, waiting.Deadline(30), str) == "a"
    assert len(closed) == 1


def test_a_timeout_mid_watch_has_closed_the_stream_before_the_error_reaches_the_caller(monkeypatch):
    closed = []
    clock = iter([0, 0, 1, 10, 10, 10, 10])
    monkeypatch.setattr(transport, "request", lambda *a, **k: {"metadata": {"resourceVersion": "1"}, "items": [obj("a", 1)]})
    monkeypatch.setattr(transport, "watch_events", _closing_watch(closed, [
        {"type": "MODIFIED", "object": obj("a", 2)}, {"type": "MODIFIED", "object": obj("a", 3)}]))
    with pytest.raises(waiting.WaitTimeout) as raised:
        waiting.wait_until(None, "api/v1", "pods", "ns", ready_name, waiting.Deadline(5, clock=lambda: next(clock)),
                           lambda objs: "a is not ready")
    # The traceback keeps watch_until's frame alive; the stream must not depend on it being collected.
    assert raised.value is not None and len(closed) == 1
