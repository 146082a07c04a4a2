"""The default scheduler: binds pending pods to the Node objects.

Filters as the scheduler's plugins do for what workloads here use, in the default plugin order, the first failing
filter giving the node's reason: `spec.unschedulable` nodes (NodeUnschedulable), NoSchedule/NoExecute taints
against tolerations (TaintToleration), `nodeSelector` and required node affinity (matchExpressions on labels,
matchFields on `metadata.name` as DaemonSet pods use) (NodeAffinity), and the node's `allocatable.pods` against
the non-terminal pods bound to it (NodeResourcesFit: "Too many pods"). Among the feasible nodes it takes the one
with the fewest pods (spreading), ties by name. Binding goes through the `binding`
subresource; the PodScheduled condition through `status`. Pods of another `schedulerName` are left alone.
"""
from __future__ import annotations

import asyncio
import logging
import time

from kubesim.errors import ApiError
from kubesim.kubelet.capacity import allocatable_pods
from kubesim.kubelet.recorder import EventRecorder
from kubesim.kubelet.wake_worker import WakeWorker

log = logging.getLogger("kubesim.scheduler")

USER = "system:kube-scheduler"

# FitError reasons per filter plugin, and what DefaultPreemption says about such a node. Pods here all have the
# default priority 0, so evicting others never helps a pod that does not fit: "No preemption victims found".
UNSCHEDULABLE = "node(s) were unschedulable"
UNTOLERATED_TAINT = "node(s) had untolerated taint(s)"
AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
TOO_MANY_PODS = "Too many pods"
PREEMPTION_VERDICT = {UNSCHEDULABLE: "Preemption is not helpful for scheduling",
                      UNTOLERATED_TAINT: "Preemption is not helpful for scheduling",
                      AFFINITY_MISMATCH: "Preemption is not helpful for scheduling",
                      TOO_MANY_PODS: "No preemption victims found for incoming pod"}


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


class Scheduler(WakeWorker):
    def __init__(self, cluster):
        super().__init__()
        self.cluster = cluster
        self.store = cluster.store
        self.api = cluster.api
        self.events = EventRecorder(self.api, "default-scheduler")
        self._pending: set[tuple[str, str]] = set()
        self._pods_on_node: dict[str, set[tuple[str, str]]] = {}
        self._node_of: dict[tuple[str, str], str] = {}
        self._unschedulable_reported: dict[str, str] = {}   # pod uid -> the FailedScheduling message last recorded

    async def start(self) -> None:
        self.store.subscribe(self._on_store_event)
        for pod in self.store.list("pods"):
            self._track(pod)
        self.start_worker()

    async def stop(self) -> None:
        await self.stop_worker()

    def _track(self, pod: dict, deleted: bool = False) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        old_node = self._node_of.pop(key, None)
        if old_node:
            self._pods_on_node.get(old_node, set()).discard(key)
            if self._pending:
                self.wake()   # the pod may leave the node (deleted, finished): a slot for a waiting pod
        if deleted:
            self._pending.discard(key)
            self._unschedulable_reported.pop(meta.get("uid", ""), None)
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
            self.wake()

    def _on_store_event(self, event) -> None:
        if event.rtype.key == "pods":
            self._track(event.obj, deleted=event.type == "DELETED")
        elif event.rtype.key == "nodes" and self._pending:
            self.wake()   # a new or changed node may fit pods that did not fit before

    async def work(self) -> None:
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
        feasible, failures = [], []
        for node in nodes:
            reason = self._filter(pod, node)
            if reason is None:
                feasible.append(node["metadata"]["name"])
            else:
                failures.append(reason)
        if not feasible:
            self._report_unschedulable(pod, len(nodes), failures)
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
        self._unschedulable_reported.pop(pod["metadata"].get("uid", ""), None)  # binding set PodScheduled=True
        self.events.pod_event(pod, "Normal", "Scheduled", f"Successfully assigned {namespace}/{name} to {target}")

    def _filter(self, pod: dict, node: dict) -> str | None:
        """The reason the first failing filter plugin gives for this node, or None when the pod fits."""
        spec = node.get("spec") or {}
        if spec.get("unschedulable") and not tolerates(
                pod, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
            return UNSCHEDULABLE
        if any(t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, t)
               for t in spec.get("taints") or []):
            return UNTOLERATED_TAINT
        if not node_affinity_matches(pod, node):
            return AFFINITY_MISMATCH
        if len(self._pods_on_node.get(node["metadata"]["name"], ())) >= allocatable_pods(node):
            return TOO_MANY_PODS
        return None

    def _report_unschedulable(self, pod: dict, total: int, failures: list[str]) -> None:
        """FitError.Error(): "0/N nodes are available: " and the per-reason node counts sorted as strings, then
        the PostFilter (preemption) verdict for the same nodes in the same form."""
        def histogram(reasons: list[str]) -> str:
            counts: dict[str, int] = {}
            for reason in reasons:
                counts[reason] = counts.get(reason, 0) + 1
            return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))
        if failures:
            message = (f"0/{total} nodes are available: {histogram(failures)}. preemption: 0/{total} nodes are "
                       f"available: {histogram([PREEMPTION_VERDICT[r] for r in failures])}.")
        else:
            message = "no nodes available to schedule pods"
        uid = pod["metadata"].get("uid", "")
        if self._unschedulable_reported.get(uid) == message:
            return
        self._unschedulable_reported[uid] = message
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
