"""One isolation, measured: an approach isolates one pod of a Deployment while the harness watches the Endpoints
and sends load through the Service proxy. Then the state is checked and the pod is deleted for the next run."""
from __future__ import annotations

import collections
import json
import os
import time

from triage_bench.cluster import ADMIN_USER, Kubesim, Workloads
from triage_bench.observe import AddressWatch, ProxyLoad

ENDPOINT_RESOURCES = ("endpoints", "endpointslices")
MUTATING = ("create", "update", "patch", "delete", "deletecollection")
FAULT_CODES = (429, 503, 0)   # what the fault rules answer (0: kubesim's audit code of a reset connection)


def approach_calls(entries: list[dict], user: str = ADMIN_USER) -> list[dict]:
    """The approach's own requests, in order: what scale.py replays and faults_met() reads."""
    return [{"verb": e["verb"], "resource": e["resource"], "subresource": e.get("subresource") or "",
             "path": e.get("path") or "", "query": e.get("query") or {}, "code": e["code"], "t": e["t"]}
            for e in entries if e["stage"] == "ResponseComplete" and e["user"] == user]


def faults_met(calls: list[dict]) -> tuple[int, int]:
    """(requests that got a fault, how many of them the approach sent again at once). "Again" is its very next
    request being the same verb on the same path: a retry, the next turn of a poll loop, or a watch opened again;
    the same read sent later by another step (another module of the playbook) is not counted."""
    met = again = 0
    for i, c in enumerate(calls):
        if c["code"] not in FAULT_CODES:
            continue
        met += 1
        if i + 1 < len(calls) and calls[i + 1]["verb"] == c["verb"] and calls[i + 1]["path"] == c["path"]:
            again += 1
    return met, again


def requests_by_verb(calls: list[dict]) -> dict[str, int]:
    counts = collections.Counter(c["verb"] for c in calls)
    return dict(sorted(counts.items()))


def drain_detection(entries: list[dict], calls: list[dict], namespace: str, gone_at: float | None) -> float | None:
    """Seconds from the controller's Endpoints/EndpointSlice write that removed the IP (the last internal write in
    the namespace before the harness's watch saw the IP gone) to the approach noticing it: the end of its first
    request on endpoints or endpointslices that completed after that write (a poll's GET, or the watch it closes
    once it saw the event)."""
    if gone_at is None:
        return None
    writes = [e["t"] for e in entries if e["stage"] == "internal" and e["resource"] in ENDPOINT_RESOURCES
              and e["namespace"] == namespace and e["t"] <= gone_at + 0.001]
    if not writes:
        return None
    removed = max(writes)
    seen = [c["t"] for c in calls if c["resource"] in ENDPOINT_RESOURCES and c["t"] >= removed]
    return (min(seen) - removed) if seen else None


def right_state(wl: Workloads, ns: str, deployment: str, replicas: int, pod: dict, timeout: float) -> tuple[bool, str]:
    """The isolation's promise: the pod still runs, its ReplicaSet released it, its IP is in no Endpoints or
    EndpointSlice of the Service, and the Deployment serves `replicas` ready pods again."""
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    deadline = time.monotonic() + timeout
    why = ""
    while True:
        try:
            current = json.loads(wl.core.read_namespaced_pod(name, ns, _preload_content=False).data)
        except Exception:  # noqa: BLE001
            return False, "the pod is gone"
        owners = current["metadata"].get("ownerReferences") or []
        ready = [p for p in wl.owned_pods(ns, deployment) if wl.is_ready(p)]
        ips = wl.endpoint_ips(ns, deployment)
        if any(o.get("kind") == "ReplicaSet" for o in owners):
            why = "the ReplicaSet still owns the pod"
        elif ip in ips:
            why = "the pod's IP is still in the Service's endpoints"
        elif len(ready) != replicas:
            why = f"{len(ready)} of {replicas} replicas ready"
        else:
            return True, "isolated"
        if time.monotonic() > deadline:
            return False, why
        time.sleep(0.2)


def isolate_once(sim: Kubesim, observer, wl: Workloads, approach, ns: str, deployment: str, replicas: int,
                 logdir: str, tag: str, load: bool = True, check_timeout: float = 15, user: str = ADMIN_USER) -> dict:
    """`user` is the identity the approach talks as (its kubeconfig from the Kubesim); only its requests count."""
    ready = wl.wait_serving(ns, deployment, replicas)
    target = ready[0]
    pod, ip = target["metadata"]["name"], target["status"]["podIP"]
    watch = AddressWatch(observer, ns, ip)
    watch.start()
    proxy = ProxyLoad(observer, ns, deployment) if load else None
    if proxy:
        proxy.start()
        time.sleep(0.3)   # the load is running before the isolation starts
    offset = sim.audit_offset()
    run = approach.isolate(sim.kubeconfig_of(user), ns, pod, deployment, "release", os.path.join(logdir, f"{tag}.log"))
    watch.gone.wait(30)
    ok, why = right_state(wl, ns, deployment, replicas, target, check_timeout)
    if proxy:
        time.sleep(0.5)   # requests sent while the Service recovers count too
        proxy.stop()
    watch.stop()
    time.sleep(0.05)      # the audit entries of the watches just closed are written
    entries = sim.audit_since(offset)
    calls = approach_calls(entries, user)
    result = {
        "rc": run.rc, "wall": run.wall, "maxrss_kib": run.maxrss_kib, "log": run.log,
        "requests": requests_by_verb(calls),
        "mutating": sum(1 for c in calls if c["verb"] in MUTATING),
        "ip_gone": (watch.gone_at - run.started) if watch.gone_at else None,
        "drain_detect": drain_detection(entries, calls, ns, watch.gone_at),
        "right_state": ok, "state": why,
    }
    result["requests_total"] = sum(result["requests"].values())
    result["calls"] = calls
    result["faults_met"], result["faults_sent_again"] = faults_met(result["calls"])
    if proxy:
        result["load"] = proxy.summary(run.started - 0.3, time.time(), pod, watch.gone_at)
    # Reset for the next run: the isolated pod (released, or half-isolated after a fault) is deleted; a pod its
    # ReplicaSet still owns is left alone.
    try:
        current = json.loads(wl.core.read_namespaced_pod(pod, ns, _preload_content=False).data)
        if not any(o.get("kind") == "ReplicaSet" for o in current["metadata"].get("ownerReferences") or []):
            wl.delete_pod(ns, pod)
            wl.wait_gone(ns, pod)
    except Exception:  # noqa: BLE001 (already gone)
        pass
    wl.wait_serving(ns, deployment, replicas)
    return result
