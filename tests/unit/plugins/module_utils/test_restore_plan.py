# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore decisions: rollout detection (k8s_semantics.md §2), deletion-cost steering (§1.3), the reaper."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.restore.plan import (
    DELETION_COST,
    RestoreRefused,
    plan_in_service,
    plan_reap,
    rollout_since_isolation,
)
from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.isolation_objects import pod, workload

RECORD = {"controller": {"kind": "ReplicaSet", "name": "web-1", "uid": "uid-web-1"},
          "top_owner": {"kind": "Deployment", "name": "web", "uid": "uid-web"},
          "original_labels": {"app": "web", "pod-template-hash": "1"}, "original_images": None}


def replica_set(replicas=3, revision=None):
    rs = workload("ReplicaSet", "web-1", {"matchLabels": {"app": "web"}}, replicas)
    if revision:
        rs["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": revision}
    return rs


def deployment(replicas=3, revision=None):
    deploy = workload("Deployment", "web", {"matchLabels": {"app": "web"}}, replicas)
    if revision:
        deploy["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": revision}
    return deploy


def isolated_pod(**annotations):
    base = undo_record.build_annotations(RECORD["original_labels"], "2026-01-01T00:00:00Z", "me", "", "", "immediate",
                                         "isolated", RECORD["controller"], RECORD["top_owner"], ["web"])
    base.update(annotations)
    return pod("web-1-aaaaa", {"app": "quarantined-web", "pod-template-hash": "quarantined-1",
                               undo_record.ISOLATED_LABEL: "true"}, annotations=base)


@pytest.mark.parametrize("rs, deploy, rolled", [
    (replica_set(), deployment(), None),
    (None, deployment(), "no longer exists"),
    (replica_set(replicas=0), deployment(), "scaled to 0"),
    (replica_set(replicas=0), deployment(replicas=0), None),  # the whole Deployment is scaled down, not rolled
    (replica_set(revision="1"), deployment(revision="2"), "revision 2"),
    (replica_set(revision="2"), deployment(revision="2"), None),
])
def test_rollout_detection(rs, deploy, rolled):
    reason = rollout_since_isolation(RECORD, rs, deploy)
    assert (reason is None) if rolled is None else (rolled in reason)


def test_plan_restores_labels_removes_the_record_and_steers_the_scale_down():
    plan = plan_in_service(isolated_pod(), RECORD, replica_set(), deployment())
    assert plan["labels_after"] == {"app": "web", "pod-template-hash": "1"}
    assert all(k.startswith("triage.k8s/") for k in plan["remove_annotations"])
    assert plan["add_annotations"] == {DELETION_COST: "2147483647"}
    assert plan["adoption_expected"] is True


def test_keep_restored_false_lets_the_controller_choose():
    plan = plan_in_service(isolated_pod(), RECORD, replica_set(), deployment(), keep_restored=False)
    assert plan["add_annotations"] == {}


def test_refusal_after_a_rollout_and_force():
    with pytest.raises(RestoreRefused, match="would adopt the pod and delete it"):
        plan_in_service(isolated_pod(), RECORD, replica_set(replicas=0), deployment())
    plan = plan_in_service(isolated_pod(), RECORD, replica_set(replicas=0), deployment(), force=True)
    assert plan["forced"] and "scaled to 0" in plan["forced"][0]


def test_statefulset_record_is_refused():
    record = dict(RECORD, controller={"kind": "StatefulSet", "name": "db", "uid": "u"})
    with pytest.raises(RestoreRefused, match="StatefulSet db"):
        plan_in_service(isolated_pod(), record, None, None)


def test_missing_original_labels_is_refused():
    with pytest.raises(RestoreRefused, match="original labels are unknown"):
        plan_in_service(isolated_pod(), dict(RECORD, original_labels=None), replica_set(), deployment())


def test_terminating_pod_is_refused_even_with_force():
    terminating = isolated_pod()
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    with pytest.raises(RestoreRefused, match="web-1-aaaaa is terminating"):
        plan_in_service(terminating, RECORD, replica_set(), deployment(), force=True)


def test_images_to_revert_and_unknown_containers():
    record = dict(RECORD, original_images={"web": "kubesim/web:1"})
    swapped = isolated_pod()
    swapped["spec"]["containers"][0]["image"] = "kubesim/web:debug"
    assert plan_in_service(swapped, record, replica_set(), deployment())["revert_images"] == {"web": "kubesim/web:1"}
    assert plan_in_service(swapped, record, replica_set(), deployment(), revert_image=False)["revert_images"] == {}
    with pytest.raises(RestoreRefused, match="no such container"):
        plan_in_service(swapped, dict(RECORD, original_images={"sidecar": "x:1"}), replica_set(), deployment())


def _reap_pod(name, at):
    return pod(name, {undo_record.ISOLATED_LABEL: "true"}, annotations={undo_record.ISOLATED_AT: at})


def test_reaper_orders_by_age_and_caps():
    now = datetime.datetime(2026, 1, 10, tzinfo=datetime.timezone.utc)
    pods = [_reap_pod("b", "2026-01-02T00:00:00Z"), _reap_pod("a", "2026-01-01T00:00:00Z"),
            _reap_pod("young", "2026-01-09T23:00:00Z"), _reap_pod("broken", "yesterday"),
            pod("serving", {"app": "web"})]
    to_delete, skipped = plan_reap(pods, now, 24 * 3600, 1)
    assert [p["metadata"]["name"] for p in to_delete] == ["a"]
    assert {s["name"]: s["reason"] for s in skipped} == {
        "b": "over the max_pods cap", "broken": "no readable triage.k8s/isolated-at annotation ('yesterday')"}
