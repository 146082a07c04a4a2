"""Endpoints and EndpointSlice controllers through the real client (spec §4): membership from the selector,
ready / not ready / terminating, publishNotReadyAddresses, targetRef, nodeName and zone, the hostname rule,
named target ports, labels, the 100-endpoint slices, the 1000-address cap of Endpoints, Node existence, and
clean-up with the Service."""
from __future__ import annotations

import pytest
from kubernetes import client

from test_kubelet_support import is_ready

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def pod(name, app="web", image="kubesim/web:v1", port=8080, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": image,
                                     "ports": [{"name": "http", "containerPort": port}]}], **spec}}


def service(name="web", app="web", target_port="http", labels=None, **spec):
    md = {"name": name}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": md,
            "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": target_port}],
                     **spec}}


def read(fn):
    try:
        return fn()
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise


def endpoints(core, ns, name="web"):
    return read(lambda: core.read_namespaced_endpoints(name, ns))


def addresses(ep, field="addresses"):
    return sorted((a.target_ref.name for s in (ep.subsets if ep else None) or [] for a in getattr(s, field) or []))


def slices(disco, ns, name="web"):
    return disco.list_namespaced_endpoint_slice(ns, label_selector=f"{SERVICE_NAME}={name}").items


def slice_endpoints(disco, ns, name="web"):
    return {e.target_ref.name: e for s in slices(disco, ns, name) for e in s.endpoints or []}


def running(core, ns, *names, ready=True):
    def check():
        pods = [read(lambda n=n: core.read_namespaced_pod(n, ns)) for n in names]
        return all(p is not None and p.status.pod_ip and (is_ready(p) or not ready) for p in pods) and pods
    return check


def test_ready_pod_address_with_target_ref_node_and_resolved_port(core, disco, namespace, wait_for):
    """§4: address ip/nodeName/targetRef; the named targetPort resolved to the container port; labels."""
    core.create_namespaced_pod(namespace, pod("a", port=8080))
    core.create_namespaced_service(namespace, service(labels={"team": "blue"}))
    [a] = wait_for(running(core, namespace, "a"))
    ep = wait_for(lambda: (e := endpoints(core, namespace)) and addresses(e) == ["a"] and e)
    [subset] = ep.subsets
    [address] = subset.addresses
    assert address.ip == a.status.pod_ip and address.node_name == a.spec.node_name
    ref = address.target_ref
    assert (ref.kind, ref.namespace, ref.name, ref.uid) == ("Pod", namespace, "a", a.metadata.uid)
    assert ref.resource_version
    assert [(p.name, p.port, p.protocol) for p in subset.ports] == [("http", 8080, "TCP")]
    assert ep.metadata.labels == {"team": "blue"}
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep.metadata.annotations

    [s] = wait_for(lambda: (x := slices(disco, namespace)) and x[0].endpoints and x)
    assert s.metadata.labels == {SERVICE_NAME: "web", MANAGED_BY: "endpointslice-controller.k8s.io",
                                 "team": "blue"}
    assert s.metadata.generate_name == "web-"
    owner = s.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller, owner.block_owner_deletion) == ("Service", "web", True, True)
    assert s.address_type == "IPv4"
    assert [(p.name, p.port, p.protocol) for p in s.ports] == [("http", 8080, "TCP")]
    [e] = s.endpoints
    assert e.addresses == [a.status.pod_ip]
    assert (e.conditions.ready, e.conditions.serving, e.conditions.terminating) == (True, True, False)
    assert e.node_name == a.spec.node_name
    node = core.read_node(a.spec.node_name)
    assert e.zone == node.metadata.labels["topology.kubernetes.io/zone"]
    assert (e.target_ref.kind, e.target_ref.name, e.target_ref.uid) == ("Pod", "a", a.metadata.uid)


def test_named_port_resolves_per_pod(core, namespace, wait_for):
    """§4 FindPort: two pods naming different numbers `http` give two subsets; a pod without the named port
    is left out of that port."""
    core.create_namespaced_pod(namespace, pod("p8080", port=8080))
    core.create_namespaced_pod(namespace, pod("p9090", port=9090))
    core.create_namespaced_service(namespace, service())
    wait_for(running(core, namespace, "p8080", "p9090"))
    ep = wait_for(lambda: (e := endpoints(core, namespace)) and len(e.subsets or []) == 2 and e)
    by_port = {s.ports[0].port: [a.target_ref.name for a in s.addresses] for s in ep.subsets}
    assert by_port == {8080: ["p8080"], 9090: ["p9090"]}


def test_not_ready_pod_goes_to_not_ready_addresses(core, disco, namespace, wait_for):
    """§4: a pod with an IP but not Ready (its image cannot be pulled) is in notReadyAddresses, and in the
    slice with ready=false, serving=false."""
    core.create_namespaced_pod(namespace, pod("good"))
    core.create_namespaced_pod(namespace, pod("bad", image="registry.invalid/web:v1"))
    core.create_namespaced_service(namespace, service())
    wait_for(running(core, namespace, "good"))
    ep = wait_for(lambda: (e := endpoints(core, namespace)) and addresses(e, "not_ready_addresses") == ["bad"]
                  and e)
    assert addresses(ep) == ["good"]
    bad = wait_for(lambda: slice_endpoints(disco, namespace).get("bad"))
    assert (bad.conditions.ready, bad.conditions.serving, bad.conditions.terminating) == (False, False, False)


def test_publish_not_ready_addresses(core, disco, namespace, wait_for):
    """§4: publishNotReadyAddresses puts every pod in `addresses` and marks slice endpoints ready."""
    core.create_namespaced_pod(namespace, pod("bad", image="registry.invalid/web:v1"))
    core.create_namespaced_service(namespace, service(publishNotReadyAddresses=True))
    wait_for(lambda: addresses(endpoints(core, namespace)) == ["bad"])
    bad = wait_for(lambda: slice_endpoints(disco, namespace).get("bad"))
    assert (bad.conditions.ready, bad.conditions.serving) == (True, False)


def test_terminating_pod_leaves_endpoints_but_stays_in_slice(core, disco, namespace, wait_for):
    """§4: a terminating pod is dropped from Endpoints; the slice keeps it with terminating=true,
    serving=true, ready=false."""
    held = pod("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    core.create_namespaced_pod(namespace, held)
    core.create_namespaced_pod(namespace, pod("other"))
    core.create_namespaced_service(namespace, service())
    wait_for(lambda: addresses(endpoints(core, namespace)) == ["held", "other"])
    core.delete_namespaced_pod("held", namespace)
    wait_for(lambda: addresses(endpoints(core, namespace)) == ["other"])
    e = wait_for(lambda: (x := slice_endpoints(disco, namespace).get("held")) and x.conditions.terminating and x)
    assert (e.conditions.ready, e.conditions.serving) == (False, True)
    core.patch_namespaced_pod("held", namespace, {"metadata": {"finalizers": None}})


def test_hostname_only_when_subdomain_is_the_service(core, disco, namespace, wait_for):
    """§4 ShouldSetHostname: spec.hostname is published only when spec.subdomain names the Service;
    a headless Service gets the service.kubernetes.io/headless label."""
    core.create_namespaced_pod(namespace, pod("named", hostname="db-0", subdomain="web"))
    core.create_namespaced_pod(namespace, pod("elsewhere", hostname="db-1", subdomain="other"))
    core.create_namespaced_service(namespace, service(clusterIP="None"))
    ep = wait_for(lambda: (e := endpoints(core, namespace)) and addresses(e) == ["elsewhere", "named"] and e)
    hostnames = {a.target_ref.name: a.hostname for a in ep.subsets[0].addresses}
    assert hostnames == {"named": "db-0", "elsewhere": None}
    assert ep.metadata.labels == {"service.kubernetes.io/headless": ""}
    eps = wait_for(lambda: (x := slice_endpoints(disco, namespace)) and len(x) == 2 and x)
    assert eps["named"].hostname == "db-0" and eps["elsewhere"].hostname is None
    assert slices(disco, namespace)[0].metadata.labels["service.kubernetes.io/headless"] == ""


def test_slice_skips_pods_on_missing_nodes(core, disco, namespace, wait_for):
    """§4: EndpointSlice leaves out a pod whose Node object does not exist; the legacy Endpoints keep it."""
    core.create_node({"metadata": {"name": f"gone-{namespace}", "labels": {"topology.kubernetes.io/zone": "z"}}})
    core.create_namespaced_pod(namespace, pod("stray", nodeName=f"gone-{namespace}"))
    core.create_namespaced_pod(namespace, pod("home"))
    core.create_namespaced_service(namespace, service())
    wait_for(running(core, namespace, "stray", "home"))
    wait_for(lambda: sorted(slice_endpoints(disco, namespace)) == ["home", "stray"])
    assert slice_endpoints(disco, namespace)["stray"].zone == "z"
    wait_for(lambda: addresses(endpoints(core, namespace)) == ["home", "stray"])
    core.delete_node(f"gone-{namespace}")
    wait_for(lambda: sorted(slice_endpoints(disco, namespace)) == ["home"])
    assert addresses(endpoints(core, namespace)) == ["home", "stray"]


def test_service_deletion_removes_endpoints_and_slices(core, disco, namespace, wait_for):
    core.create_namespaced_pod(namespace, pod("a"))
    core.create_namespaced_service(namespace, service())
    wait_for(lambda: addresses(endpoints(core, namespace)) == ["a"] and slice_endpoints(disco, namespace))
    core.delete_namespaced_service("web", namespace)
    wait_for(lambda: endpoints(core, namespace) is None and not slices(disco, namespace))


def test_service_without_selector_keeps_user_endpoints(core, namespace, wait_for):
    """Services with a nil selector are skipped: hand-written Endpoints are left alone."""
    core.create_namespaced_service(namespace, {"metadata": {"name": "manual"},
                                               "spec": {"ports": [{"port": 80}]}})
    core.create_namespaced_endpoints(namespace, {"metadata": {"name": "manual"}, "subsets": [
        {"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}]})
    core.create_namespaced_pod(namespace, pod("a"))
    core.create_namespaced_service(namespace, service(name="marker"))
    wait_for(lambda: addresses(endpoints(core, namespace, "marker")) == ["a"])
    ep = core.read_namespaced_endpoints("manual", namespace)
    assert [a.ip for a in ep.subsets[0].addresses] == ["192.0.2.10"]


def test_hundred_endpoints_per_slice(apps, disco, namespace, wait_for, core):
    """§4: at most 100 endpoints per slice: 101 pods give two slices of the same port set."""
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "many"}, "spec": {
        "replicas": 101, "selector": {"matchLabels": {"app": "many"}},
        "template": {"metadata": {"labels": {"app": "many"}},
                     "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}})
    core.create_namespaced_service(namespace, service(name="many", app="many", target_port=80))
    got = wait_for(lambda: (s := slices(disco, namespace, "many")) and
                   sum(len(x.endpoints or []) for x in s) == 101 and s, timeout=60)
    assert sorted(len(x.endpoints) for x in got) == [1, 100]


@pytest.fixture(scope="module")
def big_cluster(kubesim_factory):
    """A server with 10 Nodes: each takes 110 pods (the kubelet's --max-pods default), so 1001 pods fit."""
    server = kubesim_factory(extra_args=["--nodes", "10"])
    api_client = server.api_client()
    yield api_client
    api_client.close()


def test_endpoints_truncated_at_1000_addresses(big_cluster, wait_for):
    """§4 truncateEndpoints: more than 1000 addresses are cut to 1000 and annotated over-capacity; below
    the cap again the annotation goes."""
    core, apps = client.CoreV1Api(big_cluster), client.AppsV1Api(big_cluster)
    namespace = "huge"
    core.create_namespace({"metadata": {"name": namespace}})
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "huge"}, "spec": {
        "replicas": 1001, "selector": {"matchLabels": {"app": "huge"}},
        "template": {"metadata": {"labels": {"app": "huge"}},
                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    core.create_namespaced_service(namespace, service(name="huge", app="huge", target_port=80))
    ep = wait_for(lambda: (e := endpoints(core, namespace, "huge")) and
                  (e.metadata.annotations or {}).get("endpoints.kubernetes.io/over-capacity") and e, timeout=120)
    assert ep.metadata.annotations["endpoints.kubernetes.io/over-capacity"] == "truncated"
    total = sum(len(s.addresses or []) + len(s.not_ready_addresses or []) for s in ep.subsets)
    assert total == 1000
    apps.patch_namespaced_deployment_scale("huge", namespace, {"spec": {"replicas": 10}})
    ep = wait_for(lambda: (e := endpoints(core, namespace, "huge")) and
                  "endpoints.kubernetes.io/over-capacity" not in (e.metadata.annotations or {}) and e, timeout=120)
    assert sum(len(s.addresses or []) for s in ep.subsets) <= 1000
