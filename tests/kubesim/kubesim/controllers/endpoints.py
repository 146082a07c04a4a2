"""Legacy Endpoints controller (pkg/controller/endpoint/endpoints_controller.go, syncService), spec §4.

Endpoints named after the Service, one address per pod IP, ready addresses in `addresses` and the others in
`notReadyAddresses` (everything in `addresses` with publishNotReadyAddresses), terminating pods left out
unless publishNotReadyAddresses, target ports resolved per pod (named ports), subsets repacked by port set and
sorted, at most 1000 addresses (then `endpoints.kubernetes.io/over-capacity: truncated`), no write when nothing
changed (targetRef.resourceVersion ignored), deleted with the Service.
"""
from __future__ import annotations

import copy
import math

from kubesim.controllers.base import format_micro_time, is_not_found, is_pod_ready, meta
from kubesim.controllers.endpoints_common import (LAST_CHANGE_TRIGGER_TIME, ServiceEndpointsController,
                                                  address_family, find_port, hostname_for, is_headless,
                                                  pod_ip_for_family, service_labels, should_pod_be_in_endpoints)
from kubesim.errors import ApiError

MAX_CAPACITY = 1000
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"


def _ip_key(address: dict) -> tuple:
    try:
        import ipaddress
        ip = ipaddress.ip_address(address.get("ip", ""))
        return (ip.version, int(ip), (address.get("targetRef") or {}).get("uid", ""))
    except ValueError:
        return (9, 0, address.get("ip", ""))


def _port_key(port: dict) -> tuple:
    return (port.get("name") or "", port.get("port") or 0, port.get("protocol") or "TCP",
            port.get("appProtocol") or "")


def repack_subsets(entries: list[tuple[dict, list[dict], bool]]) -> list[dict]:
    """endpoints.RepackSubsets + SortSubsets. `entries` are (address, ports, ready) per pod and port set."""
    groups: dict[tuple, dict] = {}
    for address, ports, ready in entries:
        key = tuple(sorted(_port_key(p) for p in ports))
        group = groups.setdefault(key, {"ports": sorted(ports, key=_port_key), "ready": {}, "not_ready": {}})
        ident = (address.get("ip"), (address.get("targetRef") or {}).get("uid"))
        (group["ready"] if ready else group["not_ready"])[ident] = address
    subsets = []
    for key in sorted(groups):
        group = groups[key]
        subset = {}
        ready = sorted(group["ready"].values(), key=_ip_key)
        # an address both ready and not ready (two pods, one IP) is published as ready only
        not_ready = sorted((a for i, a in group["not_ready"].items() if i not in group["ready"]), key=_ip_key)
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if group["ports"]:
            subset["ports"] = group["ports"]
        subsets.append(subset)
    return subsets


def truncate(subsets: list[dict]) -> bool:
    """truncateEndpoints: keep MAX_CAPACITY addresses, ready ones first, each subset its proportional share."""
    total_ready = sum(len(s.get("addresses") or []) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = total_ready > MAX_CAPACITY
    limit = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - total_ready
    total = total_ready if truncate_ready else total_not_ready
    can_be_added = limit
    for subset in subsets:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        in_subset = len(subset.get(field) or [])
        to_add = min(math.ceil(in_subset / total * limit) if total else 0, can_be_added)
        if truncate_ready:
            subset["addresses"] = (subset.get("addresses") or [])[:to_add]
            subset.pop("notReadyAddresses", None)
            can_be_added -= len(subset["addresses"])
        else:
            subset["notReadyAddresses"] = (subset.get("notReadyAddresses") or [])[:to_add]
            can_be_added -= len(subset["notReadyAddresses"])
        for key in ("addresses", "notReadyAddresses"):
            if key in subset and not subset[key]:
                del subset[key]
    return True


def _without_target_rv(subsets) -> list:
    """semanticIgnoreResourceVersion: a comparable form of subsets without targetRef.resourceVersion."""
    def address(a: dict) -> tuple:
        ref = a.get("targetRef") or {}
        return (tuple(sorted((k, v) for k, v in a.items() if k != "targetRef")),
                tuple(sorted((k, v) for k, v in ref.items() if k != "resourceVersion")))
    return [(tuple(address(a) for a in s.get("addresses") or []),
             tuple(address(a) for a in s.get("notReadyAddresses") or []),
             tuple(tuple(sorted(p.items())) for p in s.get("ports") or [])) for s in subsets or []]


class EndpointsController(ServiceEndpointsController):
    name = "endpoint-controller"

    def on_other_event(self, ev) -> None:
        if ev.rtype.key == "endpoints" and ev.type == "DELETED":
            # someone deleted our Endpoints: recreate them if the Service still wants them
            self.enqueue((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))

    def sync(self, key):
        ns, name = key
        service = self.store.get("services", ns, name)
        if service is None:
            # The Service is gone: so are its Endpoints.
            if self.store.get("endpoints", ns, name) is not None:
                try:
                    self.api.delete("endpoints", ns, name, user=self.user)
                except ApiError as err:
                    if not is_not_found(err):
                        raise
            return None
        spec = service.get("spec") or {}
        if spec.get("selector") is None:
            return None  # Services without a selector have user-managed Endpoints
        publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
        family = address_family(service)
        entries = []
        for pod in self.store.with_labels("pods", ns, spec.get("selector") or {}):
            if not should_pod_be_in_endpoints(pod, publish_not_ready):
                continue
            ip = pod_ip_for_family(pod, family)
            if ip is None:
                continue
            address = {"ip": ip}
            hostname = hostname_for(pod, service)
            if hostname:
                address["hostname"] = hostname
            if (pod.get("spec") or {}).get("nodeName"):
                address["nodeName"] = pod["spec"]["nodeName"]
            pm = meta(pod)
            address["targetRef"] = {"kind": "Pod", "namespace": pm["namespace"], "name": pm["name"],
                                    "uid": pm["uid"], "resourceVersion": pm.get("resourceVersion", "")}
            ready = publish_not_ready or is_pod_ready(pod)
            service_ports = spec.get("ports") or []
            if not service_ports:
                # Only a headless Service without ports gets addresses with no ports (a nil EndpointPort).
                if is_headless(service):
                    entries.append((address, [], ready))
                continue
            for service_port in service_ports:
                number = find_port(pod, service_port)
                if number is None:
                    continue  # "Failed to find port for service"
                port = {}
                if service_port.get("name"):
                    port["name"] = service_port["name"]
                port["port"] = number
                port["protocol"] = service_port.get("protocol") or "TCP"
                if service_port.get("appProtocol"):
                    port["appProtocol"] = service_port["appProtocol"]
                entries.append((address, [port], ready))
        subsets = repack_subsets(entries)
        truncated = truncate(subsets)
        labels = service_labels(service)

        current = self.store.get("endpoints", ns, name)
        cur_annotations = dict(meta(current).get("annotations") or {}) if current else {}
        capacity_ok = (cur_annotations.get(OVER_CAPACITY) == "truncated") == truncated
        if current is not None and _without_target_rv(current.get("subsets")) == _without_target_rv(subsets) \
                and (meta(current).get("labels") or {}) == labels and capacity_ok:
            return None
        annotations = cur_annotations
        annotations[LAST_CHANGE_TRIGGER_TIME] = format_micro_time()
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations}}
        if subsets:
            body["subsets"] = subsets
        if current is None:
            self.api.create("endpoints", ns, body, user=self.user)
        else:
            body["metadata"] = {**copy.deepcopy(meta(current)), "labels": labels, "annotations": annotations}
            self.api.update("endpoints", ns, name, body, user=self.user)
        return None
