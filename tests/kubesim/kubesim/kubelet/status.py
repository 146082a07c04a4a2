"""Pod status as the kubelet reports it (`kubelet_pods.go` convertToAPIContainerStatuses / getPhase, spec §5.2).

Everything here is a pure function of the pod object and the runtime state, so a re-sync that changed nothing
computes an identical status and writes nothing.
"""
from __future__ import annotations

import time

from kubesim.kubelet.runtime import ContainerSlot, PodSandbox, iso


def container_status(slot: ContainerSlot, spec: dict, now: float) -> dict:
    """One entry of containerStatuses, type-exact for the Python client's pydantic models (§8)."""
    inst = slot.current
    status: dict = {"name": slot.name}
    if inst is not None and inst.running:
        ready = slot.ready_at is not None and now >= slot.ready_at and inst.command_started
        status["state"] = {"running": {"startedAt": iso(inst.started_at)}}
    elif slot.waiting is not None or inst is None:
        reason, message = slot.waiting or ("ContainerCreating", "")
        waiting = {"reason": reason}
        if message:
            waiting["message"] = message
        status["state"] = {"waiting": waiting}
        ready = False
    else:
        status["state"] = inst.terminated_state()
        ready = False
    if slot.kind == "init":   # prober manager: an init container is ready once it completed, not while running
        ready = inst is not None and not inst.running and inst.exit_code == 0 and slot.waiting is None
    status["lastState"] = slot.previous.terminated_state() if slot.previous is not None else {}
    status["ready"] = ready
    status["restartCount"] = slot.restart_count
    if inst is not None and (inst.running or slot.waiting is None):
        status["image"] = inst.image.normalized
        status["imageID"] = inst.image.image_id
        status["containerID"] = inst.container_id
    else:
        status["image"] = spec.get("image", "")
        status["imageID"] = ""
    status["started"] = bool(inst is not None and inst.running)
    return status


def pod_phase(pod: dict, init_statuses: list[dict], statuses: list[dict]) -> str:
    """getPhase (kubelet_pods.go)."""
    policy = pod["spec"].get("restartPolicy", "Always")
    for cs in init_statuses:
        term = cs["state"].get("terminated")
        if term is not None and term["exitCode"] == 0:
            continue
        if policy == "Never" and term is not None:
            return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for cs in statuses:
        state = cs["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"]["exitCode"] == 0:
                succeeded += 1
        elif cs["lastState"].get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def qos_class(spec: dict) -> str:
    requests: dict = {}
    limits: dict = {}
    guaranteed = True
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests.update(req)
        limits.update(lim)
        for name in ("cpu", "memory"):
            if name not in lim or (name in req and str(req[name]) != str(lim[name])):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _condition(ctype: str, ok: bool, old: dict, generation, now: str, reason: str = "", message: str = "") -> dict:
    status = "True" if ok else "False"
    previous = old.get(ctype)
    transition = previous["lastTransitionTime"] if previous and previous.get("status") == status and \
        previous.get("lastTransitionTime") else now
    cond = {"type": ctype}
    if generation is not None:
        cond["observedGeneration"] = generation
    cond.update(status=status, lastProbeTime=None, lastTransitionTime=transition)
    if not ok and reason:
        cond["reason"] = reason
        if message:
            cond["message"] = message
    return cond


def build_status(pod: dict, sandbox: PodSandbox, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    spec = pod["spec"]
    old = pod.get("status") or {}
    generation = pod["metadata"].get("generation")
    slots = sandbox.slots

    init_statuses = [container_status(slots[c["name"]], c, now) for c in spec.get("initContainers") or []
                     if c["name"] in slots]
    # An init container that has not been reached yet is reported waiting with PodInitializing.
    init_statuses += [_not_started(c, "PodInitializing") for c in (spec.get("initContainers") or [])
                      if c["name"] not in slots]
    statuses = [container_status(slots[c["name"]], c, now) if c["name"] in slots
                else _not_started(c, "PodInitializing" if spec.get("initContainers") else "ContainerCreating")
                for c in spec.get("containers") or []]
    ephemeral = [container_status(slots[c["name"]], c, now) for c in spec.get("ephemeralContainers") or []
                 if c["name"] in slots]

    phase = "Failed" if sandbox.evicted else pod_phase(pod, init_statuses, statuses)
    old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
    stamp = iso(now)
    incomplete = [cs["name"] for cs in init_statuses
                  if not (cs["state"].get("terminated") and cs["state"]["terminated"]["exitCode"] == 0)]
    unready = [cs["name"] for cs in statuses if not cs["ready"]]
    terminal = phase in ("Succeeded", "Failed")
    if terminal:
        ready_reason, ready_message = "PodCompleted", ""
    else:
        ready_reason = "ContainersNotReady"
        ready_message = f"containers with unready status: [{' '.join(unready)}]"
    all_ready = not unready and not terminal
    scheduled = old_conditions.get("PodScheduled") or {
        "type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
    conditions = [
        _condition("PodReadyToStartContainers", not terminal, old_conditions, generation, stamp),
        _condition("Initialized", not incomplete, old_conditions, generation, stamp, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(incomplete)}]"),
        _condition("Ready", all_ready, old_conditions, generation, stamp, ready_reason, ready_message),
        _condition("ContainersReady", all_ready, old_conditions, generation, stamp, ready_reason, ready_message),
        scheduled,
    ]
    if sandbox.evicted:   # evictPod: what the kubelet adds when it kills a pod for a resource
        conditions.append(old_conditions.get("DisruptionTarget") or {
            "type": "DisruptionTarget", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp,
            "reason": "TerminationByKubelet", "message": sandbox.evicted})
    status: dict = {}
    if generation is not None:
        status["observedGeneration"] = generation
    status["phase"] = phase
    if sandbox.evicted:
        status["reason"], status["message"] = "Evicted", sandbox.evicted
    status["conditions"] = conditions
    status["hostIP"] = sandbox.host_ip
    status["hostIPs"] = [{"ip": sandbox.host_ip}]
    status["podIP"] = sandbox.ip
    status["podIPs"] = [{"ip": sandbox.ip}]
    status["startTime"] = iso(sandbox.start_time)
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    if ephemeral:
        status["ephemeralContainerStatuses"] = ephemeral
    status["qosClass"] = old.get("qosClass") or qos_class(spec)
    return status


def _not_started(spec: dict, reason: str) -> dict:
    return {"name": spec["name"], "state": {"waiting": {"reason": reason}}, "lastState": {}, "ready": False,
            "restartCount": 0, "image": spec.get("image", ""), "imageID": "", "started": False}
