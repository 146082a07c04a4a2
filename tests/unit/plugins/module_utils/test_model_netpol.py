# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkPolicy facts of the network quarantine: selection, what a policy admits, the label rewrites that escape
it (and the policies no rewrite escapes), the quarantine policy's body and quarantine_allow validation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.isolate.plan import quarantine_value
from ansible_collections.triage.k8s.plugins.module_utils.isolate.quarantine import plan_quarantine
from ansible_collections.triage.k8s.plugins.module_utils.model import netpol
from ansible_collections.triage.k8s.plugins.module_utils.model import record

LABELS = {"app": "quarantined-web", "team": "payments", "tier": "api", "triage.k8s/isolated": "true"}


def policy(name, selector, ingress=None, egress=None, types=None, labels=None):
    spec = {"podSelector": selector}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types is not None:
        spec["policyTypes"] = types
    return {"metadata": {"name": name, "namespace": "shop", "labels": labels or {}}, "spec": spec}


def pod():
    return {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": dict(LABELS)}}


def hits_of(policies, labels=None):
    labels = labels or LABELS
    return netpol.escape_hits(labels, dict((k, quarantine_value(v)) for k, v in labels.items()), policies)


def test_policy_types_default_like_the_api_server():
    assert netpol.policy_types(policy("a", {}, ingress=[{}])) == ["Ingress"]
    assert netpol.policy_types(policy("a", {}, egress=[{}])) == ["Ingress", "Egress"]
    assert netpol.policy_types(policy("a", {}, egress=[{}], types=["Egress"])) == ["Egress"]


def test_rules_of_a_direction_outside_policy_types_do_not_count():
    only_ingress = policy("a", {}, egress=[{}], types=["Ingress"])
    assert netpol.admitted_rules(only_ingress) == {"ingress": [], "egress": []}
    assert not netpol.is_allowing(only_ingress)
    assert netpol.is_allowing(policy("a", {}, ingress=[{}]))


def test_a_deny_only_policy_needs_no_escape():
    hits, selecting, unescapable = hits_of([policy("deny", {"matchLabels": {"team": "payments"}}, ingress=[],
                                                   types=["Ingress", "Egress"])])
    assert (hits, selecting, unescapable) == ({}, [], [])


def test_each_key_a_matchlabels_selector_uses_breaks_it():
    both = policy("team-and-tier", {"matchLabels": {"team": "payments", "tier": "api"}}, ingress=[{}])
    hits, selecting, unescapable = hits_of([both])
    assert selecting == ["team-and-tier"] and unescapable == []
    assert hits == {"team": set(["team-and-tier"]), "tier": set(["team-and-tier"])}


def test_in_expressions_are_escaped_by_a_new_value():
    hits, _selecting, unescapable = hits_of([policy("tiers", {"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["api", "web"]}]}, egress=[{}])])
    assert hits == {"tier": set(["tiers"])} and unescapable == []


def test_unescapable_policies_say_why_and_what_they_admit():
    everything = policy("monitoring", {}, ingress=[{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"port": 9090}]}])
    exists = policy("has-team", {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
                    egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}])
    ours = policy("by-marker", {"matchLabels": {"triage.k8s/isolated": "true"}}, ingress=[{}])
    hits, selecting, unescapable = hits_of([everything, exists, ours])
    assert hits == {} and selecting == ["by-marker", "has-team", "monitoring"]
    by_name = dict((u["name"], u) for u in unescapable)
    assert "empty" in by_name["monitoring"]["reason"]
    assert by_name["monitoring"]["admits"] == [
        "ingress from namespaces (kubernetes.io/metadata.name=monitoring) on TCP/9090"]
    assert "Exists" in by_name["has-team"]["reason"]
    assert by_name["has-team"]["admits"] == ["egress to ipBlock 0.0.0.0/0 except 10.0.0.0/8 on all ports"]
    assert "triage.k8s/isolated" in by_name["by-marker"]["reason"]


def test_a_statefulset_identity_label_is_never_rewritten():
    labels = dict(LABELS, **{"statefulset.kubernetes.io/pod-name": "db-0"})
    _hits, _selecting, unescapable = hits_of([policy("db-0-only", {"matchLabels": {
        "statefulset.kubernetes.io/pod-name": "db-0"}}, ingress=[{}])], labels)
    assert [u["name"] for u in unescapable] == ["db-0-only"]
    assert "cannot lose" in unescapable[0]["reason"]


def test_our_own_quarantine_policies_are_not_escaped():
    ours = policy("triage-quarantine-x", {"matchLabels": {"team": "payments"}}, ingress=[{}],
                  labels={netpol.MANAGED_BY: netpol.MANAGER, record.QUARANTINE_OF: "u-9"})
    assert hits_of([ours]) == ({}, [], [])
    assert netpol.is_quarantine_policy(ours) and netpol.is_quarantine_policy(ours, "u-9")
    assert not netpol.is_quarantine_policy(ours, "u-1")
    assert not netpol.is_quarantine_policy(policy("x", {}, labels={record.QUARANTINE_OF: "u-9"}))


def test_the_extra_hitting_set_is_the_fewest_keys_for_every_escapable_policy():
    policies = [policy("team", {"matchLabels": {"team": "payments"}}, ingress=[{}]),
                policy("team-tier", {"matchLabels": {"team": "payments", "tier": "api"}}, egress=[{}]),
                policy("tier", {"matchLabels": {"tier": "api"}}, ingress=[{}]),
                policy("all", {}, ingress=[{}])]
    plan = plan_quarantine(pod(), LABELS, policies, {})
    assert sorted(plan["escape_labels"]) == ["team", "tier"]
    assert plan["escaped_policies"] == ["team", "team-tier", "tier"]
    assert [u["name"] for u in plan["unescaped_policies"]] == ["all"]
    single = plan_quarantine(pod(), LABELS, policies[:2], {})
    assert single["escape_labels"] == {"team": {"from": "payments", "to": "quarantined-payments"}}
    assert single["label_values"] == {"team": "quarantined-payments", record.QUARANTINE_LABEL: "u-1"}


def test_the_quarantine_policy_selects_only_the_pod_and_allows_only_what_was_asked():
    body = netpol.build_policy(pod(), {"dns": True, "ingress_namespaces": ["forensics"],
                                       "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}]}]}, "alice")
    assert body["metadata"]["name"] == "triage-quarantine-web-1"
    assert body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "triage.k8s", record.QUARANTINE_OF: "u-1"}
    assert body["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "u-1"}]
    assert body["spec"]["podSelector"] == {"matchLabels": {record.QUARANTINE_LABEL: "u-1"}}
    assert body["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert body["spec"]["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "forensics"}}}]}]
    assert body["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}]},
                                      {"to": [netpol.DNS_PEER], "ports": netpol.DNS_PORTS}]
    deny_all = netpol.build_policy(pod(), None)
    assert "ingress" not in deny_all["spec"] and "egress" not in deny_all["spec"]


def test_a_long_pod_name_gives_a_valid_distinct_policy_name():
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    assert len(netpol.policy_name(long_a)) <= 253
    assert netpol.policy_name(long_a) != netpol.policy_name(long_b)


def test_same_spec_ignores_the_default_protocol():
    wanted = netpol.build_policy(pod(), {"ingress": [{"ports": [{"port": 80}]}]})
    served = dict(wanted, spec=dict(wanted["spec"], ingress=[{"ports": [{"port": 80, "protocol": "TCP"}]}]))
    assert netpol.same_spec(served, wanted)
    assert not netpol.same_spec(served, netpol.build_policy(pod(), None))


def test_quarantine_allow_problems_name_the_place():
    assert netpol.allow_problems({"dns": True, "ingress_namespaces": ["forensics"]}) == []
    problems = netpol.allow_problems({
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}, {"to": []}],
        "egress": [{"ports": [{"protocol": "ICMP", "port": 1}, {"port": 80, "endPort": 70}]}],
        "ingress_namespaces": ["Not A Namespace"]})
    assert any(p.startswith("quarantine_allow.ingress[0].from[0]: ipBlock cannot be combined") for p in problems)
    assert any(p.startswith("quarantine_allow.ingress[1] may only have from and ports") for p in problems)
    assert any(p.startswith("quarantine_allow.egress[0].ports[0].protocol") for p in problems)
    assert any(p.startswith("quarantine_allow.egress[0].ports[1].endPort") for p in problems)
    assert any("Not A Namespace" in p for p in problems)
