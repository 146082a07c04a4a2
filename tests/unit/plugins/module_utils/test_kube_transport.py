# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""watch_events: how a watch stream's connection is given back.

A watch that the server ended can return its connection to the pool (it sits at a clean boundary). A watch
the caller abandoned part-way must close the connection: the server may still be streaming into it, and
a pooled connection with half a response in it would corrupt the next request that reuses it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.kube import transport as kube_requests


class FakeStreamingResponse(object):
    """Stands in for the urllib3 response of a watch: chunks, and how it was given back."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.read_chunks = 0
        self.released = False
        self.closed = False

    def stream(self, amt, decode_content=True):
        for chunk in self.chunks:
            self.read_chunks += 1
            yield chunk

    def release_conn(self):
        self.released = True

    def close(self):
        self.closed = True


def event(kind, name, rv):
    return json.dumps({"type": kind, "object": {"metadata": {"name": name, "resourceVersion": str(rv)}}}).encode()


@pytest.fixture
def stream_of(monkeypatch):
    def install(chunks):
        response = FakeStreamingResponse(chunks)
        monkeypatch.setattr(kube_requests, "_send", lambda *args, **kwargs: response)
        return response
    return install


def test_a_watch_read_to_its_end_releases_the_connection_to_the_pool(stream_of):
    # Events split across chunk boundaries, and a last event without a trailing newline.
    whole = event("ADDED", "a", 1) + b"\n" + event("MODIFIED", "a", 2) + b"\n" + event("DELETED", "a", 3)
    response = stream_of([whole[:30], whole[30:90], whole[90:]])
    events = list(kube_requests.watch_events(None, "/api/v1/pods?watch=1", 5))
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events] == [
        ("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "3")]
    assert response.released is True
    assert response.closed is False


def test_a_watch_abandoned_early_closes_the_connection_instead_of_pooling_it(stream_of):
    response = stream_of([event("ADDED", "a", 1) + b"\n", event("MODIFIED", "a", 2) + b"\n", b"never read"])
    events = kube_requests.watch_events(None, "/api/v1/pods?watch=1", 5)
    assert next(events)["type"] == "ADDED"
    events.close()  # what a caller's early return/break does to the generator
    assert response.closed is True
    assert response.released is False
    assert response.read_chunks == 1


def test_a_watch_that_fails_mid_stream_closes_the_connection(stream_of):
    response = stream_of([b"{not json}\n", event("ADDED", "a", 1) + b"\n"])
    with pytest.raises(ValueError):
        list(kube_requests.watch_events(None, "/api/v1/pods?watch=1", 5))
    assert response.closed is True
    assert response.released is False
