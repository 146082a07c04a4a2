"""Disruption controller (pkg/controller/disruption/disruption.go) and the PDB check of the eviction
subresource (pkg/registry/core/pod/storage/eviction.go).

Status: expectedPods, desiredHealthy (from minAvailable or maxUnavailable, ints or percentages; percentages and
maxUnavailable use the scale of the pods' controllers), currentHealthy (Ready pods not being deleted and not
just evicted), disruptionsAllowed = max(currentHealthy - desiredHealthy, 0), observedGeneration, the
DisruptionAllowed condition, and disruptedPods. `check_eviction(pod)` is what the eviction subresource asks.
"""
from __future__ import annotations

import copy
import datetime

from kubesim.controllers.base import (Controller, controller_ref, format_time, int_or_percent, is_being_deleted,
                                      is_not_found, is_pod_ready, meta, now, parse_time, selector_matches)
from kubesim import errors
from kubesim.errors import ApiError

PDB = "poddisruptionbudgets.policy"
DELETION_TIMEOUT = datetime.timedelta(minutes=2)  # how long an evicted pod counts as disrupted
NEGATIVE_BUDGET_MESSAGE = "pdb disruptions allowed is negative"
TOO_MANY_REQUESTS_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."


class SyncFailed(Exception):
    pass


class DisruptionController(Controller):
    name = "disruption-controller"

    @property
    def event_component(self) -> str:
        return "controllermanager"  # the disruption controller's recorder source

    def initial_keys(self):
        return [(meta(p)["namespace"], meta(p)["name"]) for p in self.store.list(PDB)]

    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == PDB:
            self.enqueue((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif key == "pods":
            ns = meta(ev.obj)["namespace"]
            label_sets = [meta(ev.obj).get("labels")] + ([meta(ev.old).get("labels")] if ev.old else [])
            for pdb in self.store.list(PDB, ns):
                sel = (pdb.get("spec") or {}).get("selector")
                if any(selector_matches(sel, labels) for labels in label_sets):
                    self.enqueue((ns, meta(pdb)["name"]))
        elif key in ("replicasets.apps", "deployments.apps", "statefulsets.apps"):
            ns = meta(ev.obj)["namespace"]
            for pdb in self.store.list(PDB, ns):
                self.enqueue((ns, meta(pdb)["name"]))

    # ----------------------------------------------------------------------------------------- computing
    def pods_for(self, pdb: dict) -> list[dict]:
        sel = (pdb.get("spec") or {}).get("selector")
        return [p for p in self.store.list("pods", meta(pdb)["namespace"])
                if selector_matches(sel, meta(p).get("labels"))]

    def controller_scale(self, pod: dict) -> tuple[str, int] | None:
        """The finders of getExpectedScale: RS (or its Deployment), StatefulSet, Deployment."""
        ref = controller_ref(pod)
        ns = meta(pod)["namespace"]
        if ref is None:
            return None
        kind = ref.get("kind")
        if kind == "ReplicaSet" and ref.get("apiVersion", "").startswith("apps/"):
            rs = self.store.get("replicasets.apps", ns, ref.get("name"))
            if rs is None or meta(rs)["uid"] != ref.get("uid"):
                return None
            dref = controller_ref(rs)
            if dref and dref.get("kind") == "Deployment":
                d = self.store.get("deployments.apps", ns, dref.get("name"))
                if d is not None and meta(d)["uid"] == dref.get("uid"):
                    return meta(d)["uid"], int((d.get("spec") or {}).get("replicas", 1))
                return None
            return meta(rs)["uid"], int((rs.get("spec") or {}).get("replicas", 1))
        if kind in ("StatefulSet", "Deployment"):
            key = "statefulsets.apps" if kind == "StatefulSet" else "deployments.apps"
            obj = self.store.get(key, ns, ref.get("name"))
            if obj is not None and meta(obj)["uid"] == ref.get("uid"):
                return meta(obj)["uid"], int((obj.get("spec") or {}).get("replicas", 1))
        return None

    def expected_scale(self, pods: list[dict]) -> int:
        scales: dict[str, int] = {}
        for pod in pods:
            if controller_ref(pod) is None:
                continue  # unmanaged pods are ignored for the expected count
            found = self.controller_scale(pod)
            if found is None:
                raise SyncFailed(f"found no controllers for pod {meta(pod)['name']!r}")
            scales[found[0]] = found[1]
        return sum(scales.values())

    def expected_and_desired(self, pdb: dict, pods: list[dict]) -> tuple[int, int]:
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is not None:
            expected = self.expected_scale(pods)
            max_unavailable = int_or_percent(spec["maxUnavailable"], expected, True)
            return expected, max(expected - max_unavailable, 0)
        if spec.get("minAvailable") is not None:
            value = spec["minAvailable"]
            if isinstance(value, int):
                return len(pods), value
            expected = self.expected_scale(pods)
            return expected, int_or_percent(value, expected, True)
        return len(pods), 0

    def disrupted_pods(self, pdb: dict, pods: list[dict]) -> dict[str, str]:
        """buildDisruptedPodMap: keep entries of pods that still exist, are not deleted and not expired."""
        entries = (pdb.get("status") or {}).get("disruptedPods") or {}
        by_name = {meta(p)["name"]: p for p in pods}
        current = now()
        kept = {}
        for name, stamp in entries.items():
            pod = by_name.get(name)
            when = parse_time(stamp)
            if pod is None or is_being_deleted(pod) or when is None or when + DELETION_TIMEOUT <= current:
                continue
            kept[name] = stamp
        return kept

    def current_healthy(self, pods: list[dict], disrupted: dict[str, str]) -> int:
        return sum(1 for p in pods if not is_being_deleted(p) and meta(p)["name"] not in disrupted
                   and is_pod_ready(p))

    # --------------------------------------------------------------------------------------------- sync
    def sync(self, key):
        ns, name = key
        pdb = self.store.get(PDB, ns, name)
        if pdb is None:
            return None
        pods = self.pods_for(pdb)
        old = pdb.get("status") or {}
        try:
            expected, desired = self.expected_and_desired(pdb, pods)
        except (SyncFailed, ValueError) as err:
            self.record(pdb, "CalculateExpectedPodCountFailed",
                        f"Failed to calculate the number of expected pods: {err}",
                        type="Warning")
            self.write_status(pdb, {**old, "disruptionsAllowed": 0,
                                    "observedGeneration": meta(pdb).get("generation")},
                              ("False", "SyncFailed", str(err)))
            return None
        disrupted = self.disrupted_pods(pdb, pods)
        healthy = self.current_healthy(pods, disrupted)
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        status = {"observedGeneration": meta(pdb).get("generation"), "disruptionsAllowed": allowed,
                  "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected}
        if disrupted:
            status["disruptedPods"] = disrupted
        condition = ("True", "SufficientPods", "") if allowed > 0 else ("False", "InsufficientPods", "")
        self.write_status(pdb, status, condition)
        # Re-check when the oldest disrupted entry expires.
        if disrupted:
            stamps = [parse_time(s) for s in disrupted.values()]
            left = min((t + DELETION_TIMEOUT - now()).total_seconds() for t in stamps if t)
            return max(left, 0.05)
        return None

    def write_status(self, pdb: dict, status: dict, condition: tuple[str, str, str]) -> None:
        old = pdb.get("status") or {}
        cstatus, reason, message = condition
        old_cond = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
        if old_cond and old_cond.get("status") == cstatus and old_cond.get("reason") == reason \
                and old_cond.get("message", "") == message \
                and old_cond.get("observedGeneration") == meta(pdb).get("generation"):
            cond = old_cond
        else:
            cond = {"type": "DisruptionAllowed", "status": cstatus,
                    "observedGeneration": meta(pdb).get("generation"),
                    "lastTransitionTime": old_cond["lastTransitionTime"]
                    if old_cond and old_cond.get("status") == cstatus else format_time(),
                    "reason": reason, "message": message}
        new_status = {k: v for k, v in status.items() if k != "conditions"}
        for k in ("currentHealthy", "desiredHealthy", "expectedPods", "disruptionsAllowed"):
            new_status.setdefault(k, 0)
        new_status["conditions"] = [cond]
        if new_status == old:
            return
        body = copy.deepcopy(pdb)
        body["status"] = new_status
        try:
            self.api.update(PDB, meta(pdb)["namespace"], meta(pdb)["name"], body, subresource="status",
                            user=self.user)
        except ApiError as err:
            if not is_not_found(err):
                raise

    # ------------------------------------------------------------------------------------------ eviction
    def check_eviction(self, pod: dict, dry_run: bool = False) -> tuple[bool, str]:
        """The PDB part of the eviction subresource. When a budget forbids the eviction it raises the real
        error (429 TooManyRequests with a DisruptionBudget cause and Retry-After 10, or 403 for a negative
        budget, or 500 for several budgets); otherwise it returns (True, "") after charging the budget
        (disruptionsAllowed - 1 and the pod in disruptedPods), as the real eviction does before deleting."""
        allowed, message, causes = self.evaluate_eviction(pod, dry_run=dry_run)
        if not allowed:
            if message == NEGATIVE_BUDGET_MESSAGE:
                pdb_name = causes[0]["pdb"] if causes else ""
                raise errors.forbidden_message(PDB, pdb_name, message)
            raise errors.too_many_requests(message, retry_after=10, causes=causes)
        return True, ""

    def evaluate_eviction(self, pod: dict, dry_run: bool = False) -> tuple[bool, str, list[dict]]:
        """(allowed, message, causes). Causes are StatusCause dicts for the 429 body."""
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") or is_being_deleted(pod):
            return True, "", []
        ns = meta(pod)["namespace"]
        pdbs = [p for p in self.store.list(PDB, ns)
                if selector_matches((p.get("spec") or {}).get("selector"), meta(pod).get("labels"))]
        if not pdbs:
            return True, "", []
        if len(pdbs) > 1:
            raise errors.internal("This pod has more than one PodDisruptionBudget, which the eviction subresource "
                           "does not support.")
        pdb = pdbs[0]
        status = pdb.get("status") or {}
        name = meta(pdb)["name"]
        # An unready pod does not count as healthy: it may go without charging the budget when the policy is
        # AlwaysAllow, or (IfHealthyBudget, the default) when the budget is currently met.
        if not is_pod_ready(pod):
            policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
            desired = int(status.get("desiredHealthy") or 0)
            if policy == "AlwaysAllow" or (int(status.get("currentHealthy") or 0) >= desired and desired > 0):
                return True, "", []
        if int(status.get("observedGeneration") or 0) < int(meta(pdb).get("generation") or 0):
            return False, TOO_MANY_REQUESTS_MESSAGE, [{
                "reason": "DisruptionBudget",
                "message": f"The disruption budget {name} is still being processed by the server."}]
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            return False, NEGATIVE_BUDGET_MESSAGE, [{"pdb": name}]
        if allowed == 0:
            return False, TOO_MANY_REQUESTS_MESSAGE, [{
                "reason": "DisruptionBudget",
                "message": f"The disruption budget {name} needs {int(status.get('desiredHealthy') or 0)} "
                           f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently"}]
        if dry_run:
            return True, "", []
        body = copy.deepcopy(pdb)
        body["status"]["disruptionsAllowed"] = allowed - 1
        body["status"].setdefault("disruptedPods", {})[meta(pod)["name"]] = format_time()
        self.api.update(PDB, ns, name, body, subresource="status", user=self.user)
        return True, "", []
