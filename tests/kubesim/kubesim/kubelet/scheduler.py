"""The default scheduler: binds pending pods to the Node objects.

Filters as the scheduler's plugins do for what workloads here use: `spec.nodeName` already set (nothing to do),
`nodeSelector`, required node affinity (matchExpressions on labels, matchFields on `metadata.name` as DaemonSet
pods use), `spec.unschedulable` nodes and NoSchedule/NoExecute taints against tolerations. Among the feasible
nodes it takes the one with the fewest pods (spreading), ties by name. Binding goes through the `binding`
subresource; the PodScheduled condition through `status`. Pods of another `schedulerName` are left alone.
"""
from __future__ import annotations

import asyncio
import logging
import time

from kubesim.errors import ApiError
from kubesim.kubelet.recorder import EventRecorder

log = logging.getLogger("kubesim.scheduler")

USER = "system:kube-scheduler"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _match_expression(expr: dict, value: str | None) -> bool:
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        try:
            v, ref = int(value), int(values[0])
        except (TypeError, ValueError, IndexError):
            return False
        return v > ref if op == "Gt" else v < ref
    return False


def node_affinity_matches(pod: dict, node: dict) -> bool:
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return True
    fields = {"metadata.name": node["metadata"]["name"]}
    for term in terms:  # terms are ORed, requirements inside a term ANDed
        exprs = term.get("matchExpressions") or []
        field_exprs = term.get("matchFields") or []
        if not exprs and not field_exprs:
            continue
        if all(_match_expression(e, labels.get(e.get("key"))) for e in exprs) and \
                all(_match_expression(e, fields.get(e.get("key"))) for e in field_exprs):
            return True
    return False


def tolerates(pod: dict, taint: dict) -> bool:
    for tol in (pod.get("spec") or {}).get("tolerations") or []:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        op = tol.get("operator", "Equal")
        if not tol.get("key"):
            if op == "Exists":
                return True
            continue
        if tol["key"] != taint.get("key"):
            continue
        if op == "Exists" or tol.get("value", "") == taint.get("value", ""):
            return True
    return False


class Scheduler:
    def __init__(self, cluster):
        self.cluster = cluster
        self.store = cluster.store
        self.api = cluster.api
        self.events = EventRecorder(self.api, "default-scheduler")
        self._pending: set[tuple[str, str]] = set()
        self._pods_on_node: dict[str, set[tuple[str, str]]] = {}
        self._node_of: dict[tuple[str, str], str] = {}
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._unschedulable_reported: set[str] = set()

    async def start(self) -> None:
        self.store.subscribe(self._on_store_event)
        for pod in self.store.list("pods"):
            self._track(pod)
        self._worker = asyncio.get_running_loop().create_task(self._run())
        self._wakeup.set()

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass

    def _track(self, pod: dict, deleted: bool = False) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        old_node = self._node_of.pop(key, None)
        if old_node:
            self._pods_on_node.get(old_node, set()).discard(key)
        if deleted:
            self._pending.discard(key)
            return
        node = pod["spec"].get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if node:
            self._pending.discard(key)
            if phase not in ("Succeeded", "Failed"):
                self._node_of[key] = node
                self._pods_on_node.setdefault(node, set()).add(key)
        elif not meta.get("deletionTimestamp") and pod["spec"].get("schedulerName", "default-scheduler") \
                == "default-scheduler":
            self._pending.add(key)
            self._wakeup.set()

    def _on_store_event(self, event) -> None:
        if event.rtype.key == "pods":
            self._track(event.obj, deleted=event.type == "DELETED")
        elif event.rtype.key == "nodes" and self._pending:
            self._wakeup.set()   # a new or changed node may fit pods that did not fit before

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            for key in sorted(self._pending):
                try:
                    self._schedule(*key)
                except Exception:
                    log.exception("scheduler: pod %s/%s", *key)
                await asyncio.sleep(0)

    def _schedule(self, namespace: str, name: str) -> None:
        pod = self.store.get("pods", namespace, name)
        if pod is None or pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            self._pending.discard((namespace, name))
            return
        nodes = sorted(self.store.list("nodes"), key=lambda n: n["metadata"]["name"])
        feasible, why = [], {"affinity": 0, "unschedulable": 0, "taint": 0}
        for node in nodes:
            if not node_affinity_matches(pod, node):
                why["affinity"] += 1
            elif (node.get("spec") or {}).get("unschedulable") and not tolerates(
                    pod, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
                why["unschedulable"] += 1
            elif any(t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, t)
                     for t in (node.get("spec") or {}).get("taints") or []):
                why["taint"] += 1
            else:
                feasible.append(node["metadata"]["name"])
        if not feasible:
            self._report_unschedulable(pod, len(nodes), why)
            return
        target = min(feasible, key=lambda n: (len(self._pods_on_node.get(n, ())), n))
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": target}}
        try:
            self.api.create("pods", namespace, binding, subresource="binding", user=USER)
        except ApiError as exc:
            log.debug("scheduler: binding %s/%s failed: %s", namespace, name, exc)
            self._pending.discard((namespace, name))
            return
        self._pending.discard((namespace, name))
        self._pods_on_node.setdefault(target, set()).add((namespace, name))
        self._node_of[(namespace, name)] = target
        self._unschedulable_reported.discard(pod["metadata"].get("uid", ""))  # binding set PodScheduled=True
        self.events.pod_event(pod, "Normal", "Scheduled", f"Successfully assigned {namespace}/{name} to {target}")

    def _report_unschedulable(self, pod: dict, total: int, why: dict) -> None:
        uid = pod["metadata"].get("uid", "")
        reasons = []
        if why["affinity"]:
            reasons.append(f"{why['affinity']} node(s) didn't match Pod's node affinity/selector")
        if why["taint"]:
            reasons.append(f"{why['taint']} node(s) had untolerated taint(s)")
        if why["unschedulable"]:
            reasons.append(f"{why['unschedulable']} node(s) were unschedulable")
        message = f"0/{total} nodes are available: " + ", ".join(reasons or ["no nodes available"]) + \
            f". preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        if uid in self._unschedulable_reported:
            return
        self._unschedulable_reported.add(uid)
        meta = pod["metadata"]
        self._set_scheduled_condition(meta["namespace"], meta["name"], "False", "Unschedulable", message)
        self.events.pod_event(pod, "Warning", "FailedScheduling", message)

    def _set_scheduled_condition(self, namespace, name, status, reason="", message="") -> None:
        pod = self.store.get("pods", namespace, name)
        if pod is None:
            return
        cond = {"type": "PodScheduled"}
        if pod["metadata"].get("generation") is not None:
            cond["observedGeneration"] = pod["metadata"]["generation"]
        cond.update(status=status, lastProbeTime=None, lastTransitionTime=_iso(time.time()))
        if reason:
            cond.update(reason=reason, message=message)
        others = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
        try:
            self.api.patch("pods", namespace, name, {"status": {"conditions": others + [cond]}}, "merge",
                           subresource="status", user=USER)
        except ApiError as exc:
            log.debug("scheduler: condition on %s/%s failed: %s", namespace, name, exc)
