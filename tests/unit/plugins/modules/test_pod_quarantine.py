# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pod_isolate network_quarantine and its undo by pod_restore against a fake API server: what goes on the wire."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.triage.k8s.plugins.modules import pod_isolate, pod_restore
from ansible_collections.triage.k8s.plugins.module_utils.model import netpol
from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.tests.unit.conftest import status_body
from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.isolation_objects import deployment_fleet
from ansible_collections.triage.k8s.tests.unit.plugins.modules.pod_cluster_fake import NS, FakeCluster

NAME = "web-5d4b8f7c9-aaaaa"
POLICY = "triage-quarantine-" + NAME
COLLECTION = "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies" % NS


class PolicyStore(object):
    """NetworkPolicies of the namespace: list, get, create, update and delete with uid/resourceVersion
    preconditions, as the API server answers them."""

    def __init__(self, server, policies=(), names=(POLICY,)):
        self.server = server
        self.items = dict((p["metadata"]["name"], copy.deepcopy(p)) for p in policies)
        self.serial = 0
        server.route("GET", COLLECTION, handler=self._list)
        server.route("POST", COLLECTION, handler=self._create)
        for name in set(names) | set(self.items):
            path = COLLECTION + "/" + name
            server.route("GET", path, handler=lambda request, name=name: self._get(name))
            server.route("PUT", path, handler=lambda request, name=name: self._update(name, request))
            server.route("DELETE", path, handler=lambda request, name=name: self._delete(name, request))

    def _list(self, request):
        return 200, {"metadata": {"resourceVersion": "1"}, "items": list(self.items.values())}

    def _stamp(self, policy):
        self.serial += 1
        policy["metadata"]["resourceVersion"] = "np-%d" % self.serial
        policy["metadata"].setdefault("uid", "np-uid-%d" % self.serial)
        return policy

    def _get(self, name):
        if name not in self.items:
            return 404, status_body(404, "NotFound", 'networkpolicies.networking.k8s.io "%s" not found' % name)
        return 200, self.items[name]

    def _create(self, request):
        name = request.body["metadata"]["name"]
        if name in self.items:
            return 409, status_body(409, "AlreadyExists", "already exists")
        self.items[name] = self._stamp(copy.deepcopy(request.body))
        return 201, self.items[name]

    def _update(self, name, request):
        if request.body["metadata"].get("resourceVersion") != self.items[name]["metadata"]["resourceVersion"]:
            return 409, status_body(409, "Conflict", "the object has been modified")
        self.items[name] = self._stamp(copy.deepcopy(request.body))
        return 200, self.items[name]

    def _delete(self, name, request):
        if name not in self.items:
            return 404, status_body(404, "NotFound", "not found")
        pre = (request.body or {}).get("preconditions") or {}
        current = self.items[name]["metadata"]
        if pre.get("uid") != current["uid"] or pre.get("resourceVersion") != current["resourceVersion"]:
            return 409, status_body(409, "Conflict", "precondition failed")
        return 200, self.items.pop(name)


def allowing(name, selector, ingress=None, egress=None):
    spec = {"podSelector": selector, "policyTypes": ["Ingress"] + (["Egress"] if egress else [])}
    spec["ingress"] = ingress if ingress is not None else [{}]
    if egress:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NS, "uid": "uid-np-" + name, "resourceVersion": "7"},
            "spec": spec}


def setup(fake_api, policies=(), team=True):
    view = deployment_fleet()
    if team:
        for pod in view["pods"]:
            pod["metadata"]["labels"]["team"] = "payments"
    cluster = FakeCluster(fake_api, view["pods"], view["services"], [view["controller"], view["top_owner"]])
    return cluster, PolicyStore(fake_api, policies)


def isolate_args(fake_api, **extra):
    base = {"host": fake_api.url, "namespace": NS, "name": NAME, "strategy": "immediate", "wait": False,
            "network_quarantine": True}
    base.update(extra)
    return base


def test_check_mode_shows_the_policy_and_sends_no_write(fake_api, clean_env, module_runner):
    cluster, store = setup(fake_api, [allowing("allow-team", {"matchLabels": {"team": "payments"}})])
    result, failed = module_runner(pod_isolate.main, isolate_args(
        fake_api, quarantine_allow={"dns": True}, _ansible_check_mode=True, _ansible_diff=True))
    assert not failed, result
    assert cluster.writes() == [] and store.items.keys() == set(["allow-team"])
    assert result["changed"] is True
    headers = [d["after_header"] for d in result["diff"]]
    assert headers == ["pod " + NAME, "pod %s (network quarantine)" % NAME, "networkpolicy " + POLICY]
    policy_after = result["diff"][2]["after"]
    uid = cluster.pods[NAME]["metadata"]["uid"]
    assert policy_after["spec"]["podSelector"] == {"matchLabels": {undo_record.QUARANTINE_LABEL: uid}}
    assert policy_after["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy_after["spec"]
    assert policy_after["spec"]["egress"][0]["ports"] == netpol.DNS_PORTS
    assert result["diff"][1]["after"]["labels"]["team"] == "quarantined-payments"
    assert result["network_quarantine"]["escape_labels"] == {"team": {"from": "payments", "to": "quarantined-payments"}}
    assert result["network_quarantine"]["created"] is True


def test_quarantine_labels_the_pod_then_creates_one_policy_and_a_rerun_is_ok(fake_api, clean_env, module_runner):
    cluster, store = setup(fake_api, [allowing("allow-team", {"matchLabels": {"team": "payments"}})])
    result, failed = module_runner(pod_isolate.main, isolate_args(
        fake_api, quarantine_allow={"ingress_namespaces": ["forensics"]}))
    assert not failed, result
    path = "/api/v1/namespaces/%s/pods/%s" % (NS, NAME)
    assert cluster.writes() == [("PATCH", path), ("POST", "/api/v1/namespaces/shop/events"), ("PATCH", path),
                                ("POST", COLLECTION)]
    pod = cluster.pods[NAME]
    uid = pod["metadata"]["uid"]
    assert pod["metadata"]["labels"][undo_record.QUARANTINE_LABEL] == uid
    assert pod["metadata"]["labels"]["team"] == "quarantined-payments"
    assert undo_record.network_quarantine(pod)["policy"] == POLICY
    assert undo_record.parse_record(pod)["original_labels"]["team"] == "payments"
    policy = store.items[POLICY]
    assert policy["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "triage.k8s",
                                            undo_record.QUARANTINE_OF: uid}
    assert policy["metadata"]["ownerReferences"][0]["uid"] == uid
    assert policy["spec"]["ingress"] == [{"from": [{"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "forensics"}}}]}]
    assert "egress" not in policy["spec"]
    assert result["network_quarantine"]["escaped_policies"] == ["allow-team"]
    assert "AdminNetworkPolicy" in result["network_quarantine"]["not_evaluated"]

    del fake_api.requests[:]
    again, failed = module_runner(pod_isolate.main, isolate_args(
        fake_api, quarantine_allow={"ingress_namespaces": ["forensics"]}))
    assert not failed, again
    assert again["changed"] is False and cluster.writes() == []
    assert again["network_quarantine"]["created"] is False


def test_unescapable_policies_are_reported_with_what_they_admit(fake_api, clean_env, module_runner):
    cluster, _store = setup(fake_api, [
        allowing("allow-all-monitoring", {}, ingress=[{
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "ports": [{"protocol": "TCP", "port": 9090}]}]),
        allowing("deny-only", {"matchLabels": {"team": "payments"}}, ingress=[]),
        allowing("has-team", {"matchExpressions": [{"key": "team", "operator": "Exists"}]})])
    result, failed = module_runner(pod_isolate.main, isolate_args(fake_api))
    assert not failed, result
    unescaped = dict((u["name"], u) for u in result["network_quarantine"]["unescaped_policies"])
    assert sorted(unescaped) == ["allow-all-monitoring", "has-team"]
    assert "empty" in unescaped["allow-all-monitoring"]["reason"]
    assert unescaped["allow-all-monitoring"]["admits"] == [
        "ingress from namespaces (kubernetes.io/metadata.name=monitoring) on TCP/9090"]
    assert "Exists" in unescaped["has-team"]["reason"]
    assert result["network_quarantine"]["escape_labels"] == {}
    assert any("allow-all-monitoring still selects" in w for w in result["warnings"])
    assert cluster.pods[NAME]["metadata"]["labels"]["team"] == "payments"


def test_a_foreign_policy_of_the_same_name_is_never_taken_over(fake_api, clean_env, module_runner):
    cluster, store = setup(fake_api, [allowing(POLICY, {"matchLabels": {"x": "y"}})], team=False)
    result, failed = module_runner(pod_isolate.main, isolate_args(fake_api))
    assert failed and result["changed"] is True
    assert "not triage.k8s's quarantine" in result["msg"]
    assert store.items[POLICY]["metadata"]["resourceVersion"] == "7"
    assert cluster.pods[NAME]["metadata"]["labels"][undo_record.ISOLATED_LABEL] == "true"


def test_bad_quarantine_allow_fails_before_any_request(fake_api, clean_env, module_runner):
    _cluster, _store = setup(fake_api)
    result, failed = module_runner(pod_isolate.main, isolate_args(
        fake_api, quarantine_allow={"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]}))
    assert failed and "ipBlock cannot be combined" in result["msg"]
    assert fake_api.requests == []


def test_restore_deletes_our_policy_with_preconditions_and_drops_the_label(fake_api, clean_env, module_runner):
    cluster, store = setup(fake_api, [allowing("allow-team", {"matchLabels": {"team": "payments"}})])
    result, failed = module_runner(pod_isolate.main, isolate_args(fake_api))
    assert not failed, result
    policy = store.items[POLICY]
    del fake_api.requests[:]
    preview, failed = module_runner(pod_restore.main, {"host": fake_api.url, "namespace": NS, "name": NAME,
                                                       "wait": False, "_ansible_check_mode": True,
                                                       "_ansible_diff": True})
    assert not failed, preview
    assert cluster.writes() == [] and POLICY in store.items
    assert preview["network_quarantine"]["deleted"] is True
    assert preview["diff"][1]["after_header"] == "networkpolicy %s (deleted)" % POLICY
    restored, failed = module_runner(pod_restore.main, {"host": fake_api.url, "namespace": NS, "name": NAME,
                                                        "wait": False})
    assert not failed, restored
    deletes = [r for r in fake_api.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [COLLECTION + "/" + POLICY]
    assert deletes[0].body["preconditions"] == {"uid": policy["metadata"]["uid"],
                                                "resourceVersion": policy["metadata"]["resourceVersion"]}
    assert sorted(store.items) == ["allow-team"]
    labels = cluster.pods[NAME]["metadata"]["labels"]
    assert labels == {"app": "web", "pod-template-hash": "5d4b8f7c9", "team": "payments"}
    assert not [k for k in cluster.pods[NAME]["metadata"].get("annotations") or {} if k.startswith("triage.k8s/")]


def test_restore_leaves_a_policy_that_is_not_ours_alone(fake_api, clean_env, module_runner):
    cluster, store = setup(fake_api, team=False)
    result, failed = module_runner(pod_isolate.main, isolate_args(fake_api))
    assert not failed, result
    store.items[POLICY]["metadata"]["labels"][undo_record.QUARANTINE_OF] = "someone-else"
    del fake_api.requests[:]
    restored, failed = module_runner(pod_restore.main, {"host": fake_api.url, "namespace": NS, "name": NAME,
                                                        "wait": False})
    assert not failed, restored
    assert not [r for r in fake_api.requests if r.method == "DELETE"]
    assert POLICY in store.items and restored["network_quarantine"]["deleted"] is False
    assert any("left alone" in w for w in restored["warnings"])
    assert undo_record.QUARANTINE_LABEL not in cluster.pods[NAME]["metadata"]["labels"]


def test_a_rerun_with_other_allowed_rules_updates_our_policy_on_its_resource_version(
        fake_api, clean_env, module_runner):
    _cluster, store = setup(fake_api, team=False)
    result, failed = module_runner(pod_isolate.main, isolate_args(fake_api))
    assert not failed, result
    read_rv = store.items[POLICY]["metadata"]["resourceVersion"]
    del fake_api.requests[:]
    again, failed = module_runner(pod_isolate.main, isolate_args(fake_api, quarantine_allow={"dns": True}))
    assert not failed, again
    puts = [r for r in fake_api.requests if r.method == "PUT"]
    assert [r.path for r in puts] == [COLLECTION + "/" + POLICY]
    assert puts[0].body["metadata"]["resourceVersion"] == read_rv
    assert again["changed"] is True and again["network_quarantine"]["updated"] is True
    assert store.items[POLICY]["spec"]["egress"][0]["ports"] == netpol.DNS_PORTS
