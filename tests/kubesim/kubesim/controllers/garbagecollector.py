"""Garbage collector (pkg/controller/garbagecollector): cascading deletion through ownerReferences.

- Background (the default): once an owner is gone, each dependent whose owners are all gone is deleted; a
  dependent that still has a live owner only loses the references to the dangling ones.
- Foreground: the owner stays (deletionTimestamp + the `foregroundDeletion` finalizer) while its dependents
  are deleted; the finalizer is removed when no dependent with blockOwnerDeletion=true remains.
- Orphan: the owner stays (the `orphan` finalizer) until the GC removed its ownerReference from every
  dependent with the same strategic-merge delete directive as a release (§1.1); then the finalizer goes.

Objects without ownerReferences (a released pod, §1.2 point 8) are never looked at.

The API server records the propagation policy as the finalizers above (deletionFinalizersForGarbageCollection).
If an owner was removed at once with `info["propagationPolicy"] == "Orphan"` on its DELETED event, its
dependents are orphaned the same way.
"""
from __future__ import annotations

from kubesim.controllers.base import Controller, is_being_deleted, is_not_found, meta
from kubesim.errors import ApiError
from kubesim.resources import all_types, by_kind

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"


def _rtype_for(ref: dict):
    try:
        return by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
    except KeyError:
        return None


class GarbageCollector(Controller):
    name = "generic-garbage-collector"

    def __init__(self, cluster):
        super().__init__(cluster)
        # owner uid -> {(rtype key, namespace, name): dependent uid}
        self.dependents: dict[str, dict[tuple, str]] = {}

    def _ident(self, ev_rtype, obj) -> tuple:
        m = meta(obj)
        return (ev_rtype.key, m.get("namespace") or "", m["name"])

    def initial_keys(self):
        keys = []
        for rtype in all_types():
            try:
                objs = self.store.list(rtype)
            except Exception:
                continue
            for obj in objs:
                self._index(rtype, obj, None)
                if meta(obj).get("ownerReferences"):
                    keys.append(("dependent",) + self._ident(rtype, obj))
                if is_being_deleted(obj):
                    keys.append(("owner",) + self._ident(rtype, obj))
        return keys

    def _index(self, rtype, obj: dict | None, old: dict | None) -> None:
        if old is not None:
            for ref in meta(old).get("ownerReferences") or []:
                bucket = self.dependents.get(ref.get("uid"))
                if bucket is not None:
                    bucket.pop(self._ident(rtype, old), None)
                    if not bucket:
                        self.dependents.pop(ref.get("uid"), None)
        if obj is not None:
            for ref in meta(obj).get("ownerReferences") or []:
                self.dependents.setdefault(ref.get("uid"), {})[self._ident(rtype, obj)] = meta(obj).get("uid")

    # ------------------------------------------------------------------------------------------- events
    def on_event(self, ev) -> None:
        obj, old = ev.obj, ev.old
        refs_now = meta(obj).get("ownerReferences") or []
        if ev.type == "DELETED":
            self._index(ev.rtype, None, obj)
            owner_uid = meta(obj).get("uid")
            policy = (getattr(ev, "info", None) or {}).get("propagationPolicy")
            if policy == "Orphan":
                for ident in list(self.dependents.get(owner_uid, {})):
                    self.enqueue(("orphan-of", owner_uid) + ident)
            else:
                for ident in list(self.dependents.get(owner_uid, {})):
                    self.enqueue(("dependent",) + ident)
            # A dependent of a foreground-deleting owner is gone: the owner may be unblocked now.
            for ref in refs_now:
                owner = self._live_owner(ref, meta(obj).get("namespace"))
                if owner is not None and is_being_deleted(owner):
                    self._enqueue_owner(ref, meta(obj).get("namespace"))
            return
        refs_before = meta(old).get("ownerReferences") or [] if old else []
        if ev.type == "ADDED" or refs_now != refs_before:
            self._index(ev.rtype, obj, old)
            if refs_now:
                self.enqueue(("dependent",) + self._ident(ev.rtype, obj))
        if is_being_deleted(obj):
            finalizers = meta(obj).get("finalizers") or []
            if ORPHAN_FINALIZER in finalizers or FOREGROUND_FINALIZER in finalizers:
                self.enqueue(("owner",) + self._ident(ev.rtype, obj))
        # A dependent of a foreground-deleting owner changed or went away: re-check the owner.
        for ref in refs_now + [r for r in refs_before if r not in refs_now]:
            owner = self._live_owner(ref, meta(obj).get("namespace"))
            if owner is not None and is_being_deleted(owner):
                self._enqueue_owner(ref, meta(obj).get("namespace"))

    def _enqueue_owner(self, ref: dict, namespace: str | None) -> None:
        rtype = _rtype_for(ref)
        if rtype is not None:
            self.enqueue(("owner", rtype.key, (namespace or "") if rtype.namespaced else "", ref.get("name")))

    def _live_owner(self, ref: dict, namespace: str | None) -> dict | None:
        """The owner object if it exists with the referenced UID (the GC's uncached owner verification)."""
        rtype = _rtype_for(ref)
        if rtype is None:
            return None
        owner = self.store.get(rtype, namespace if rtype.namespaced else None, ref.get("name"))
        if owner is None or meta(owner).get("uid") != ref.get("uid"):
            return None
        return owner

    # --------------------------------------------------------------------------------------------- sync
    def sync(self, key):
        kind = key[0]
        if kind == "dependent":
            return self.attempt_to_delete(*key[1:])
        if kind == "owner":
            return self.process_deleting_owner(*key[1:])
        if kind == "orphan-of":
            owner_uid, rkey, ns, name = key[1:]
            dep = self.store.get(rkey, ns or None, name)
            if dep is not None:
                self._remove_owner_refs(rkey, dep, [owner_uid])
        return None

    def attempt_to_delete(self, rkey: str, ns: str, name: str):
        """attemptToDeleteItem for one dependent."""
        dep = self.store.get(rkey, ns or None, name)
        if dep is None or is_being_deleted(dep):
            return None
        refs = meta(dep).get("ownerReferences") or []
        if not refs:
            return None
        solid, dangling, waiting = [], [], []
        for ref in refs:
            if _rtype_for(ref) is None:
                # A kind kubesim does not serve (a CRD's owner): it cannot be verified, so, as the real GC does
                # when the REST mapping fails, it is never treated as absent.
                solid.append(ref)
                continue
            owner = self._live_owner(ref, ns or None)
            if owner is None:
                dangling.append(ref)
            elif is_being_deleted(owner) and FOREGROUND_FINALIZER in (meta(owner).get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            if dangling or waiting:
                self._remove_owner_refs(rkey, dep, [r.get("uid") for r in dangling + waiting])
            return None
        if waiting:
            has_dependents = bool(self.dependents.get(meta(dep).get("uid")))
            self._delete(rkey, dep, "Foreground" if has_dependents else "Background")
            return None
        finalizers = meta(dep).get("finalizers") or []
        policy = "Orphan" if ORPHAN_FINALIZER in finalizers else \
            "Foreground" if FOREGROUND_FINALIZER in finalizers else "Background"
        self._delete(rkey, dep, policy)
        return None

    def process_deleting_owner(self, rkey: str, ns: str, name: str):
        owner = self.store.get(rkey, ns or None, name)
        if owner is None or not is_being_deleted(owner):
            return None
        owner_uid = meta(owner)["uid"]
        finalizers = meta(owner).get("finalizers") or []
        dependents = []
        for (dkey, dns, dname), _uid in list(self.dependents.get(owner_uid, {}).items()):
            dep = self.store.get(dkey, dns or None, dname)
            if dep is not None:
                dependents.append((dkey, dep))
        if ORPHAN_FINALIZER in finalizers:
            for dkey, dep in dependents:
                self._remove_owner_refs(dkey, dep, [owner_uid])
            self._remove_finalizer(rkey, owner, ORPHAN_FINALIZER)
            return None
        if FOREGROUND_FINALIZER in finalizers:
            blocking = []
            for dkey, dep in dependents:
                ref = next((r for r in meta(dep).get("ownerReferences") or [] if r.get("uid") == owner_uid), {})
                if ref.get("blockOwnerDeletion"):
                    blocking.append(dep)
                if not is_being_deleted(dep):
                    self.enqueue(("dependent", dkey, meta(dep).get("namespace") or "", meta(dep)["name"]))
            if not blocking:
                self._remove_finalizer(rkey, owner, FOREGROUND_FINALIZER)
        return None

    # ------------------------------------------------------------------------------------------- writes
    def _delete(self, rkey: str, dep: dict, policy: str) -> None:
        m = meta(dep)
        try:
            self.api.delete(rkey, m.get("namespace"), m["name"], propagation_policy=policy,
                            preconditions={"uid": m["uid"]}, user=self.user)
        except ApiError as err:
            if not is_not_found(err) and err.code != 409:
                raise

    def _remove_owner_refs(self, rkey: str, dep: dict, owner_uids: list[str]) -> None:
        """deleteOwnerRefStrategicMergePatch: one `$patch: delete` per owner UID, plus the dependent's uid."""
        m = meta(dep)
        present = {r.get("uid") for r in m.get("ownerReferences") or []}
        targets = [u for u in owner_uids if u in present]
        if not targets:
            return
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u} for u in targets],
                              "uid": m["uid"]}}
        try:
            self.api.patch(rkey, m.get("namespace"), m["name"], patch, "strategic", user=self.user)
        except ApiError as err:
            if not (is_not_found(err) or err.code == 422):
                raise

    def _remove_finalizer(self, rkey: str, owner: dict, finalizer: str) -> None:
        m = meta(owner)
        remaining = [f for f in m.get("finalizers") or [] if f != finalizer]
        patch = {"metadata": {"finalizers": remaining or None, "resourceVersion": m.get("resourceVersion")}}
        try:
            self.api.patch(rkey, m.get("namespace"), m["name"], patch, "merge", user=self.user)
        except ApiError as err:
            if is_not_found(err):
                return
            raise
