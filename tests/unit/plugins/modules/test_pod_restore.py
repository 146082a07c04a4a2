# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pod_restore against a fake API server: the record is undone exactly, deletes are narrow, refusals are clear."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.triage.k8s.plugins.modules import pod_isolate, pod_restore
from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.restore.plan import DELETION_COST
from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.isolation_objects import deployment_fleet, pod
from ansible_collections.triage.k8s.tests.unit.plugins.modules.pod_cluster_fake import NS, FakeCluster

NAME = "web-5d4b8f7c9-aaaaa"


def isolated_cluster(fake_api, module_runner, rs_replicas=3, deploy_annotations=None, rs_annotations=None):
    view = deployment_fleet()
    view["controller"]["spec"]["replicas"] = rs_replicas
    if deploy_annotations:
        view["top_owner"]["metadata"]["annotations"] = deploy_annotations
    if rs_annotations:
        view["controller"]["metadata"]["annotations"] = rs_annotations
    cluster = FakeCluster(fake_api, view["pods"], view["services"], [view["controller"], view["top_owner"]])
    result, failed = module_runner(pod_isolate.main, {"host": fake_api.url, "namespace": NS, "name": NAME,
                                                      "strategy": "immediate", "wait": False, "reason": "test"})
    assert not failed, result
    cluster.pods[NAME]["metadata"]["labels"]["debugging"] = "alice"  # added by hand while investigating
    del fake_api.requests[:]
    return cluster


def restore_args(fake_api, **extra):
    base = {"host": fake_api.url, "namespace": NS, "name": NAME, "wait": False}
    base.update(extra)
    return base


def test_check_mode_shows_the_restored_labels_and_writes_nothing(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner)
    result, failed = module_runner(pod_restore.main, restore_args(fake_api, _ansible_check_mode=True, _ansible_diff=True))
    assert not failed, result
    assert result["changed"] is True
    assert result["diff"]["after"]["labels"] == {"app": "web", "pod-template-hash": "5d4b8f7c9", "debugging": "alice"}
    assert not [k for k in result["diff"]["after"]["annotations"] if k.startswith("triage.k8s/")]
    assert result["diff"]["after"]["annotations"][DELETION_COST] == "2147483647"
    assert cluster.writes() == []


def test_in_service_undoes_the_record_in_one_conditioned_patch(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner)
    result, failed = module_runner(pod_restore.main, restore_args(fake_api))
    assert not failed, result
    patches = [r.body for r in fake_api.requests if r.method == "PATCH"]
    assert len(patches) == 1 and patches[0][0]["op"] == "test"
    metadata = cluster.pods[NAME]["metadata"]
    assert metadata["labels"] == {"app": "web", "pod-template-hash": "5d4b8f7c9", "debugging": "alice"}
    assert [k for k in metadata["annotations"] if k.startswith("triage.k8s/")] == []
    event = [r.body for r in fake_api.requests if r.method == "POST"][0]
    assert event["reason"] == "Restored"
    again, failed = module_runner(pod_restore.main, restore_args(fake_api))
    assert not failed and again["changed"] is False and again["restore"] == {"already_in_service": True}


def test_rolled_deployment_is_refused(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner, rs_replicas=0)
    result, failed = module_runner(pod_restore.main, restore_args(fake_api))
    assert failed
    assert "scaled to 0" in result["msg"] and "would adopt the pod and delete it" in result["msg"]
    assert cluster.writes() == []


def test_other_revision_is_refused(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner, deploy_annotations={"deployment.kubernetes.io/revision": "3"},
                               rs_annotations={"deployment.kubernetes.io/revision": "2"})
    result, failed = module_runner(pod_restore.main, restore_args(fake_api))
    assert failed and "revision 3" in result["msg"]
    assert cluster.writes() == []


def test_hijacked_images_are_reverted_before_the_labels(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner)
    target = cluster.pods[NAME]
    target["spec"]["containers"][0]["image"] = "kubesim/web:debug"
    target["metadata"]["annotations"][undo_record.ORIGINAL_IMAGES] = json.dumps({"web": "kubesim/web:1"})
    result, failed = module_runner(pod_restore.main, restore_args(fake_api))
    assert not failed, result
    patches = [r for r in fake_api.requests if r.method == "PATCH"]
    # First pod_hijack's revert patch (containers by name, conditioned on the resourceVersion read, the
    # original-images record dropped in the same write), then the labels.
    assert patches[0].header_values("Content-Type") == ["application/strategic-merge-patch+json"]
    assert patches[0].body["spec"] == {"containers": [{"name": "web", "image": "kubesim/web:1"}]}
    assert patches[0].body["metadata"]["annotations"] == {undo_record.ORIGINAL_IMAGES: None}
    assert patches[0].body["metadata"]["resourceVersion"]
    assert patches[1].body[1]["path"] == "/metadata/labels"
    assert target is not cluster.pods[NAME] and cluster.pods[NAME]["spec"]["containers"][0]["image"] == "kubesim/web:1"
    assert [k for k in cluster.pods[NAME]["metadata"]["annotations"] if k.startswith(undo_record.PREFIX)] == []
    assert [k for k in cluster.pods[NAME]["metadata"]["labels"] if k.startswith(undo_record.PREFIX)] == []


def test_hijack_annotations_go_with_the_rest_of_the_record(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner)
    target = cluster.pods[NAME]
    target["spec"]["containers"][0]["image"] = "kubesim/web:debug"
    target["metadata"]["annotations"].update({
        undo_record.ORIGINAL_IMAGES: json.dumps({"web": "kubesim/web:1"}),
        "triage.k8s/hijacked-at": "2026-01-01T00:00:00Z", "triage.k8s/hijacked-by": "alice",
        "triage.k8s/hijack-mode": "image"})
    result, failed = module_runner(pod_restore.main, restore_args(fake_api))
    assert not failed, result
    assert [k for k in cluster.pods[NAME]["metadata"]["annotations"] if k.startswith(undo_record.PREFIX)] == []


def test_a_copy_made_by_pod_hijack_is_never_put_in_service_even_with_force(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner)
    cluster.pods[NAME]["metadata"]["annotations"][undo_record.COPY_OF] = "web-5d4b8f7c9-source"
    for force in (False, True):
        result, failed = module_runner(pod_restore.main, restore_args(fake_api, force=force))
        assert failed
        assert "copy of pod web-5d4b8f7c9-source" in result["msg"] and "state=absent" in result["msg"]
    assert cluster.writes() == []


def test_absent_refuses_a_pod_that_is_not_isolated(fake_api, clean_env, module_runner):
    view = deployment_fleet()
    cluster = FakeCluster(fake_api, view["pods"], view["services"])
    result, failed = module_runner(pod_restore.main, restore_args(fake_api, state="absent"))
    assert failed and "does not carry the triage.k8s/isolated=true label" in result["msg"]
    assert cluster.writes() == []


def test_absent_deletes_exactly_that_pod_with_preconditions(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner)
    uid, rv = cluster.pods[NAME]["metadata"]["uid"], cluster.pods[NAME]["metadata"]["resourceVersion"]
    result, failed = module_runner(pod_restore.main, restore_args(fake_api, state="absent", grace_period=0))
    assert not failed, result
    assert result["deleted"] == [NAME]
    deletes = [r for r in fake_api.requests if r.method == "DELETE"]
    assert [d.path for d in deletes] == ["/api/v1/namespaces/shop/pods/" + NAME]
    assert deletes[0].body["preconditions"] == {"uid": uid, "resourceVersion": rv}
    assert deletes[0].body["gracePeriodSeconds"] == 0 and "propagationPolicy" not in deletes[0].body
    assert [w for w in cluster.writes() if w[0] != "POST"] == [("DELETE", "/api/v1/namespaces/shop/pods/" + NAME)]
    again, failed = module_runner(pod_restore.main, restore_args(fake_api, state="absent"))
    assert not failed and again["changed"] is False


def test_absent_records_the_deleted_event_only_once_the_delete_is_accepted(fake_api, clean_env, module_runner):
    cluster = isolated_cluster(fake_api, module_runner)
    cluster.forbid.add(("DELETE", "pods"))
    result, failed = module_runner(pod_restore.main, restore_args(fake_api, state="absent"))
    assert failed and "delete" in result["msg"] and NAME in cluster.pods
    assert cluster.writes() == [("DELETE", "/api/v1/namespaces/shop/pods/" + NAME)]  # no "Deleted" Event
    cluster.forbid.clear()
    result, failed = module_runner(pod_restore.main, restore_args(fake_api, state="absent"))
    assert not failed, result
    events = [r for r in fake_api.requests if r.method == "POST" and r.path.endswith("/events")]
    assert len(events) == 1 and events[0].body["reason"] == "Deleted"


def test_negative_wait_timeout_is_refused_before_any_request(fake_api, clean_env, module_runner):
    result, failed = module_runner(pod_restore.main, restore_args(fake_api, wait=True, wait_timeout=-5))
    assert failed and result["msg"] == "wait_timeout must be at least 0, got -5"
    assert fake_api.requests == []


def _isolated(name, at):
    annotations = undo_record.build_annotations({"app": "web"}, at, "me", "", "", "immediate", "isolated",
                                                None, None, [])
    return pod(name, {"app": "quarantined-web", undo_record.ISOLATED_LABEL: "true"}, annotations=annotations)


def test_reaper_deletes_the_oldest_isolated_pods_within_the_cap(fake_api, clean_env, module_runner):
    pods = [_isolated("old-1", "2020-01-01T00:00:00Z"), _isolated("old-2", "2021-01-01T00:00:00Z"),
            _isolated("fresh", "2999-01-01T00:00:00Z"), pod("serving", {"app": "web"})]
    cluster = FakeCluster(fake_api, pods)
    result, failed = module_runner(pod_restore.main, {"host": fake_api.url, "namespace": NS, "state": "absent",
                                                      "isolated_before": "24h", "max_pods": 1, "wait": False})
    assert not failed, result
    assert result["deleted"] == ["old-1"]
    assert result["not_deleted"] == [{"name": "old-2", "reason": "over the max_pods cap"}]
    assert sorted(cluster.pods) == ["fresh", "old-2", "serving"]


def test_bad_duration_is_clear(fake_api, clean_env, module_runner):
    result, failed = module_runner(pod_restore.main, {"host": fake_api.url, "namespace": NS, "state": "absent",
                                                      "isolated_before": "yesterday"})
    assert failed and result["msg"].startswith("isolated_before: invalid duration 'yesterday'")


def test_restoring_a_hijacked_pod_without_revert_warns_that_the_hijacked_image_serves(fake_api, clean_env,
                                                                                      module_runner):
    cluster = isolated_cluster(fake_api, module_runner)
    target = cluster.pods[NAME]
    target["spec"]["containers"][0]["image"] = "kubesim/web:debug"
    target["metadata"]["annotations"][undo_record.ORIGINAL_IMAGES] = json.dumps({"web": "kubesim/web:1"})
    result, failed = module_runner(pod_restore.main, restore_args(fake_api, revert_image=False))
    assert not failed, result
    assert cluster.pods[NAME]["spec"]["containers"][0]["image"] == "kubesim/web:debug"
    assert any("web=kubesim/web:debug" in w and "web=kubesim/web:1" in w for w in result["warnings"])
