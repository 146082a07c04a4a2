# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one list+watch loop: waits driven by watch events, never by sleeping in a loop.

watch_until() LISTs the objects once (or starts from objects already in hand, such as the answer of a write),
checks the condition, then WATCHes from that resourceVersion and re-checks after every event. When the server
ends the stream (timeoutSeconds) or the stream drops, it watches on from the last resourceVersion seen. A 410
Gone (the server's watch history no longer reaches that version; it keeps only a window of recent changes)
makes it LIST again. One Deadline bounds every phase of a task, so wait_timeout bounds the whole wait.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import (
    Gone,
    StatusFailure,
    StreamInterrupted,
    WaitTimeout,
    error_class,
    is_transport_failure,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import api_path
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import Deadline
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import FAILED, PENDING, TIMEOUT


def _key(obj):
    return (obj.get("metadata") or {}).get("name")


def _seconds(deadline):
    return max(1, int(deadline.remaining() + 0.999))


def watch_until(api_client, prefix, plural, namespace, condition, deadline, describe, label_selector=None,
                field_selector=None, start=None):
    """Block until ``condition(objects_by_name)`` returns a truthy value; return that value.

    ``describe(objects_by_name)`` explains what is still missing, for the WaitTimeout message.
    ``start`` is ``(objects_by_name, resourceVersion)`` already in hand: the first LIST is skipped.
    A watch ERROR event other than 410 raises the ApiError subclass of its status code.
    """
    objects, resource_version = ({}, None) if start is None else (dict(start[0]), start[1])
    drops = 0  # streams in a row that dropped before bringing an event
    if start is not None:
        result = condition(objects)
        if result:
            return result
    while True:
        if resource_version is None:
            listing = transport.request(api_client, "list", plural, "GET",
                                        api_path(prefix, "namespaces", namespace, plural, labelSelector=label_selector,
                                                 fieldSelector=field_selector), namespace=namespace) or {}
            objects = dict((_key(o), o) for o in listing.get("items") or [])
            resource_version = (listing.get("metadata") or {}).get("resourceVersion")
            result = condition(objects)
            if result:
                return result
        if deadline.expired():
            raise WaitTimeout(describe(objects))
        path = api_path(prefix, "namespaces", namespace, plural, watch="1", resourceVersion=resource_version,
                        allowWatchBookmarks="true", timeoutSeconds=_seconds(deadline),
                        labelSelector=label_selector, fieldSelector=field_selector)
        events = None
        progressed = False
        try:
            events = transport.watch_events(api_client, path, _seconds(deadline), resource=plural, namespace=namespace)
            for event in events:
                progressed = True
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        resource_version = None  # too old: list again
                        break
                    raise error_class(obj.get("code"))(StatusFailure(obj), "watch", plural, namespace=namespace)
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    resource_version = new_rv
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    objects.pop(_key(obj), None)
                else:
                    objects[_key(obj)] = obj
                result = condition(objects)
                if result:
                    return result
                if deadline.expired():
                    raise WaitTimeout(describe(objects))
        except Gone:
            resource_version = None
        except Exception as exc:  # pylint: disable=broad-except
            # A stream that dropped part-way (reset, read timeout, proxy cut): watch on from the last version
            # seen, pausing when streams keep dropping without an event. Failures to open the watch (after the
            # transport's own retries) are ApiErrors and propagate.
            if not isinstance(exc, StreamInterrupted) and not is_transport_failure(exc):
                raise
            drops = 0 if progressed else drops + 1
            if deadline.expired():
                raise WaitTimeout(describe(objects))
            if drops:
                transport.pause(min(transport.backoff(drops), deadline.remaining()))
        finally:
            if events is not None:
                # Leaving the loop early (return, 410, error) must close the stream now, not whenever the
                # generator is garbage-collected: watch_events then closes the half-read connection.
                events.close()


def watch_pod(api_client, namespace, name, pod, verdict, timeout, clock=time.monotonic):
    """Watch one pod until ``verdict(pod)`` is not pending, or ``timeout`` seconds pass.

    ``verdict`` is pure: it looks at one Pod and says ``(DONE | FAILED | PENDING, detail)`` (model/pods.py's
    words). ``pod`` is the latest version already in hand (from a write's response), so the watch starts from
    its resourceVersion and misses nothing (watch_until resumes dropped watches and lists again on 410 Gone).
    Returns ``(outcome, detail, last_pod, seconds)``, outcome TIMEOUT when the time is up; a deleted pod fails
    with reason Deleted.
    """
    started = clock()
    deadline = Deadline(timeout, clock)
    state = {"pod": pod, "detail": verdict(pod)[1]}

    def settled(objects):
        current = objects.get(name)
        if current is None:
            detail = dict(state["detail"], reason="Deleted", message="pod %s/%s was deleted" % (namespace, name))
            return FAILED, detail
        state["pod"] = current
        outcome, detail = verdict(current)
        state["detail"] = detail
        return (outcome, detail) if outcome != PENDING else None

    try:
        outcome, detail = watch_until(api_client, "api/v1", "pods", namespace, settled, deadline,
                                      lambda objects: "pod %s/%s" % (namespace, name),
                                      field_selector="metadata.name=%s" % name,
                                      start=({name: pod}, pod["metadata"]["resourceVersion"]))
    except WaitTimeout:
        return TIMEOUT, state["detail"], state["pod"], clock() - started
    return outcome, detail, state["pod"], clock() - started
