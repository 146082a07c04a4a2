"""StatefulSet controller (pkg/controller/statefulset), spec §3.

Pods are named `<set>-<ordinal>`; a pod belongs to the set only if its name parses as `<set>-<N>` (isMemberOf)
and the selector matches. A relabelled pod is released with the §1.1 patch and keeps its name, so creating
the replacement hits 409 AlreadyExists: the error is "sunk" (no event), the sync fails, and the set is retried
with exponential backoff and stays stuck (OrderedReady stops at the first missing ordinal) until the orphan is
deleted or relabelled back and re-adopted.
"""
from __future__ import annotations

import copy
import re

from kubesim.controllers.base import (Controller, RefManager, controller_ref, ensure_controller_revision,
                                      is_already_exists, is_being_deleted,
                                      is_not_found, is_pod_available, is_pod_ready, meta, new_controller_ref,
                                      ordered_status, pod_from_template, pod_phase, selector_matches)
from kubesim.controllers.hashing import compute_hash
from kubesim.errors import ApiError

STS = "statefulsets.apps"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
_STATEFUL_POD = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(pod: dict) -> tuple[str | None, int]:
    """getParentNameAndOrdinal with statefulPodRegex "(.*)-([0-9]+)$"."""
    match = _STATEFUL_POD.match(meta(pod).get("name") or "")
    if not match:
        return None, -1
    return match.group(1), int(match.group(2))


def is_member_of(sts: dict, pod: dict) -> bool:
    parent, _ = parent_and_ordinal(pod)
    return parent == meta(sts)["name"]


def template_hash(sts: dict) -> str:
    collision = int((sts.get("status") or {}).get("collisionCount") or 0)
    return compute_hash((sts.get("spec") or {}).get("template") or {}, collision)


def update_revision(sts: dict) -> str:
    """The ControllerRevision name of the current template, `<set>-<hash>` (the controller-revision-hash label)."""
    return f"{meta(sts)['name']}-{template_hash(sts)}"


class StatefulSetController(Controller):
    name = "statefulset-controller"
    kind = "StatefulSet"
    api_version = "apps/v1"

    def initial_keys(self):
        return [(meta(s)["namespace"], meta(s)["name"]) for s in self.store.list(STS)]

    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == STS:
            m = meta(ev.obj)
            self.enqueue((m["namespace"], m["name"]))
        elif key == "pods":
            self._on_pod(ev)

    def _enqueue_ref(self, pod, ref) -> None:
        if ref and ref.get("kind") == self.kind:
            self.enqueue((meta(pod)["namespace"], ref["name"]))

    def _enqueue_matching(self, pod) -> None:
        ns = meta(pod)["namespace"]
        for sts in self.store.list(STS, ns):
            if selector_matches((sts.get("spec") or {}).get("selector"), meta(pod).get("labels")):
                self.enqueue((ns, meta(sts)["name"]))

    def _on_pod(self, ev) -> None:
        pod, cur = ev.obj, controller_ref(ev.obj)
        if ev.type in ("ADDED", "DELETED"):
            if cur is not None:
                self._enqueue_ref(pod, cur)
            else:
                # An orphan appearing or vanishing: a set stuck on its name is woken up either way.
                self._enqueue_matching(pod)
                parent, _ = parent_and_ordinal(pod)
                if parent and self.store.get(STS, meta(pod)["namespace"], parent) is not None:
                    self.enqueue((meta(pod)["namespace"], parent))
            return
        old = ev.old or {}
        if meta(old).get("resourceVersion") == meta(pod).get("resourceVersion"):
            return
        old_ref = controller_ref(old)
        if old_ref and (old_ref.get("uid") != (cur or {}).get("uid")):
            self._enqueue_ref(pod, old_ref)
        if cur is not None:
            self._enqueue_ref(pod, cur)
        elif (meta(old).get("labels") or {}) != (meta(pod).get("labels") or {}) or old_ref:
            self._enqueue_matching(pod)

    # --------------------------------------------------------------------------------------------- sync
    def sync(self, key):
        ns, name = key
        sts = self.store.get(STS, ns, name)
        if sts is None:
            return None
        spec = sts.get("spec") or {}
        selector = spec.get("selector")
        uid = meta(sts)["uid"]
        candidates = [p for p in self.store.list("pods", ns) if (controller_ref(p) or {}).get("uid", uid) == uid]
        manager = RefManager(self, sts, STS, self.api_version, self.kind, "pods",
                             match=lambda p: is_member_of(sts, p) and selector_matches(selector, meta(p).get("labels")))
        pods = manager.claim(candidates)
        error = None
        if not is_being_deleted(sts):
            try:
                ensure_controller_revision(self, sts, self.api_version, self.kind, update_revision(sts),
                                           template_hash(sts), spec.get("template") or {})
                self.update_set(sts, pods)
            except ApiError as err:
                error = err
        pods = [p for p in (self.store.get("pods", ns, meta(p)["name"]) for p in pods)
                if p is not None and (controller_ref(p) or {}).get("uid") == uid]
        self.update_status(sts, pods)
        if error is not None:
            raise error
        return None

    def new_pod(self, sts: dict, ordinal: int, revision: str) -> dict:
        """newVersionedStatefulSetPod: name, hostname, subdomain and the identity labels."""
        spec = sts.get("spec") or {}
        name = f"{meta(sts)['name']}-{ordinal}"
        ref = new_controller_ref(sts, self.api_version, self.kind)
        pod = pod_from_template(spec.get("template") or {}, sts, ref, name=name)
        labels = pod["metadata"].setdefault("labels", {})
        labels[POD_NAME_LABEL] = name
        labels[POD_INDEX_LABEL] = str(ordinal)
        labels[REVISION_LABEL] = revision
        pod["spec"]["hostname"] = name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        return pod

    def update_set(self, sts: dict, pods: list[dict]) -> None:
        spec = sts.get("spec") or {}
        replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
        start = int(((spec.get("ordinals") or {}).get("start")) or 0)
        monotonic = (spec.get("podManagementPolicy") or "OrderedReady") != "Parallel"
        revision = update_revision(sts)
        ns, set_name = meta(sts)["namespace"], meta(sts)["name"]
        by_ordinal: dict[int, dict] = {}
        condemned: list[dict] = []
        for pod in pods:
            _, ordinal = parent_and_ordinal(pod)
            if start <= ordinal < start + replicas:
                by_ordinal[ordinal] = pod
            else:
                condemned.append(pod)

        for ordinal in range(start, start + replicas):
            pod = by_ordinal.get(ordinal)
            if pod is not None and pod_phase(pod) == "Failed" and not is_being_deleted(pod):
                self._delete(sts, pod)
                pod = None
                if monotonic:
                    return
            if pod is None:
                body = self.new_pod(sts, ordinal, revision)
                try:
                    self.api.create("pods", ns, body, user=self.user)
                except ApiError as err:
                    if is_already_exists(err):
                        raise  # "sink already exists errors": no event, the set is retried with backoff
                    self.record(sts, "FailedCreate",
                                f"create Pod {body['metadata']['name']} in StatefulSet {set_name} failed error: {err}",
                                type="Warning")
                    raise
                self.record(sts, "SuccessfulCreate",
                            f"create Pod {body['metadata']['name']} in StatefulSet {set_name} successful")
                if monotonic:
                    return
                continue
            if is_being_deleted(pod):
                if monotonic:
                    return
                continue
            if not (pod_phase(pod) == "Running" and is_pod_ready(pod)) and monotonic:
                return  # OrderedReady: wait for this ordinal before the next one

        # Scale down: the highest ordinal first, one at a time when ordered.
        for pod in sorted(condemned, key=lambda p: parent_and_ordinal(p)[1], reverse=True):
            if is_being_deleted(pod):
                if monotonic:
                    return
                continue
            if monotonic and any(not is_pod_ready(p) or pod_phase(p) != "Running" for p in by_ordinal.values()):
                return
            self._delete(sts, pod)
            if monotonic:
                return

        # RollingUpdate (updateStatefulSet): from the highest ordinal down to the partition, delete the first pod
        # of an old revision that is not terminating, or stop at the first pod that is unavailable. OrderedReady
        # never gets here with an unhealthy pod (the loops above returned); Parallel does: a crash-looping pod of
        # the old revision is replaced all the same, the one above it must be available first.
        strategy = spec.get("updateStrategy") or {}
        if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
            return
        partition = int(((strategy.get("rollingUpdate") or {}).get("partition")) or 0)
        min_ready = int(spec.get("minReadySeconds") or 0)
        for ordinal in range(start + replicas - 1, start + partition - 1, -1):
            pod = by_ordinal.get(ordinal)
            if pod is None:
                return
            if (meta(pod).get("labels") or {}).get(REVISION_LABEL) != revision and not is_being_deleted(pod):
                self._delete(sts, pod)
                return
            if is_being_deleted(pod) or not (pod_phase(pod) == "Running" and is_pod_available(pod, min_ready)):
                return

    def _delete(self, sts: dict, pod: dict) -> None:
        name = meta(pod)["name"]
        try:
            self.api.delete("pods", meta(pod)["namespace"], name, user=self.user)
        except ApiError as err:
            if is_not_found(err):
                return
            self.record(sts, "FailedDelete",
                        f"delete Pod {name} in StatefulSet {meta(sts)['name']} failed error: {err}", type="Warning")
            raise
        self.record(sts, "SuccessfulDelete", f"delete Pod {name} in StatefulSet {meta(sts)['name']} successful")

    def update_status(self, sts: dict, pods: list[dict]) -> None:
        revision = update_revision(sts)
        old_status = sts.get("status") or {}
        current_revision = old_status.get("currentRevision") or revision
        spec = sts.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        counted = pods
        ready = sum(1 for p in counted if is_pod_ready(p) and pod_phase(p) == "Running")
        available = sum(1 for p in counted if is_pod_available(p, min_ready))
        live = [p for p in counted if not is_being_deleted(p)]
        updated = sum(1 for p in live if (meta(p).get("labels") or {}).get(REVISION_LABEL) == revision)
        current = sum(1 for p in live if (meta(p).get("labels") or {}).get(REVISION_LABEL) == current_revision)
        replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
        if updated == replicas and len(counted) == replicas and ready == replicas:
            current_revision, current = revision, updated  # the rollout is complete
        status = ordered_status([
            ("observedGeneration", meta(sts).get("generation")),
            ("replicas", len(counted)),
            ("readyReplicas", ready),
            ("currentReplicas", current),
            ("updatedReplicas", updated),
            ("currentRevision", current_revision),
            ("updateRevision", revision),
            ("collisionCount", old_status.get("collisionCount", 0)),
            ("availableReplicas", available),
        ], keep_zero=("replicas", "collisionCount", "availableReplicas"))
        if status != old_status:
            body = copy.deepcopy(sts)
            body["status"] = status
            try:
                self.api.update(STS, meta(sts)["namespace"], meta(sts)["name"], body, subresource="status",
                                user=self.user)
            except ApiError as err:
                if not is_not_found(err):
                    raise
