"""core/v1 Events as client-go's event recorder writes them (tools/record/event.go, events_cache.go).

- name `<involvedObject.name>.<UnixNano in hex>`, namespace of the object ("default" for cluster-scoped ones);
- involvedObject is the object reference (kind, namespace, name, uid, apiVersion, resourceVersion);
- source.component / source.host, reportingComponent / reportingInstance;
- firstTimestamp = lastTimestamp = now, count 1;
- an identical event (same source, object, type, reason and message) is not created again: the existing one is
  patched with count+1 and a new lastTimestamp (the EventLogger part of the correlator).

Recording never fails the caller: a controller's work does not depend on its events being stored.
"""
from __future__ import annotations

import datetime
import logging
import time
import weakref

from kubesim.errors import ApiError

log = logging.getLogger("kubesim.events")

# Per-Api cache of recorded events: key -> (namespace, name, count). A weak map so that a stopped cluster's
# cache goes with it.
_seen: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CACHE_LIMIT = 4096


def _now_parts() -> tuple[str, int]:
    ns = time.time_ns()
    stamp = datetime.datetime.fromtimestamp(ns / 1e9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return stamp, ns


def object_reference(obj: dict) -> dict:
    """reference.GetReference for an object: field order as Go serialises ObjectReference."""
    m = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", "")}
    if m.get("namespace"):
        ref["namespace"] = m["namespace"]
    ref["name"] = m.get("name", "")
    if m.get("uid"):
        ref["uid"] = m["uid"]
    ref["apiVersion"] = obj.get("apiVersion", "")
    if m.get("resourceVersion"):
        ref["resourceVersion"] = m["resourceVersion"]
    return ref


def record_event(api, involved_object: dict, reason: str, message: str, type: str = "Normal",
                 component: str = "kubesim", host: str = "", user: str | None = None,
                 field_path: str | None = None) -> dict | None:
    """Write (or aggregate into) a core/v1 Event about `involved_object`. Returns the stored Event, or None
    when it could not be written."""
    ref = object_reference(involved_object)
    if field_path:
        ref["fieldPath"] = field_path
    namespace = ref.get("namespace") or "default"
    key = (component, host, ref["kind"], ref.get("namespace", ""), ref["name"], ref.get("uid", ""),
           ref["apiVersion"], ref.get("fieldPath", ""), type, reason, message)
    cache = _seen.setdefault(api, {})
    stamp, nanos = _now_parts()
    kwargs = {"user": user} if user else {}

    previous = cache.get(key)
    if previous is not None:
        prev_ns, prev_name, prev_count = previous
        try:
            stored = api.patch("events", prev_ns, prev_name, {"count": prev_count + 1, "lastTimestamp": stamp},
                               "strategic", **kwargs)
            cache[key] = (prev_ns, prev_name, prev_count + 1)
            return stored
        except ApiError:
            cache.pop(key, None)  # it was deleted (or expired): record it afresh

    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{ref['name']}.{nanos:x}", "namespace": namespace},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "source": {"component": component, **({"host": host} if host else {})},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "type": type,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host,
    }
    try:
        stored = api.create("events", namespace, event, **kwargs)
    except ApiError as err:
        log.debug("event %s/%s not recorded: %s", namespace, reason, err)
        return None
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = (namespace, event["metadata"]["name"], 1)
    return stored
