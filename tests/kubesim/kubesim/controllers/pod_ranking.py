"""Which pods a ReplicaSet deletes first when it has too many: `ActivePodsWithRanks.Less` from
pkg/controller/controller_utils.go (v1.31), as the spec gives it in §1.3. Pure functions, no cluster access.

"First" means deleted first. The rules are applied in order until one decides:
  1. unassigned (no spec.nodeName) before assigned;
  2. phase Pending < Unknown < Running;
  3. not Ready before Ready;
  4. lower controller.kubernetes.io/pod-deletion-cost before higher (invalid values count as 0);
  5. higher rank (more active related pods on the same node) before lower;
  6. both Ready: the one Ready for less time, compared in floor(log2(nanoseconds)) buckets; the same bucket
     decides by UID (smaller first) and stops; a zero time counts as "later";
  7. higher maximum container restartCount (regular containers, then restartable init containers) first;
  8. newer creationTimestamp first (same log2 buckets and UID tie-break); a zero timestamp first;
  9. otherwise equal.
"""
from __future__ import annotations

import datetime
import functools
import math
import re

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1
_COST_SYNTAX = re.compile(r"-[0-9]+|0|[1-9][0-9]*", re.ASCII)


def _parse_time(value) -> datetime.datetime | None:
    if not value:
        return None
    if isinstance(value, datetime.datetime):
        return value
    try:
        t = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)


def deletion_cost(pod: dict) -> int:
    """helper.GetDeletionCostFromPodAnnotations: an int32. Values Go rejects ("+1", "007", "1_000", " 5", "",
    out of int32 range) count as 0."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    # validFirstDigit, then strconv.ParseInt(value, 10, 32)
    if value is None or not _COST_SYNTAX.fullmatch(value):
        return 0
    cost = int(value)
    return cost if _INT32_MIN <= cost <= _INT32_MAX else 0


def _ready_condition(pod: dict) -> dict | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def _is_ready(pod: dict) -> bool:
    cond = _ready_condition(pod)
    return bool(cond and cond.get("status") == "True")


def _ready_time(pod: dict) -> datetime.datetime | None:
    cond = _ready_condition(pod)
    if cond and cond.get("status") == "True":
        return _parse_time(cond.get("lastTransitionTime"))
    return None


def _max_restarts(pod: dict) -> tuple[int, int]:
    """maxContainerRestarts: (regular containers, restartable init containers i.e. sidecars)."""
    status = pod.get("status") or {}
    regular = max([cs.get("restartCount") or 0 for cs in status.get("containerStatuses") or []], default=0)
    sidecar_names = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []
                     if c.get("restartPolicy") == "Always"}
    sidecar = max([cs.get("restartCount") or 0 for cs in status.get("initContainerStatuses") or []
                   if cs.get("name") in sidecar_names], default=0)
    return regular, sidecar


def _after_or_zero(t1, t2) -> bool:
    """afterOrZero: a zero time sorts first, else the later time first."""
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _log2_bucket(t: datetime.datetime, now: datetime.datetime) -> int:
    nanos = (now - t) // datetime.timedelta(microseconds=1) * 1000
    return int(math.log2(nanos)) if nanos > 0 else -1


def _log_rank_diff(t1, t2, now) -> int:
    """logarithmicRankDiff: floor(log2(now - t)) of both, in nanoseconds, -1 for non-positive durations."""
    return _log2_bucket(t1, now) - _log2_bucket(t2, now)


def _uid(pod: dict) -> str:
    return (pod.get("metadata") or {}).get("uid") or ""


def _compare_times_log(t_i, t_j, pod_i, pod_j, now) -> bool:
    if now is None or t_i is None or t_j is None:
        return _after_or_zero(t_i, t_j)
    diff = _log_rank_diff(t_i, t_j, now)
    if diff == 0:
        return _uid(pod_i) < _uid(pod_j)
    return diff < 0


def delete_first(pod_i: dict, rank_i: int, pod_j: dict, rank_j: int, now: datetime.datetime) -> bool:
    """ActivePodsWithRanks.Less(i, j): True when pod_i should be deleted before pod_j."""
    node_i = (pod_i.get("spec") or {}).get("nodeName") or ""
    node_j = (pod_j.get("spec") or {}).get("nodeName") or ""
    # 1. unassigned < assigned
    if node_i != node_j and (not node_i or not node_j):
        return not node_i
    # 2. Pending < Unknown < Running
    ph_i = _PHASE_ORDINAL.get((pod_i.get("status") or {}).get("phase") or "", 0)
    ph_j = _PHASE_ORDINAL.get((pod_j.get("status") or {}).get("phase") or "", 0)
    if ph_i != ph_j:
        return ph_i < ph_j
    # 3. not ready < ready
    ready_i, ready_j = _is_ready(pod_i), _is_ready(pod_j)
    if ready_i != ready_j:
        return not ready_i
    # 4. lower pod-deletion-cost < higher
    cost_i, cost_j = deletion_cost(pod_i), deletion_cost(pod_j)
    if cost_i != cost_j:
        return cost_i < cost_j
    # 5. doubled up (higher rank) < not doubled up
    if rank_i != rank_j:
        return rank_i > rank_j
    # 6. both ready: ready for less time first (LogarithmicScaleDown)
    if ready_i and ready_j:
        t_i, t_j = _ready_time(pod_i), _ready_time(pod_j)
        if t_i != t_j:
            return _compare_times_log(t_i, t_j, pod_i, pod_j, now)
    # 7. more container restarts first
    restarts_i, restarts_j = _max_restarts(pod_i), _max_restarts(pod_j)
    if restarts_i[0] != restarts_j[0]:
        return restarts_i[0] > restarts_j[0]
    if restarts_i[1] != restarts_j[1]:
        return restarts_i[1] > restarts_j[1]
    # 8. empty creation time < newer < older
    c_i = _parse_time((pod_i.get("metadata") or {}).get("creationTimestamp"))
    c_j = _parse_time((pod_j.get("metadata") or {}).get("creationTimestamp"))
    if c_i != c_j:
        return _compare_times_log(c_i, c_j, pod_i, pod_j, now)
    return False


def rank_by_related_pods_on_node(pods: list[dict], related_pods: list[dict]) -> list[int]:
    """getPodsRankedByRelatedPodsOnSameNode: rank = active related pods on the pod's node."""
    on_node: dict[str, int] = {}
    for pod in related_pods:
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        node = (pod.get("spec") or {}).get("nodeName") or ""
        on_node[node] = on_node.get(node, 0) + 1
    return [on_node.get((pod.get("spec") or {}).get("nodeName") or "", 0) for pod in pods]


def pods_to_delete(pods: list[dict], related_pods: list[dict], count: int,
                   now: datetime.datetime | None = None) -> list[dict]:
    """getPodsToDelete: the `count` pods to delete first. Sorting happens only when not all of them go."""
    if count >= len(pods):
        return list(pods[:count])
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ranks = rank_by_related_pods_on_node(pods, related_pods)
    ranked = list(zip(pods, ranks))

    def cmp(a, b):
        if delete_first(a[0], a[1], b[0], b[1], now):
            return -1
        if delete_first(b[0], b[1], a[0], a[1], now):
            return 1
        return 0

    ranked.sort(key=functools.cmp_to_key(cmp))
    return [pod for pod, _ in ranked[:count]]
