"""Deployment controller (pkg/controller/deployment), spec §2.

It claims ReplicaSets (not pods) and only watches pods for deletion (Recreate). The new RS is the one whose
template equals the Deployment's template ignoring `pod-template-hash`; it is named `<deployment>-<hash>` and
the hash label goes into its labels, selector and template. Rolling updates follow rolling.go:
reconcileNewReplicaSet (maxSurge) then reconcileOldReplicaSets (maxUnavailable, unhealthy pods first), so
readiness gates progress. Old ReplicaSets stay at 0 replicas up to revisionHistoryLimit.
"""
from __future__ import annotations

import copy

from kubesim.controllers.base import (Controller, RefManager, controller_ref, format_time, int_or_percent,
                                      is_already_exists, is_being_deleted, is_not_found, meta, new_controller_ref,
                                      now, ordered_status, parse_time, selector_matches)
from kubesim.controllers.hashing import compute_hash, template_without_label
from kubesim.errors import ApiError

DEPLOY = "deployments.apps"
RS = "replicasets.apps"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
# Annotations not copied from the Deployment to its ReplicaSets (skipCopyAnnotation).
_SKIP_ANNOTATIONS = {REVISION, DESIRED_REPLICAS, MAX_REPLICAS, REVISION_HISTORY,
                     "kubectl.kubernetes.io/last-applied-configuration"}


def _replicas(obj: dict) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _revision(rs: dict) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _round_half_away(x: float) -> int:
    """integer.RoundToInt32: math.Round, halves away from zero."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def _created(rs: dict) -> tuple:
    return (meta(rs).get("creationTimestamp") or "", meta(rs).get("name"))


class DeploymentController(Controller):
    name = "deployment-controller"
    kind = "Deployment"
    api_version = "apps/v1"

    def __init__(self, cluster):
        super().__init__(cluster)
        self._created_rs_name: str | None = None  # the ReplicaSet created by the current sync, if any

    def initial_keys(self):
        return [(meta(d)["namespace"], meta(d)["name"]) for d in self.store.list(DEPLOY)]

    # ------------------------------------------------------------------------------------------- events
    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == DEPLOY:
            m = meta(ev.obj)
            self.enqueue((m["namespace"], m["name"]))
        elif key == RS:
            self._on_rs(ev)
        elif key == "pods" and ev.type == "DELETED":
            # deletePod: only Recreate rollouts wait for old pods to disappear.
            ref = controller_ref(ev.obj)
            if ref and ref.get("kind") == "ReplicaSet":
                rs = self.store.get(RS, meta(ev.obj)["namespace"], ref.get("name"))
                dref = controller_ref(rs) if rs else None
                if dref and dref.get("kind") == self.kind:
                    self.enqueue((meta(ev.obj)["namespace"], dref["name"]))

    def _on_rs(self, ev) -> None:
        rs = ev.obj
        ns = meta(rs)["namespace"]
        refs = [controller_ref(rs)]
        if ev.old is not None:
            refs.append(controller_ref(ev.old))
        found = False
        for ref in refs:
            if ref and ref.get("kind") == self.kind:
                self.enqueue((ns, ref["name"]))
                found = True
        if not found and ev.type != "DELETED":
            for d in self.store.list(DEPLOY, ns):  # an orphan RS: the deployments that may adopt it
                if selector_matches((d.get("spec") or {}).get("selector"), meta(rs).get("labels")):
                    self.enqueue((ns, meta(d)["name"]))

    # --------------------------------------------------------------------------------------------- sync
    def sync(self, key):
        ns, name = key
        d = self.store.get(DEPLOY, ns, name)
        if d is None:
            return None
        spec = d.get("spec") or {}
        selector = spec.get("selector")
        uid = meta(d)["uid"]
        if is_being_deleted(d):
            return None
        if not selector or selector == {}:
            # "This deployment is selecting all pods. A non-empty selector is required."
            self.record(d, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.",
                        type="Warning")
            return None
        candidates = [r for r in self.store.list(RS, ns) if (controller_ref(r) or {}).get("uid", uid) == uid]
        manager = RefManager(self, d, DEPLOY, self.api_version, self.kind, RS,
                             match=lambda r: selector_matches(selector, meta(r).get("labels")))
        rs_list = manager.claim(candidates)
        self._created_rs_name = None

        if spec.get("paused") or self.is_scaling_event(d, rs_list):
            # dc.sync: only scale (proportionally during a rollout), no rollout step.
            new_rs, old_rss = self.get_all_replica_sets(d, rs_list, create=False)
            self.scale(d, new_rs, old_rss)
            new_rs = self._refresh([new_rs])[0] if new_rs else None
            old_rss = self._refresh(old_rss)
            if not spec.get("paused"):
                self.cleanup(d, old_rss)
            return self.sync_status(d, ([new_rs] if new_rs else []) + old_rss, new_rs, rollout=False)

        strategy = (spec.get("strategy") or {}).get("type") or "RollingUpdate"
        # rolloutRecreate looks for the new ReplicaSet without creating it: it is created only once the old
        # pods are gone.
        new_rs, old_rss = self.get_all_replica_sets(d, rs_list, create=strategy != "Recreate")
        if strategy == "Recreate":
            new_rs = self.rollout_recreate(d, new_rs, old_rss)
        else:
            self.rollout_rolling(d, new_rs, old_rss)
        new_rs = self._refresh([new_rs])[0] if new_rs else None
        old_rss = self._refresh(old_rss)
        self.cleanup(d, old_rss)
        return self.sync_status(d, ([new_rs] if new_rs else []) + self._refresh(old_rss), new_rs, rollout=True)

    def _refresh(self, rss: list[dict]) -> list[dict]:
        out = []
        for rs in rss:
            if rs is None:
                continue
            cur = self.store.get(RS, meta(rs)["namespace"], meta(rs)["name"])
            if cur is not None and meta(cur).get("uid") == meta(rs).get("uid"):
                out.append(cur)
        return out

    # ------------------------------------------------------------------------------------- new replica set
    def find_new_rs(self, d: dict, rs_list: list[dict]) -> dict | None:
        """FindNewReplicaSet: the oldest RS whose template equals the Deployment's, ignoring the hash label."""
        want = template_without_label((d.get("spec") or {}).get("template") or {}, HASH_LABEL)
        for rs in sorted(rs_list, key=_created):
            have = template_without_label((rs.get("spec") or {}).get("template") or {}, HASH_LABEL)
            if have == want:
                return rs
        return None

    def get_all_replica_sets(self, d: dict, rs_list: list[dict], create: bool):
        new_rs = self.find_new_rs(d, rs_list)
        old_rss = [r for r in rs_list if new_rs is None or meta(r)["uid"] != meta(new_rs)["uid"]]
        max_old_revision = max((_revision(r) for r in old_rss), default=0)
        new_revision = str(max_old_revision + 1)
        if new_rs is not None:
            annotations = meta(new_rs).get("annotations") or {}
            # SetNewReplicaSetAnnotations: revision and copied annotations only; the desired/max replicas
            # annotations change only when the ReplicaSet is scaled (they detect scaling events).
            changed = self._rs_annotations(d, new_rs, new_revision if _revision(new_rs) <= max_old_revision
                                           else annotations.get(REVISION, new_revision), replica_counts=False)
            if changed != annotations:
                body = copy.deepcopy(new_rs)
                body["metadata"]["annotations"] = changed
                new_rs = self.api.update(RS, meta(d)["namespace"], meta(new_rs)["name"], body, user=self.user)
            self._set_deployment_revision(d, (meta(new_rs).get("annotations") or {}).get(REVISION))
            return new_rs, old_rss
        if not create:
            return None, old_rss
        return self.create_new_rs(d, old_rss, new_revision), old_rss

    def _rs_annotations(self, d: dict, rs: dict, revision: str, replica_counts: bool = True) -> dict:
        annotations = dict(meta(rs).get("annotations") or {})
        for k, v in (meta(d).get("annotations") or {}).items():
            if k not in _SKIP_ANNOTATIONS:
                annotations[k] = v
        annotations[REVISION] = revision
        if replica_counts:
            annotations[DESIRED_REPLICAS] = str(_replicas(d))
            annotations[MAX_REPLICAS] = str(_replicas(d) + self.max_surge(d))
        return annotations

    def _set_deployment_revision(self, d: dict, revision: str | None) -> None:
        if not revision:
            return
        cur = self.store.get(DEPLOY, meta(d)["namespace"], meta(d)["name"]) or d
        if (meta(cur).get("annotations") or {}).get(REVISION) == revision:
            return
        self.api.patch(DEPLOY, meta(d)["namespace"], meta(d)["name"],
                       {"metadata": {"annotations": {REVISION: revision}}}, "merge", user=self.user)

    def create_new_rs(self, d: dict, old_rss: list[dict], revision: str) -> dict | None:
        spec = d.get("spec") or {}
        ns = meta(d)["namespace"]
        collision_count = (d.get("status") or {}).get("collisionCount")
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = compute_hash(template, collision_count)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        labels = dict(template["metadata"]["labels"])
        rs_name = f"{meta(d)['name']}-{pod_hash}"
        body = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "labels": labels,
                         "ownerReferences": [new_controller_ref(d, self.api_version, self.kind)]},
            "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds") or 0,
                     "selector": selector, "template": template},
        }
        body["metadata"]["annotations"] = self._rs_annotations(d, body, revision)
        new_replicas = self.new_rs_new_replicas(d, old_rss, None)
        body["spec"]["replicas"] = new_replicas
        body["metadata"]["annotations"][DESIRED_REPLICAS] = str(_replicas(d))
        try:
            created = self.api.create(RS, ns, body, user=self.user)
        except ApiError as err:
            if not is_already_exists(err):
                raise
            existing = self.store.get(RS, ns, rs_name)
            ours = existing is not None and (controller_ref(existing) or {}).get("uid") == meta(d)["uid"]
            if ours and template_without_label(existing["spec"]["template"], HASH_LABEL) == \
                    template_without_label(spec.get("template") or {}, HASH_LABEL):
                return existing
            # A hash collision: bump status.collisionCount and try again with a different hash.
            status = copy.deepcopy(d.get("status") or {})
            status["collisionCount"] = int(collision_count or 0) + 1
            cur = copy.deepcopy(self.store.get(DEPLOY, ns, meta(d)["name"]) or d)
            cur["status"] = status
            self.api.update(DEPLOY, ns, meta(d)["name"], cur, subresource="status", user=self.user)
            raise
        self._created_rs_name = rs_name
        if new_replicas > 0:
            self.record(d, "ScalingReplicaSet", f"Scaled up replica set {rs_name} from 0 to {new_replicas}")
        self._set_deployment_revision(d, revision)
        return created

    # -------------------------------------------------------------------------------------------- scaling
    def max_surge(self, d: dict) -> int:
        surge, _ = self.resolve_fenceposts(d)
        return surge

    def resolve_fenceposts(self, d: dict) -> tuple[int, int]:
        """ResolveFenceposts: maxSurge rounds up, maxUnavailable rounds down; both 0 means maxUnavailable 1."""
        spec = d.get("spec") or {}
        strategy = spec.get("strategy") or {}
        if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
            return 0, 0
        rolling = strategy.get("rollingUpdate") or {}
        replicas = _replicas(d)
        surge = int_or_percent(rolling.get("maxSurge", "25%"), replicas, True)
        unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def new_rs_new_replicas(self, d: dict, all_rss: list[dict], new_rs: dict | None) -> int:
        strategy = ((d.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate"
        replicas = _replicas(d)
        if strategy != "RollingUpdate":
            return replicas
        new_count = _replicas(new_rs) if new_rs else 0
        surge = self.max_surge(d)
        current = sum(_replicas(r) for r in all_rss) + (new_count if new_rs is not None and
                                                         all(meta(r)["uid"] != meta(new_rs)["uid"]
                                                             for r in all_rss) else 0)
        max_total = replicas + surge
        if current >= max_total:
            return new_count
        scale_up = min(max_total - current, replicas - new_count)
        return new_count + max(scale_up, 0)

    def scale_rs(self, d: dict, rs: dict, new_replicas: int) -> dict:
        old = _replicas(rs)
        annotations = self._rs_annotations(d, rs, (meta(rs).get("annotations") or {}).get(REVISION, "1"))
        if old == new_replicas and annotations == (meta(rs).get("annotations") or {}):
            return rs
        body = copy.deepcopy(rs)
        body["spec"]["replicas"] = new_replicas
        body["metadata"]["annotations"] = annotations
        updated = self.api.update(RS, meta(rs)["namespace"], meta(rs)["name"], body, user=self.user)
        if old != new_replicas:
            direction = "up" if new_replicas > old else "down"
            self.record(d, "ScalingReplicaSet",
                        f"Scaled {direction} replica set {meta(rs)['name']} from {old} to {new_replicas}")
        return updated

    def is_scaling_event(self, d: dict, rs_list: list[dict]) -> bool:
        """isScalingEvent: an active ReplicaSet's desired-replicas annotation differs from spec.replicas."""
        for rs in rs_list:
            if _replicas(rs) <= 0:
                continue
            desired = (meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS)
            if desired is not None and desired != str(_replicas(d)):
                return True
        return False

    def scale(self, d: dict, new_rs: dict | None, old_rss: list[dict]) -> None:
        """dc.scale: one active ReplicaSet takes all replicas; a saturated new one empties the old ones;
        otherwise (RollingUpdate) the change is spread proportionally, leftovers to the largest."""
        replicas = _replicas(d)
        active = [r for r in old_rss + ([new_rs] if new_rs else []) if _replicas(r) > 0]
        if len(active) <= 1:
            if active:
                target = active[0]
            elif new_rs is not None:
                target = new_rs
            elif old_rss:
                target = max(old_rss, key=_created)
            else:
                return
            self.scale_rs(d, target, replicas)
            return
        new_desired = (meta(new_rs).get("annotations") or {}).get(DESIRED_REPLICAS) if new_rs else None
        if new_rs is not None and _replicas(new_rs) == replicas and new_desired == str(replicas) and \
                int((new_rs.get("status") or {}).get("availableReplicas") or 0) == replicas:
            for rs in old_rss:
                if _replicas(rs) > 0:
                    self.scale_rs(d, rs, 0)
            return
        strategy = ((d.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate"
        if strategy != "RollingUpdate":
            return
        allowed = replicas + self.max_surge(d) if replicas > 0 else 0
        to_add = allowed - sum(_replicas(r) for r in active)
        # scaling up: the biggest and newest first; scaling down: the biggest and oldest first
        active.sort(key=_created, reverse=to_add > 0)
        active.sort(key=lambda r: -_replicas(r))  # stable: size first, then the age order above
        sizes: dict[str, int] = {}
        added = 0
        for rs in active:
            if to_add != 0:
                proportion = self._proportion(d, rs, to_add, added)
                sizes[meta(rs)["name"]] = _replicas(rs) + proportion
                added += proportion
            else:
                sizes[meta(rs)["name"]] = _replicas(rs)
        for i, rs in enumerate(active):
            name = meta(rs)["name"]
            if i == 0 and to_add != 0:
                sizes[name] = max(sizes[name] + to_add - added, 0)
            self.scale_rs(d, rs, sizes[name])

    def _proportion(self, d: dict, rs: dict, to_add: int, added: int) -> int:
        """GetProportion / getReplicaSetFraction, with the max-replicas annotation as the size before scaling."""
        if _replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        replicas = _replicas(d)
        if replicas == 0:
            fraction = -_replicas(rs)
        else:
            max_now = replicas + self.max_surge(d)
            try:
                max_before = int((meta(rs).get("annotations") or {}).get(MAX_REPLICAS, "0"))
            except ValueError:
                max_before = 0
            if max_before == 0:
                max_before = int((d.get("status") or {}).get("replicas") or 0) or max_now
            fraction = _round_half_away(_replicas(rs) * max_now / max_before) - _replicas(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def rollout_recreate(self, d: dict, new_rs: dict | None, old_rss: list[dict]) -> dict | None:
        """Scale every old ReplicaSet to 0, wait until their pods are gone, then create/scale the new one."""
        scaled = False
        for rs in old_rss:
            if _replicas(rs) != 0:
                self.scale_rs(d, rs, 0)
                scaled = True
        if scaled:
            return new_rs
        ns = meta(d)["namespace"]
        old_uids = {meta(r)["uid"] for r in old_rss}
        for pod in self.store.list("pods", ns):
            if (controller_ref(pod) or {}).get("uid") in old_uids and \
                    (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return new_rs  # wait for old pods to be gone (a pod DELETED event wakes us up)
        if new_rs is None:
            max_old_revision = max((_revision(r) for r in old_rss), default=0)
            return self.create_new_rs(d, old_rss, str(max_old_revision + 1))
        return self.scale_rs(d, new_rs, _replicas(d))

    def rollout_rolling(self, d: dict, new_rs: dict | None, old_rss: list[dict]) -> None:
        replicas = _replicas(d)
        if new_rs is not None:
            # reconcileNewReplicaSet
            if _replicas(new_rs) > replicas:
                new_rs = self.scale_rs(d, new_rs, replicas)
            elif _replicas(new_rs) < replicas:
                target = self.new_rs_new_replicas(d, old_rss + [new_rs], new_rs)
                new_rs = self.scale_rs(d, new_rs, target)
            else:
                new_rs = self.scale_rs(d, new_rs, replicas)  # keeps the annotations current
        old_rss = self._refresh(old_rss)
        if new_rs is not None and sum(_replicas(r) for r in old_rss) == 0:
            return
        if new_rs is None:
            return
        # reconcileOldReplicaSets
        all_rss = old_rss + [new_rs]
        _, max_unavailable = self.resolve_fenceposts(d)
        min_available = replicas - max_unavailable
        new_status = new_rs.get("status") or {}
        new_unavailable = _replicas(new_rs) - int(new_status.get("availableReplicas") or 0)
        max_scaled_down = sum(_replicas(r) for r in all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return
        # cleanupUnhealthyReplicas: old RSs' unavailable pods go first.
        cleaned = 0
        for rs in sorted(old_rss, key=_created):
            if cleaned >= max_scaled_down:
                break
            if _replicas(rs) == 0:
                continue
            unhealthy = _replicas(rs) - int((rs.get("status") or {}).get("availableReplicas") or 0)
            if unhealthy <= 0:
                continue
            down = min(max_scaled_down - cleaned, unhealthy)
            self.scale_rs(d, rs, _replicas(rs) - down)
            cleaned += down
        old_rss = self._refresh(old_rss)
        all_rss = old_rss + [new_rs]
        # scaleDownOldReplicaSetsForRollingUpdate
        available = sum(int((r.get("status") or {}).get("availableReplicas") or 0) for r in all_rss)
        if available <= min_available:
            return
        total_down = min(available - min_available, max_scaled_down - cleaned)
        for rs in sorted(old_rss, key=_created):
            if total_down <= 0:
                break
            if _replicas(rs) == 0:
                continue
            down = min(_replicas(rs), total_down)
            self.scale_rs(d, rs, _replicas(rs) - down)
            total_down -= down

    def cleanup(self, d: dict, old_rss: list[dict]) -> None:
        """cleanupDeployment: delete the oldest idle ReplicaSets beyond revisionHistoryLimit (default 10)."""
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        idle = [r for r in old_rss if _replicas(r) == 0 and int((r.get("status") or {}).get("replicas") or 0) == 0
                and not is_being_deleted(r)]
        excess = len(idle) - limit
        if excess <= 0:
            return
        for rs in sorted(idle, key=lambda r: (_revision(r), _created(r)))[:excess]:
            try:
                self.api.delete(RS, meta(rs)["namespace"], meta(rs)["name"], user=self.user)
            except ApiError as err:
                if not is_not_found(err):
                    raise

    # --------------------------------------------------------------------------------------------- status
    def sync_status(self, d: dict, rss: list[dict], new_rs: dict | None = None, rollout: bool = True):
        """calculateStatus (+ syncRolloutStatus when `rollout`): counts, the Available condition, and the
        Progressing condition with its progress deadline. Returns a requeue delay for the deadline."""
        d = self.store.get(DEPLOY, meta(d)["namespace"], meta(d)["name"]) or d
        spec = d.get("spec") or {}
        replicas = _replicas(d)

        def total(field):
            return sum(int((r.get("status") or {}).get(field) or 0) for r in rss)

        available = total("availableReplicas")
        _, max_unavailable = self.resolve_fenceposts(d)
        old_status = d.get("status") or {}
        conditions = {c["type"]: dict(c) for c in old_status.get("conditions") or []}
        stamp = format_time()

        def set_condition(ctype, status, reason, message, force_update=False):
            """SetDeploymentCondition: same status and reason keep the old condition (unless progress is being
            recorded); a new status resets lastTransitionTime."""
            cur = conditions.get(ctype)
            if cur and cur.get("status") == status and cur.get("reason") == reason and not force_update:
                return
            transition = cur["lastTransitionTime"] if cur and cur.get("status") == status else stamp
            conditions[ctype] = {"type": ctype, "status": status, "lastUpdateTime": stamp,
                                 "lastTransitionTime": transition, "reason": reason, "message": message}

        if available >= replicas - max_unavailable:
            set_condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            set_condition("Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.")
        updated = int((new_rs.get("status") or {}).get("replicas") or 0) if new_rs else 0
        new_counts = {"replicas": total("replicas"), "updatedReplicas": updated,
                      "readyReplicas": total("readyReplicas"), "availableReplicas": available}
        requeue = None
        deadline = spec.get("progressDeadlineSeconds")
        if rollout and new_rs is not None and not spec.get("paused"):
            rs_name = meta(new_rs)["name"]
            if self._created_rs_name == rs_name:
                set_condition("Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"',
                              force_update=True)
            elif "Progressing" not in conditions and deadline is not None:
                set_condition("Progressing", "True", "FoundNewReplicaSet", f'Found new replica set "{rs_name}"')
            old_old = int(old_status.get("replicas") or 0) - int(old_status.get("updatedReplicas") or 0)
            new_old = new_counts["replicas"] - updated
            complete = (updated == replicas and new_counts["replicas"] == replicas and available == replicas)
            progressing = (updated > int(old_status.get("updatedReplicas") or 0) or new_old < old_old
                           or new_counts["readyReplicas"] > int(old_status.get("readyReplicas") or 0)
                           or available > int(old_status.get("availableReplicas") or 0))
            cur = conditions.get("Progressing")
            if complete:
                set_condition("Progressing", "True", "NewReplicaSetAvailable",
                              f'ReplicaSet "{rs_name}" has successfully progressed.')
            elif progressing:
                set_condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.',
                              force_update=True)
            elif deadline is not None and cur is not None and cur.get("reason") != "NewReplicaSetAvailable":
                since = parse_time(cur.get("lastUpdateTime"))
                if cur.get("reason") == "ProgressDeadlineExceeded":
                    pass
                elif since is not None and (now() - since).total_seconds() > int(deadline):
                    set_condition("Progressing", "False", "ProgressDeadlineExceeded",
                                  f'ReplicaSet "{rs_name}" has timed out progressing.')
                elif since is not None:
                    requeue = max(0.05, int(deadline) - (now() - since).total_seconds() + 0.05)
        order = [c for c in ("Available", "Progressing") if c in conditions]
        order += [t for t in conditions if t not in order]
        status = ordered_status([
            ("observedGeneration", meta(d).get("generation")),
            ("replicas", new_counts["replicas"]),
            ("updatedReplicas", updated),
            ("readyReplicas", new_counts["readyReplicas"]),
            ("availableReplicas", available),
            ("unavailableReplicas", max(replicas - available, 0)),
            ("conditions", [conditions[t] for t in order]),
            ("collisionCount", old_status.get("collisionCount")),
        ])
        if status != old_status:
            body = copy.deepcopy(d)
            body["status"] = status
            try:
                self.api.update(DEPLOY, meta(d)["namespace"], meta(d)["name"], body, subresource="status",
                                user=self.user)
            except ApiError as err:
                if not is_not_found(err):
                    raise
        return requeue
