"""ReplicaSet controller (pkg/controller/replicaset/replica_set.go), spec §1.

One sync: the pods owned by this RS plus the namespace's orphans, active ones only; claim them (release owned
pods whose labels no longer match, adopt matching orphans); create or delete pods so the count equals
spec.replicas, in the same pass; then write the status. Replacements therefore appear milliseconds after a
relabel, and a re-adopted pod makes the surplus pod go in the same pass, chosen by the real ranking (§1.3).
"""
from __future__ import annotations

from kubesim.controllers import pod_ranking
from kubesim.controllers.base import (Controller, RefManager, controller_ref, format_time, is_being_deleted,
                                      is_not_found, is_pod_active, is_pod_available, is_pod_ready, meta,
                                      new_controller_ref, ordered_status, pod_from_template, pod_ready_time,
                                      selector_matches)
from kubesim.errors import ApiError

RS = "replicasets.apps"
BURST_REPLICAS = 500  # burstReplicas: the most pods created or deleted in one sync


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    kind = "ReplicaSet"
    api_version = "apps/v1"

    def initial_keys(self):
        return [(meta(rs)["namespace"], meta(rs)["name"]) for rs in self.store.list(RS)]

    # ------------------------------------------------------------------------------------------- events
    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == RS:
            m = meta(ev.obj)
            self.enqueue((m.get("namespace"), m["name"]))
        elif key == "pods":
            self._on_pod(ev)

    def _enqueue_ref(self, pod: dict, ref: dict | None) -> bool:
        if ref is None or ref.get("kind") != self.kind:
            return False
        ns = meta(pod).get("namespace")
        owner = self.store.get(RS, ns, ref.get("name"))
        if owner is not None and meta(owner).get("uid") == ref.get("uid"):
            self.enqueue((ns, ref["name"]))
        return True

    def _enqueue_matching(self, pod: dict) -> None:
        """getPodReplicaSets: every RS in the namespace whose selector matches the orphan."""
        ns = meta(pod).get("namespace")
        labels = meta(pod).get("labels") or {}
        for rs in self.store.list(RS, ns):
            if selector_matches((rs.get("spec") or {}).get("selector"), labels):
                self.enqueue((ns, meta(rs)["name"]))

    def _on_pod(self, ev) -> None:
        pod = ev.obj
        cur_ref = controller_ref(pod)
        if ev.type == "ADDED":
            if cur_ref is not None:
                self._enqueue_ref(pod, cur_ref)
            elif not is_being_deleted(pod):
                self._enqueue_matching(pod)  # adoption candidates
            return
        if ev.type == "DELETED":
            self._enqueue_ref(pod, cur_ref)
            return
        old = ev.old or {}
        if meta(old).get("resourceVersion") == meta(pod).get("resourceVersion"):
            return
        labels_changed = (meta(old).get("labels") or {}) != (meta(pod).get("labels") or {})
        old_ref = controller_ref(old)
        ref_changed = (old_ref or {}).get("uid") != (cur_ref or {}).get("uid")
        if ref_changed and old_ref is not None:
            self._enqueue_ref(pod, old_ref)
        if cur_ref is not None:
            self._enqueue_ref(pod, cur_ref)
            return
        if labels_changed or ref_changed:
            self._enqueue_matching(pod)

    # --------------------------------------------------------------------------------------------- sync
    def sync(self, key):
        ns, name = key
        rs = self.store.get(RS, ns, name)
        if rs is None:
            return None
        spec = rs.get("spec") or {}
        uid = meta(rs)["uid"]
        selector = spec.get("selector")
        # FilterPodsByOwner (owned by this UID, plus orphans), then FilterActivePods.
        candidates = [p for p in self.store.list("pods", ns)
                      if is_pod_active(p) and ((controller_ref(p) or {}).get("uid", uid) == uid)]
        manager = RefManager(self, rs, RS, self.api_version, self.kind, "pods",
                             match=lambda p: selector_matches(selector, meta(p).get("labels")))
        active = manager.claim(candidates)

        manage_error = None
        if not is_being_deleted(rs):
            try:
                self.manage_replicas(rs, active)
            except ApiError as err:
                manage_error = err
        requeue = self.update_status(rs, active, manage_error)
        if manage_error is not None:
            raise manage_error
        return requeue

    def manage_replicas(self, rs: dict, active: list[dict]) -> None:
        want = int((rs.get("spec") or {}).get("replicas", 1))
        diff = len(active) - want
        if diff < 0:
            self.create_pods(rs, min(-diff, BURST_REPLICAS))
        elif diff > 0:
            self.delete_pods(rs, active, min(diff, BURST_REPLICAS))

    def create_pods(self, rs: dict, count: int) -> None:
        """slowStartBatch(count, 1, ...): batches of 1, 2, 4, ... and stop after the first batch with a failure."""
        template = (rs.get("spec") or {}).get("template") or {}
        if not (template.get("metadata") or {}).get("labels"):
            raise ApiError({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": "unable to create pods, no labels", "reason": "Invalid", "code": 422})
        ref = new_controller_ref(rs, self.api_version, self.kind)
        ns = meta(rs)["namespace"]
        remaining, batch = count, 1
        while remaining > 0:
            size = min(batch, remaining)
            failure = None
            for _ in range(size):
                body = pod_from_template(template, rs, ref)
                try:
                    pod = self.api.create("pods", ns, body, user=self.user)
                except ApiError as err:
                    self.record(rs, "FailedCreate", f"Error creating: {err}", type="Warning")
                    failure = failure or err
                    continue
                self.record(rs, "SuccessfulCreate", f"Created pod: {meta(pod)['name']}")
            if failure is not None:
                raise failure
            remaining -= size
            batch *= 2

    def related_pods(self, rs: dict) -> list[dict]:
        """getIndirectlyRelatedPods: pods selected by any RS with the same controller (the same Deployment)."""
        owner = controller_ref(rs)
        if owner is None:
            return []
        ns = meta(rs)["namespace"]
        seen: set = set()
        related = []
        pods = self.store.list("pods", ns)
        for sibling in self.store.list(RS, ns):
            if (controller_ref(sibling) or {}).get("uid") != owner.get("uid"):
                continue
            sel = (sibling.get("spec") or {}).get("selector")
            for pod in pods:
                uid = meta(pod).get("uid")
                if uid not in seen and selector_matches(sel, meta(pod).get("labels")):
                    seen.add(uid)
                    related.append(pod)
        return related

    def delete_pods(self, rs: dict, active: list[dict], count: int) -> None:
        victims = pod_ranking.pods_to_delete(active, self.related_pods(rs), count)
        failure = self.delete_owned_pods(rs, victims)
        if failure is not None:
            raise failure

    # ------------------------------------------------------------------------------------------- status
    def update_status(self, rs: dict, active: list[dict], manage_error: ApiError | None):
        """calculateStatus + updateReplicaSetStatus; returns a requeue delay when pods will become available
        once minReadySeconds pass."""
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        fully_labeled = ready = available = 0
        for pod in active:
            labels = meta(pod).get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully_labeled += 1
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, min_ready):
                    available += 1
        old_status = rs.get("status") or {}
        conditions = [c for c in old_status.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        failure = next((c for c in old_status.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
        if manage_error is not None:
            if failure is None:
                diff = len(active) - int(spec.get("replicas", 1))
                reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
                failure = {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": format_time(),
                           "reason": reason, "message": str(manage_error)}
            conditions.append(failure)
        status = ordered_status([
            ("replicas", len(active)),
            ("fullyLabeledReplicas", fully_labeled),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("observedGeneration", meta(rs).get("generation")),
            ("conditions", conditions),
        ], keep_zero=("replicas",))
        for extra in ("terminatingReplicas",):
            if extra in old_status:
                status[extra] = old_status[extra]
        if status != old_status:
            body = dict(rs)
            body["status"] = status
            try:
                self.api.update(RS, meta(rs)["namespace"], meta(rs)["name"], body, subresource="status",
                                user=self.user)
            except ApiError as err:
                if not is_not_found(err):
                    raise
        if min_ready and ready == int(spec.get("replicas", 1)) and available != ready:
            # Wake up when the oldest not-yet-available ready pod crosses minReadySeconds.
            waits = []
            for pod in active:
                since = pod_ready_time(pod)
                if since is not None and not is_pod_available(pod, min_ready):
                    from kubesim.controllers.base import now
                    waits.append(min_ready - (now() - since).total_seconds())
            if waits:
                return max(0.01, min(waits) + 0.01)
        return None
