"""DaemonSet controller (pkg/controller/daemon/daemon_controller.go), spec §3.

One pod per eligible Node. A new daemon pod is pinned to its node by node affinity (`matchFields` on
`metadata.name`, ReplaceDaemonSetPodNodeNameNodeAffinity) and left to the scheduler. A relabelled pod is
released (§1.1 patch) and a replacement is created for the same node; when the old pod is re-adopted the node
has two pods and, without surge, the scheduled and oldest one is kept (podByCreationTimestampAndPhase).
"""
from __future__ import annotations

import copy
import functools

from kubesim.controllers.base import (Controller, RefManager, controller_ref, ensure_controller_revision,
                                      int_or_percent, is_being_deleted, is_not_found,
                                      is_pod_available, is_pod_ready, meta, new_controller_ref, ordered_status,
                                      pod_from_template, pod_phase, selector_matches)
from kubesim.controllers.hashing import compute_hash
from kubesim.errors import ApiError

DS = "daemonsets.apps"
REVISION_LABEL = "controller-revision-hash"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
# AddOrUpdateDaemonPodTolerations
_DAEMON_TOLERATIONS = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
]


def _tolerates(toleration: dict, taint: dict) -> bool:
    """v1.Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if (toleration.get("operator") or "Equal") == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "") and bool(toleration.get("key"))


def target_node_name(pod: dict) -> str | None:
    """util.GetTargetNodeName: spec.nodeName, else the node pinned by the matchFields affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    terms = ((((spec.get("affinity") or {}).get("nodeAffinity") or {})
              .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or [])
    for term in terms:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and \
                    len(field.get("values") or []) == 1:
                return field["values"][0]
    return None


def pin_to_node(spec: dict, node_name: str) -> None:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: required terms become one term with matchFields on the node."""
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [{
        "matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}


def _older_first(a: dict, b: dict) -> int:
    """podByCreationTimestampAndPhase: scheduled pods first, then older, then by name."""
    sa, sb = bool((a.get("spec") or {}).get("nodeName")), bool((b.get("spec") or {}).get("nodeName"))
    if sa != sb:
        return -1 if sa else 1
    ca, cb = meta(a).get("creationTimestamp") or "", meta(b).get("creationTimestamp") or ""
    if ca == cb:
        return -1 if meta(a)["name"] < meta(b)["name"] else (1 if meta(a)["name"] > meta(b)["name"] else 0)
    return -1 if ca < cb else 1


class DaemonSetController(Controller):
    name = "daemon-set-controller"
    kind = "DaemonSet"
    api_version = "apps/v1"

    @property
    def event_component(self) -> str:
        return "daemonset-controller"

    def initial_keys(self):
        return [(meta(d)["namespace"], meta(d)["name"]) for d in self.store.list(DS)]

    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == DS:
            self.enqueue((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif key == "nodes":
            for ds in self.store.list(DS):
                self.enqueue((meta(ds)["namespace"], meta(ds)["name"]))
        elif key == "pods":
            self.enqueue_pod_owners(ev, DS, lambda ds: (ds.get("spec") or {}).get("selector"))

    def node_should_run(self, ds: dict, node: dict) -> bool:
        """nodeShouldRunDaemonPod, reduced to what kubesim nodes carry: the template's nodeSelector, and
        NoSchedule/NoExecute taints that the template (plus the daemon tolerations) does not tolerate."""
        if is_being_deleted(node):
            return False
        pod_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        labels = meta(node).get("labels") or {}
        if not all(labels.get(k) == v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
            return False
        tolerations = list(pod_spec.get("tolerations") or []) + [
            {"key": key, "operator": "Exists", "effect": effect} for key, effect in _DAEMON_TOLERATIONS]
        for taint in (node.get("spec") or {}).get("taints") or []:
            if taint.get("effect") not in ("NoSchedule", "NoExecute"):
                continue
            if not any(_tolerates(t, taint) for t in tolerations):
                return False
        return True

    def sync(self, key):
        ns, name = key
        ds = self.store.get(DS, ns, name)
        if ds is None:
            return None
        spec = ds.get("spec") or {}
        selector = spec.get("selector")
        uid = meta(ds)["uid"]
        candidates = [p for p in self.store.list("pods", ns) if (controller_ref(p) or {}).get("uid", uid) == uid]
        manager = RefManager(self, ds, DS, self.api_version, self.kind, "pods",
                             match=lambda p: selector_matches(selector, meta(p).get("labels")))
        pods = manager.claim(candidates)
        by_node: dict[str, list[dict]] = {}
        for pod in pods:
            by_node.setdefault(target_node_name(pod) or "", []).append(pod)
        nodes = self.store.list("nodes")
        revision = compute_hash(spec.get("template") or {}, int((ds.get("status") or {}).get("collisionCount") or 0))
        error = None
        if not is_being_deleted(ds):
            try:
                ensure_controller_revision(self, ds, self.api_version, self.kind, f"{name}-{revision}", revision,
                                           spec.get("template") or {})
                self.manage(ds, nodes, by_node, revision)
            except ApiError as err:
                error = err
        self.update_status(ds, nodes, revision)
        if error is not None:
            raise error
        return None

    def manage(self, ds: dict, nodes: list[dict], by_node: dict, revision: str) -> None:
        to_create, to_delete = [], []
        node_names = set()
        for node in nodes:
            node_name = meta(node)["name"]
            node_names.add(node_name)
            should_run = self.node_should_run(ds, node)
            daemon_pods = by_node.get(node_name, [])
            if should_run and not daemon_pods:
                to_create.append(node_name)
            elif should_run:
                running = []
                for pod in daemon_pods:
                    if is_being_deleted(pod):
                        continue
                    if pod_phase(pod) in ("Failed", "Succeeded"):
                        to_delete.append(pod)
                    else:
                        running.append(pod)
                if len(running) > 1:
                    running.sort(key=functools.cmp_to_key(_older_first))
                    to_delete.extend(running[1:])
            else:
                to_delete.extend(p for p in daemon_pods if not is_being_deleted(p))
        # pods pinned to nodes that no longer exist
        for node_name, daemon_pods in by_node.items():
            if node_name and node_name not in node_names:
                to_delete.extend(p for p in daemon_pods if not is_being_deleted(p))
        to_delete.extend(self.rolling_update_victims(ds, nodes, by_node, revision, to_delete))
        failure = None
        spec = ds.get("spec") or {}
        ref = new_controller_ref(ds, self.api_version, self.kind)
        for node_name in to_create:
            body = pod_from_template(spec.get("template") or {}, ds, ref)
            labels = body["metadata"].setdefault("labels", {})
            labels[REVISION_LABEL] = revision
            labels[TEMPLATE_GENERATION_LABEL] = str(meta(ds).get("generation", 1))
            pin_to_node(body["spec"], node_name)
            tolerations = body["spec"].setdefault("tolerations", [])
            present = {(t.get("key"), t.get("effect")) for t in tolerations}
            for key, effect in _DAEMON_TOLERATIONS:
                if (key, effect) not in present:
                    tolerations.append({"key": key, "operator": "Exists", "effect": effect})
            try:
                pod = self.api.create("pods", meta(ds)["namespace"], body, user=self.user)
            except ApiError as err:
                self.record(ds, "FailedCreate", f"Error creating: {err}", type="Warning")
                failure = failure or err
                continue
            self.record(ds, "SuccessfulCreate", f"Created pod: {meta(pod)['name']}")
        delete_failure = self.delete_owned_pods(ds, to_delete)   # deletions are tried even when a create failed
        failure = failure or delete_failure
        if failure is not None:
            raise failure

    def rolling_update_victims(self, ds: dict, nodes: list[dict], by_node: dict, revision: str,
                               already: list[dict]) -> list[dict]:
        """rollingUpdate without surge: delete old-revision pods while fewer than maxUnavailable daemon pods
        are unavailable; the next sync creates their replacements."""
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
            return []
        eligible = [meta(n)["name"] for n in nodes if self.node_should_run(ds, n)]
        max_unavailable = int_or_percent((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                                         len(eligible), True) or 1
        skip = {meta(p)["uid"] for p in already}
        unavailable, old = 0, []
        for node_name in eligible:
            pods = [p for p in by_node.get(node_name, []) if meta(p)["uid"] not in skip]
            live = [p for p in pods if not is_being_deleted(p)]
            if not live or any(is_being_deleted(p) for p in pods) or not any(map(is_pod_ready, live)):
                unavailable += 1
                continue
            stale = [p for p in live if (meta(p).get("labels") or {}).get(REVISION_LABEL) != revision]
            if stale and len(stale) == len(live):
                old.append(stale[0])
        budget = max_unavailable - unavailable
        return old[:max(budget, 0)]

    def update_status(self, ds: dict, nodes: list[dict], revision: str) -> None:
        ns, name, uid = meta(ds)["namespace"], meta(ds)["name"], meta(ds)["uid"]
        pods = [p for p in self.store.list("pods", ns) if (controller_ref(p) or {}).get("uid") == uid]
        by_node: dict[str, list[dict]] = {}
        for pod in pods:
            by_node.setdefault(target_node_name(pod) or "", []).append(pod)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            node_pods = by_node.get(meta(node)["name"], [])
            if self.node_should_run(ds, node):
                desired += 1
                if node_pods:
                    current += 1
                    pod = sorted(node_pods, key=functools.cmp_to_key(_older_first))[0]
                    if is_pod_ready(pod):
                        ready += 1
                        if is_pod_available(pod, min_ready):
                            available += 1
                    if (meta(pod).get("labels") or {}).get(REVISION_LABEL) == revision:
                        updated += 1
            elif node_pods:
                misscheduled += 1
        old_status = ds.get("status") or {}
        status = ordered_status([
            ("currentNumberScheduled", current),
            ("numberMisscheduled", misscheduled),
            ("desiredNumberScheduled", desired),
            ("numberReady", ready),
            ("observedGeneration", meta(ds).get("generation")),
            ("updatedNumberScheduled", updated),
            ("numberAvailable", available),
            ("numberUnavailable", desired - available),
            ("collisionCount", old_status.get("collisionCount")),
        ], keep_zero=("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"))
        if status != old_status:
            body = copy.deepcopy(ds)
            body["status"] = status
            try:
                self.api.update(DS, ns, name, body, subresource="status", user=self.user)
            except ApiError as err:
                if not is_not_found(err):
                    raise
