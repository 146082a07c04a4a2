"""EndpointSlice controller (kubernetes/endpointslice reconciler.go + utils.go), spec §4.

Per Service with a selector: one endpoint per pod (terminating pods included, with their conditions), pods
whose Node does not exist skipped unless publishNotReadyAddresses, endpoints grouped by their resolved port set,
at most 100 per slice. Existing slices are reused so unchanged endpoints stay where they are and a slice is
written only when its content changes; a Service without endpoints keeps one placeholder slice. Slices are
owned by the Service (controller ownerReference), so the garbage collector removes them with it.
"""
from __future__ import annotations

import copy
import json

from kubesim.controllers.base import (format_micro_time, is_being_deleted, is_not_found, is_pod_ready, meta,
                                      new_controller_ref)
from kubesim.controllers.endpoints_common import (HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME,
                                                  ServiceEndpointsController, address_family, find_port,
                                                  hostname_for, pod_ip_for_family, service_labels,
                                                  should_pod_be_in_endpoints)
from kubesim.errors import ApiError

SLICES = "endpointslices.discovery.k8s.io"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100
ZONE_LABEL = "topology.kubernetes.io/zone"


def _ports_key(ports: list[dict]) -> str:
    return json.dumps(sorted(ports, key=lambda p: (p.get("name") or "", p.get("port") or 0, p.get("protocol"))),
                      sort_keys=True)


def _endpoint_key(endpoint: dict) -> str:
    ref = endpoint.get("targetRef") or {}
    return ref.get("uid") or ",".join(endpoint.get("addresses") or [])


class EndpointSliceController(ServiceEndpointsController):
    name = "endpointslice-controller"

    @property
    def event_component(self) -> str:
        return "endpoint-slice-controller"

    def on_other_event(self, ev) -> None:
        key = ev.rtype.key
        if key == "nodes":
            if ev.type != "MODIFIED" or (meta(ev.obj).get("labels") or {}).get(ZONE_LABEL) != \
                    (meta(ev.old or {}).get("labels") or {}).get(ZONE_LABEL):
                for service in self.store.list("services"):
                    self.enqueue((meta(service)["namespace"], meta(service)["name"]))
        elif key == SLICES:
            service_name = (meta(ev.obj).get("labels") or {}).get(SERVICE_NAME_LABEL)
            managed = (meta(ev.obj).get("labels") or {}).get(MANAGED_BY_LABEL) == CONTROLLER_NAME
            if service_name and managed and ev.type == "DELETED":
                self.enqueue((meta(ev.obj)["namespace"], service_name))

    # --------------------------------------------------------------------------------------------- sync
    def desired_endpoints(self, service: dict) -> tuple[dict[str, tuple[list, list]], bool]:
        """portsKey -> (ports, endpoints) and whether some pod was skipped for a missing Node."""
        spec = service.get("spec") or {}
        ns = meta(service)["namespace"]
        publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
        family = address_family(service)
        selector = spec.get("selector") or {}
        groups: dict[str, tuple[list, list]] = {}
        node_missing = False
        for pod in self.store.with_labels("pods", ns, selector):
            if not should_pod_be_in_endpoints(pod, True):
                continue
            ip = pod_ip_for_family(pod, family)
            if ip is None:
                continue
            node_name = (pod.get("spec") or {}).get("nodeName") or ""
            node = self.store.get("nodes", None, node_name) if node_name else None
            if node is None and not publish_not_ready:
                node_missing = True
                continue
            ports = []
            for service_port in spec.get("ports") or []:
                number = find_port(pod, service_port)
                if number is None:
                    continue
                port = {"name": service_port.get("name") or "", "port": number,
                        "protocol": service_port.get("protocol") or "TCP"}
                if service_port.get("appProtocol"):
                    port["appProtocol"] = service_port["appProtocol"]
                ports.append(port)
            serving = is_pod_ready(pod)
            terminating = is_being_deleted(pod)
            pm = meta(pod)
            endpoint = {
                "addresses": [ip],
                "conditions": {"ready": publish_not_ready or (serving and not terminating),
                               "serving": serving, "terminating": terminating},
            }
            hostname = hostname_for(pod, service)
            if hostname:
                endpoint["hostname"] = hostname
            endpoint["targetRef"] = {"kind": "Pod", "namespace": pm["namespace"], "name": pm["name"],
                                     "uid": pm["uid"]}
            if node_name:
                endpoint["nodeName"] = node_name
            zone = (meta(node).get("labels") or {}).get(ZONE_LABEL) if node else None
            if zone:
                endpoint["zone"] = zone
            key = _ports_key(ports)
            groups.setdefault(key, (ports, []))[1].append(endpoint)
        return groups, node_missing

    def sync(self, key):
        ns, name = key
        service = self.store.get("services", ns, name)
        if service is None or is_being_deleted(service):
            return None  # the slices are owned by the Service: the garbage collector removes them
        spec = service.get("spec") or {}
        if spec.get("selector") is None:
            return None
        existing = self.store.with_labels(SLICES, ns, {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: CONTROLLER_NAME})
        desired, node_missing = self.desired_endpoints(service)
        labels = service_labels(service, {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: CONTROLLER_NAME},
                                drop=(SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL))
        address_type = address_family(service)
        owner_ref = new_controller_ref(service, "v1", "Service")

        # slice name -> [ports, endpoints] planned content
        plan: dict[str, list] = {}
        by_ports: dict[str, list[str]] = {}
        for slice_ in sorted(existing, key=lambda s: meta(s)["name"]):
            key_ = _ports_key(slice_.get("ports") or [])
            plan[meta(slice_)["name"]] = [slice_.get("ports") or [], []]
            by_ports.setdefault(key_, []).append(meta(slice_)["name"])
        new_slices: list[list] = []
        for key_, (ports, endpoints) in desired.items():
            placed_in: dict[str, str] = {}
            for slice_name in by_ports.get(key_, []):
                slice_ = next(s for s in existing if meta(s)["name"] == slice_name)
                for endpoint in slice_.get("endpoints") or []:
                    placed_in[_endpoint_key(endpoint)] = slice_name
            leftovers = []
            for endpoint in endpoints:
                slice_name = placed_in.get(_endpoint_key(endpoint))
                if slice_name is not None:
                    plan[slice_name][1].append(endpoint)
                else:
                    leftovers.append(endpoint)
            for endpoint in leftovers:
                target = next((n for n in by_ports.get(key_, []) if len(plan[n][1]) < MAX_ENDPOINTS_PER_SLICE), None)
                if target is not None:
                    plan[target][1].append(endpoint)
                    continue
                if not new_slices or new_slices[-1][2] != key_ or len(new_slices[-1][1]) >= MAX_ENDPOINTS_PER_SLICE:
                    new_slices.append([ports, [], key_])
                new_slices[-1][1].append(endpoint)

        # A Service without any endpoint keeps exactly one placeholder slice (no ports, no endpoints).
        total = sum(len(eps) for eps in (v[1] for v in plan.values())) + sum(len(n[1]) for n in new_slices)
        placeholder_name = None
        if total == 0:
            placeholder_name = next((n for n in plan if not plan[n][0]), None)
            if placeholder_name is None and not plan:
                new_slices.append([[], [], _ports_key([])])
            elif placeholder_name is None:
                placeholder_name = next(iter(plan))
                plan[placeholder_name][0] = []

        stamp = format_micro_time()
        for slice_ in existing:
            slice_name = meta(slice_)["name"]
            ports, endpoints = plan[slice_name]
            if not endpoints and slice_name != placeholder_name:
                self._delete(ns, slice_name)
                continue
            endpoints = sorted(endpoints, key=_endpoint_sort_key)
            same = ((slice_.get("endpoints") or []) == endpoints and (slice_.get("ports") or []) == ports
                    and (meta(slice_).get("labels") or {}) == labels and slice_.get("addressType") == address_type
                    and owner_ref in (meta(slice_).get("ownerReferences") or []))
            if same:
                continue
            body = copy.deepcopy(slice_)
            body["metadata"]["labels"] = labels
            body["metadata"].setdefault("annotations", {})[LAST_CHANGE_TRIGGER_TIME] = stamp
            if owner_ref not in (body["metadata"].get("ownerReferences") or []):
                body["metadata"]["ownerReferences"] = [owner_ref]
            body["endpoints"] = endpoints
            body["ports"] = ports
            self.api.update(SLICES, ns, slice_name, body, user=self.user)
        for ports, endpoints, _ in new_slices:
            body = {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": f"{name}-", "namespace": ns, "labels": labels,
                             "annotations": {LAST_CHANGE_TRIGGER_TIME: stamp},
                             "ownerReferences": [owner_ref]},
                "addressType": address_type,
                "endpoints": sorted(endpoints, key=_endpoint_sort_key),
                "ports": ports,
            }
            self.api.create(SLICES, ns, body, user=self.user)
        # Pods on missing Nodes are retried: the Node may appear (its ADDED event also requeues).
        return 1.0 if node_missing else None

    def _delete(self, ns: str, name: str) -> None:
        try:
            self.api.delete(SLICES, ns, name, user=self.user)
        except ApiError as err:
            if not is_not_found(err):
                raise


def _endpoint_sort_key(endpoint: dict) -> tuple:
    return ((endpoint.get("targetRef") or {}).get("name") or "", ",".join(endpoint.get("addresses") or []))
