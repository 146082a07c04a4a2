"""Kubelet simulation: scheduling, pod IPs, phase, conditions and containerStatuses (spec §4, §5.1, §5.2, §8).

Everything goes through the real kubernetes client over HTTP(S) against `python -m kubesim serve`.
"""
from __future__ import annotations

import ipaddress
import time

import pytest
from kubernetes import client, watch

from test_kubelet_support import NODES, condition, eventually, events_of, is_ready, pod_manifest, start_pod


def test_pod_becomes_running_and_ready_with_ip_node_and_conditions(core, namespace):
    """§10.5 / §4: phase Pending -> Running, a pod IP (what Endpoints need), the node, the four conditions."""
    created = core.create_namespaced_pod(namespace, pod_manifest("web"))
    assert created.status.phase == "Pending"

    pod = eventually(lambda: (p := core.read_namespaced_pod("web", namespace)) and is_ready(p) and p)
    assert pod.status.phase == "Running"
    assert pod.spec.node_name in NODES
    ip = ipaddress.ip_address(pod.status.pod_ip)
    assert ip in ipaddress.ip_network("10.244.0.0/16")
    assert [i.ip for i in pod.status.pod_ips] == [pod.status.pod_ip]
    assert pod.status.host_ip and [i.ip for i in pod.status.host_ips] == [pod.status.host_ip]
    assert pod.status.start_time is not None
    assert pod.status.qos_class == "BestEffort"
    assert pod.status.observed_generation == pod.metadata.generation
    for ctype in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
        assert condition(pod, ctype).status == "True", ctype

    # §8: the pydantic models are strict, so reading the pod at all proves the types; check the values too.
    (cs,) = pod.status.container_statuses
    assert cs.name == "app" and cs.ready is True and cs.started is True and cs.restart_count == 0
    assert cs.image == "docker.io/kubesim/web:v1"
    assert cs.image_id.startswith("docker.io/kubesim/web@sha256:") and len(cs.image_id.split(":")[-1]) == 64
    assert cs.container_id.startswith("containerd://")
    assert cs.state.running is not None and cs.state.running.started_at is not None
    assert cs.last_state.terminated is None


def test_ready_only_after_the_readiness_delay(core, namespace):
    """Running comes first with Ready=False; Ready turns True after the readiness delay, with a later
    lastTransitionTime (§4: the pod sits in notReadyAddresses meanwhile; §1.3 rule 6 reads that time)."""
    seen = []
    w = watch.Watch()
    core.create_namespaced_pod(namespace, pod_manifest("slow"))
    for event in w.stream(core.list_namespaced_pod, namespace, field_selector="metadata.name=slow",
                          timeout_seconds=10):
        pod = event["object"]
        seen.append((pod.status.phase, is_ready(pod)))
        if is_ready(pod):
            w.stop()
    assert ("Running", False) in seen, seen
    assert seen[-1] == ("Running", True), seen
    assert seen.index(("Running", False)) < len(seen) - 1


def test_readiness_probe_initial_delay_is_honoured(core, namespace):
    """A readinessProbe's initialDelaySeconds keeps the pod not ready: it stays out of Service endpoints (§4)."""
    manifest = pod_manifest("probed")
    manifest["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080},
                                                           "initialDelaySeconds": 600}
    core.create_namespaced_pod(namespace, manifest)
    pod = eventually(lambda: (p := core.read_namespaced_pod("probed", namespace)) and
                     p.status.phase == "Running" and p)
    time.sleep(0.5)
    pod = core.read_namespaced_pod("probed", namespace)
    assert not is_ready(pod)
    assert condition(pod, "Ready").reason == "ContainersNotReady"
    assert condition(pod, "Ready").message == "containers with unready status: [app]"
    assert pod.status.container_statuses[0].ready is False
    assert pod.status.container_statuses[0].started is True


@pytest.fixture
def empty_cluster(kubesim_factory):
    """A kubesim of its own: the shared one still holds (or is finishing the deletion of) pods of the tests that
    ran before in this worker, and which tests those are depends on the order (`-n 2`), so node loads differ."""
    sim = kubesim_factory()
    api_client = sim.api_client()
    yield client.CoreV1Api(api_client)
    api_client.close()
    assert sim.stop() == 0, sim.stderr()


def test_pods_spread_over_the_nodes(empty_cluster):
    """The scheduler puts each pod on the feasible node with the fewest pods: 6 pods on 3 empty nodes, 2 each."""
    core = empty_cluster
    core.create_namespace({"metadata": {"name": "spread"}})
    for i in range(6):
        core.create_namespaced_pod("spread", pod_manifest(f"spread-{i}", image="nginx:1.27"))
    nodes = eventually(lambda: (n := [p.spec.node_name for p in core.list_namespaced_pod("spread").items
                                      if p.spec.node_name]) and len(n) == 6 and n)
    assert set(nodes) == NODES
    for node in NODES:
        assert nodes.count(node) == 2


def test_nodes_advertise_the_kubelet_default_of_110_pods(core):
    """kubelet --max-pods defaults to 110; the scheduler reads allocatable.pods (test_kubelet_capacity.py)."""
    nodes = core.list_node().items
    assert {n.metadata.name for n in nodes} >= NODES
    for node in nodes:
        assert node.status.capacity["pods"] == "110" and node.status.allocatable["pods"] == "110"


def test_node_selector_and_daemonset_style_affinity_are_honoured(core, namespace):
    """DaemonSet pods pin themselves with required node affinity on matchFields metadata.name (§3)."""
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["kubesim-node-2"]}]}]}}}
    core.create_namespaced_pod(namespace, pod_manifest("pinned", image="nginx", affinity=affinity))
    core.create_namespaced_pod(namespace, pod_manifest(
        "selected", image="nginx", nodeSelector={"kubernetes.io/hostname": "kubesim-node-3"}))
    assert eventually(lambda: core.read_namespaced_pod("pinned", namespace).spec.node_name) == "kubesim-node-2"
    assert eventually(lambda: core.read_namespaced_pod("selected", namespace).spec.node_name) == "kubesim-node-3"


def test_unschedulable_pod_stays_pending_with_the_scheduler_message(core, namespace):
    core.create_namespaced_pod(namespace, pod_manifest("nowhere", image="nginx",
                                                       nodeSelector={"disktype": "does-not-exist"}))
    cond = eventually(lambda: condition(core.read_namespaced_pod("nowhere", namespace), "PodScheduled"))
    pod = core.read_namespaced_pod("nowhere", namespace)
    assert pod.spec.node_name is None and pod.status.phase == "Pending"
    assert cond.status == "False" and cond.reason == "Unschedulable"
    assert cond.message.startswith("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
    events = events_of(core, namespace, "nowhere")
    assert any(e.reason == "FailedScheduling" and e.type == "Warning" for e in events)


def test_other_images_are_quiet_processes_that_reach_running(core, namespace):
    core.create_namespaced_pod(namespace, pod_manifest("nginx", image="nginx"))
    pod = eventually(lambda: (p := core.read_namespaced_pod("nginx", namespace)) and is_ready(p) and p)
    assert pod.status.container_statuses[0].image == "docker.io/library/nginx:latest"
    assert pod.status.container_statuses[0].image_id.startswith("docker.io/library/nginx@sha256:")


def test_graceful_delete_stops_the_containers_then_removes_the_pod(core, namespace):
    """§5.1: DELETE sets deletionTimestamp; the kubelet stops the containers and deletes with grace 0, well
    before the 30 s grace period when the process exits at once."""
    core.create_namespaced_pod(namespace, pod_manifest("doomed"))
    eventually(lambda: is_ready(core.read_namespaced_pod("doomed", namespace)))
    started = time.monotonic()
    deleted = core.delete_namespaced_pod("doomed", namespace)
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 30

    def gone():
        try:
            core.read_namespaced_pod("doomed", namespace)
            return False
        except client.ApiException as exc:
            return exc.status == 404
    eventually(gone, timeout=10)
    assert time.monotonic() - started < 10
    events = events_of(core, namespace, "doomed")
    assert any(e.reason == "Killing" and e.message == "Stopping container app" for e in events)


def test_restart_policy_never_pods_reach_succeeded_or_failed(core, namespace):
    """Job pods: getPhase gives Succeeded when every container exited 0 and Failed otherwise (§3, §5.2)."""
    core.create_namespaced_pod(namespace, pod_manifest("ok", image="kubesim/exit:1", restartPolicy="Never"))
    core.create_namespaced_pod(namespace, pod_manifest("bad", image="kubesim/crash:1", restartPolicy="Never"))
    ok = eventually(lambda: (p := core.read_namespaced_pod("ok", namespace)) and
                    p.status.phase == "Succeeded" and p)
    bad = eventually(lambda: (p := core.read_namespaced_pod("bad", namespace)) and
                     p.status.phase == "Failed" and p)
    term = ok.status.container_statuses[0].state.terminated
    assert term.exit_code == 0 and term.reason == "Completed"
    term = bad.status.container_statuses[0].state.terminated
    assert term.exit_code == 1 and term.reason == "Error"
    assert bad.status.container_statuses[0].restart_count == 0
    assert condition(ok, "Ready").status == "False" and condition(ok, "Ready").reason == "PodCompleted"


def test_kubelet_events_for_a_started_pod(core, namespace):
    """Scheduled, then Pulling/Pulled/Created/Started; a second pod with the same image (IfNotPresent) on the
    same node gets "already present on machine" and no Pulling, as from a real kubelet."""
    image = f"kubesim/web:{namespace}"   # a tag no node has pulled yet
    first = start_pod(core, namespace, pod_manifest("evented", image=image))

    def reasons(name):
        return [(e.reason, e.source.component) for e in events_of(core, namespace, name)]
    got = eventually(lambda: (r := reasons("evented")) and ("Started", "kubelet") in r and r)
    for expected in [("Scheduled", "default-scheduler"), ("Pulling", "kubelet"), ("Pulled", "kubelet"),
                     ("Created", "kubelet"), ("Started", "kubelet")]:
        assert expected in got
    scheduled = next(e for e in events_of(core, namespace, "evented") if e.reason == "Scheduled")
    assert scheduled.message == f"Successfully assigned {namespace}/evented to {first.spec.node_name}"

    start_pod(core, namespace, pod_manifest("again", image=image,
                                            nodeSelector={"kubernetes.io/hostname": first.spec.node_name}))
    again = eventually(lambda: (r := events_of(core, namespace, "again")) and
                       any(e.reason == "Started" for e in r) and r)
    assert not any(e.reason == "Pulling" for e in again)
    pulled = next(e for e in again if e.reason == "Pulled")
    assert pulled.message == f'Container image "{image}" already present on machine'
