# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The isolation planner: hitting set, strategies, guards, owner kinds (k8s_semantics.md §1-§4)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.isolate.plan import (
    PlanError,
    plan_isolation,
    quarantine_value,
    smallest_hitting_set,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.names import is_valid_label_value

from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.isolation_objects import deployment_fleet, owner_ref, pod, service, workload


def guard_ids(plan):
    return sorted(g["id"] for g in plan["guards"])


# ---- new values -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("old", ["web", "", "a" * 63, "x" * 52 + "-" + "y" * 10, "quarantined-web", "v1.2_3"])
def test_quarantine_value_is_valid_and_different(old):
    new = quarantine_value(old)
    assert is_valid_label_value(new)
    assert new != old


def test_quarantine_value_keeps_the_old_value_readable():
    assert quarantine_value("login-audit-trail-service") == "quarantined-login-audit-trail-service"


def test_truncation_never_ends_with_a_dash():
    # 12 chars of prefix + 51 chars puts a '-' at position 63 before trimming.
    old = "a" * 50 + "-b"
    new = quarantine_value(old)
    assert len(new) <= 63 and new[-1].isalnum()


# ---- smallest hitting set -----------------------------------------------------------------------------------------

def test_hitting_set_prefers_one_shared_key_over_two():
    hits = {"app": {"svc/a", "svc/b", "controller"}, "tier": {"svc/a"}, "pod-template-hash": {"controller"},
            "team": {"svc/b"}}
    assert smallest_hitting_set(hits, {"svc/a", "svc/b", "controller"}) == ["app"]


def test_hitting_set_needs_two_keys_when_services_share_nothing():
    hits = {"a": {"s1"}, "b": {"s2"}, "c": {"s1"}}
    assert smallest_hitting_set(hits, {"s1", "s2"}) == ["a", "b"]


def test_hitting_set_avoids_keys_on_ties():
    hits = {"pod-template-hash": {"controller"}, "zone": {"controller"}}
    assert smallest_hitting_set(hits, {"controller"}, avoid=("pod-template-hash",)) == ["zone"]


def test_hitting_set_is_none_when_impossible():
    assert smallest_hitting_set({"a": {"s1"}}, {"s1", "s2"}) is None


def test_hitting_set_greedy_fallback_covers_everything():
    hits = dict(("k%02d" % i, {"s%d" % (i % 20)}) for i in range(40))
    chosen = smallest_hitting_set(hits, set("s%d" % i for i in range(20)))
    assert set().union(*(hits[k] for k in chosen)) == set("s%d" % i for i in range(20))


# ---- seeds ---------------------------------------------------------------------------------------------------------

def test_seed_004_one_label_breaks_service_and_replicaset():
    """Service selects component+release, the Deployment the same: rewriting one of them is enough."""
    labels = {"component": "api-springboot", "release": "login-audit-trail-service", "pod-template-hash": "b6bdb4645"}
    view = deployment_fleet()
    view["services"] = [service("login-audit-trail-service", {"component": "api-springboot",
                                                              "release": "login-audit-trail-service"})]
    rs_selector = {"matchLabels": dict(labels)}
    view["controller"]["spec"]["selector"] = rs_selector
    for p in view["pods"]:
        p["metadata"]["labels"] = dict(labels)
    plan = plan_isolation(view, strategy="immediate")
    assert list(plan["label_changes"]) in (["component"], ["release"])
    assert plan["services"] == ["login-audit-trail-service"]
    assert plan["final_labels"][undo_record.ISOLATED_LABEL] == "true"


def test_seed_004_user_named_key_and_value():
    view = deployment_fleet()
    plan = plan_isolation(view, keys=["app"], values={"app": "crashed-web"}, strategy="immediate")
    assert plan["label_changes"] == {"app": {"from": "web", "to": "crashed-web"}}


def test_seed_001_enabled_label_only_in_service_needs_a_second_key_for_the_controller():
    """Service selects name+enabled; the RS selects name+pod-template-hash (seed 001)."""
    view = deployment_fleet(service_selector={"app": "web", "enabled": "true"})
    for p in view["pods"]:
        p["metadata"]["labels"]["enabled"] = "true"
    plan = plan_isolation(view, strategy="immediate")
    # One key breaks both: app is in the Service and the ReplicaSet selector.
    assert list(plan["label_changes"]) == ["app"]


# ---- strategies ----------------------------------------------------------------------------------------------------

def test_auto_picks_replace_first_for_a_serving_deployment_pod():
    plan = plan_isolation(deployment_fleet())
    assert plan["strategy"] == "replace-first"
    assert list(plan["release_labels"]) == ["pod-template-hash"]
    assert list(plan["cut_labels"]) == ["app"]
    assert plan["final_labels"]["pod-template-hash"] == "quarantined-5d4b8f7c9"
    assert plan["replacement_expected"] is True


def test_auto_picks_immediate_when_the_pod_is_not_ready():
    plan = plan_isolation(deployment_fleet(ready=False))
    assert plan["strategy"] == "immediate"
    assert "not a ready endpoint" in plan["strategy_reason"]


def test_auto_picks_immediate_when_a_service_selects_on_pod_template_hash():
    view = deployment_fleet(service_selector={"app": "web", "pod-template-hash": "5d4b8f7c9"})
    plan = plan_isolation(view)
    assert plan["strategy"] == "immediate"


def test_explicit_replace_first_on_a_bare_pod_is_refused_as_bad_input():
    view = deployment_fleet()
    view["pod"]["metadata"].pop("ownerReferences")
    view["controller"] = view["top_owner"] = None
    with pytest.raises(PlanError, match="replace-first is not possible"):
        plan_isolation(view, strategy="replace-first", force=True)


def test_immediate_changes_every_key_at_once():
    plan = plan_isolation(deployment_fleet(), strategy="immediate")
    assert plan["release_labels"] == {}
    assert list(plan["label_changes"]) == ["app"]


# ---- guards --------------------------------------------------------------------------------------------------------

def test_no_guard_for_a_healthy_deployment_pod():
    plan = plan_isolation(deployment_fleet())
    assert plan["guards"] == [] and plan["blocked"] is False


def test_terminating_pod_is_guarded():
    view = deployment_fleet()
    view["pod"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert "terminating" in guard_ids(plan_isolation(view))


def test_bare_pod_is_guarded_and_last_endpoint_too():
    lonely = pod("debug", {"app": "web"})
    view = {"pod": lonely, "pods": [lonely], "services": [service("web", {"app": "web"})], "controller": None,
            "top_owner": None}
    plan = plan_isolation(view)
    assert guard_ids(plan) == ["bare_pod", "last_endpoint"]
    assert plan["blocked"] is True
    assert plan["replacement_expected"] is False


def test_force_overrides_guards_and_lists_them():
    lonely = pod("debug", {"app": "web"})
    view = {"pod": lonely, "pods": [lonely], "services": [service("web", {"app": "web"})], "controller": None,
            "top_owner": None}
    plan = plan_isolation(view, force=True)
    assert plan["blocked"] is False
    assert plan["forced"] == ["bare_pod", "last_endpoint"]


def test_statefulset_pod_is_guarded():
    sts = workload("StatefulSet", "db", {"matchLabels": {"app": "db"}})
    member = pod("db-0", {"app": "db", "statefulset.kubernetes.io/pod-name": "db-0"}, owner_ref("StatefulSet", "db", "uid-db"))
    other = pod("db-1", {"app": "db", "statefulset.kubernetes.io/pod-name": "db-1"}, owner_ref("StatefulSet", "db", "uid-db"))
    view = {"pod": member, "pods": [member, other], "services": [service("db", {"app": "db"})], "controller": sts,
            "top_owner": None}
    plan = plan_isolation(view)
    assert guard_ids(plan) == ["statefulset"]
    # The message says the Kubernetes behaviour itself (the shipped code cites no file outside the collection).
    assert "cannot create a replacement while a pod named db-0 exists" in plan["guards"][0]["message"]
    assert "§" not in plan["guards"][0]["message"]
    assert plan["replacement_expected"] is False


def test_job_pod_is_guarded():
    job = workload("Job", "backup", {"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-backup"}},
                   api_version="batch/v1")
    worker = pod("backup-x1", {"batch.kubernetes.io/controller-uid": "uid-backup", "job-name": "backup"},
                 owner_ref("Job", "backup", "uid-backup", "batch/v1"))
    view = {"pod": worker, "pods": [worker], "services": [], "controller": job, "top_owner": None}
    plan = plan_isolation(view)
    assert guard_ids(plan) == ["job"]
    assert list(plan["label_changes"]) == ["batch.kubernetes.io/controller-uid"]


def test_daemonset_pod_can_be_replaced_first():
    ds = workload("DaemonSet", "agent", {"matchLabels": {"app": "agent", "pod-template-generation": "1"}})
    ds["spec"].pop("replicas")
    agents = [pod("agent-%d" % i, {"app": "agent", "pod-template-generation": "1"},
                  owner_ref("DaemonSet", "agent", "uid-agent"), ip="10.0.1.%d" % i) for i in range(2)]
    view = {"pod": agents[0], "pods": agents, "services": [service("agent", {"app": "agent"})], "controller": ds,
            "top_owner": None}
    plan = plan_isolation(view)
    assert plan["strategy"] == "replace-first"
    assert list(plan["release_labels"]) == ["pod-template-generation"]
    assert plan["guards"] == []


def test_unknown_controller_kind_is_guarded():
    view = deployment_fleet()
    view["pod"]["metadata"]["ownerReferences"] = [owner_ref("Rollout", "web", "uid-r", "argoproj.io/v1alpha1")]
    view["controller"] = view["top_owner"] = None
    assert "unknown_controller" in guard_ids(plan_isolation(view))


def test_last_ready_endpoint_with_replacement_is_allowed_and_prefers_replace_first():
    view = deployment_fleet(replicas=1)
    plan = plan_isolation(view)
    assert plan["guards"] == []
    assert plan["strategy"] == "replace-first"


def test_last_ready_endpoint_with_immediate_warns_about_the_dip():
    plan = plan_isolation(deployment_fleet(replicas=1), strategy="immediate")
    assert any("no ready endpoint until the replacement" in w for w in plan["warnings"])


def test_already_isolated_pods_do_not_count_as_endpoints():
    view = deployment_fleet(replicas=2)
    view["pods"][1]["metadata"]["labels"][undo_record.ISOLATED_LABEL] = "true"
    view["pods"][1]["metadata"].pop("ownerReferences")
    view["controller"]["spec"]["replicas"] = 0  # scaled to zero: no replacement
    plan = plan_isolation(view, strategy="immediate")
    assert "last_endpoint" in guard_ids(plan)


def test_pdb_without_allowed_disruptions_blocks_immediate():
    view = deployment_fleet(replicas=2)
    view["pdbs"] = [{"metadata": {"name": "web-pdb"},
                     "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}]
    plan = plan_isolation(view, strategy="immediate")
    assert guard_ids(plan) == ["pdb"]
    assert "web-pdb" in plan["guards"][0]["message"]


def test_pdb_with_room_is_fine_and_replace_first_keeps_the_budget():
    view = deployment_fleet(replicas=3)
    view["pdbs"] = [{"metadata": {"name": "web-pdb"},
                     "spec": {"maxUnavailable": "34%", "selector": {"matchLabels": {"app": "web"}}}}]
    assert plan_isolation(view, strategy="immediate")["guards"] == []
    view["pdbs"][0]["spec"] = {"minAvailable": "100%", "selector": {"matchLabels": {"app": "web"}}}
    assert plan_isolation(view, strategy="immediate")["guards"][0]["id"] == "pdb"
    assert plan_isolation(view)["guards"] == []  # replace-first: the replacement is Ready before the cut


def _pdb_with_status(spec, disruptions_allowed, healthy, desired, generation=1, observed=1):
    return {"metadata": {"name": "web-pdb", "generation": generation},
            "spec": dict(spec, selector={"matchLabels": {"app": "web"}}),
            "status": {"disruptionsAllowed": disruptions_allowed, "currentHealthy": healthy,
                       "desiredHealthy": desired, "observedGeneration": observed}}


def test_pdb_status_from_the_disruption_controller_wins_over_the_pods_read():
    # The pods we read leave room (3 ready, minAvailable 2), but the controller counts a 4th expected pod that
    # is missing: its status says no disruption is allowed, and that is what counts.
    view = deployment_fleet(replicas=3)
    view["pdbs"] = [_pdb_with_status({"minAvailable": 3}, 0, 3, 3)]
    view["pdbs"][0]["spec"]["minAvailable"] = 2
    plan = plan_isolation(view, strategy="immediate")
    assert guard_ids(plan) == ["pdb"]
    assert plan["pdbs"] == [{"name": "web-pdb", "disruptions_allowed": 0, "healthy": 3, "desired": 3,
                             "source": "status.disruptionsAllowed"}]
    assert "status.disruptionsAllowed" in plan["guards"][0]["message"]


def test_pdb_status_allowing_a_disruption_lets_immediate_through_and_is_reported():
    view = deployment_fleet(replicas=3)
    view["pdbs"] = [_pdb_with_status({"minAvailable": 2}, 1, 3, 2)]
    plan = plan_isolation(view, strategy="immediate")
    assert guard_ids(plan) == []
    assert plan["pdbs"][0]["source"] == "status.disruptionsAllowed"
    assert plan["pdbs"][0]["disruptions_allowed"] == 1


def test_pdb_without_a_current_status_is_computed_from_the_pods_and_says_so():
    view = deployment_fleet(replicas=3)
    stale = _pdb_with_status({"minAvailable": 3}, 5, 9, 1, generation=2, observed=1)  # spec changed since
    view["pdbs"] = [stale]
    plan = plan_isolation(view, strategy="immediate")
    assert guard_ids(plan) == ["pdb"]
    assert plan["pdbs"][0]["source"].startswith("computed from the pods")
    assert (plan["pdbs"][0]["healthy"], plan["pdbs"][0]["desired"]) == (3, 3)


def test_pdb_status_cannot_see_this_runs_own_isolations_so_the_lower_count_wins():
    view = deployment_fleet(replicas=3)
    first = view["pods"][1]["metadata"]["name"]
    view["pdbs"] = [_pdb_with_status({"minAvailable": 2}, 1, 3, 2)]  # status read before `first` left
    plan = plan_isolation(view, strategy="immediate", leaving=[first], max_isolated=3)
    assert guard_ids(plan) == ["pdb"]
    assert plan["pdbs"][0]["disruptions_allowed"] == 0
    assert "lower than status.disruptionsAllowed" in plan["pdbs"][0]["source"]


def test_replace_first_is_not_held_to_the_pdb_because_the_replacement_is_ready_first():
    view = deployment_fleet(replicas=3)
    view["pdbs"] = [_pdb_with_status({"minAvailable": 3}, 0, 3, 3)]
    plan = plan_isolation(view)
    assert plan["strategy"] == "replace-first"
    assert guard_ids(plan) == [] and plan["pdbs"] == []


def _isolated_sibling(view, name="web-old"):
    record = undo_record.build_annotations({"app": "web"}, "2026-01-01T00:00:00Z", "me", "", "", "immediate",
                                           "isolated", {"kind": "ReplicaSet", "uid": "uid-web-5d4b8f7c9"},
                                           {"kind": "Deployment", "name": "web", "uid": "uid-web"}, ["web"])
    sibling = pod(name, {"app": "quarantined-web", undo_record.ISOLATED_LABEL: "true"}, annotations=record)
    view["pods"].append(sibling)


def test_max_isolated_counts_pods_of_the_same_workload():
    view = deployment_fleet()
    _isolated_sibling(view)
    plan = plan_isolation(view, max_isolated=1)
    assert guard_ids(plan) == ["max_isolated"]
    assert "Deployment web already has 1 isolated pod" in plan["guards"][0]["message"]
    assert plan_isolation(view, max_isolated=2)["guards"] == []


def test_max_isolated_counts_pods_isolated_earlier_in_the_same_run():
    view = deployment_fleet()
    plan = plan_isolation(view, max_isolated=1, leaving=["web-5d4b8f7c9-bbbbb"])
    assert guard_ids(plan) == ["max_isolated"]


def test_hpa_and_network_policy_warn_without_blocking():
    view = deployment_fleet()
    view["hpas"] = [{"metadata": {"name": "web-hpa"},
                     "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}]
    view["network_policies"] = [
        {"metadata": {"name": "allow-all-in-shop"}, "spec": {"podSelector": {}}},
        {"metadata": {"name": "web-only"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}}},
    ]
    plan = plan_isolation(view)
    assert plan["guards"] == []
    assert plan["hpas"] == ["web-hpa"]
    assert plan["network_policies"] == ["allow-all-in-shop"]  # web-only no longer matches app=quarantined-web
    assert len(plan["warnings"]) == 2


# ---- input validation ----------------------------------------------------------------------------------------------

def test_user_keys_must_break_every_match():
    view = deployment_fleet()
    with pytest.raises(PlanError, match="leaves pod .* selected by Service web"):
        plan_isolation(view, keys=["pod-template-hash"], strategy="immediate")


def test_user_keys_must_exist_on_the_pod():
    with pytest.raises(PlanError, match="has no label tier"):
        plan_isolation(deployment_fleet(), keys=["tier"])


@pytest.mark.parametrize("value", ["-bad", "x" * 64, "has space", 5])
def test_invalid_user_values_are_refused(value):
    with pytest.raises(PlanError, match="not a valid label value"):
        plan_isolation(deployment_fleet(), values={"app": value})


def test_unchanged_user_value_is_refused():
    with pytest.raises(PlanError, match="equals its current value"):
        plan_isolation(deployment_fleet(), values={"app": "web"})


def test_keys_with_a_slash_are_planned_like_any_other():
    view = deployment_fleet(service_selector={"app.kubernetes.io/name": "web"})
    for p in view["pods"]:
        p["metadata"]["labels"]["app.kubernetes.io/name"] = "web"
    plan = plan_isolation(view)
    assert plan["cut_labels"] == {"app.kubernetes.io/name": {"from": "web", "to": "quarantined-web"}}


def test_owner_summary_goes_into_the_plan_with_the_template_hash():
    plan = plan_isolation(deployment_fleet())
    assert plan["controller"] == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4b8f7c9",
                                  "uid": "uid-web-5d4b8f7c9"}
    assert plan["top_owner"]["templateHash"] == "5d4b8f7c9"
    json.dumps(plan)  # the plan is returned to Ansible as JSON
