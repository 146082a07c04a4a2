"""NetworkPolicy (networking.k8s.io/v1) evaluation: may this connection be opened?

Pure: no store, no I/O. The caller gives the policies, the namespaces' labels and the two ends of a connection;
the answer is a Verdict. The rules, as kubernetes.io "Network Policies" and the API reference state them:

- A policy selects the pods of its own namespace that its podSelector matches (``{}``: all of them).
- A pod is isolated for ingress when some policy selecting it has Ingress in its policyTypes, for egress when
  some has Egress. policyTypes omitted means Ingress, plus Egress when the policy has egress rules (the
  apiserver's defaulting; evaluated the same here for objects stored without it).
- A pod not isolated in a direction allows everything in that direction. An isolated pod allows what the union
  of the rules of the policies selecting it (in that direction) allows: policies only add.
- A connection needs both: the egress of the source pod (when the source is a pod) AND the ingress of the
  destination pod (when the destination is a pod). Traffic that is not a pod's (outside the cluster) has no
  policy of its own. Replies of an allowed connection are always allowed (the model is per connection).
- A rule with no ``from``/``to`` matches every peer, with no ``ports`` every port. A rule ``ports`` entry
  matches its protocol (default TCP) and its port: absent = every port; a number, up to ``endPort`` when given;
  a name = the destination pod's containerPort of that name and protocol (no destination pod: no match).
- A peer: ``podSelector`` alone = pods of the policy's namespace; ``namespaceSelector`` alone = every pod of the
  matching namespaces; both = pods matching the podSelector in the matching namespaces (one peer, AND);
  ``ipBlock`` = addresses in ``cidr`` and in none of ``except``. ipBlock is matched against every address, pod IPs
  included (what the upstream e2e tests expect: "should allow egress access to server in CIDR block").

Not modelled here: AdminNetworkPolicy / BaselineAdminNetworkPolicy, CNI-specific policies, and the CNI rule
that traffic from a pod's own node is always allowed (kubesim has no node-originated traffic).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kubesim.selectors import from_label_selector_object

INGRESS = "Ingress"
EGRESS = "Egress"


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: an address, and the pod that has it (None: outside the cluster)."""
    ip: str
    pod: dict | None = None

    @property
    def namespace(self) -> str | None:
        return self.pod["metadata"]["namespace"] if self.pod else None

    @property
    def labels(self) -> dict:
        return (self.pod["metadata"].get("labels") or {}) if self.pod else {}


@dataclass
class Verdict:
    allowed: bool
    reason: str
    egress: list[str] = field(default_factory=list)    # policies that isolate the source (ns/name)
    ingress: list[str] = field(default_factory=list)   # policies that isolate the destination

    def __bool__(self) -> bool:
        return self.allowed


def policy_types(policy: dict) -> list[str]:
    """spec.policyTypes, or the apiserver's default when it is absent or empty."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return list(types)
    return [INGRESS, EGRESS] if spec.get("egress") else [INGRESS]


def selects(policy: dict, pod: dict) -> bool:
    """Does `policy` select `pod` (same namespace, podSelector matches)?"""
    if policy["metadata"].get("namespace") != pod["metadata"].get("namespace"):
        return False
    selector = (policy.get("spec") or {}).get("podSelector")
    return from_label_selector_object(selector if selector is not None else {}).matches(
        pod["metadata"].get("labels") or {})


def _name(policy: dict) -> str:
    return f"{policy['metadata'].get('namespace')}/{policy['metadata'].get('name')}"


def in_ip_block(block: dict, ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
        if address not in ipaddress.ip_network(block.get("cidr", ""), strict=False):
            return False
        return not any(address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])
    except ValueError:
        return False


def peer_matches(peer: dict, policy_namespace: str, other: Endpoint, namespace_labels: dict[str, dict]) -> bool:
    """Does the NetworkPolicyPeer `peer` (of a policy in `policy_namespace`) match the other end?"""
    if peer.get("ipBlock") is not None:
        return in_ip_block(peer["ipBlock"], other.ip)
    pod_selector, ns_selector = peer.get("podSelector"), peer.get("namespaceSelector")
    if other.pod is None or (pod_selector is None and ns_selector is None):
        return False
    if ns_selector is None:
        if other.namespace != policy_namespace:
            return False
    elif not from_label_selector_object(ns_selector).matches(namespace_labels.get(other.namespace) or {}):
        return False
    return pod_selector is None or from_label_selector_object(pod_selector).matches(other.labels)


def named_port(pod: dict | None, name: str, protocol: str) -> int | None:
    """The containerPort named `name` with `protocol` in `pod` (any container), or None."""
    for container in ((pod or {}).get("spec") or {}).get("containers") or []:
        for p in container.get("ports") or []:
            if p.get("name") == name and (p.get("protocol") or "TCP") == protocol:
                return int(p["containerPort"])
    return None


def port_matches(rule_port: dict, port: int, protocol: str, destination: Endpoint) -> bool:
    if (rule_port.get("protocol") or "TCP") != protocol:
        return False
    value = rule_port.get("port")
    if value is None:
        return True
    if isinstance(value, str) and not value.isdigit():
        return named_port(destination.pod, value, protocol) == port
    start = int(value)
    end = rule_port.get("endPort")
    return start <= port <= (int(end) if end is not None else start)


def rule_matches(rule: dict, peers_key: str, policy_namespace: str, other: Endpoint, destination: Endpoint,
                 port: int, protocol: str, namespace_labels: dict[str, dict]) -> bool:
    peers = rule.get(peers_key)
    if peers and not any(peer_matches(p, policy_namespace, other, namespace_labels) for p in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(port_matches(p, port, protocol, destination) for p in ports)


def direction_allows(policies: list[dict], direction: str, pod_end: Endpoint, other: Endpoint,
                     destination: Endpoint, port: int, protocol: str,
                     namespace_labels: dict[str, dict]) -> tuple[bool, list[str]]:
    """(allowed, isolating policy names) for one direction of `pod_end` (the pod whose policies apply)."""
    isolating = [p for p in policies if direction in policy_types(p) and selects(p, pod_end.pod)]
    if not isolating:
        return True, []
    rules_key, peers_key = ("ingress", "from") if direction == INGRESS else ("egress", "to")
    for policy in isolating:
        for rule in (policy.get("spec") or {}).get(rules_key) or []:
            if rule_matches(rule, peers_key, policy["metadata"].get("namespace"), other, destination, port,
                            protocol, namespace_labels):
                return True, [_name(p) for p in isolating]
    return False, [_name(p) for p in isolating]


def connection_allowed(policies: list[dict], namespace_labels: dict[str, dict], source: Endpoint,
                       destination: Endpoint, port: int, protocol: str = "TCP") -> Verdict:
    """May `source` open a connection to `destination` on `port`/`protocol`?

    policies: every NetworkPolicy of the cluster; namespace_labels: {namespace name: its labels}."""
    egress: list[str] = []
    ingress: list[str] = []
    if source.pod is not None:
        ok, egress = direction_allows(policies, EGRESS, source, destination, destination, port, protocol,
                                      namespace_labels)
        if not ok:
            return Verdict(False, f"egress of {source.namespace}/{source.pod['metadata']['name']} does not allow "
                                  f"{destination.ip}:{port}/{protocol} (isolated by {', '.join(egress)})",
                           egress, [])
    if destination.pod is not None:
        ok, ingress = direction_allows(policies, INGRESS, destination, source, destination, port, protocol,
                                       namespace_labels)
        if not ok:
            return Verdict(False, f"ingress of {destination.namespace}/{destination.pod['metadata']['name']} "
                                  f"does not allow {source.ip} on {port}/{protocol} (isolated by "
                                  f"{', '.join(ingress)})", egress, ingress)
    return Verdict(True, "allowed", egress, ingress)
