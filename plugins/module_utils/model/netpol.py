# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""NetworkPolicy facts for a network quarantine: which policies select a pod, what they admit, which label
rewrites take the pod out of them, and the body of the quarantine policy itself. Pure, no I/O.

The Kubernetes rules this rests on (networking.k8s.io/v1):
- Policies are additive. A pod selected by no policy of a direction (Ingress, Egress) is open in it; once some
  policy selects it for a direction, exactly the union of the rules of all policies that select it is allowed.
  So a deny-all policy of our own cannot take away what another selecting policy allows: the pod has to stop
  being selected by it, which only a label change can do.
- spec.podSelector is a LabelSelector in the policy's namespace; {} selects every pod of the namespace.
- spec.policyTypes defaults to [Ingress] plus Egress when the policy has egress rules.
Cluster-scoped and CNI-specific policies (AdminNetworkPolicy, BaselineAdminNetworkPolicy, CiliumNetworkPolicy,
Calico's NetworkPolicy and GlobalNetworkPolicy) are not evaluated here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.model.names import is_dns_subdomain, label_selector_matches

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "triage.k8s"
POLICY_PREFIX = "triage-quarantine-"
NOT_EVALUATED = ("cluster-scoped and CNI-specific policies (AdminNetworkPolicy, BaselineAdminNetworkPolicy, Cilium, "
                 "Calico) are not evaluated: they may still admit traffic to or from the pod")
# Labels a pod cannot lose without losing what it is: a StatefulSet pod's identity, and this collection's own
# record. A policy that selects the pod only through them cannot be escaped by a rewrite.
IDENTITY_LABELS = ("statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index")
# quarantine_allow.dns: the cluster DNS as kubeadm, kind, GKE, EKS and AKS deploy it.
DNS_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

_RULE_KEYS = {"ingress": ("from", "ports"), "egress": ("to", "ports")}
_PEER_KEYS = ("podSelector", "namespaceSelector", "ipBlock")
_PROTOCOLS = ("TCP", "UDP", "SCTP")


def _name(obj):
    return (obj.get("metadata") or {}).get("name")


def policy_types(policy):
    """spec.policyTypes, or the API server's default for a policy that leaves it out."""
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def admitted_rules(policy):
    """{"ingress": [...], "egress": [...]}: the rules that count (those of a direction in policyTypes)."""
    spec = policy.get("spec") or {}
    types = policy_types(policy)
    return {"ingress": list(spec.get("ingress") or []) if "Ingress" in types else [],
            "egress": list(spec.get("egress") or []) if "Egress" in types else []}


def is_allowing(policy):
    """The policy allows some traffic (a policy without rules only isolates, which a quarantine wants anyway)."""
    rules = admitted_rules(policy)
    return bool(rules["ingress"] or rules["egress"])


def selects(policy, labels):
    return label_selector_matches((policy.get("spec") or {}).get("podSelector"), labels)


def is_quarantine_policy(policy, pod_uid=None):
    """One of this collection's quarantine policies (of the pod with ``pod_uid`` when given)."""
    labels = (policy.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY) != MANAGER or not labels.get(record.QUARANTINE_OF):
        return False
    return pod_uid is None or labels[record.QUARANTINE_OF] == pod_uid


def _peer_text(peer):
    if "ipBlock" in peer:
        block = peer["ipBlock"] or {}
        text = "ipBlock %s" % block.get("cidr")
        if block.get("except"):
            text += " except %s" % ", ".join(block["except"])
        return text
    parts = []
    if "namespaceSelector" in peer:
        parts.append("namespaces %s" % _selector_text(peer["namespaceSelector"]))
    if "podSelector" in peer:
        parts.append("pods %s" % _selector_text(peer["podSelector"]))
    return " and ".join(parts) or "any peer"


def _selector_text(selector):
    selector = selector or {}
    terms = ["%s=%s" % item for item in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        terms.append("%s %s %s" % (expression.get("key"), expression.get("operator"),
                                   ",".join(expression.get("values") or [])))
    return "(%s)" % ", ".join(terms) if terms else "(all)"


def _ports_text(ports):
    if not ports:
        return "all ports"
    return ", ".join("%s/%s%s" % (p.get("protocol") or "TCP", p.get("port", "all"),
                                  "-%s" % p["endPort"] if p.get("endPort") else "") for p in ports)


def describe_admitted(policy):
    """What the policy still admits, one short sentence per rule (for results and warnings)."""
    texts = []
    for direction, peer_key, word in (("ingress", "from", "from"), ("egress", "to", "to")):
        for rule in admitted_rules(policy)[direction]:
            peers = rule.get(peer_key)
            who = "; ".join(_peer_text(p) for p in peers) if peers else "anywhere"
            texts.append("%s %s %s on %s" % (direction, word, who, _ports_text(rule.get("ports"))))
    return texts


def _protected(key):
    return key.startswith(record.PREFIX) or key in IDENTITY_LABELS


def escape_hits(labels, new_values, policies):
    """Which label rewrites take the pod out of each allowing policy that selects it.

    ``policies`` are the namespace's NetworkPolicies (this collection's quarantine policies are skipped).
    Returns (hits, selecting, unescapable): hits {key: set of policy names} for the keys a rewrite may touch,
    selecting the names of the allowing policies that select ``labels``, and unescapable
    [{name, reason, admits}] for those no single rewrite of an allowed key defeats (empty podSelector,
    expressions like Exists or NotIn, or only identity labels).
    """
    hits, selecting, unescapable = {}, [], []
    for policy in sorted(policies, key=_name):
        if is_quarantine_policy(policy) or not is_allowing(policy) or not selects(policy, labels):
            continue
        name = _name(policy)
        selecting.append(name)
        selector = (policy.get("spec") or {}).get("podSelector") or {}
        breaking = []
        for key in labels:
            changed = dict(labels)
            changed[key] = new_values[key]
            if not selects(policy, changed):
                breaking.append(key)
        allowed = [k for k in breaking if not _protected(k)]
        for key in allowed:
            hits.setdefault(key, set()).add(name)
        if allowed:
            continue
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            reason = "its podSelector is empty, so it selects every pod of the namespace"
        elif breaking:
            reason = "it selects the pod only by %s, which the pod cannot lose (its identity or this collection's " \
                     "record)" % ", ".join(sorted(breaking))
        else:
            reason = "it selects the pod with expressions a new label value cannot defeat (%s)" % (
                _selector_text(selector))
        unescapable.append({"name": name, "reason": reason, "admits": describe_admitted(policy)})
    return hits, selecting, unescapable


def policy_name(pod_name):
    """The quarantine policy's name: triage-quarantine-<pod>, shortened with a digest past 253 characters."""
    name = POLICY_PREFIX + pod_name
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(pod_name.encode("utf-8")).hexdigest()[:10]
    return (POLICY_PREFIX + pod_name)[:242].rstrip(".-") + "-" + digest


def _check_selector(selector, where, problems):
    if not isinstance(selector, dict) or set(selector) - set(("matchLabels", "matchExpressions")):
        problems.append("%s must be a label selector (matchLabels, matchExpressions), got %r" % (where, selector))


def _check_peer(peer, where, problems):
    if not isinstance(peer, dict) or not peer or set(peer) - set(_PEER_KEYS):
        problems.append("%s must be a peer with podSelector, namespaceSelector or ipBlock, got %r" % (where, peer))
        return
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        if len(peer) > 1:
            problems.append("%s: ipBlock cannot be combined with a selector" % where)
        if not isinstance(block, dict) or not isinstance(block.get("cidr"), str):
            problems.append("%s.ipBlock needs a cidr, got %r" % (where, block))
    for key in ("podSelector", "namespaceSelector"):
        if key in peer:
            _check_selector(peer[key], "%s.%s" % (where, key), problems)


def _check_port(port, where, problems):
    if not isinstance(port, dict) or set(port) - set(("protocol", "port", "endPort")):
        problems.append("%s must have protocol, port and endPort only, got %r" % (where, port))
        return
    if port.get("protocol", "TCP") not in _PROTOCOLS:
        problems.append("%s.protocol must be one of %s, got %r" % (where, ", ".join(_PROTOCOLS), port.get("protocol")))
    if "port" in port and not isinstance(port["port"], (int, str)) or isinstance(port.get("port"), bool):
        problems.append("%s.port must be a number or a named port, got %r" % (where, port.get("port")))
    if "endPort" in port and (not isinstance(port["endPort"], int) or not isinstance(port.get("port"), int)
                              or port["endPort"] < port["port"]):
        problems.append("%s.endPort needs a numeric port and must not be below it" % where)


def allow_problems(allow):
    """What is wrong with a quarantine_allow value, as messages naming the place (an empty list when it is fine)."""
    problems = []
    for direction, rule_keys in _RULE_KEYS.items():
        peer_key = rule_keys[0]
        rules = (allow or {}).get(direction) or []
        for index, rule in enumerate(rules):
            where = "quarantine_allow.%s[%d]" % (direction, index)
            if not isinstance(rule, dict) or set(rule) - set(rule_keys):
                problems.append("%s may only have %s, got %r" % (where, " and ".join(rule_keys), rule))
                continue
            for number, peer in enumerate(rule.get(peer_key) or []):
                _check_peer(peer, "%s.%s[%d]" % (where, peer_key, number), problems)
            for number, port in enumerate(rule.get("ports") or []):
                _check_port(port, "%s.ports[%d]" % (where, number), problems)
    for key in ("ingress_namespaces", "egress_namespaces"):
        for namespace in (allow or {}).get(key) or []:
            if not is_dns_subdomain(namespace):
                problems.append("quarantine_allow.%s: %r is not a namespace name" % (key, namespace))
    return problems


def allowed_rules(allow):
    """The ingress and egress rules of the quarantine policy: exactly what quarantine_allow names, nothing else."""
    allow = allow or {}
    ingress = [dict(rule) for rule in allow.get("ingress") or []]
    egress = [dict(rule) for rule in allow.get("egress") or []]
    if allow.get("ingress_namespaces"):
        ingress.append({"from": [_namespace_peer(n) for n in sorted(allow["ingress_namespaces"])]})
    if allow.get("egress_namespaces"):
        egress.append({"to": [_namespace_peer(n) for n in sorted(allow["egress_namespaces"])]})
    if allow.get("dns"):
        egress.append({"to": [dict(DNS_PEER)], "ports": [dict(p) for p in DNS_PORTS]})
    return ingress, egress


def _namespace_peer(namespace):
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}


def build_policy(pod, allow, isolated_by=None, reason=None, ticket=None):
    """The quarantine NetworkPolicy for ``pod``: selects exactly this pod (by the uid label the quarantine adds),
    policyTypes Ingress and Egress, only the allowed rules; owned by the pod so the cluster removes it with it."""
    metadata = pod["metadata"]
    ingress, egress = allowed_rules(allow)
    annotations = {record.QUARANTINE_POD: metadata["name"]}
    for key, value in ((record.ISOLATED_BY, isolated_by), (record.REASON, reason), (record.TICKET, ticket)):
        if value:
            annotations[key] = value
    spec = {"podSelector": {"matchLabels": {record.QUARANTINE_LABEL: metadata["uid"]}},
            "policyTypes": ["Ingress", "Egress"]}
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": policy_name(metadata["name"]),
            "namespace": metadata["namespace"],
            "labels": {MANAGED_BY: MANAGER, record.QUARANTINE_OF: metadata["uid"]},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": metadata["name"], "uid": metadata["uid"]}],
        },
        "spec": spec,
    }


def same_spec(existing, wanted):
    """The existing policy enforces what ``wanted`` asks (the server may add defaults such as protocol TCP)."""
    def normal(spec):
        spec = dict(spec or {})
        for direction in ("ingress", "egress"):
            rules = []
            for rule in spec.get(direction) or []:
                rule = dict(rule)
                if rule.get("ports"):
                    rule["ports"] = [dict(p, protocol=p.get("protocol") or "TCP") for p in rule["ports"]]
                rules.append(rule)
            spec[direction] = rules
        return spec
    return normal(existing.get("spec")) == normal(wanted.get("spec"))


def policy_view(policy):
    """What --diff shows of a policy: its labels, annotations and spec."""
    if not policy:
        return {}
    metadata = policy.get("metadata") or {}
    return {"labels": dict(metadata.get("labels") or {}), "annotations": dict(metadata.get("annotations") or {}),
            "spec": policy.get("spec") or {}}


def policy_diff(before, after, name):
    return {"before": policy_view(before), "after": policy_view(after),
            "before_header": "networkpolicy %s" % name, "after_header": "networkpolicy %s" % name}
