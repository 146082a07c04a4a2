"""The pod network NetworkPolicy governs (kubelet/network.py): `kubesim-curl` run by exec inside a pod reaches
another pod, a Service or an outside address, or is dropped (exit 28 after the short drop timeout); the API
server proxy is a client outside the cluster; port-forward is not subject to policy. Also the apiserver's
validation and defaulting of NetworkPolicy objects."""
from __future__ import annotations

import json
import time
import uuid

import pytest
from kubernetes import client
from kubernetes.stream import portforward, stream

from test_kubelet_support import pod_manifest, start_pod
from test_portforward import http_get

OUTSIDE = "198.51.100.7"


def curl(core, namespace, pod, *args):
    """kubesim-curl ARGS in `pod`: (stdout, stderr, exit code, seconds)."""
    started = time.monotonic()
    resp = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=["kubesim-curl", *args],
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    resp.run_forever(timeout=20)
    return resp.read_stdout(), resp.read_stderr(), resp.returncode, time.monotonic() - started


@pytest.fixture
def net(k8s):
    return client.NetworkingV1Api(k8s)


@pytest.fixture
def pods(core, namespace):
    """Two kubesim/web pods, a (app=a) and b (app=b), both Ready; returns {name: pod IP}."""
    out = {}
    for name in ("a", "b"):
        out[name] = start_pod(core, namespace, pod_manifest(name)).status.pod_ip
    return out


def policy(name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name}, "spec": spec}


def test_without_policies_every_pod_reaches_every_pod_and_the_outside(core, namespace, pods):
    out, err, code, _ = curl(core, namespace, "a", f"http://{pods['b']}:8080/")
    assert code == 0, err
    assert out.startswith(f"pod=b namespace={namespace} image=kubesim/web:v1")
    out, _, code, _ = curl(core, namespace, "a", f"http://{pods['b']}:8080/json")
    assert json.loads(out)["pod"] == "b"
    # allowed, but nothing listens on 9999: refused at once, as a real TCP stack answers (RST)
    _, err, code, seconds = curl(core, namespace, "a", f"tcp://{pods['b']}:9999")
    assert code == 7 and "Connection refused" in err and seconds < 5
    out, _, code, _ = curl(core, namespace, "b", f"http://{OUTSIDE}/status")
    assert (out, code) == (f"outside host={OUTSIDE} port=80\n", 0)
    out, _, code, _ = curl(core, namespace, "a", f"tcp://{pods['b']}:8080")
    assert (out, code) == ("connected\n", 0)


def test_ingress_deny_drops_with_a_short_timeout_and_leaves_egress_open(core, net, namespace, pods):
    net.create_namespaced_network_policy(namespace, policy("deny-b", {
        "podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Ingress"]}))
    _, err, code, seconds = curl(core, namespace, "a", f"http://{pods['b']}:8080/")
    assert code == 28 and "Connection timed out" in err
    assert seconds < 3   # the drop timeout is 1 s
    # a client timeout shorter than the drop timeout is honoured
    _, _, code, seconds = curl(core, namespace, "a", "-m", "0.2", f"http://{pods['b']}:8080/")
    assert code == 28 and seconds < 1.5
    out, _, code, _ = curl(core, namespace, "b", f"http://{pods['a']}:8080/")   # b's egress is not isolated
    assert code == 0 and out.startswith("pod=a ")
    # The API server proxy is outside the cluster: refused too, after the drop timeout.
    with pytest.raises(client.ApiException) as exc:
        core.connect_get_namespaced_pod_proxy("b", namespace)
    assert exc.value.status == 503 and "i/o timeout" in exc.value.body
    assert core.connect_get_namespaced_pod_proxy("a", namespace).startswith("pod=a ")
    # Port-forward enters through the kubelet: not subject to NetworkPolicy.
    pf = portforward(core.connect_get_namespaced_pod_portforward, "b", namespace, ports="8080")
    assert b"pod=b" in http_get(pf.socket(8080), "/")
    # Deleting the policy opens b again.
    net.delete_namespaced_network_policy("deny-b", namespace)
    _, _, code, _ = curl(core, namespace, "a", f"http://{pods['b']}:8080/")
    assert code == 0


def test_allow_by_pod_selector_and_named_port_is_the_union_with_deny_all(core, net, namespace, pods):
    start_pod(core, namespace, pod_manifest("c"))
    net.create_namespaced_network_policy(namespace, policy("deny-all", {"podSelector": {}}))
    net.create_namespaced_network_policy(namespace, policy("a-to-b-http", {
        "podSelector": {"matchLabels": {"app": "b"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": "http"}]}]}))
    assert curl(core, namespace, "a", f"http://{pods['b']}:8080/")[2] == 0
    assert curl(core, namespace, "c", "-m", "0.3", f"http://{pods['b']}:8080/")[2] == 28
    assert curl(core, namespace, "b", "-m", "0.3", f"http://{pods['a']}:8080/")[2] == 28   # a is denied
    # egress is not isolated by a policy without egress rules and without policyTypes
    assert curl(core, namespace, "a", f"http://{OUTSIDE}/")[2] == 0


def test_egress_ip_block_with_except_and_ports(core, net, namespace, pods):
    net.create_namespaced_network_policy(namespace, policy("a-egress", {
        "podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "198.51.100.0/24", "except": ["198.51.100.128/25"]}}],
                    "ports": [{"protocol": "TCP", "port": 80}, {"port": 8000, "endPort": 8100}]}]}))
    assert curl(core, namespace, "a", "http://198.51.100.7/")[2] == 0
    assert curl(core, namespace, "a", "http://198.51.100.7:8050/")[2] == 0
    assert curl(core, namespace, "a", "-m", "0.3", "http://198.51.100.7:8101/")[2] == 28
    assert curl(core, namespace, "a", "-m", "0.3", "http://198.51.100.200/")[2] == 28
    assert curl(core, namespace, "a", "-m", "0.3", f"http://{pods['b']}:8080/")[2] == 28
    assert curl(core, namespace, "b", "http://198.51.100.200/")[2] == 0


def test_service_names_and_cluster_ips_reach_an_endpoint_and_its_policy_applies(core, net, namespace, pods,
                                                                               wait_for):
    core.create_namespaced_service(namespace, {"metadata": {"name": "web-b"}, "spec": {
        "selector": {"app": "b"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    cluster_ip = core.read_namespaced_service("web-b", namespace).spec.cluster_ip
    wait_for(lambda: (core.read_namespaced_endpoints("web-b", namespace).subsets or [None])[0])
    for host in ("web-b", f"web-b.{namespace}", f"web-b.{namespace}.svc.cluster.local", cluster_ip):
        out, err, code, _ = curl(core, namespace, "a", f"http://{host}/")
        assert code == 0 and out.startswith("pod=b "), (host, err)
    assert curl(core, namespace, "a", "http://no-such-service/")[2] == 6
    net.create_namespaced_network_policy(namespace, policy("deny-b", {"podSelector": {"matchLabels": {"app": "b"}}}))
    assert curl(core, namespace, "a", "-m", "0.3", "http://web-b/")[2] == 28


def test_name_lookups_need_dns_egress(core, net, namespace, pods, wait_for):
    """A lookup is a UDP 53 packet to the cluster DNS (kube-system, k8s-app=kube-dns): with egress denied a name
    does not resolve (curl's 6, after the drop timeout); a DNS egress rule lets it resolve, and the connection
    itself then needs its own egress rule."""
    core.create_namespaced_service(namespace, {"metadata": {"name": "web-b"}, "spec": {
        "selector": {"app": "b"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    wait_for(lambda: (core.read_namespaced_endpoints("web-b", namespace).subsets or [None])[0])
    net.create_namespaced_network_policy(namespace, policy("a-no-egress", {
        "podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]}))
    _, err, code, _ = curl(core, namespace, "a", "-m", "0.3", "http://web-b/")
    assert code == 6 and "Could not resolve host: web-b" in err
    net.create_namespaced_network_policy(namespace, policy("a-dns", {
        "podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}))
    assert curl(core, namespace, "a", "-m", "0.3", "http://web-b/")[2] == 28
    net.create_namespaced_network_policy(namespace, policy("a-to-b", {
        "podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}]}]}))
    out, _, code, _ = curl(core, namespace, "a", "http://web-b/")
    assert code == 0 and out.startswith("pod=b ")


def test_namespace_selector_across_namespaces(core, net, namespace, pods):
    other = "t-" + uuid.uuid4().hex[:10]
    core.create_namespace({"metadata": {"name": other, "labels": {"team": "forensics"}}})
    try:
        start_pod(core, other, pod_manifest("probe"))
        third = "t-" + uuid.uuid4().hex[:10]
        core.create_namespace({"metadata": {"name": third}})
        start_pod(core, third, pod_manifest("probe"))
        net.create_namespaced_network_policy(namespace, policy("from-forensics", {
            "podSelector": {"matchLabels": {"app": "b"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "forensics"}}}]}]}))
        assert curl(core, other, "probe", f"http://{pods['b']}:8080/")[2] == 0
        assert curl(core, third, "probe", "-m", "0.3", f"http://{pods['b']}:8080/")[2] == 28
        assert curl(core, namespace, "a", "-m", "0.3", f"http://{pods['b']}:8080/")[2] == 28
        core.delete_namespace(third)
    finally:
        core.delete_namespace(other)


def test_service_proxy_admits_outside_clients_by_ip_block(core, net, namespace, pods):
    core.create_namespaced_service(namespace, {"metadata": {"name": "web-a"}, "spec": {
        "selector": {"app": "a"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    net.create_namespaced_network_policy(namespace, policy("only-in-cluster", {
        "podSelector": {"matchLabels": {"app": "a"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}))
    with pytest.raises(client.ApiException) as exc:
        core.connect_get_namespaced_service_proxy("web-a:http", namespace)
    assert exc.value.status == 503 and "i/o timeout" in exc.value.body
    net.create_namespaced_network_policy(namespace, policy("outside-too", {
        "podSelector": {"matchLabels": {"app": "a"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]}))
    assert core.connect_get_namespaced_service_proxy("web-a:http", namespace).startswith("pod=a ")
    assert curl(core, namespace, "b", f"http://{pods['a']}:8080/")[2] == 0   # 10.244.x.x: the first policy


def test_network_policy_defaulting(net, namespace):
    created = net.create_namespaced_network_policy(namespace, policy("d", {
        "ingress": [{"ports": [{"port": 80}]}], "egress": [{}]}))
    assert created.spec.policy_types == ["Ingress", "Egress"]
    assert created.spec.ingress[0].ports[0].protocol == "TCP"
    assert created.spec.pod_selector is not None
    only_ingress = net.create_namespaced_network_policy(namespace, policy("e", {"podSelector": {}}))
    assert only_ingress.spec.policy_types == ["Ingress"]


@pytest.mark.parametrize("spec, field", [
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}, "spec.ingress[0].ports[0].endPort"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 80}]}]},
     "spec.ingress[0].ports[0].endPort"),
    ({"podSelector": {}, "ingress": [{"ports": [{"endPort": 80}]}]}, "spec.ingress[0].ports[0].port"),
    ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "spec.ingress[0].ports[0].protocol"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}, "spec.ingress[0].ports[0].port"),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     "spec.egress[0].to[0]"),
    ({"podSelector": {}, "egress": [{"to": [{}]}]}, "spec.egress[0].to[0]"),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}]},
     "spec.egress[0].to[0].ipBlock.except[0]"),
    ({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0"}}]}]}, "spec.egress[0].to[0].ipBlock.cidr"),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Sideways"]}, "spec.policyTypes[1]"),
], ids=["endPort<port", "endPort-named", "endPort-alone", "protocol", "port-range", "ipBlock+selector",
        "empty-peer", "except-outside", "cidr", "policyType"])
def test_network_policy_validation(net, namespace, spec, field):
    with pytest.raises(client.ApiException) as exc:
        net.create_namespaced_network_policy(namespace, policy("bad", spec))
    assert exc.value.status == 422
    causes = json.loads(exc.value.body)["details"]["causes"]
    assert field in [c["field"] for c in causes], causes


def test_no_isolation_and_the_drop_timeout_flag(kubesim_factory):
    """With --no-isolation (container processes on the machine's filesystem) kubesim-curl is on PATH too, and
    --network-drop-timeout sets how long a dropped connection waits; at --log-level INFO each drop is logged with
    the policy decision."""
    sim = kubesim_factory(["--no-isolation", "--network-drop-timeout", "0.1", "--log-level", "INFO"])
    core = client.CoreV1Api(sim.api_client())
    net = client.NetworkingV1Api(sim.api_client())
    core.create_namespace({"metadata": {"name": "flags"}})
    ip = start_pod(core, "flags", pod_manifest("b")).status.pod_ip
    start_pod(core, "flags", pod_manifest("a"))
    assert curl(core, "flags", "a", f"http://{ip}:8080/")[0].startswith("pod=b ")
    net.create_namespaced_network_policy("flags", policy("deny", {"podSelector": {"matchLabels": {"app": "b"}}}))
    _, err, code, _ = curl(core, "flags", "a", f"http://{ip}:8080/")
    assert code == 28 and "timed out after" in err
    assert int(err.split("after ")[1].split()[0]) < 800   # milliseconds: 0.1 s, not the default 1 s
    assert "network: dropped" in sim.stderr() and "isolated by flags/deny" in sim.stderr()


def test_a_containers_own_command_is_a_source_too(core, net, namespace, pods, wait_for):
    """A container's command (here a loop, like a compromised pod's timer thread) connects as its pod: its
    log shows the connections succeed, then time out once a policy isolates the destination."""
    manifest = pod_manifest("loop", image="busybox", labels={"app": "loop"})
    manifest["spec"]["containers"][0]["command"] = [
        "sh", "-c", f"while true; do kubesim-curl -m 0.3 http://{pods['b']}:8080/ >/dev/null 2>&1; echo rc=$?; "
                    f"sleep 0.1; done"]
    start_pod(core, namespace, manifest)
    wait_for(lambda: "rc=0" in (core.read_namespaced_pod_log("loop", namespace) or ""), 20)
    net.create_namespaced_network_policy(namespace, policy("deny-b", {"podSelector": {"matchLabels": {"app": "b"}}}))
    wait_for(lambda: "rc=28" in (core.read_namespaced_pod_log("loop", namespace) or ""), 20)
