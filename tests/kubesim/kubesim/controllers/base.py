"""What every kubesim controller shares: the work queue, the worker loop, and the ownership helpers of
`pkg/controller` (controller_ref_manager.go, controller_utils.go) that the spec describes in §1.1.

A controller reads through `cluster.store` (shared, read-only objects) and writes only through `cluster.api`
with its own service-account user. Store callbacks never write: they turn events into keys on the controller's
work queue, and one worker task per controller processes them. Writes inside a sync are synchronous calls into
the Api, so the store already reflects them when the call returns; that is why no "expectations" are needed.
"""
from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import inspect
import logging

from kubesim.errors import ApiError
from kubesim.selectors import matches_label_selector_object

log = logging.getLogger("kubesim.controllers")

# The default controller rate limiter of client-go's workqueue: per-item exponential backoff from 5 ms,
# capped at 1000 s (§3, StatefulSet stuck on AlreadyExists).
BACKOFF_BASE = 0.005
BACKOFF_MAX = 1000.0
# Expensive syncs (a Service with a thousand pods) are spaced out: after a sync that took T seconds, the same
# key waits THROTTLE_FACTOR * T before its next sync, so the controller spends at most ~1/(1+factor) of its
# time on one key. Syncs under THROTTLE_MIN_SECONDS (nearly all of them) are never delayed, so effects still
# appear within milliseconds; a big Service converges in batches instead of resyncing once per pod event.
THROTTLE_FACTOR = 4.0
THROTTLE_MIN_SECONDS = 0.002


# ------------------------------------------------------------------------------------------------- time

def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def format_time(t: datetime.datetime | None = None) -> str:
    """metav1.Time serialisation: RFC 3339 with second precision, UTC."""
    return (t or now()).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(t: datetime.datetime | None = None) -> str:
    """RFC 3339 with nanosecond digits, as last-change-trigger-time uses (RFC3339Nano)."""
    t = (t or now()).astimezone(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t


# ----------------------------------------------------------------------------------------------- errors

def api_reason(err: BaseException) -> str:
    return err.status.get("reason", "") if isinstance(err, ApiError) else ""


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, ApiError) and err.code == 404


def is_already_exists(err: BaseException) -> bool:
    return api_reason(err) == "AlreadyExists"


def is_conflict(err: BaseException) -> bool:
    return api_reason(err) == "Conflict"


def is_invalid(err: BaseException) -> bool:
    return isinstance(err, ApiError) and err.code == 422


# ------------------------------------------------------------------------------------------- object facts

def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def is_being_deleted(obj: dict) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_ref(obj: dict) -> dict | None:
    """metav1.GetControllerOf: the owner reference with controller=true."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: dict, api_version: str, kind: str) -> dict:
    """metav1.NewControllerRef: controller and blockOwnerDeletion both true."""
    m = meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": m["name"], "uid": m["uid"],
            "controller": True, "blockOwnerDeletion": True}


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """metav1.LabelSelectorAsSelector semantics: nil selects nothing, {} selects everything."""
    try:
        return matches_label_selector_object(selector, labels or {})
    except ValueError:  # an invalid operator selects nothing rather than crashing a controller
        return False


def pod_condition(pod: dict, ctype: str) -> dict | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def is_pod_ready(pod: dict) -> bool:
    """podutil.IsPodReady: the Ready condition is True."""
    cond = pod_condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def pod_ready_time(pod: dict) -> datetime.datetime | None:
    """LastTransitionTime of Ready=True, or None (the zero time) when not ready."""
    cond = pod_condition(pod, "Ready")
    if cond and cond.get("status") == "True":
        return parse_time(cond.get("lastTransitionTime"))
    return None


def is_pod_available(pod: dict, min_ready_seconds: int, at: datetime.datetime | None = None) -> bool:
    """podutil.IsPodAvailable: ready, and ready for at least minReadySeconds."""
    if not is_pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = pod_ready_time(pod)
    if since is None:
        return False
    return since + datetime.timedelta(seconds=min_ready_seconds) <= (at or now())


def pod_phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_pod_active(pod: dict) -> bool:
    """controller.IsPodActive: not Succeeded/Failed and no deletionTimestamp."""
    return pod_phase(pod) not in ("Succeeded", "Failed") and not is_being_deleted(pod)


def int_or_percent(value, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"invalid value {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f'invalid value for IntOrString: invalid type: string is not a percentage: '
                             f'"{text}"') from None
    try:
        pct = int(text[:-1])
    except ValueError:
        raise ValueError(f'invalid value "{text}"') from None
    if round_up:
        return -(-pct * total // 100)
    return pct * total // 100


def copy_obj(obj: dict) -> dict:
    return copy.deepcopy(obj)


def ordered_status(fields: list[tuple[str, object]], keep_zero: tuple = ()) -> dict:
    """Build a status dict the way Go serialises it: `omitempty` ints that are 0 are left out."""
    out = {}
    for key, value in fields:
        if value is None:
            continue
        if value == 0 and key not in keep_zero and isinstance(value, int) and not isinstance(value, bool):
            continue
        if value in ([], {}) and key not in keep_zero:
            continue
        out[key] = value
    return out


# ------------------------------------------------------------------------------------------------ queue

class WorkQueue:
    """client-go's workqueue semantics: a key is queued at most once; a key being processed and re-added is
    processed again after `done`; failures back off per item (5 ms doubling, capped at 1000 s)."""

    def __init__(self):
        self._queue: collections.deque = collections.deque()
        self._dirty: set = set()
        self._processing: set = set()
        self._failures: dict = {}
        self._timers: dict = {}
        self._wakeup = asyncio.Event()
        self._shut = False

    def add(self, key) -> None:
        if self._shut or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wakeup.set()

    def add_after(self, key, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None and timer.when() <= when:
            return  # an earlier retry is already scheduled
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(BACKOFF_BASE * (2 ** failures), BACKOFF_MAX)
        self.add_after(key, delay)
        return delay

    def forget(self, key) -> None:
        self._failures.pop(key, None)

    def failures(self, key) -> int:
        return self._failures.get(key, 0)

    async def get(self):
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wakeup.set()

    def shutdown(self) -> None:
        self._shut = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def __len__(self) -> int:
        return len(self._queue)


# ------------------------------------------------------------------------------------------- controller

class Controller:
    """Base of every controller component. Subclasses set `name` (the service account, e.g.
    "replicaset-controller"), implement `on_event(event)` (enqueue keys only) and `sync(key)`, and may
    implement `initial_keys()` to reconcile what exists at start. `sync` returns None, or a delay in seconds
    after which the key should be synced again (minReadySeconds and similar timers)."""

    name = "controller"

    def __init__(self, cluster):
        self.cluster = cluster
        self.store = cluster.store
        self.api = cluster.api
        self.user = f"system:serviceaccount:kube-system:{self.name}"
        self.log = logging.getLogger(f"kubesim.controllers.{self.name}")
        self.queue: WorkQueue | None = None
        self._task: asyncio.Task | None = None
        self._running = False
        self._hold_until: dict = {}  # key -> loop time before which it is not synced again (THROTTLE_FACTOR)

    # -- lifecycle
    async def start(self) -> None:
        self.queue = WorkQueue()
        self._running = True
        self.store.subscribe(self._dispatch)
        for key in self.initial_keys():
            self.queue.add(key)
        self._task = asyncio.create_task(self._worker(), name=f"kubesim-{self.name}")

    async def stop(self) -> None:
        self._running = False
        unsubscribe = getattr(self.store, "unsubscribe", None)
        if unsubscribe:
            unsubscribe(self._dispatch)
        if self.queue:
            self.queue.shutdown()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    # -- hooks
    def initial_keys(self):
        return []

    def on_event(self, event) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def sync(self, key):  # pragma: no cover - abstract
        raise NotImplementedError

    def enqueue(self, key) -> None:
        if self.queue is not None and self._running:
            self.queue.add(key)

    def enqueue_pod_owners(self, ev, owner_rtype: str, selector_of) -> None:
        """updatePod/addPod/deletePod of the pod-owning controllers: the owner named by the pod's old or new
        controllerRef of this kind is synced; an orphan that appears or changes wakes every owner in its
        namespace whose selector (`selector_of(owner)`) matches it, since one of them may adopt it."""
        pod = ev.obj
        ns = meta(pod)["namespace"]
        owned = False
        for ref in [controller_ref(pod)] + ([controller_ref(ev.old)] if ev.old else []):
            if ref and ref.get("kind") == self.kind:
                self.enqueue((ns, ref["name"]))
                owned = True
        if not owned and ev.type != "DELETED":
            for owner in self.store.list(owner_rtype, ns):
                if selector_matches(selector_of(owner), meta(pod).get("labels")):
                    self.enqueue((ns, meta(owner)["name"]))

    # -- machinery
    def _dispatch(self, event) -> None:
        if not self._running:
            return
        try:
            self.on_event(event)
        except Exception:  # a handler bug must never break the writer that committed the change
            self.log.exception("%s: event handler failed", self.name)

    async def _worker(self) -> None:
        queue = self.queue
        loop = asyncio.get_running_loop()
        while self._running:
            key = await queue.get()
            hold = self._hold_until.get(key)
            if hold is not None:
                if loop.time() < hold:
                    queue.add_after(key, hold - loop.time())
                    queue.done(key)
                    continue
                del self._hold_until[key]
            started = loop.time()
            try:
                result = self.sync(key)
                if inspect.isawaitable(result):
                    result = await result
                queue.forget(key)
                if isinstance(result, (int, float)) and not isinstance(result, bool) and result > 0:
                    queue.add_after(key, float(result))
            except asyncio.CancelledError:
                raise
            except ApiError as err:
                delay = queue.add_rate_limited(key)
                self.log.debug("%s: sync %s failed (%s), retry in %.3fs", self.name, key, err, delay)
            except Exception:
                delay = queue.add_rate_limited(key)
                self.log.exception("%s: sync %s failed, retry in %.3fs", self.name, key, delay)
            finally:
                queue.done(key)
                took = loop.time() - started
                if took >= THROTTLE_MIN_SECONDS:
                    self._hold_until[key] = loop.time() + THROTTLE_FACTOR * took
            # Let HTTP handlers and other controllers run between items.
            await asyncio.sleep(0)

    # -- writes, always as this controller's user
    def record(self, obj: dict, reason: str, message: str, type: str = "Normal") -> None:
        from kubesim.events import record_event
        record_event(self.api, obj, reason, message, type=type, component=self.event_component, user=self.user)

    @property
    def event_component(self) -> str:
        return self.name

    def delete_owned_pods(self, owner: dict, pods: list[dict]) -> ApiError | None:
        """podControl.DeletePod for each pod (graceful, default options), with SuccessfulDelete / FailedDelete
        events on the owner. A pod already gone is fine; the first other error is returned after trying all."""
        failure = None
        for pod in pods:
            m = meta(pod)
            try:
                self.api.delete("pods", m["namespace"], m["name"], user=self.user)
            except ApiError as err:
                if is_not_found(err):
                    continue
                self.record(owner, "FailedDelete", f"Error deleting: {err}", type="Warning")
                failure = failure or err
                continue
            self.record(owner, "SuccessfulDelete", f"Deleted pod: {m['name']}")
        return failure


# ------------------------------------------------------------------------------------ claim / adopt / release

def release_patch(dependent: dict, owner_uid: str, finalizers: list[str] | None = None) -> dict:
    """GenerateDeleteOwnerRefStrategicMergeBytes (§1.1): uid first (it doubles as a precondition), then the
    ownerReferences delete directive, then the finalizers to drop (Job pods)."""
    md = {"uid": meta(dependent)["uid"], "ownerReferences": [{"$patch": "delete", "uid": owner_uid}]}
    if finalizers:
        md["$deleteFromPrimitiveList/finalizers"] = list(finalizers)
    return {"metadata": md}


def adopt_patch(dependent: dict, owner_ref: dict, finalizers: list[str] | None = None) -> dict:
    """ownerRefControllerPatch (§1.1): the controller reference, merged by uid, plus the dependent's uid."""
    md = {"ownerReferences": [owner_ref], "uid": meta(dependent)["uid"]}
    if finalizers:
        md["finalizers"] = list(finalizers)
    return {"metadata": md}


class RefManager:
    """BaseControllerRefManager.ClaimObject for one owner and one dependent resource (§1.1).

    `match(obj)` is the selector (plus any extra filter, e.g. StatefulSet's isMemberOf). `finalizers` are added on
    adoption and removed on release (the Job's tracking finalizer).
    """

    def __init__(self, controller: Controller, owner: dict, owner_rtype, owner_api_version: str, owner_kind: str,
                 dependent_rtype, match, finalizers: list[str] | None = None, can_adopt=None):
        self.c = controller
        self.owner = owner
        self.owner_rtype = owner_rtype
        self.owner_ref = new_controller_ref(owner, owner_api_version, owner_kind)
        self.dependent_rtype = dependent_rtype
        self.match = match
        self.finalizers = finalizers
        self._can_adopt = can_adopt
        self._adopt_checked: bool | None = None

    @property
    def owner_uid(self) -> str:
        return meta(self.owner)["uid"]

    def can_adopt(self) -> bool:
        """RecheckDeletionTimestamp, run once before the first adoption: an uncached read of the owner; refuse
        when it is gone, being deleted, or has a different UID."""
        if self._adopt_checked is None:
            if self._can_adopt is not None:
                self._adopt_checked = bool(self._can_adopt())
            else:
                m = meta(self.owner)
                try:
                    fresh = self.c.api.get(self.owner_rtype, m.get("namespace"), m["name"])
                except ApiError:
                    fresh = None
                self._adopt_checked = bool(fresh and meta(fresh).get("uid") == m["uid"]
                                           and not is_being_deleted(fresh))
        return self._adopt_checked

    def claim(self, candidates: list[dict]) -> list[dict]:
        """Returns the dependents this owner controls after adopting matching orphans and releasing owned
        non-matching ones. Errors other than NotFound/Invalid propagate (the owner is requeued)."""
        claimed = []
        owner_deleting = is_being_deleted(self.owner)
        owner_ns = meta(self.owner).get("namespace")
        for obj in candidates:
            ref = controller_ref(obj)
            if ref is not None:
                if ref.get("uid") != self.owner_uid:
                    continue  # owned by someone else
                if self.match(obj):
                    claimed.append(obj)
                    continue
                if owner_deleting:
                    continue
                self.release(obj)
                continue
            # an orphan
            if owner_deleting or not self.match(obj) or is_being_deleted(obj):
                continue
            if meta(obj).get("namespace") != owner_ns:
                continue
            if not self.can_adopt():
                continue
            adopted = self.adopt(obj)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    def release(self, obj: dict) -> None:
        m = meta(obj)
        try:
            self.c.api.patch(self.dependent_rtype, m.get("namespace"), m["name"],
                             release_patch(obj, self.owner_uid, self.finalizers), "strategic", user=self.c.user)
        except ApiError as err:
            # ReleasePod: "If the pod no longer exists, ignore it" and an Invalid (uid changed) is ignored too.
            if is_not_found(err) or is_invalid(err):
                return
            raise

    def adopt(self, obj: dict) -> dict | None:
        m = meta(obj)
        try:
            return self.c.api.patch(self.dependent_rtype, m.get("namespace"), m["name"],
                                    adopt_patch(obj, self.owner_ref, self.finalizers), "strategic",
                                    user=self.c.user)
        except ApiError as err:
            if is_not_found(err):
                return None
            raise


def pod_from_template(template: dict, owner: dict, controller_ref_: dict, generate_name: str | None = None,
                      name: str | None = None) -> dict:
    """controller.GetPodFromTemplate: labels, annotations and finalizers from the template, the controller
    reference, a deep copy of the spec. `getPodsPrefix` gives "<owner>-" as generateName."""
    tmeta = template.get("metadata") or {}
    md: dict = {}
    if name:
        md["name"] = name
    else:
        md["generateName"] = generate_name if generate_name is not None else pods_prefix(meta(owner)["name"])
    md["namespace"] = meta(owner).get("namespace")
    if tmeta.get("labels"):
        md["labels"] = dict(tmeta["labels"])
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        md["finalizers"] = list(tmeta["finalizers"])
    md["ownerReferences"] = [dict(controller_ref_)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": copy.deepcopy(template.get("spec") or {})}


def pods_prefix(controller_name: str) -> str:
    """getPodsPrefix: "<name>-", or the bare name when the dash would make an invalid generateName prefix."""
    prefix = f"{controller_name}-"
    return prefix if len(prefix) <= 253 else controller_name


def owner_key(ref: dict | None, kind: str) -> str | None:
    """The owner name when `ref` points to a `kind` (the uid is checked by the sync)."""
    if ref and ref.get("kind") == kind:
        return ref.get("name")
    return None


def ensure_controller_revision(controller: Controller, owner: dict, owner_api_version: str, owner_kind: str,
                               name: str, hash_value: str, template: dict) -> dict | None:
    """The ControllerRevision a StatefulSet or DaemonSet records for its current template (history.go):
    named `<owner>-<hash>`, labelled with the template labels and controller-revision-hash, owned by the set,
    data = the template patch, revision = 1 + the highest existing revision of that owner."""
    ns = meta(owner)["namespace"]
    existing = controller.store.get("controllerrevisions.apps", ns, name)
    if existing is not None:
        return existing
    uid = meta(owner)["uid"]
    revisions = [r for r in controller.store.list("controllerrevisions.apps", ns)
                 if (controller_ref(r) or {}).get("uid") == uid]
    labels = dict(((template or {}).get("metadata") or {}).get("labels") or {})
    labels["controller-revision-hash"] = hash_value
    body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "ownerReferences": [new_controller_ref(owner, owner_api_version, owner_kind)]},
            "data": {"spec": {"template": {**copy.deepcopy(template or {}), "$patch": "replace"}}},
            "revision": max((int(r.get("revision") or 0) for r in revisions), default=0) + 1}
    try:
        return controller.api.create("controllerrevisions.apps", ns, body, user=controller.user)
    except ApiError as err:
        if is_already_exists(err):
            return controller.store.get("controllerrevisions.apps", ns, name)
        raise
