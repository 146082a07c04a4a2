"""Unit tests of the pure parts of the controllers: the scale-down ranking `ActivePodsWithRanks.Less` (§1.3),
the template hash of `pod-template-hash` (§2) and the Endpoints packing and truncation (§4). No cluster."""
from __future__ import annotations

import datetime

import pytest

from kubesim.controllers.hashing import SAFE_ALPHABET, compute_hash, fnv32a, safe_encode_string
from kubesim.controllers.pod_ranking import deletion_cost, delete_first, pods_to_delete, rank_by_related_pods_on_node

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ago(seconds: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name, uid=None, node="node-1", phase="Running", ready=True, ready_since=60, cost=None, restarts=0,
        created=3600, sidecar_restarts=None):
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": ago(ready_since) if ready_since is not None else None}]
    annotations = {"controller.kubernetes.io/pod-deletion-cost": cost} if cost is not None else {}
    spec = {"nodeName": node} if node else {}
    status = {"phase": phase, "conditions": conditions,
              "containerStatuses": [{"name": "app", "restartCount": restarts}]}
    if sidecar_restarts is not None:
        spec["initContainers"] = [{"name": "side", "restartPolicy": "Always"}]
        status["initContainerStatuses"] = [{"name": "side", "restartCount": sidecar_restarts}]
    return {"metadata": {"name": name, "uid": uid or f"uid-{name}", "annotations": annotations,
                         "creationTimestamp": ago(created) if created is not None else None},
            "spec": spec, "status": status}


def first(a, b, rank_a=0, rank_b=0):
    """Assert the rule puts `a` before `b` and is antisymmetric."""
    assert delete_first(a, rank_a, b, rank_b, NOW) is True
    assert delete_first(b, rank_b, a, rank_a, NOW) is False


def test_rule1_unassigned_pod_goes_before_assigned():
    """§1.3 rule 1: spec.nodeName == "" first, even when it is Running and Ready."""
    first(pod("a", node=""), pod("b", phase="Pending", ready=False))


def test_rule2_phase_pending_before_unknown_before_running():
    """§1.3 rule 2: Pending(0) < Unknown(1) < Running(2)."""
    first(pod("a", phase="Pending", ready=True), pod("b", phase="Unknown", ready=False))
    first(pod("a", phase="Unknown", ready=True), pod("b", phase="Running", ready=False))


def test_rule3_not_ready_before_ready():
    """§1.3 rule 3: a not-Ready pod goes before a Ready one, whatever the deletion cost."""
    first(pod("a", ready=False, cost="1000"), pod("b", ready=True, cost="-1000"))


def test_rule4_lower_deletion_cost_first():
    """§1.3 rule 4: lower controller.kubernetes.io/pod-deletion-cost first; it beats the node rank."""
    first(pod("a", cost="-5"), pod("b", cost="10"), rank_a=0, rank_b=5)
    first(pod("a"), pod("b", cost="1"))  # absent counts as 0


@pytest.mark.parametrize("value,expected", [
    ("7", 7), ("-7", -7), ("0", 0), ("2147483647", 2147483647), ("-2147483648", -2147483648),
    ("+7", 0), ("007", 0), ("1_000", 0), (" 5", 0), ("", 0), ("abc", 0), ("2147483648", 0), ("1.5", 0),
])
def test_rule4_invalid_deletion_costs_count_as_zero(value, expected):
    """§1.3 rule 4: an int32 annotation; invalid values count as 0 (GetDeletionCostFromPodAnnotations)."""
    assert deletion_cost(pod("a", cost=value)) == expected


def test_rule5_more_colocated_related_pods_first():
    """§1.3 rule 5: the higher rank (more active related pods on the same node) goes first."""
    first(pod("a"), pod("b"), rank_a=3, rank_b=1)


def test_rank_counts_active_related_pods_per_node():
    """getPodsRankedByRelatedPodsOnSameNode: terminal and deleting related pods do not count."""
    related = [pod("r1", node="n1"), pod("r2", node="n1"), pod("r3", node="n2"),
               pod("r4", node="n1", phase="Succeeded")]
    related[1]["metadata"]["deletionTimestamp"] = ago(1)
    assert rank_by_related_pods_on_node([pod("x", node="n1"), pod("y", node="n2"), pod("z", node="n3")],
                                        related) == [1, 1, 0]


def test_rule6_ready_for_less_time_first_in_log2_buckets():
    """§1.3 rule 6: both Ready: the pod Ready for less time first, by floor(log2(ns)) buckets."""
    first(pod("a", ready_since=10, restarts=0), pod("b", ready_since=1000, restarts=9))


def test_rule6_same_bucket_decides_by_uid_and_stops():
    """§1.3 rule 6: the same log2 bucket returns UID order and never reaches rules 7-8 (restarts ignored)."""
    # 40 s and 50 s ago are both in bucket floor(log2(4e10..5e10 ns)) = 35.
    a = pod("a", uid="aaa", ready_since=40, restarts=0, created=100)
    b = pod("b", uid="bbb", ready_since=50, restarts=7, created=10)
    first(a, b)


def test_rule6_zero_ready_time_counts_as_later():
    """§1.3 rule 6: a zero (missing) ready time sorts first (afterOrZero)."""
    first(pod("a", ready_since=None), pod("b", ready_since=5))


def test_rule7_more_restarts_first_then_sidecars():
    """§1.3 rule 7: higher max container restartCount first; restartable init containers break ties."""
    first(pod("a", ready=False, restarts=3), pod("b", ready=False, restarts=1))
    first(pod("a", ready=False, restarts=1, sidecar_restarts=4), pod("b", ready=False, restarts=1,
                                                                     sidecar_restarts=0))


def test_rule8_newer_pod_first_with_log2_buckets_and_uid_tie_break():
    """§1.3 rule 8: newer creationTimestamp first; the same bucket gives UID order; zero first."""
    first(pod("a", ready=False, created=5), pod("b", ready=False, created=5000))
    first(pod("a", uid="a1", ready=False, created=40), pod("b", uid="b1", ready=False, created=50))
    first(pod("a", uid="zz", ready=False, created=None), pod("b", uid="aa", ready=False, created=1))


def test_rule9_identical_pods_are_equal():
    p = pod("a")
    assert delete_first(p, 0, p, 0, NOW) is False


def test_pods_to_delete_picks_lowest_cost_among_ready_pods():
    """The restore scenario of §1.3: after re-adoption one Ready pod goes, the one with the lowest cost."""
    pods = [pod("old", cost="100", ready_since=3000), pod("fresh", cost="-10", ready_since=5000),
            pod("mid", ready_since=20)]
    assert [p["metadata"]["name"] for p in pods_to_delete(pods, pods, 1, NOW)] == ["fresh"]
    assert [p["metadata"]["name"] for p in pods_to_delete(pods, pods, 2, NOW)] == ["fresh", "mid"]


def test_pods_to_delete_without_costs_takes_most_recently_ready():
    pods = [pod("a", ready_since=5000), pod("b", ready_since=3), pod("c", ready_since=400)]
    assert [p["metadata"]["name"] for p in pods_to_delete(pods, [], 1, NOW)] == ["b"]


def test_fnv32a_known_vectors():
    """FNV-1a 32-bit reference values (the hash controller.ComputeHash uses)."""
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_maps_digits_like_apimachinery():
    """rand.SafeEncodeString on decimal digits: '0'..'9' -> 4 5 6 7 8 9 b c d f."""
    assert safe_encode_string("0123456789") == "456789bcdf"


def test_template_hash_is_stable_changes_with_template_and_collision_count():
    """§2: the hash is deterministic, differs for a different template, and collisionCount perturbs it."""
    t1 = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}}
    t2 = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x:2"}]}}
    h = compute_hash(t1)
    assert h == compute_hash({"spec": t1["spec"], "metadata": t1["metadata"]})
    assert h != compute_hash(t2)
    assert h != compute_hash(t1, 1)
    assert set(h) <= set(SAFE_ALPHABET) and 1 <= len(h) <= 10


# ------------------------------------------------------------------------------------ Endpoints packing (§4)

def _addr(i, uid=None):
    return {"ip": f"10.0.{i // 250}.{i % 250 + 1}",
            "targetRef": {"kind": "Pod", "name": f"p{i}", "uid": uid or f"u{i}"}}


def test_repack_groups_by_port_set_and_sorts_addresses():
    from kubesim.controllers.endpoints import repack_subsets
    http = [{"name": "http", "port": 8080, "protocol": "TCP"}]
    alt = [{"name": "http", "port": 9090, "protocol": "TCP"}]
    subsets = repack_subsets([(_addr(3), http, True), (_addr(1), http, True), (_addr(2), alt, False),
                              (_addr(4), http, False)])
    assert [s["ports"] for s in subsets] == [http, alt]
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.0.0.2", "10.0.0.4"]
    assert [a["ip"] for a in subsets[0]["notReadyAddresses"]] == ["10.0.0.5"]
    assert "addresses" not in subsets[1] and [a["ip"] for a in subsets[1]["notReadyAddresses"]] == ["10.0.0.3"]


def test_truncate_keeps_ready_first_and_splits_proportionally():
    """truncateEndpoints: 1000 addresses at most; with too many ready ones the not-ready go and the ready are
    shared in proportion (rounded up, the last subset gets the rest)."""
    from kubesim.controllers.endpoints import MAX_CAPACITY, truncate
    subsets = [{"addresses": [_addr(i) for i in range(900)], "notReadyAddresses": [_addr(5000)]},
               {"addresses": [_addr(1000 + i) for i in range(300)]}]
    assert truncate(subsets) is True
    assert [len(s.get("addresses", [])) for s in subsets] == [750, 250]
    assert all("notReadyAddresses" not in s for s in subsets)
    assert sum(len(s.get("addresses", [])) for s in subsets) == MAX_CAPACITY


def test_truncate_only_not_ready_when_ready_fit():
    from kubesim.controllers.endpoints import truncate
    subsets = [{"addresses": [_addr(i) for i in range(800)],
                "notReadyAddresses": [_addr(1000 + i) for i in range(400)]}]
    assert truncate(subsets) is True
    assert (len(subsets[0]["addresses"]), len(subsets[0]["notReadyAddresses"])) == (800, 200)
    small = [{"addresses": [_addr(1)]}]
    assert truncate(small) is False and len(small[0]["addresses"]) == 1
