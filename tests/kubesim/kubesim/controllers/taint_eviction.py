"""The NoExecute taint manager (pkg/controller/tainteviction/taint_eviction.go, the taint-eviction-controller).

A pod bound to a node whose NoExecute taints it does not all tolerate is deleted at once. If it tolerates them,
the smallest `tolerationSeconds` among the tolerations used decides: it is deleted that long after the taint
manager first saw it so (an earlier schedule is kept; tolerations without tolerationSeconds tolerate forever;
tolerationSeconds <= 0 means now). Removing the taint, or tolerating it forever, cancels a scheduled deletion.
Before deleting, the controller records the Normal event TaintManagerEviction "Marking for deletion Pod NS/NAME"
and adds the pod condition DisruptionTarget (reason DeletionByTaintManager); the delete uses default options, so
the pod's own grace period applies. Pods are not ordered, rate-limited or retried beyond the work queue.
"""
from __future__ import annotations

import time

from kubesim.controllers.base import Controller, format_time, is_not_found, meta
from kubesim.errors import ApiError

EVENT_REASON = "TaintManagerEviction"


def tolerates(toleration: dict, taint: dict) -> bool:
    """v1.Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return bool(toleration.get("key")) and toleration.get("value", "") == taint.get("value", "")
    return False


def matching_tolerations(taints: list[dict], tolerations: list[dict]) -> tuple[bool, list[dict]]:
    """GetMatchingTolerations: (every taint tolerated, the first toleration used for each)."""
    used = []
    for taint in taints:
        found = next((t for t in tolerations if tolerates(t, taint)), None)
        if found is None:
            return False, []
        used.append(found)
    return True, used


def min_toleration_seconds(used: list[dict]) -> float:
    """getMinTolerationTime: -1 when every toleration used is forever."""
    finite = [t["tolerationSeconds"] for t in used if isinstance(t.get("tolerationSeconds"), int)]
    if not finite:
        return -1
    return max(0, min(finite))


def _no_execute_taints(node: dict | None) -> list[dict]:
    return [t for t in ((node or {}).get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]


class TaintEvictionController(Controller):
    name = "taint-eviction-controller"

    def __init__(self, cluster):
        super().__init__(cluster)
        # pod key -> (first seen tolerated-for-a-while, when it is to be deleted); the taintEvictionQueue
        self._scheduled: dict[tuple, tuple[float, float]] = {}

    def initial_keys(self):
        return [(meta(p)["namespace"], meta(p)["name"]) for p in self.store.list("pods")
                if (p.get("spec") or {}).get("nodeName")]

    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == "nodes":
            old_taints = _no_execute_taints(ev.old) if ev.old is not None else None
            new_taints = _no_execute_taints(ev.obj) if ev.type != "DELETED" else []
            if old_taints == new_taints:
                return  # status heartbeats and label changes do not concern the taint manager
            node = meta(ev.obj)["name"]
            for pod in self.store.list("pods"):
                if (pod.get("spec") or {}).get("nodeName") == node:
                    self.enqueue((meta(pod)["namespace"], meta(pod)["name"]))
        elif key == "pods":
            spec, old = ev.obj.get("spec") or {}, (ev.old or {}).get("spec") or {}
            if ev.type == "DELETED" or ev.old is None or spec.get("nodeName") != old.get("nodeName") or \
                    spec.get("tolerations") != old.get("tolerations") or \
                    bool(meta(ev.obj).get("deletionTimestamp")) != bool(meta(ev.old).get("deletionTimestamp")):
                self.enqueue((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))

    def _cancel(self, key, pod: dict | None) -> None:
        if self._scheduled.pop(key, None) is not None and pod is not None:
            self.record(pod, EVENT_REASON, f"Cancelling deletion of Pod {key[0]}/{key[1]}")

    def sync(self, key):
        ns, name = key
        pod = self.store.get("pods", ns, name)
        if pod is None or meta(pod).get("deletionTimestamp"):
            self._scheduled.pop(key, None)
            return None
        node_name = (pod.get("spec") or {}).get("nodeName")
        taints = _no_execute_taints(self.store.get("nodes", "", node_name)) if node_name else []
        if not taints:
            self._cancel(key, pod)
            return None
        tolerated, used = matching_tolerations(taints, (pod.get("spec") or {}).get("tolerations") or [])
        now = time.monotonic()
        if not tolerated:
            self._scheduled.pop(key, None)
            self._evict(pod)
            return None
        seconds = min_toleration_seconds(used)
        if seconds < 0:
            self._cancel(key, pod)  # "Current tolerations tolerate forever, cancelling any scheduled deletion"
            return None
        start, _ = self._scheduled.get(key, (now, 0.0))
        due = start + seconds
        self._scheduled[key] = (start, due)
        if due > now:
            return due - now  # synced again then (or earlier, when the taint or the pod changes)
        self._scheduled.pop(key, None)
        self._evict(pod)
        return None

    def _evict(self, pod: dict) -> None:
        """deletePodHandler + addConditionAndDeletePod."""
        ns, name = meta(pod)["namespace"], meta(pod)["name"]
        self.record(pod, EVENT_REASON, f"Marking for deletion Pod {ns}/{name}")
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or []
                      if c.get("type") != "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": format_time(), "reason": "DeletionByTaintManager",
                           "message": "Taint manager: deleting due to NoExecute taint"})
        try:
            self.api.patch("pods", ns, name, {"status": {"conditions": conditions}}, "merge", subresource="status",
                           user=self.user)
            self.api.delete("pods", ns, name, user=self.user)
        except ApiError as err:
            if not is_not_found(err):
                raise
