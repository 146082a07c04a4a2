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
        # Label index: rtype.key -> namespace -> (label key, value) -> set of names. Controllers and selector
        # lists use it to avoid scanning every pod of a namespace for each Service or ReplicaSet.
        self._label_index: dict[str, dict[str, dict[tuple, set]]] = collections.defaultdict(dict)

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

    def with_labels(self, rtype, namespace, labels: dict) -> list[dict]:
        """Objects in `namespace` whose labels include every key=value of `labels` (a Service selector or a
        matchLabels). Uses the label index; an empty `labels` returns every object of the namespace."""
        r = _rt(rtype)
        ns = namespace or ""
        if not labels:
            return self.list(r, ns or None)
        index = self._label_index[r.key].get(ns)
        if not index:
            return []
        sets = []
        for kv in labels.items():
            names = index.get(kv)
            if not names:
                return []
            sets.append(names)
        sets.sort(key=len)
        names = set(sets[0]).intersection(*sets[1:]) if len(sets) > 1 else sets[0]
        bucket = self._objects[r.key].get(ns, {})
        return [bucket[n] for n in names if n in bucket]

    def _index(self, key: str, ns: str, name: str, old_labels, new_labels):
        if old_labels == new_labels:
            return
        index = self._label_index[key].setdefault(ns, {})
        for kv in (old_labels or {}).items():
            if (new_labels or {}).get(kv[0]) != kv[1]:
                names = index.get(kv)
                if names is not None:
                    names.discard(name)
                    if not names:
                        del index[kv]
        for kv in (new_labels or {}).items():
            if (old_labels or {}).get(kv[0]) != kv[1]:
                try:
                    index.setdefault(kv, set()).add(name)
                except TypeError:  # an unhashable label value cannot be stored (validation rejects it)
                    pass

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
        self._index(r.key, ns, meta["name"], ((old or {}).get("metadata") or {}).get("labels"), meta.get("labels"))
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
        self._index(r.key, ns, meta["name"], (old.get("metadata") or {}).get("labels"), None)
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
