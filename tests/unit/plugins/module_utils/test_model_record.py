# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The undo record: what pod_isolate writes is exactly what pod_restore and pod_hijack read back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.model import record as ur


def record_pod(annotations, marked=True):
    labels = {"app": "quarantined-web"}
    if marked:
        labels[ur.ISOLATED_LABEL] = "true"
    return {"metadata": {"name": "p", "labels": labels, "annotations": annotations}}


def sample_annotations(**overrides):
    values = dict(original_labels={"app": "web", "app.kubernetes.io/name": "web"}, isolated_at="2026-01-01T00:00:00Z",
                  isolated_by="alice@laptop", reason="OOM", ticket="INC-1", strategy="replace-first",
                  phase=ur.PHASE_RELEASING, controller={"kind": "ReplicaSet", "name": "web-1", "uid": "u1"},
                  top_owner={"kind": "Deployment", "name": "web", "uid": "u0", "templateHash": "1"},
                  services=["web", "admin"])
    values.update(overrides)
    return ur.build_annotations(**values)


def test_every_annotation_is_a_string_in_the_prefix():
    annotations = sample_annotations()
    assert all(k.startswith("triage.k8s/") and isinstance(v, str) for k, v in annotations.items())
    assert set(annotations) == {ur.ORIGINAL_LABELS, ur.ISOLATED_AT, ur.ISOLATED_BY, ur.REASON, ur.TICKET,
                                ur.STRATEGY, ur.PHASE, ur.OWNER, ur.SERVICES}


def test_no_ticket_means_no_ticket_annotation():
    for ticket in (None, ""):
        annotations = sample_annotations(ticket=ticket)
        assert ur.TICKET not in annotations
        assert ur.parse_record(record_pod(annotations))["ticket"] is None


def test_round_trip():
    record = ur.parse_record(record_pod(sample_annotations()))
    assert record["original_labels"] == {"app": "web", "app.kubernetes.io/name": "web"}
    assert record["services"] == ["admin", "web"]
    assert record["controller"]["uid"] == "u1"
    assert record["top_owner"]["templateHash"] == "1"
    assert record["phase"] == "releasing" and record["strategy"] == "replace-first"
    assert record["marked"] is True and record["original_images"] is None


def test_hijack_images_are_read_back():
    annotations = sample_annotations()
    annotations[ur.ORIGINAL_IMAGES] = json.dumps({"web": "kubesim/web:1"})
    assert ur.parse_record(record_pod(annotations))["original_images"] == {"web": "kubesim/web:1"}


def test_no_record_is_none():
    assert ur.parse_record({"metadata": {"labels": {"app": "web"}, "annotations": {"other/x": "1"}}}) is None


@pytest.mark.parametrize("raw, message", [("{not json", "not valid JSON"), ("[1]", "should hold a JSON dict"),
                                          ('{"app": 3}', "non-string value")])
def test_broken_original_labels_are_reported_not_guessed(raw, message):
    annotations = sample_annotations()
    annotations[ur.ORIGINAL_LABELS] = raw
    with pytest.raises(ur.UndoRecordError, match=message):
        ur.parse_record(record_pod(annotations))


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError):
        sample_annotations(strategy="sideways")


def test_record_keys_lists_labels_and_annotations_in_the_prefix():
    pod = record_pod(sample_annotations())
    pod["metadata"]["annotations"]["kept/annotation"] = "x"
    labels, annotations = ur.record_keys(pod)
    assert labels == [ur.ISOLATED_LABEL]
    assert "kept/annotation" not in annotations and ur.OWNER in annotations
