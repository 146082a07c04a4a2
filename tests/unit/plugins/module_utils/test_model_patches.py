# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON-patch construction: escaping (RFC 6901), the resourceVersion test op (k8s_semantics.md §6)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import jsonpatch

from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import conditioned_patch
from ansible_collections.triage.k8s.plugins.module_utils.model.patches import (
    apply_ops_locally,
    escape_pointer,
    remove_metadata_ops,
    set_metadata_ops,
)

POD = {"metadata": {"name": "p", "resourceVersion": "42", "labels": {"app.kubernetes.io/name": "web", "a~b": "1"}}}


def test_escape_pointer():
    assert escape_pointer("app.kubernetes.io/name") == "app.kubernetes.io~1name"
    assert escape_pointer("a~b/c") == "a~0b~1c"


def test_conditioned_patch_starts_with_the_resource_version_test():
    ops = set_metadata_ops(POD, "labels", {"app.kubernetes.io/name": "quarantined-web"})
    patch = conditioned_patch(POD, ops)
    assert patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert patch[1]["path"] == "/metadata/labels/app.kubernetes.io~1name"


def test_the_patch_applies_with_a_real_json_patch_engine_and_fails_when_stale():
    ops = set_metadata_ops(POD, "labels", {"app.kubernetes.io/name": "q", "triage.k8s/isolated": "true"})
    ops += set_metadata_ops(POD, "annotations", {"triage.k8s/reason": "x"})  # no annotations yet: adds the map
    patched = jsonpatch.apply_patch(POD, conditioned_patch(POD, ops))
    assert patched["metadata"]["labels"] == {"app.kubernetes.io/name": "q", "a~b": "1", "triage.k8s/isolated": "true"}
    assert patched["metadata"]["annotations"] == {"triage.k8s/reason": "x"}
    stale = dict(POD, metadata=dict(POD["metadata"], resourceVersion="43"))
    try:
        jsonpatch.apply_patch(stale, conditioned_patch(POD, ops))
    except jsonpatch.JsonPatchTestFailed:
        pass
    else:
        raise AssertionError("a stale resourceVersion must make the patch fail")


def test_local_application_matches_the_engine():
    ops = set_metadata_ops(POD, "labels", {"a~b": "2"}) + remove_metadata_ops(POD, "labels", ["app.kubernetes.io/name",
                                                                                              "absent"])
    labels, annotations = apply_ops_locally(POD, ops)
    assert labels == jsonpatch.apply_patch(POD, ops)["metadata"]["labels"] == {"a~b": "2"}
    assert annotations == {}


def test_nothing_to_change_sends_nothing():
    assert conditioned_patch(POD, []) == []
