"""Node capacity: the kubelet advertises --max-pods (110 by default) as `status.capacity/allocatable.pods`, the
scheduler binds no more pods than that to a node (FailedScheduling "Too many pods"), and a podCIDR that runs out
of addresses leaves the pod Pending with FailedCreatePodSandBox instead of breaking the kubelet.

The limits are cluster options (`extra["max_pods_per_node"]`), so these run in-process with small numbers; the
HTTP check of the default is in test_kubelet_pods.py."""
from __future__ import annotations

import asyncio

from kubesim.cluster import Cluster, ClusterOptions

TOO_MANY_PODS = ("0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: "
                 "3 No preemption victims found for incoming pod.")


def quiet_pod(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}


async def until(predicate, timeout: float = 10.0):
    """Let the cluster's tasks run until `predicate()` is truthy; fail with its last value otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.01)


def run_in_cluster(options: ClusterOptions, scenario):
    async def main():
        cluster = Cluster(options)
        await cluster.start()
        try:
            cluster.api.create("namespaces", None, {"metadata": {"name": "cap"}})
            return await scenario(cluster)
        finally:
            await cluster.stop()
    return asyncio.run(main())


def pod(cluster, name):
    return cluster.store.get("pods", "cap", name)


def events_for(cluster, name):
    return [e for e in cluster.store.list("events", "cap") if e["involvedObject"]["name"] == name]


def test_a_full_cluster_leaves_the_pod_pending_with_too_many_pods_until_a_slot_frees():
    async def scenario(cluster):
        nodes = cluster.store.list("nodes")
        advertised = [(n["status"]["capacity"]["pods"], n["status"]["allocatable"]["pods"]) for n in nodes]
        for i in range(6):
            cluster.api.create("pods", "cap", quiet_pod(f"fits-{i}"))
        await until(lambda: all((pod(cluster, f"fits-{i}")["status"].get("phase") == "Running") for i in range(6)))
        cluster.api.create("pods", "cap", quiet_pod("extra"))
        cond = await until(lambda: next((c for c in pod(cluster, "extra")["status"].get("conditions") or []
                                         if c["type"] == "PodScheduled"), None))
        pending = pod(cluster, "extra")
        failed = [e for e in events_for(cluster, "extra") if e["reason"] == "FailedScheduling"]
        placement = sorted(pod(cluster, f"fits-{i}")["spec"]["nodeName"] for i in range(6))

        cluster.api.delete("pods", "cap", "fits-0")   # graceful: the slot frees when the kubelet removes it
        rescheduled = await until(lambda: pod(cluster, "extra")["spec"].get("nodeName"))
        running = await until(lambda: pod(cluster, "extra")["status"].get("phase") == "Running")
        return advertised, placement, cond, pending, failed, rescheduled, running

    advertised, placement, cond, pending, failed, rescheduled, running = run_in_cluster(
        ClusterOptions(extra={"max_pods_per_node": 2}), scenario)
    assert advertised == [("2", "2")] * 3
    assert placement == ["kubesim-node-1"] * 2 + ["kubesim-node-2"] * 2 + ["kubesim-node-3"] * 2
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"] == TOO_MANY_PODS
    assert pending["spec"].get("nodeName") is None and pending["status"]["phase"] == "Pending"
    assert len(failed) == 1 and failed[0]["type"] == "Warning" and failed[0]["message"] == TOO_MANY_PODS
    assert failed[0]["source"]["component"] == "default-scheduler"
    assert rescheduled in ("kubesim-node-1", "kubesim-node-2", "kubesim-node-3") and running


def test_mixed_reasons_are_counted_per_node_and_sorted_like_the_scheduler():
    """FitError: each node counts under the first filter that rejects it; the reasons are sorted as strings."""
    async def scenario(cluster):
        cluster.api.patch("nodes", None, "kubesim-node-3", {"spec": {"unschedulable": True}}, "merge")
        for i in range(4):
            cluster.api.create("pods", "cap", quiet_pod(f"fits-{i}"))
        await until(lambda: all(pod(cluster, f"fits-{i}")["spec"].get("nodeName") for i in range(4)))
        cluster.api.create("pods", "cap", quiet_pod("extra"))
        return await until(lambda: next((c for c in pod(cluster, "extra")["status"].get("conditions") or []
                                         if c["type"] == "PodScheduled"), None))

    cond = run_in_cluster(ClusterOptions(extra={"max_pods_per_node": 2}), scenario)
    assert cond["message"] == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 Too many pods. preemption: 0/3 nodes are "
        "available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.")


def test_an_exhausted_pod_cidr_leaves_the_pod_pending_instead_of_failing():
    """max_pods_per_node above what a /24 holds (253 addresses): the 254th pod gets no sandbox and a
    FailedCreatePodSandBox event; it starts once another pod on the node is gone and its address is free."""
    async def scenario(cluster):
        for i in range(254):
            cluster.api.create("pods", "cap", quiet_pod(f"p-{i}"))
        names = [f"p-{i}" for i in range(254)]
        await until(lambda: sum(bool(pod(cluster, n)["status"].get("podIP")) for n in names) == 253, timeout=60)
        starved = await until(lambda: next((n for n in names if any(
            e["reason"] == "FailedCreatePodSandBox" for e in events_for(cluster, n))), None))
        ips = {pod(cluster, n)["status"].get("podIP") for n in names} - {None}
        message = next(e["message"] for e in events_for(cluster, starved) if e["reason"] == "FailedCreatePodSandBox")
        still_pending = pod(cluster, starved)["status"]["phase"]
        victim = next(n for n in names if n != starved)
        freed_ip = pod(cluster, victim)["status"]["podIP"]
        cluster.api.delete("pods", "cap", victim)
        new_ip = await until(lambda: pod(cluster, starved)["status"].get("podIP"))
        return ips, message, still_pending, freed_ip, new_ip

    ips, message, still_pending, freed_ip, new_ip = run_in_cluster(
        ClusterOptions(nodes=1, extra={"max_pods_per_node": 300}), scenario)
    assert len(ips) == 253 and all(ip.startswith("10.244.1.") for ip in ips)
    assert message.endswith("no IP addresses available in range set: 10.244.1.1-10.244.1.254")
    assert still_pending == "Pending"
    assert new_ip == freed_ip


def test_a_bad_max_pods_value_falls_back_to_the_kubelet_default():
    async def scenario(cluster):
        return {n["status"]["allocatable"]["pods"] for n in cluster.store.list("nodes")}

    assert run_in_cluster(ClusterOptions(extra={"max_pods_per_node": "lots"}), scenario) == {"110"}
