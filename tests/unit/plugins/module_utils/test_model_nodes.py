# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An isolated pod stays on its node: the warnings for a cordoned node and for NoExecute taints, with the
toleration matching of the API's Toleration.ToleratesTaint and the taint manager's smallest tolerationSeconds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.model.nodes import node_hazards, tolerates

MAINTENANCE = {"key": "maintenance", "value": "kernel", "effect": "NoExecute"}


def pod(*tolerations):
    return {"metadata": {"name": "web-1"}, "spec": {"nodeName": "node-a", "tolerations": list(tolerations)}}


def node(unschedulable=False, taints=()):
    spec = {"taints": list(taints)}
    if unschedulable:
        spec["unschedulable"] = True
    return {"metadata": {"name": "node-a"}, "spec": spec}


def test_a_healthy_node_or_an_unreadable_one_gives_no_warning():
    assert node_hazards(pod(), node()) == []
    assert node_hazards(pod(), None) == []


def test_a_cordoned_node_warns_about_drains():
    cordon_taint = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    warnings = node_hazards(pod(), node(unschedulable=True, taints=[cordon_taint]))
    assert len(warnings) == 1 and "node node-a is cordoned" in warnings[0] and "drain" in warnings[0]


def test_an_untolerated_noexecute_taint_means_the_taint_manager_deletes_the_pod():
    warnings = node_hazards(pod(), node(taints=[MAINTENANCE]))
    assert warnings == ["node node-a has the taint maintenance=kernel:NoExecute, which pod web-1 does not tolerate: "
                        "the taint manager deletes the pod, isolated or not; collect its evidence now"]


def test_noschedule_and_prefernoschedule_taints_leave_a_running_pod_alone():
    taints = [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "PreferNoSchedule"}]
    assert node_hazards(pod(), node(taints=taints)) == []


def test_a_toleration_forever_is_silent_and_one_with_seconds_gives_the_smallest():
    assert node_hazards(pod({"key": "maintenance", "operator": "Exists"}), node(taints=[MAINTENANCE])) == []
    warnings = node_hazards(pod({"key": "maintenance", "operator": "Exists", "tolerationSeconds": 300},
                                {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}),
                            node(taints=[MAINTENANCE]))
    assert len(warnings) == 1 and "tolerates for 60s only" in warnings[0]
    # One of the matching tolerations has no tolerationSeconds: that one tolerates forever.
    assert node_hazards(pod({"key": "maintenance", "operator": "Exists", "tolerationSeconds": 300},
                            {"operator": "Exists"}), node(taints=[MAINTENANCE])) == []


def test_toleration_matching_follows_the_api():
    assert tolerates({"key": "maintenance", "value": "kernel", "effect": "NoExecute"}, MAINTENANCE)
    assert tolerates({"key": "maintenance", "operator": "Equal", "value": "kernel"}, MAINTENANCE)
    assert not tolerates({"key": "maintenance", "value": "other"}, MAINTENANCE)
    assert not tolerates({"key": "maintenance", "operator": "Exists", "effect": "NoSchedule"}, MAINTENANCE)
    assert tolerates({"operator": "Exists"}, MAINTENANCE)
    assert not tolerates({"key": "other", "operator": "Exists"}, MAINTENANCE)
    assert not tolerates({"key": "maintenance", "operator": "Lt", "value": "kernel"}, MAINTENANCE)
