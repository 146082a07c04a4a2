# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pod_isolate end to end against a fake API server: what goes on the wire, errors, idempotence, conflicts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.triage.k8s.plugins.modules import pod_isolate
from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.isolation_objects import deployment_fleet, pod
from ansible_collections.triage.k8s.tests.unit.plugins.modules.pod_cluster_fake import NS, FakeCluster

NAME = "web-5d4b8f7c9-aaaaa"


def fleet_cluster(fake_api, **kwargs):
    view = deployment_fleet(**kwargs)
    return FakeCluster(fake_api, view["pods"], view["services"], [view["controller"], view["top_owner"]])


def args(fake_api, **extra):
    base = {"host": fake_api.url, "api_key": "t0ken", "namespace": NS, "name": NAME, "strategy": "immediate",
            "wait": False}
    base.update(extra)
    return dict((k, v) for k, v in base.items() if v is not None)


def test_check_mode_plans_and_diffs_without_any_write(fake_api, clean_env, module_runner):
    cluster = fleet_cluster(fake_api)
    result, failed = module_runner(pod_isolate.main, args(fake_api, strategy="auto", _ansible_check_mode=True,
                                                          _ansible_diff=True))
    assert not failed, result
    assert result["changed"] is True
    assert result["plan"]["strategy"] == "replace-first"
    assert result["diff"]["after"]["labels"]["app"] == "quarantined-web"
    assert result["diff"]["after"]["annotations"][undo_record.PHASE] == "isolated"
    assert cluster.writes() == []


def test_immediate_isolation_writes_one_conditioned_patch_and_an_event(fake_api, clean_env, module_runner):
    cluster = fleet_cluster(fake_api)
    result, failed = module_runner(pod_isolate.main, args(fake_api, reason="OOM", ticket="INC-1",
                                                          isolated_by="alice"))
    assert not failed, result
    assert cluster.writes() == [("PATCH", "/api/v1/namespaces/shop/pods/" + NAME), ("POST", "/api/v1/namespaces/shop/events")]
    patch = [r for r in fake_api.requests if r.method == "PATCH"][0]
    assert patch.header_values("Content-Type") == ["application/json-patch+json"]
    assert patch.body[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "100"}
    labels = cluster.pods[NAME]["metadata"]["labels"]
    assert labels["app"] == "quarantined-web" and labels[undo_record.ISOLATED_LABEL] == "true"
    record = undo_record.parse_record(cluster.pods[NAME])
    assert record["original_labels"] == {"app": "web", "pod-template-hash": "5d4b8f7c9"}
    assert (record["reason"], record["ticket"], record["isolated_by"]) == ("OOM", "INC-1", "alice")
    assert record["services"] == ["web"] and record["top_owner"]["name"] == "web"
    event = [r for r in fake_api.requests if r.method == "POST"][0].body
    assert event["reason"] == "Isolated" and event["source"] == {"component": "triage.k8s"}
    assert event["involvedObject"]["name"] == NAME


def test_second_run_is_ok_and_returns_the_record(fake_api, clean_env, module_runner):
    cluster = fleet_cluster(fake_api)
    module_runner(pod_isolate.main, args(fake_api))
    writes = len(cluster.writes())
    result, failed = module_runner(pod_isolate.main, args(fake_api))
    assert not failed and result["changed"] is False
    assert result["record"]["strategy"] == "immediate"
    assert len(cluster.writes()) == writes


def test_a_concurrent_isolation_makes_us_ok_not_changed(fake_api, clean_env, module_runner):
    cluster = fleet_cluster(fake_api)

    def other_operator(c):
        target = c.pods[NAME]
        target["metadata"]["labels"].update({"app": "other-web", undo_record.ISOLATED_LABEL: "true"})
        target["metadata"]["annotations"] = {undo_record.PHASE: "isolated", undo_record.STRATEGY: "immediate",
                                             undo_record.ORIGINAL_LABELS: json.dumps({"app": "web"})}
        c.bump(target)

    cluster.before_patch = other_operator
    result, failed = module_runner(pod_isolate.main, args(fake_api))
    assert not failed, result
    assert result["changed"] is False
    assert cluster.pods[NAME]["metadata"]["labels"]["app"] == "other-web"  # their change was not overwritten


def test_an_unrelated_concurrent_change_is_replanned_and_retried(fake_api, clean_env, module_runner):
    cluster = fleet_cluster(fake_api)
    cluster.before_patch = lambda c: (c.pods[NAME]["metadata"]["labels"].update({"debug": "1"}), c.bump(c.pods[NAME]))
    result, failed = module_runner(pod_isolate.main, args(fake_api))
    assert not failed and result["changed"] is True
    assert cluster.pods[NAME]["metadata"]["labels"]["debug"] == "1"
    assert len([w for w in cluster.writes() if w[0] == "PATCH"]) == 2
    assert json.loads(cluster.pods[NAME]["metadata"]["annotations"][undo_record.ORIGINAL_LABELS])["debug"] == "1"


def test_bare_pod_is_refused_before_any_write(fake_api, clean_env, module_runner):
    lonely = pod(NAME, {"app": "web"})
    cluster = FakeCluster(fake_api, [lonely], [])
    result, failed = module_runner(pod_isolate.main, args(fake_api))
    assert failed
    assert "no controller" in result["msg"] and "force: true" in result["msg"]
    assert result["plan"]["guards"][0]["id"] == "bare_pod"
    assert cluster.writes() == []


def test_force_isolates_a_bare_pod_with_a_warning(fake_api, clean_env, module_runner):
    cluster = FakeCluster(fake_api, [pod(NAME, {"app": "web"})], [])
    result, failed = module_runner(pod_isolate.main, args(fake_api, force=True))
    assert not failed and result["changed"]
    assert any("overridden by force: bare_pod" in w for w in result["warnings"])
    assert cluster.pods[NAME]["metadata"]["labels"][undo_record.ISOLATED_LABEL] == "true"


def test_missing_pod_names_pod_and_namespace(fake_api, clean_env, module_runner):
    fleet_cluster(fake_api)
    result, failed = module_runner(pod_isolate.main, args(fake_api, name="nope"))
    assert failed and result["msg"] == "pod nope not found in namespace shop"
    result, failed = module_runner(pod_isolate.main, args(fake_api, namespace="gone"))
    assert failed and result["msg"] == "namespace gone not found (looking for pod %s in it)" % NAME


def test_forbidden_patch_names_the_verb_and_resource(fake_api, clean_env, module_runner):
    cluster = fleet_cluster(fake_api)
    cluster.forbid.add(("PATCH", "pods"))
    result, failed = module_runner(pod_isolate.main, args(fake_api))
    assert failed
    assert "may not patch pods" in result["msg"] and "Traceback" not in result["msg"]


def test_unreachable_server_is_one_sentence(closed_port_url, clean_env, module_runner):
    result, failed = module_runner(pod_isolate.main, {"host": closed_port_url, "namespace": NS, "name": NAME})
    assert failed
    assert "cannot" in result["msg"] and closed_port_url.split("//")[1].split(":")[0] in result["msg"]


def test_selector_over_the_cap_fails_before_touching_anything(fake_api, clean_env, module_runner):
    cluster = fleet_cluster(fake_api)
    result, failed = module_runner(pod_isolate.main, args(fake_api, name=None, label_selector="app=web", max_pods=2))
    assert failed and "matches 3 pods" in result["msg"] and "max_pods=2" in result["msg"]
    assert cluster.writes() == []


def test_selector_matching_nothing_to_isolate_is_ok_but_says_so(fake_api, clean_env, module_runner):
    cluster = FakeCluster(fake_api, [])
    result, failed = module_runner(pod_isolate.main, args(fake_api, name=None, label_selector="app=wbe"))
    assert not failed and result["changed"] is False and result["results"] == []
    assert any("matches no pod in namespace shop" in w for w in result["warnings"]), result["warnings"]
    cluster.pods["web-1"] = pod("web-1", {"app": "quarantined-web", undo_record.ISOLATED_LABEL: "true"})
    result, failed = module_runner(pod_isolate.main, args(fake_api, name=None, label_selector="app=web"))
    assert not failed and result["changed"] is False
    assert any("only already isolated pods (web-1)" in w for w in result["warnings"]), result["warnings"]
    assert cluster.writes() == []


def test_bad_selector_and_bad_values_are_clear(fake_api, clean_env, module_runner):
    fleet_cluster(fake_api)
    result, failed = module_runner(pod_isolate.main, args(fake_api, name=None, label_selector="app=(web"))
    assert failed and result["msg"].startswith("label_selector: cannot parse")
    result, failed = module_runner(pod_isolate.main, args(fake_api, values={"app": "-bad-"}))
    assert failed and "not a valid label value" in result["msg"]


def _releasing(cluster, isolated_at):
    """Make the pod look like a replace-first run released it at `isolated_at` and has not cut Services yet."""
    target = cluster.pods[NAME]
    original = dict(target["metadata"]["labels"])
    target["metadata"]["labels"].update({"pod-template-hash": "quarantined-5d4b8f7c9",
                                         undo_record.ISOLATED_LABEL: "true"})
    target["metadata"]["annotations"] = {
        undo_record.PHASE: undo_record.PHASE_RELEASING, undo_record.STRATEGY: "replace-first",
        undo_record.ISOLATED_AT: isolated_at, undo_record.ISOLATED_BY: "operator-a",
        undo_record.ORIGINAL_LABELS: json.dumps(original)}
    cluster.bump(target)


def test_a_fresh_releasing_record_belongs_to_another_run_and_gives_ok_without_writes(fake_api, clean_env,
                                                                                     module_runner):
    from ansible_collections.triage.k8s.plugins.module_utils.model.durations import format_rfc3339, utc_now
    cluster = fleet_cluster(fake_api)
    _releasing(cluster, format_rfc3339(utc_now()))
    result, failed = module_runner(pod_isolate.main, args(fake_api, strategy="auto", wait_timeout=300))
    assert not failed, result
    assert result["changed"] is False
    assert result["plan"]["isolated_by_another_run"] is True
    assert result["record"]["isolated_by"] == "operator-a"
    assert any("being isolated by another run (operator-a" in w for w in result["warnings"])
    assert cluster.writes() == []


def test_an_old_releasing_record_is_an_interrupted_run_that_check_mode_would_resume(fake_api, clean_env,
                                                                                    module_runner):
    cluster = fleet_cluster(fake_api)
    _releasing(cluster, "2020-01-01T00:00:00Z")
    result, failed = module_runner(pod_isolate.main, args(fake_api, strategy="auto", wait_timeout=300,
                                                          _ansible_check_mode=True))
    assert not failed, result
    assert result["changed"] is True
    assert result["plan"]["resume"] is True
    assert cluster.writes() == []


def test_an_interrupted_record_is_resumed_at_once_even_when_young(fake_api, clean_env, module_runner):
    """A run that failed before the Service cut marks its record interrupted: the next run must not wait for it."""
    from ansible_collections.triage.k8s.plugins.module_utils.model.durations import format_rfc3339, utc_now
    cluster = fleet_cluster(fake_api)
    _releasing(cluster, format_rfc3339(utc_now()))
    cluster.pods[NAME]["metadata"]["annotations"][undo_record.PHASE] = undo_record.PHASE_INTERRUPTED
    result, failed = module_runner(pod_isolate.main, args(fake_api, strategy="auto", wait_timeout=300,
                                                          _ansible_check_mode=True))
    assert not failed, result
    assert result["changed"] is True and result["plan"]["resume"] is True
    assert "isolated_by_another_run" not in result["plan"]
    assert cluster.writes() == []
