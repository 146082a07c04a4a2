# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What triage.k8s.pod_logs does: plan which logs exist, stream each to a file under a byte cap.

Memory stays flat whatever the log size: chunks go to disk as they arrive. With ``keep: tail`` (the default,
where a crash is) the log passes through a ring file of exactly ``max_bytes`` in the work directory, and the
last ``max_bytes`` are then copied out in order, cut forward to the first line start so the file begins with a
whole line; with ``keep: head`` the API server's limitBytes stops the transfer after the cap.

A stream that ends early, or a request answered 429/5xx, is fetched again (a finished container's log does not change, a running one only
grows) up to ``retries`` times; when it still fails, the partial file is kept, marked ``complete: false``, and
the failure ("log of container x cut after N bytes: ...") is recorded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time
import uuid

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import KubeError
from ansible_collections.triage.k8s.plugins.module_utils.evidence import pod_facts
from ansible_collections.triage.k8s.plugins.module_utils.evidence.files import create_private_file
from ansible_collections.triage.k8s.plugins.module_utils.kube import streams

MODULE = "pod_logs"
RETRY_PAUSE = 1.0


class LogPlanError(Exception):
    """A container asked for that the pod does not have; the message lists the ones it has."""


def plan(pod, containers=None, previous=True):
    """[{container, kind, previous, identity, skip}] in spec order: every log the options ask for.

    skip is a reason when the log cannot exist (never started, no earlier instance); no request is made then.
    """
    every = pod_facts.containers(pod)
    name = pod["metadata"]["name"]
    if containers:
        known = [c["name"] for c in every]
        unknown = [c for c in containers if c not in known]
        if unknown:
            raise LogPlanError("pod %s in namespace %s has no container %s (it has: %s)" % (
                name, pod["metadata"]["namespace"], ", ".join(unknown), ", ".join(known)))
        every = [c for c in every if c["name"] in containers]
    logs = []
    for container in every:
        ident = pod_facts.identity(container)
        state = container["status"].get("state") or {}
        skip = None
        if not pod_facts.has_run(container) and not pod_facts.has_previous(container):
            waiting = (state.get("waiting") or {}).get("reason") or "not started"
            skip = "container %s has not started yet (%s): it has no log" % (container["name"], waiting)
        logs.append({"container": container["name"], "kind": container["kind"], "previous": False,
                     "identity": ident, "skip": skip})
        if previous:
            logs.append({"container": container["name"], "kind": container["kind"], "previous": True,
                         "identity": ident, "skip": None if pod_facts.has_previous(container) else
                         "container %s has no earlier instance (restartCount 0): no previous log" % container["name"]})
    return logs


def artifact_name(entry):
    return "logs/%s%s.log" % (entry["container"], ".previous" if entry["previous"] else "")


class TailRing(object):
    """Keeps the last `cap` bytes of a stream in a file of at most `cap` bytes (written circularly)."""

    def __init__(self, path, cap):
        self.path = path
        self.cap = cap
        self.handle = create_private_file(path)
        self.total = 0

    def write(self, data):
        while data:
            offset = self.total % self.cap
            room = self.cap - offset
            piece, data = data[:room], data[room:]
            self.handle.seek(offset)
            self.handle.write(piece)
            self.total += len(piece)

    def chunks(self, chunk=1024 * 1024):
        """The kept bytes in stream order."""
        self.handle.flush()
        self.handle.close()
        size = min(self.total, self.cap)
        start = self.total % self.cap if self.total > self.cap else 0
        with open(self.path, "rb") as handle:
            for begin, length in ((start, size - start), (0, start)) if start else ((0, size),):
                handle.seek(begin)
                left = length
                while left > 0:
                    data = handle.read(min(chunk, left))
                    if not data:
                        break
                    left -= len(data)
                    yield data

    def remove(self):
        if not self.handle.closed:
            self.handle.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def _from_first_line(chunks):
    """The chunks without the bytes before the first line start (the cut most likely fell inside a line).
    A kept tail without any newline is given whole: dropping it would leave nothing."""
    held = []
    for data in chunks:
        if held is None:
            yield data
            continue
        newline = data.find(b"\n")
        if newline < 0:
            held.append(data)
            continue
        rest = data[newline + 1:]
        held = None
        if rest:
            yield rest
    if held:
        yield from held


def _stream_once(api_client, namespace, pod, entry, options, art, work_dir):
    """One fetch into art. Returns {truncated, original_size?}. Raises StreamError or KubeError."""
    cap = options["max_bytes"]
    keep = options["keep"]
    kwargs = dict(previous=entry["previous"], timestamps=options["timestamps"],
                  since_seconds=options.get("since_seconds"), tail_lines=options.get("tail_lines"))
    if keep == "head":
        received = 0
        for chunk in streams.log_chunks(api_client, namespace, pod, entry["container"], limit_bytes=cap + 1,
                                        **kwargs):
            room = cap - received
            art.write(chunk[:room])
            received += len(chunk)
        return {"truncated": received > cap, "received": received}
    ring = TailRing(os.path.join(work_dir, "%s.ring" % uuid.uuid4().hex), cap)
    try:
        for chunk in streams.log_chunks(api_client, namespace, pod, entry["container"], **kwargs):
            ring.write(chunk)
        truncated = ring.total > cap
        for data in _from_first_line(ring.chunks()) if truncated else ring.chunks():
            art.write(data)
        return {"truncated": truncated, "received": ring.total}
    finally:
        ring.remove()


def collect(api_client, target, pod, options, retries=2, check_mode=False):
    """Collect every planned log. Returns {logs: [...], failures: [...], skipped: [...]}."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    entries = plan(pod, options.get("containers"), options["previous"])
    result = {"logs": [], "failures": [], "unavailable": []}
    recorded_options = dict((k, options.get(k)) for k in (
        "previous", "since_seconds", "tail_lines", "max_bytes", "keep", "timestamps"))
    for entry in entries:
        which = "%s log of container %s" % ("previous" if entry["previous"] else "current", entry["container"])
        if entry["skip"]:
            result["unavailable"].append({"container": entry["container"], "previous": entry["previous"],
                                          "reason": entry["skip"]})
            continue
        rel = artifact_name(entry)
        if check_mode:
            result["logs"].append({"container": entry["container"], "previous": entry["previous"], "path": rel,
                                   "would_collect": True})
            continue
        attempts = 0
        while True:
            attempts += 1
            art = target.artifact(rel, MODULE, recorded_options, container=entry["identity"],
                                  previous=entry["previous"], cap=options["max_bytes"], kept=options["keep"])
            try:
                outcome = _stream_once(api_client, namespace, name, entry, options, art, target.work_dir)
            except streams.StreamError as exc:
                if attempts <= retries:
                    art.discard()
                    time.sleep(RETRY_PAUSE)
                    continue
                art.meta.update(truncated=False, attempts=attempts, error=str(exc))
                listed = art.finish(complete=False)
                failure = target.record_failure(MODULE, which, str(exc), container=entry["container"],
                                                path=rel, bytes_kept=listed["size"])
                result["failures"].append(failure)
                result["logs"].append(_summary(listed))
                break
            except KubeError as exc:
                art.discard()
                if getattr(exc, "transient", False) and attempts <= retries:
                    time.sleep(RETRY_PAUSE * attempts)
                    continue
                if entry["previous"] and "not found" in str(exc):
                    result["unavailable"].append({"container": entry["container"], "previous": True,
                                                  "reason": str(exc)})
                else:
                    result["failures"].append(target.record_failure(MODULE, which, str(exc),
                                                                    container=entry["container"]))
                break
            except Exception:
                art.discard()
                raise
            art.meta.update(truncated=outcome["truncated"], attempts=attempts,
                            original_size=outcome["received"] if outcome["truncated"] and options["keep"] == "tail"
                            else None)
            result["logs"].append(_summary(art.finish()))
            break
    return result


def _summary(entry):
    keys = ("path", "size", "sha256", "truncated", "complete", "previous", "attempts", "original_size")
    summary = dict((k, entry.get(k)) for k in keys)
    summary["container"] = entry["container"]["name"]
    return summary
