# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waits driven by watch events, never by sleeping in a loop.

wait_until() LISTs the objects once, checks the condition, then WATCHes from the list's resourceVersion and
re-checks after every event. When the server ends the stream (timeoutSeconds) it re-watches from the last
resourceVersion; a 410 Gone (history too old, k8s_semantics.md §8) makes it re-list. The deadline is shared by
every phase of one task so wait_timeout bounds the whole wait.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.triage.k8s.plugins.module_utils.kube_requests import (
    ApiCallError,
    api_path,
    call,
    watch_json,
)


class WaitTimeout(Exception):
    """The condition did not hold before the deadline; the message says what was still missing."""


class Deadline(object):
    def __init__(self, seconds, clock=time.monotonic):
        self._clock = clock
        self.end = clock() + seconds

    def remaining(self):
        return max(0.0, self.end - self._clock())

    def expired(self):
        return self.remaining() <= 0


class PhaseTimer(object):
    """Per-phase durations in seconds, returned to the user as `timings`."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.timings = {}
        self._started = clock()

    def mark(self, phase):
        now = self._clock()
        self.timings[phase] = round(now - self._started, 3)
        self._started = now


def _key(obj):
    return (obj.get("metadata") or {}).get("name")


def wait_until(api_client, prefix, plural, namespace, condition, deadline, describe, label_selector=None,
               field_selector=None):
    """Block until condition(objects_by_name) returns a truthy value; return that value.

    describe(objects_by_name) explains what is still missing, for the timeout message.
    """
    objects = {}
    resource_version = None
    while True:
        if resource_version is None:
            listing = call(api_client, "list", plural, "GET",
                           api_path(prefix, "namespaces", namespace, plural, labelSelector=label_selector,
                                    fieldSelector=field_selector), namespace=namespace)
            objects = dict((_key(o), o) for o in listing.get("items") or [])
            resource_version = (listing.get("metadata") or {}).get("resourceVersion")
            result = condition(objects)
            if result:
                return result
        remaining = deadline.remaining()
        if remaining <= 0:
            raise WaitTimeout(describe(objects))
        path = api_path(prefix, "namespaces", namespace, plural, watch="1", resourceVersion=resource_version,
                        allowWatchBookmarks="true", timeoutSeconds=max(1, int(remaining + 0.999)),
                        labelSelector=label_selector, fieldSelector=field_selector)
        events = None
        try:
            events = watch_json(api_client, path, max(1, int(remaining + 0.999)))
            for event in events:
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        resource_version = None  # too old: re-list
                        break
                    raise WaitTimeout("watch of %s failed: %s" % (plural, obj.get("message")))
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
        except ApiCallError:
            raise
        except WaitTimeout:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            # A read timeout or a dropped stream: check the deadline, then re-list rather than trust the cache.
            if type(exc).__module__.startswith(("urllib3", "socket", "ssl", "http")) or isinstance(exc, OSError):
                resource_version = None
                if deadline.expired():
                    raise WaitTimeout(describe(objects))
                continue
            if any(cls.__name__ == "ApiException" for cls in type(exc).__mro__):
                raise ApiCallError(exc, "watch", plural, namespace=namespace)
            raise
        finally:
            if events is not None:
                # Leaving the loop early (return, 410, error) must close the stream now, not whenever the
                # generator is garbage-collected: watch_json then closes the half-read connection.
                events.close()
