"""Unit tests of kubesim/netpol.py against the examples of the Kubernetes "Network Policies" page
(kubernetes.io/docs/concepts/services-networking/network-policies/) and the NetworkPolicy API reference. No cluster.
"""
from __future__ import annotations

from kubesim.netpol import EGRESS, INGRESS, Endpoint, connection_allowed, policy_types

NAMESPACES = {
    "default": {"kubernetes.io/metadata.name": "default"},
    "myproject": {"kubernetes.io/metadata.name": "myproject", "project": "myproject"},
    "other": {"kubernetes.io/metadata.name": "other"},
}


def pod(name, ip, namespace="default", labels=None, ports=None):
    container = {"name": "app", "image": "kubesim/web:1"}
    if ports:
        container["ports"] = ports
    return Endpoint(ip, {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                         "spec": {"containers": [container]}})


def outside(ip):
    return Endpoint(ip)


def policy(name, spec, namespace="default"):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def allowed(policies, src, dst, port, protocol="TCP"):
    return connection_allowed(policies, NAMESPACES, src, dst, port, protocol).allowed


# The page's first example, test-network-policy, verbatim in structure.
TEST_NETWORK_POLICY = policy("test-network-policy", {
    "podSelector": {"matchLabels": {"role": "db"}},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [{"from": [{"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                          {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                          {"podSelector": {"matchLabels": {"role": "frontend"}}}],
                 "ports": [{"protocol": "TCP", "port": 6379}]}],
    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5978}]}],
})

DB = pod("db", "10.244.1.10", labels={"role": "db"})
FRONTEND = pod("frontend", "10.244.1.11", labels={"role": "frontend"})
OTHER_POD = pod("batch", "10.244.2.12", labels={"role": "batch"})
PROJECT_POD = pod("any", "10.244.2.13", namespace="myproject", labels={"role": "anything"})
OTHER_NS_FRONTEND = pod("frontend", "10.244.2.14", namespace="other", labels={"role": "frontend"})


def test_no_policy_means_everything_is_allowed():
    assert allowed([], OTHER_POD, DB, 1234)
    assert allowed([], DB, outside("8.8.8.8"), 53, "UDP")
    assert allowed([], outside("1.2.3.4"), DB, 6379)


def test_example_ingress_peers_are_or_ed_and_limited_to_the_port():
    policies = [TEST_NETWORK_POLICY]
    assert allowed(policies, FRONTEND, DB, 6379)                    # podSelector, same namespace
    assert allowed(policies, PROJECT_POD, DB, 6379)                 # namespaceSelector: every pod there
    assert allowed(policies, outside("172.17.2.5"), DB, 6379)       # ipBlock
    assert not allowed(policies, outside("172.17.1.5"), DB, 6379)   # ipBlock except
    assert not allowed(policies, outside("172.18.0.1"), DB, 6379)   # outside the cidr
    assert not allowed(policies, OTHER_POD, DB, 6379)               # a pod no peer matches
    assert not allowed(policies, OTHER_NS_FRONTEND, DB, 6379)       # podSelector alone: the policy's namespace only
    assert not allowed(policies, FRONTEND, DB, 6380)                # another port
    assert not allowed(policies, FRONTEND, DB, 6379, "UDP")         # another protocol


def test_example_egress_of_the_selected_pod():
    policies = [TEST_NETWORK_POLICY]
    assert allowed(policies, DB, outside("10.0.0.7"), 5978)
    assert not allowed(policies, DB, outside("10.0.0.7"), 80)
    assert not allowed(policies, DB, outside("10.0.1.7"), 5978)
    assert not allowed(policies, DB, FRONTEND, 8080)              # egress isolated: a pod outside the ipBlock
    # A pod the policy does not select keeps its egress, and the db's ingress decides.
    assert allowed(policies, FRONTEND, outside("8.8.8.8"), 443)


def test_a_connection_needs_the_egress_of_the_source_and_the_ingress_of_the_destination():
    deny_egress = policy("default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]})
    # frontend may reach db:6379 by db's ingress, but frontend's own egress is now denied.
    assert allowed([TEST_NETWORK_POLICY], FRONTEND, DB, 6379)
    assert not allowed([TEST_NETWORK_POLICY, deny_egress], FRONTEND, DB, 6379)
    # A pod of another namespace keeps its egress: default-deny-egress selects only its own namespace.
    assert allowed([TEST_NETWORK_POLICY, deny_egress], PROJECT_POD, DB, 6379)


def test_default_deny_ingress_and_allow_all_ingress():
    deny = policy("default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
    allow_all = policy("allow-all-ingress", {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]})
    assert not allowed([deny], FRONTEND, DB, 8080)
    assert not allowed([deny], outside("1.2.3.4"), DB, 8080)
    assert allowed([deny], DB, outside("1.2.3.4"), 443)           # egress untouched
    assert allowed([deny, allow_all], FRONTEND, DB, 8080)         # union: the allowing policy wins
    assert allowed([deny, allow_all], outside("1.2.3.4"), DB, 1)
    assert allowed([deny], FRONTEND, PROJECT_POD, 8080)           # other namespace: not selected


def test_default_deny_egress_allow_all_egress_and_default_deny_all():
    deny_egress = policy("default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]})
    allow_egress = policy("allow-all-egress", {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]})
    deny_all = policy("default-deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    assert not allowed([deny_egress], DB, outside("8.8.8.8"), 53, "UDP")
    assert allowed([deny_egress], PROJECT_POD, DB, 80)             # ingress of db untouched, source elsewhere
    assert allowed([deny_egress, allow_egress], DB, outside("8.8.8.8"), 53, "UDP")
    assert not allowed([deny_all], DB, outside("8.8.8.8"), 53, "UDP")
    assert not allowed([deny_all], PROJECT_POD, DB, 80)


def test_policy_types_default_ingress_always_egress_only_with_egress_rules():
    ingress_only = policy("p", {"podSelector": {}})
    with_egress = policy("p", {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]})
    assert policy_types(ingress_only) == [INGRESS]
    assert policy_types(with_egress) == [INGRESS, EGRESS]
    # Without policyTypes and without egress rules the policy denies ingress and leaves egress open.
    assert not allowed([ingress_only], FRONTEND, DB, 80)
    assert allowed([ingress_only], DB, outside("8.8.8.8"), 443)
    # With egress rules, egress is isolated too.
    assert not allowed([with_egress], DB, outside("8.8.8.8"), 443)
    assert allowed([with_egress], DB, outside("10.1.2.3"), 443)
    # An explicit policyTypes [Egress] leaves ingress open even with ingress rules written.
    egress_typed = policy("p", {"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{"from": []}]})
    assert allowed([egress_typed], FRONTEND, DB, 80) is False       # frontend's egress is isolated now
    assert allowed([egress_typed], PROJECT_POD, DB, 80)             # db's ingress is not


def test_namespace_selector_and_pod_selector_in_one_peer_is_and_in_two_peers_is_or():
    # The page's "alice / client" example.
    and_policy = policy("and", {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"user": "alice"}}, "podSelector": {"matchLabels": {"role": "client"}}}
    ]}]})
    or_policy = policy("or", {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"user": "alice"}}}, {"podSelector": {"matchLabels": {"role": "client"}}}
    ]}]})
    namespaces = dict(NAMESPACES, alice={"user": "alice"})
    alice_client = pod("c", "10.244.3.2", namespace="alice", labels={"role": "client"})
    alice_other = pod("o", "10.244.3.3", namespace="alice", labels={"role": "other"})
    local_client = pod("lc", "10.244.3.4", labels={"role": "client"})
    check = lambda p, src: connection_allowed([p], namespaces, src, DB, 80).allowed  # noqa: E731
    assert check(and_policy, alice_client)
    assert not check(and_policy, alice_other)
    assert not check(and_policy, local_client)
    assert check(or_policy, alice_client)
    assert check(or_policy, alice_other)
    assert check(or_policy, local_client)


def test_target_a_namespace_by_its_name_label():
    p = policy("p", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "myproject"}}}]}]})
    assert allowed([p], PROJECT_POD, DB, 80)
    assert not allowed([p], OTHER_NS_FRONTEND, DB, 80)
    assert not allowed([p], outside("10.244.2.13"), DB, 80)   # the same address, but not a pod: no pod peer


def test_port_range_with_end_port():
    # The page's multi-port-egress example.
    p = policy("multi-port-egress", {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Egress"],
                                     "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                                                 "ports": [{"protocol": "TCP", "port": 32000, "endPort": 32768}]}]})
    for port, expected in ((31999, False), (32000, True), (32500, True), (32768, True), (32769, False)):
        assert allowed([p], DB, outside("10.0.0.9"), port) is expected, port


def test_named_ports_resolve_against_the_destination_pod():
    web = pod("web", "10.244.1.20", labels={"app": "web"},
              ports=[{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090},
                     {"name": "dns", "containerPort": 5353, "protocol": "UDP"}])
    p = policy("p", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": "http"}]}]})
    assert allowed([p], FRONTEND, web, 8080)
    assert not allowed([p], FRONTEND, web, 9090)
    udp = policy("u", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
        {"ports": [{"port": "dns", "protocol": "UDP"}]}]})
    assert allowed([udp], FRONTEND, web, 5353, "UDP")
    assert not allowed([udp], FRONTEND, web, 5353, "TCP")
    # Egress with a named port: the name is the destination pod's; an outside address has none.
    egress = policy("e", {"podSelector": {"matchLabels": {"role": "frontend"}}, "policyTypes": ["Egress"],
                          "egress": [{"ports": [{"port": "http"}]}]})
    assert allowed([egress], FRONTEND, web, 8080)
    assert not allowed([egress], FRONTEND, web, 9090)
    assert not allowed([egress], FRONTEND, outside("1.2.3.4"), 8080)


def test_port_without_number_matches_every_port_of_its_protocol():
    p = policy("p", {"podSelector": {}, "ingress": [{"ports": [{"protocol": "UDP"}]}]})
    assert allowed([p], FRONTEND, DB, 53, "UDP")
    assert not allowed([p], FRONTEND, DB, 53, "TCP")


def test_ip_block_matches_pod_addresses_too():
    p = policy("p", {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.244.1.11/32"}}]}]})
    assert allowed([p], FRONTEND, DB, 80)
    assert not allowed([p], OTHER_POD, DB, 80)


def test_policies_of_other_namespaces_do_not_select_and_verdict_names_the_isolating_policy():
    elsewhere = policy("deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, namespace="other")
    assert allowed([elsewhere], FRONTEND, DB, 80)
    verdict = connection_allowed([TEST_NETWORK_POLICY], NAMESPACES, OTHER_POD, DB, 6379)
    assert not verdict.allowed
    assert verdict.ingress == ["default/test-network-policy"]
    assert "ingress of default/db" in verdict.reason


def test_match_expressions_in_selectors():
    p = policy("p", {"podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["db"]}]},
                     "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                         {"key": "role", "operator": "NotIn", "values": ["batch"]}]}}]}]})
    assert allowed([p], FRONTEND, DB, 80)
    assert not allowed([p], OTHER_POD, DB, 80)
    assert allowed([p], OTHER_POD, FRONTEND, 80)   # frontend is not selected
