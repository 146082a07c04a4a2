"""The object store: objects as plain JSON dicts, one cluster-wide resourceVersion counter, a bounded event history
for watches (older resource versions give 410 Gone, spec §8) and synchronous subscribers.

Objects handed out by the Store are shared: callers must not change them (Api copies before writing).
Everything runs in one asyncio loop, so each method is atomic.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field

from kubesim.resources import ResourceType, rt as _rt


@dataclass
class Event:
    type: str  # "ADDED" | "MODIFIED" | "DELETED"
    rtype: ResourceType
    obj: dict  # the object after the change (DELETED: the final object)
    old: dict | None  # before the change (None for ADDED)
    rv: int = 0
    # Extra facts for internal consumers, e.g. {"propagationPolicy": "Orphan"} on DELETED.
    info: dict = field(default_factory=dict)


class Store:
    def __init__(self, history_size: int = 50_000):
        self.resource_version = 1
        # rtype.key -> namespace ("" when cluster-scoped) -> name -> object
        self._objects: dict[str, dict[str, dict[str, dict]]] = collections.defaultdict(dict)
        self._history: collections.deque[Event] = collections.deque(maxlen=history_size)
        # The oldest resourceVersion a watch may start from (events after it are all in the history).
        self.compacted_rv = 1
        self._subscribers: list = []

    # ------------------------------------------------------------------------------------------------ reads
    def get(self, rtype, namespace, name) -> dict | None:
        r = _rt(rtype)
        return self._objects[r.key].get(namespace or "", {}).get(name)

    def list(self, rtype, namespace=None) -> list[dict]:
        r = _rt(rtype)
        by_ns = self._objects[r.key]
        if namespace:
            return list(by_ns.get(namespace, {}).values())
        out = []
        for objs in by_ns.values():
            out.extend(objs.values())
        return out

    def count(self, rtype, namespace=None) -> int:
        by_ns = self._objects[_rt(rtype).key]
        if namespace:
            return len(by_ns.get(namespace, {}))
        return sum(len(v) for v in by_ns.values())

    def namespaces_with_objects(self, namespace: str) -> list[ResourceType]:
        from kubesim.resources import all_types
        return [r for r in all_types() if r.namespaced and self._objects[r.key].get(namespace)]

    # ------------------------------------------------------------------------------------------------ writes
    def next_rv(self) -> int:
        self.resource_version += 1
        return self.resource_version

    def put(self, rtype, obj: dict, old: dict | None, info: dict | None = None) -> Event:
        """Store `obj` (already carrying its new metadata.resourceVersion from next_rv())."""
        r = _rt(rtype)
        meta = obj["metadata"]
        ns = meta.get("namespace", "") if r.namespaced else ""
        self._objects[r.key].setdefault(ns, {})[meta["name"]] = obj
        ev = Event("ADDED" if old is None else "MODIFIED", r, obj, old, int(meta["resourceVersion"]), info or {})
        self._commit(ev)
        return ev

    def remove(self, rtype, obj: dict, old: dict, info: dict | None = None) -> Event:
        """Remove the object; `obj` is the final state (with the deletion's resourceVersion)."""
        r = _rt(rtype)
        meta = obj["metadata"]
        ns = meta.get("namespace", "") if r.namespaced else ""
        bucket = self._objects[r.key].get(ns, {})
        bucket.pop(meta["name"], None)
        if not bucket:
            self._objects[r.key].pop(ns, None)
        ev = Event("DELETED", r, obj, old, int(meta["resourceVersion"]), info or {})
        self._commit(ev)
        return ev

    def _commit(self, ev: Event):
        if len(self._history) == self._history.maxlen:
            self.compacted_rv = self._history[0].rv
        self._history.append(ev)
        for cb in list(self._subscribers):
            cb(ev)

    # ------------------------------------------------------------------------------------ watch support
    def subscribe(self, callback) -> None:
        """callback(Event), called synchronously after every commit. It must not write: enqueue work instead."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback) -> None:
        try:
            self._subscribers.remove(callback)
        except ValueError:
            pass

    def events_since(self, rv: int) -> list[Event] | None:
        """Events with resourceVersion > rv, or None when rv is older than the retained history (410)."""
        if rv < self.compacted_rv:
            return None
        # The history is ordered; scan from the end for speed when rv is recent.
        out = []
        for ev in reversed(self._history):
            if ev.rv <= rv:
                break
            out.append(ev)
        out.reverse()
        return out

    def compact(self) -> int:
        """Forget the event history (as etcd compaction does): older watches and continue tokens get 410."""
        self._history.clear()
        self.compacted_rv = self.resource_version
        return self.compacted_rv
