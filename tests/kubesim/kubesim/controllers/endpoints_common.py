"""What the Endpoints and EndpointSlice controllers share (spec §4): which pods belong to a Service, which of
a pod's IPs to publish, the target port of a service port on a pod, and the hostname rule. Plus the event
routing both use: a pod change wakes the Services whose selector matches its old or new labels.
"""
from __future__ import annotations

import ipaddress

from kubesim.controllers.base import Controller, is_being_deleted, meta

HEADLESS_LABEL = "service.kubernetes.io/headless"
LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"


def service_selects(service: dict, labels: dict | None) -> bool:
    """labels.Set(service.Spec.Selector).AsSelectorPreValidated(); a nil selector selects nothing here (such
    Services are skipped), an empty one everything."""
    selector = (service.get("spec") or {}).get("selector")
    if selector is None:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def should_pod_be_in_endpoints(pod: dict, include_terminating: bool) -> bool:
    """endpointsliceutil.ShouldPodBeInEndpoints."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    if not include_terminating and is_being_deleted(pod):
        return False
    return True


def is_headless(service: dict) -> bool:
    """!IsServiceIPSet: clusterIP is "None" or empty."""
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    return cluster_ip in (None, "", "None")


def address_family(service: dict) -> str:
    families = (service.get("spec") or {}).get("ipFamilies") or []
    return families[0] if families else "IPv4"


def pod_ip_for_family(pod: dict, family: str) -> str | None:
    status = pod.get("status") or {}
    ips = [entry.get("ip") for entry in status.get("podIPs") or [] if entry.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    for ip in ips:
        try:
            version = ipaddress.ip_address(ip).version
        except ValueError:
            continue
        if (version == 6) == (family == "IPv6"):
            return ip
    return None


def find_port(pod: dict, service_port: dict) -> int | None:
    """podutil.FindPort: a named targetPort is looked up among the containers' ports with the same protocol;
    a number is used as is. None when a named port is not found (that port is skipped for that pod)."""
    target = service_port.get("targetPort")
    if target is None or target == "":
        target = service_port.get("port")
    protocol = service_port.get("protocol") or "TCP"
    if isinstance(target, int):
        return target
    text = str(target)
    if text.isdigit():
        return int(text)
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == text and (port.get("protocol") or "TCP") == protocol:
                return int(port.get("containerPort"))
    return None


def hostname_for(pod: dict, service: dict) -> str | None:
    """ShouldSetHostname: spec.hostname set and spec.subdomain equal to the Service name."""
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == meta(service)["name"]:
        return spec["hostname"]
    return None


def service_labels(service: dict, extra: dict | None = None, drop: tuple = ()) -> dict:
    labels = {k: v for k, v in (meta(service).get("labels") or {}).items() if k not in drop}
    if extra:
        labels.update(extra)
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


class ServiceSelectorIndex:
    """Which Services select a pod, without scanning every Service of the namespace on every pod event
    (1000 Services and 5000 pods in one namespace must stay cheap). Services are indexed by each key=value
    of their selector; an empty selector selects every pod; a nil selector selects none."""

    def __init__(self):
        self._selectors: dict[tuple, dict] = {}  # (ns, name) -> selector
        self._by_pair: dict[tuple, set] = {}  # (ns, key, value) -> service names
        self._select_all: dict[str, set] = {}  # ns -> names of Services with an empty selector

    def rebuild(self, services) -> None:
        self._selectors.clear()
        self._by_pair.clear()
        self._select_all.clear()
        for service in services:
            self.update(service)

    def update(self, service: dict, deleted: bool = False) -> None:
        m = meta(service)
        ns, name = m.get("namespace") or "", m["name"]
        old = self._selectors.pop((ns, name), None)
        if old is not None:
            if not old:
                self._select_all.get(ns, set()).discard(name)
            for k, v in old.items():
                names = self._by_pair.get((ns, k, v))
                if names is not None:
                    names.discard(name)
                    if not names:
                        del self._by_pair[(ns, k, v)]
        selector = None if deleted else (service.get("spec") or {}).get("selector")
        if selector is None:
            return
        self._selectors[(ns, name)] = dict(selector)
        if not selector:
            self._select_all.setdefault(ns, set()).add(name)
        for k, v in selector.items():
            self._by_pair.setdefault((ns, k, v), set()).add(name)

    def matching(self, namespace: str, labels: dict | None) -> set:
        labels = labels or {}
        candidates = set(self._select_all.get(namespace, ()))
        for k, v in labels.items():
            candidates |= self._by_pair.get((namespace, k, v), set())
        return {name for name in candidates
                if all(labels.get(k) == v for k, v in self._selectors[(namespace, name)].items())}


def services_for_pod_event(index: ServiceSelectorIndex, ev) -> set:
    """getPodServiceMemberships for the old and the new pod: the (namespace, name) keys of the Services whose
    selector matches either label set."""
    ns = meta(ev.obj).get("namespace") or ""
    names = index.matching(ns, meta(ev.obj).get("labels"))
    if ev.old is not None and meta(ev.old).get("labels") != meta(ev.obj).get("labels"):
        names |= index.matching(ns, meta(ev.old).get("labels"))
    return {(ns, name) for name in names}


def pod_change_matters(ev) -> bool:
    """podEndpointsChanged (roughly): skip pod updates that cannot change any endpoint."""
    if ev.type != "MODIFIED" or ev.old is None:
        return True
    old, cur = ev.old, ev.obj

    def facts(p):
        s, m, spec = p.get("status") or {}, meta(p), p.get("spec") or {}
        ready = next((c.get("status") for c in s.get("conditions") or [] if c.get("type") == "Ready"), None)
        return (m.get("labels"), m.get("deletionTimestamp"), s.get("phase"), s.get("podIP"), s.get("podIPs"),
                ready, spec.get("nodeName"), spec.get("hostname"), spec.get("subdomain"),
                [c.get("ports") for c in spec.get("containers") or []])
    return facts(old) != facts(cur)


class ServiceEndpointsController(Controller):
    """The part the Endpoints and EndpointSlice controllers share: one work item per Service (namespace, name),
    a Service selector index, and the routing of Service events and of pod changes (old and new labels) to the
    Services that select the pod. Subclasses handle the events of their own objects in `on_other_event`."""

    def __init__(self, cluster):
        super().__init__(cluster)
        self.services = ServiceSelectorIndex()

    def initial_keys(self):
        services = self.store.list("services")
        self.services.rebuild(services)
        return [(meta(s)["namespace"], meta(s)["name"]) for s in services]

    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == "services":
            self.services.update(ev.obj, deleted=ev.type == "DELETED")
            self.enqueue((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif key == "pods":
            if pod_change_matters(ev):
                for service_key in services_for_pod_event(self.services, ev):
                    self.enqueue(service_key)
        else:
            self.on_other_event(ev)

    def on_other_event(self, ev) -> None:
        """Events of resources other than Services and Pods."""
