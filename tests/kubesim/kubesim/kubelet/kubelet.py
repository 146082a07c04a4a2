"""The kubelets of every simulated node, as one component (spec §5.2, §10.5).

Store callbacks only mark pods dirty; one worker task syncs dirty pods: it reconciles the simulated runtime with
the pod spec (start, image-change restart, crash loop, image pull back-off, ephemeral containers), then writes the
status through the `status` subresource as `system:node:<node>`, only when it changed. Timed transitions
(readiness delay, back-offs) re-mark the pod dirty with `loop.call_later`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

from kubesim.errors import ApiError
from kubesim.kubelet.capacity import configured_max_pods
from kubesim.kubelet import isolation
from kubesim.kubelet.env import container_environment, expand
from kubesim.kubelet.eviction import DEFAULT_INTERVAL, StorageEviction
from kubesim.kubelet.images import (CRASH, EXIT, JATTACH, JAVA, JAVA_JRE, NETWORK, QUIET, InvalidImageName,
                                    install_tools, java_release, jvm_command, parse_image)
from kubesim.kubelet.process import ContainerProcess, StartError, close_transport, pid_namespace, signal_group, spawn
from kubesim.kubelet.recorder import EventRecorder
from kubesim.kubelet.runtime import ContainerInstance, ContainerSlot, PodSandbox, container_env
from kubesim.kubelet.status import build_status
from kubesim.kubelet.volumes import VolumeError, container_mounts, prepare_volumes
from kubesim.kubelet.wake_worker import WakeWorker

log = logging.getLogger("kubesim.kubelet")

MAX_BACKOFF = 300.0           # kubelet MaxContainerBackOff and image pull back-off cap
POD_IPS_PER_NODE = 253       # a /24 podCIDR without the network, gateway (.1) and broadcast addresses
ERR_IMAGE_PULL_HOLD = 0.3     # how long ErrImagePull shows before ImagePullBackOff (the next sync in the kubelet)
DEFAULT_MAX_CONTAINER_PROCESSES = 256   # --max-container-processes
DEFAULT_GRACE = 30.0          # terminationGracePeriodSeconds default
MINIMUM_GRACE = 2.0           # kuberuntime's minimumGracePeriodInSeconds: what a grace-0 kill still gives
MOUNT_RETRY = 2.0             # seconds between volume set-up attempts (the kubelet retries FailedMount)
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"   # the common base images' PATH


async def jvm_started(proc, pid: int, limit: float = 10.0) -> None:
    """Until the JVM process handles SIGQUIT (its /proc status shows the handler, the signal unblocked): from
    then on its perf file exists and an attach works, as a HotSpot JVM is attachable once it has started.
    Bounded; the JVM's exit ends the wait too."""
    quit_bit = 1 << (signal.SIGQUIT - 1)
    deadline = asyncio.get_running_loop().time() + limit
    while proc.returncode is None and asyncio.get_running_loop().time() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            return
        if int(fields.get("SigCgt", "0"), 16) & quit_bit and not int(fields.get("SigBlk", "0"), 16) & quit_bit:
            return
        await asyncio.sleep(0.01)


def _option(options, name, default):
    """A ClusterOptions field, else an entry of `options.extra` (crash_backoff_base, image_pull_backoff_base,
    termination_delay are kubelet-only knobs), else the default."""
    value = getattr(options, name, None)
    if value is None:
        value = (getattr(options, "extra", None) or {}).get(name)
    return default if value is None else value


def _fmt_duration(seconds: float) -> str:
    """Go's time.Duration.String(): 200ms, 2.5s, 10s, 1m20s, 5m0s."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    whole = int(seconds)
    rest = f"{seconds - whole + whole % 60:.3f}".rstrip("0").rstrip(".")
    return f"{whole // 60}m{rest}s"


class Kubelet(WakeWorker):
    user_prefix = "system:node:"
    finalizes_pods = True   # tells Api that graceful pod deletions are finished here (api.delete grace 0)

    def __init__(self, cluster):
        super().__init__()
        self.cluster = cluster
        self.store = cluster.store
        self.api = cluster.api
        self.options = cluster.options
        self.events = EventRecorder(self.api, "kubelet")
        self.sandboxes: dict[tuple[str, str], PodSandbox] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._ips_in_use: set[str] = set()
        self._next_ip: dict[str, int] = {}
        self._waiting_for_ip: set[tuple[str, str]] = set()   # pods whose sandbox found the podCIDR full
        self._nodes_to_register: set[str] = set()
        self.max_pods = configured_max_pods(self.options)
        self._pulled: set[tuple[str, str]] = set()   # (node, image) already present on the node
        self.tool_dirs: dict[str, str] = {}
        self.network = None   # the PodNetwork (network.py), set when it is registered with this kubelet
        state_dir = _option(self.options, "state_dir", None) or "/tmp/kubesim-state"
        self.root = os.path.join(str(state_dir), "kubelet")
        self.isolated = not _option(self.options, "no_isolation", False)
        self.max_processes = int(_option(self.options, "max_container_processes", DEFAULT_MAX_CONTAINER_PROCESSES))
        self.process_pids: dict[int, asyncio.subprocess.Process] = {}   # every container and exec process running
        self.command_instances: set[ContainerInstance] = set()   # containers running their command (the cap)
        self._waiting_for_process: set[tuple[str, str]] = set()  # pods with a container held back by the cap
        self.storage_eviction = StorageEviction(self, float(_option(self.options, "eviction_interval",
                                                                    DEFAULT_INTERVAL)))

    # ------------------------------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        if self.isolated:
            isolation.enter_own_mount_namespace(os.path.join(self.root, ".probe"))
            self.tool_dirs = install_tools(os.path.join(self.root, "images"), isolation.tool_interpreter(),
                                           self._network_socket())
        else:
            print("kubesim: WARNING: --no-isolation: container processes run on this machine's filesystem, as "
                  "root: /tmp/x in a pod is this machine's /tmp/x, and rm -rf / in a pod is rm -rf / here",
                  file=sys.stderr, flush=True)
            self.tool_dirs = install_tools(os.path.join(self.root, "images"), None, self._network_socket())
        self.store.subscribe(self._on_store_event)
        for node in self.store.list("nodes"):
            self._register_node(node["metadata"]["name"])
        for pod in self.store.list("pods"):
            self._dirty.add((pod["metadata"]["namespace"], pod["metadata"]["name"]))
        self.start_worker()
        self.storage_eviction.start()

    def _network_socket(self) -> str | None:
        return self.network.socket_name if self.network is not None else None

    async def stop(self) -> None:
        """Every container process ends: SIGTERM, a second to go, then SIGKILL for what is left (exec sessions
        too); then the containers' mounts and files go."""
        await self.stop_worker()
        await self.storage_eviction.stop()
        for sandbox in list(self.sandboxes.values()):
            sandbox.stop_all(grace=1.0)
            for slot in sandbox.slots.values():
                if slot.current is not None:
                    for server in slot.current.servers.values():
                        await server.close()
        waits = [inst.wait_stopped() for inst in list(self.command_instances)]
        if waits:
            await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=3.0)
        procs = list(self.process_pids.values())
        for proc in procs:
            signal_group(proc.pid, signal.SIGKILL)
        if procs:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in procs], timeout=2.0)
        for proc in procs:
            close_transport(proc)
        self.process_pids.clear()
        if self.isolated:
            isolation.remove_tree(self.root)

    def _on_store_event(self, event) -> None:
        if event.rtype.key != "pods":
            if event.rtype.key == "nodes":  # a node appeared: pods bound to it can start
                if event.type == "ADDED":
                    self._nodes_to_register.add(event.obj["metadata"]["name"])
                    self.wake()
                for pod in self.store.list("pods"):
                    if pod["spec"].get("nodeName") == event.obj["metadata"]["name"]:
                        self.mark_dirty(pod["metadata"]["namespace"], pod["metadata"]["name"])
            return
        meta = event.obj["metadata"]
        self.mark_dirty(meta["namespace"], meta["name"])

    def mark_dirty(self, namespace: str, name: str) -> None:
        self._dirty.add((namespace, name))
        self.wake()

    async def work(self) -> None:
        while self._nodes_to_register:
            self._register_node(self._nodes_to_register.pop())
        while self._dirty:
            batch, self._dirty = self._dirty, set()
            for key in batch:
                try:
                    self.sync_pod(*key)
                except Exception:  # one broken pod must not stop the node
                    log.exception("kubelet: sync of pod %s/%s failed", *key)
            await asyncio.sleep(0)  # let the API serve requests between batches

    def _register_node(self, name: str) -> None:
        """What a kubelet's node status manager reports about capacity: `pods` is --max-pods, in both
        capacity and allocatable (no pods are reserved for the system)."""
        node = self.store.get("nodes", None, name)
        if node is None:
            return
        status = node.get("status") or {}
        pods = str(self.max_pods)
        if (status.get("capacity") or {}).get("pods") == pods and (status.get("allocatable") or {}).get("pods") == pods:
            return
        try:
            self.api.patch("nodes", None, name, {"status": {"capacity": {"pods": pods}, "allocatable": {"pods": pods}}},
                           "merge", subresource="status", user=self.user_prefix + name)
        except ApiError as exc:
            log.warning("kubelet: node status of %s not updated: %s", name, exc)

    # ------------------------------------------------------------------------------------------------ lookups
    def sandbox_for(self, namespace: str, name: str, uid: str | None = None) -> PodSandbox | None:
        sandbox = self.sandboxes.get((namespace, name))
        if sandbox is not None and uid and sandbox.uid != uid:
            return None
        return sandbox

    def sandbox_by_ip(self, ip: str) -> PodSandbox | None:
        for sandbox in self.sandboxes.values():
            if sandbox.ip == ip:
                return sandbox
        return None

    def _node_addresses(self, node_name: str) -> tuple[str, str] | None:
        """(pod IP prefix, host IP) for a node, or None when there is no such Node object."""
        nodes = sorted(n["metadata"]["name"] for n in self.store.list("nodes"))
        if node_name not in nodes:
            return None
        node = self.store.get("nodes", None, node_name) or {}
        index = nodes.index(node_name) + 1
        cidr = (node.get("spec") or {}).get("podCIDR") or ""
        prefix = ".".join(cidr.split("/")[0].split(".")[:3]) + "." if cidr.count(".") == 3 else f"10.244.{index}."
        host_ip = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), f"172.18.0.{index + 1}")
        return prefix, host_ip

    def _allocate_ip(self, node: str, prefix: str) -> str | None:
        """The next free address of the node's podCIDR (a /24: .2 to .254, as host-local IPAM hands them out,
        round robin), or None when all 253 are in use. The scheduler keeps a node at --max-pods (110 by
        default), so this only happens when max_pods_per_node is set above what the podCIDR holds."""
        start = self._next_ip.get(node, 0)
        for offset in range(POD_IPS_PER_NODE):
            slot = (start + offset) % POD_IPS_PER_NODE
            ip = f"{prefix}{slot + 2}"
            if ip not in self._ips_in_use:
                self._ips_in_use.add(ip)
                self._next_ip[node] = slot + 1
                return ip
        return None

    # ------------------------------------------------------------------------------------------------ sync
    def sync_pod(self, namespace: str, name: str) -> None:
        pod = self.store.get("pods", namespace, name)
        sandbox = self.sandboxes.get((namespace, name))
        if sandbox is not None and (pod is None or pod["metadata"].get("uid") != sandbox.uid):
            self._teardown(sandbox)
            sandbox = None
        if pod is None:
            return
        node = pod["spec"].get("nodeName")
        if not node:
            return
        if sandbox is None:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                return  # finished before this kubelet saw it (e.g. a restart): nothing to run
            addresses = self._node_addresses(node)
            if addresses is None:
                return  # bound to a node that does not exist: no kubelet will ever run it, as in a cluster
            prefix, host_ip = addresses
            ip = self._allocate_ip(node, prefix)
            if ip is None:
                self._report_no_ip(pod, node, prefix)
                return
            self._waiting_for_ip.discard((namespace, name))
            sandbox = PodSandbox(uid=pod["metadata"]["uid"], namespace=namespace, name=name, node=node, ip=ip,
                                 host_ip=host_ip, directory=os.path.join(self.root, "pods", pod["metadata"]["uid"]))
            self.sandboxes[(namespace, name)] = sandbox
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(pod, sandbox)
            return
        if sandbox.terminating:
            return
        now = time.time()
        if sandbox.evicted:   # killed for good: nothing restarts, the status says why
            self._write_status(pod, build_status(pod, sandbox, now), node)
            return
        self._reconcile_containers(pod, sandbox, now)
        status = build_status(pod, sandbox, now)
        self._write_status(pod, status, node)
        self._schedule_wake(sandbox, now)

    def evict(self, pod: dict, sandbox: PodSandbox, message: str) -> None:
        """evictPod (eviction_manager.go): kill every container now (grace 0, which the runtime raises to its
        minimum of 2 s), and the pod is Failed/Evicted from then on."""
        sandbox.evicted = message
        self.events.pod_event(pod, "Warning", "Evicted", message, host=sandbox.node)
        sandbox.stop_all(grace=MINIMUM_GRACE)
        self.mark_dirty(sandbox.namespace, sandbox.name)

    def _report_no_ip(self, pod: dict, node: str, prefix: str) -> None:
        """The CNI's answer when the podCIDR is exhausted: the sandbox is not created, the pod stays Pending
        (ContainerCreating) with a FailedCreatePodSandBox event, and is retried when an address is freed."""
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        if key in self._waiting_for_ip:
            return
        self._waiting_for_ip.add(key)
        self.events.pod_event(pod, "Warning", "FailedCreatePodSandBox",
                              f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup '
                              f'network for sandbox: plugin type="bridge" failed (add): failed to allocate for '
                              f'range 0: no IP addresses available in range set: {prefix}1-{prefix}254',
                              host=node)

    def _teardown(self, sandbox: PodSandbox) -> None:
        sandbox.stop_all(grace=0.0)
        self._ips_in_use.discard(sandbox.ip)
        for namespace, name in self._waiting_for_ip:
            self.mark_dirty(namespace, name)
        self._waiting_for_ip.clear()   # whoever still finds no address reports again
        self.sandboxes.pop((sandbox.namespace, sandbox.name), None)
        sandbox.remove_files()

    def _terminate(self, pod: dict, sandbox: PodSandbox) -> None:
        """Graceful deletion: stop the containers, then remove the pod with grace 0 (§5.1). The simulated
        processes exit on SIGTERM at once, so the pod goes well before its grace period ends."""
        if sandbox.terminating:
            return
        sandbox.terminating = True
        for spec in pod["spec"].get("containers") or []:
            slot = sandbox.slots.get(spec["name"])
            if slot is not None and slot.current is not None and slot.current.running:
                self.events.pod_event(pod, "Normal", "Killing", f"Stopping container {spec['name']}",
                                      host=sandbox.node, field_path=f"spec.containers{{{spec['name']}}}")
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        sandbox.stop_all(grace)
        delay = min(float(_option(self.options, "termination_delay", 0.05)), grace)
        asyncio.get_running_loop().create_task(self._finish_when_stopped(pod, sandbox, delay))

    async def _finish_when_stopped(self, pod: dict, sandbox: PodSandbox, delay: float) -> None:
        """The pod goes once its processes have exited (SIGKILL comes at the end of the grace period)."""
        waits = [asyncio.ensure_future(inst.wait_stopped()) for inst in sandbox.instances() if inst.runs_command]
        if waits:
            await asyncio.wait(waits)
        await asyncio.sleep(delay)
        self._finish_deletion(pod["metadata"]["namespace"], pod["metadata"]["name"], sandbox.uid, sandbox.node)

    def _finish_deletion(self, namespace: str, name: str, uid: str, node: str) -> None:
        try:
            self.api.delete("pods", namespace, name, grace_period_seconds=0, preconditions={"uid": uid},
                            user=self.user_prefix + node)
        except ApiError as exc:
            if exc.code not in (404, 409):
                log.warning("kubelet: removing pod %s/%s failed: %s", namespace, name, exc)
        except Exception:
            log.exception("kubelet: removing pod %s/%s failed", namespace, name)
        self.mark_dirty(namespace, name)

    def _write_status(self, pod: dict, status: dict, node: str) -> None:
        old = pod.get("status") or {}
        if old == status:
            return
        patch_status = dict(status)
        for key in old:
            if key not in status:
                patch_status[key] = None   # merge patch: remove what the kubelet no longer reports
        meta = pod["metadata"]
        try:
            self.api.patch("pods", meta["namespace"], meta["name"], {"status": patch_status}, "merge",
                           subresource="status", user=self.user_prefix + node)
        except ApiError as exc:
            if exc.code != 404:
                log.warning("kubelet: status update of %s/%s failed: %s", meta["namespace"], meta["name"], exc)

    def _schedule_wake(self, sandbox: PodSandbox, now: float) -> None:
        times = []
        for slot in sandbox.slots.values():
            for t in (slot.ready_at, slot.next_attempt_at, getattr(slot, "backoff_shown_at", None)):
                if t is not None and t > now:
                    times.append(t)
        if sandbox.wake_handle is not None:
            sandbox.wake_handle.cancel()
            sandbox.wake_handle = None
        if times:
            delay = min(times) - now + 0.005
            sandbox.wake_handle = asyncio.get_running_loop().call_later(
                delay, self.mark_dirty, sandbox.namespace, sandbox.name)

    # --------------------------------------------------------------------------------------- container logic
    def _reconcile_containers(self, pod: dict, sandbox: PodSandbox, now: float) -> None:
        spec = pod["spec"]
        policy = spec.get("restartPolicy", "Always")
        init_policy = "OnFailure" if policy == "Always" else policy
        for c in spec.get("initContainers") or []:
            slot = self._slot(sandbox, c["name"], "init")
            self._reconcile_slot(pod, sandbox, slot, c, init_policy, now, "initContainers", run_to_completion=True)
            inst = slot.current
            if not (inst is not None and not inst.running and inst.exit_code == 0):
                return  # the next init container (and the app containers) wait for this one
        for c in spec.get("containers") or []:
            slot = self._slot(sandbox, c["name"], "container")
            self._reconcile_slot(pod, sandbox, slot, c, policy, now, "containers")
        for c in spec.get("ephemeralContainers") or []:
            slot = self._slot(sandbox, c["name"], "ephemeral")
            if slot.spec_image and slot.spec_image != c.get("image"):
                continue  # ephemeral containers cannot change (§5.3)
            self._reconcile_slot(pod, sandbox, slot, c, "Never", now, "ephemeralContainers")

    @staticmethod
    def _slot(sandbox: PodSandbox, name: str, kind: str) -> ContainerSlot:
        slot = sandbox.slots.get(name)
        if slot is None:
            slot = sandbox.slots[name] = ContainerSlot(name=name, kind=kind)
        return slot

    def _reconcile_slot(self, pod, sandbox, slot: ContainerSlot, spec: dict, policy: str, now: float,
                        field: str, run_to_completion: bool = False) -> None:
        image = spec.get("image", "")
        field_path = f"spec.{field}{{{slot.name}}}"

        def event(etype, reason, message):
            self.events.pod_event(pod, etype, reason, message, host=sandbox.node, field_path=field_path)

        if slot.spec_image != image:
            if slot.spec_image:  # the image changed: restart in place (§5.2), once the old one has stopped
                if slot.current is not None and slot.current.running:
                    event("Normal", "Killing", f"Container {slot.name} definition changed, will be restarted")
                    slot.current.stop(self._grace(pod))
                slot.restart_requested = slot.current is not None
            slot.spec_image = image
            slot.waiting = None
            slot.next_attempt_at = None
            slot.backoff_shown_at = None
            slot.pull_failures = 0
            slot.crash_count = 0

        inst = slot.current
        if inst is not None and inst.running:
            return
        if inst is not None and slot.restart_requested:
            slot.restart_requested = False
            self._discard(slot.previous)
            slot.previous, slot.current, inst = inst, None, None
        if inst is not None:  # exited
            restart = policy == "Always" or (policy == "OnFailure" and inst.exit_code != 0)
            if not restart:
                return
            self._discard(slot.previous)
            slot.previous, slot.current = inst, None
            if slot.crash_count > 0:
                base = float(_option(self.options, "crash_backoff_base", 10.0))
                backoff = min(base * (2 ** (slot.crash_count - 1)), MAX_BACKOFF)
                slot.crash_count += 1
                slot.next_attempt_at = (inst.finished_at or now) + backoff
                slot.waiting = ("CrashLoopBackOff", f"back-off {_fmt_duration(backoff)} restarting failed "
                                f"container={slot.name} pod={sandbox.name}_{sandbox.namespace}({sandbox.uid})")
                event("Warning", "BackOff", f"Back-off restarting failed container {slot.name} in pod "
                      f"{sandbox.name}_{sandbox.namespace}({sandbox.uid})")
                return
            slot.crash_count = 1   # the first restart is immediate; later ones back off
        if slot.waiting and slot.waiting[0] == "ErrImagePull" and slot.backoff_shown_at and \
                now >= slot.backoff_shown_at:
            slot.waiting = ("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: '
                            f'{slot.waiting[1]}')
            slot.backoff_shown_at = None
            event("Normal", "BackOff", f'Back-off pulling image "{image}"')
            event("Warning", "Failed", "Error: ImagePullBackOff")
        if slot.next_attempt_at is not None and now < slot.next_attempt_at:
            return
        self._start(pod, sandbox, slot, spec, now, event, run_to_completion)

    def _start(self, pod, sandbox, slot: ContainerSlot, spec: dict, now: float, event, run_to_completion) -> None:
        image = spec.get("image", "")
        try:
            ref = parse_image(image)
        except InvalidImageName as exc:
            slot.waiting = ("InvalidImageName", f'Failed to apply default image tag "{image}": {exc}')
            event("Warning", "InspectFailed", f'Failed to apply default image tag "{image}": {exc}')
            event("Warning", "Failed", "Error: InvalidImageName")
            slot.next_attempt_at = None
            return
        present = (sandbox.node, ref.normalized) in self._pulled
        if not ref.pullable:
            event("Normal", "Pulling", f'Pulling image "{image}"')
            host = ref.registry
            message = (f'rpc error: code = Unknown desc = failed to pull and unpack image "{ref.normalized}": '
                       f'failed to resolve reference "{ref.normalized}": failed to do request: Head '
                       f'"https://{host}/v2/{ref.repository}/manifests/{ref.tag or ref.digest}": dial tcp: '
                       f'lookup {host.split(":")[0]}: no such host')
            event("Warning", "Failed", f'Failed to pull image "{image}": {message}')
            event("Warning", "Failed", "Error: ErrImagePull")
            slot.pull_failures += 1
            base = float(_option(self.options, "image_pull_backoff_base", 10.0))
            slot.waiting = ("ErrImagePull", message)
            slot.backoff_shown_at = now + ERR_IMAGE_PULL_HOLD
            slot.next_attempt_at = now + min(base * (2 ** (slot.pull_failures - 1)), MAX_BACKOFF)
            return
        policy = spec.get("imagePullPolicy") or "IfNotPresent"
        if present and policy != "Always":
            event("Normal", "Pulled", f'Container image "{image}" already present on machine')
        else:
            event("Normal", "Pulling", f'Pulling image "{image}"')
            size = 10_000_000 + int(ref.image_id[-6:], 16) % 90_000_000
            event("Normal", "Pulled", f'Successfully pulled image "{image}" in 12ms (12ms including waiting). '
                                      f'Image size: {size} bytes.')
            self._pulled.add((sandbox.node, ref.normalized))
        argv = self._command(spec, ref, run_to_completion)
        if argv is not None:
            if not self._prepare_volumes(pod, sandbox, slot, now, event):
                return
            if len(self.command_instances) >= self.max_processes:
                self._waiting_for_process.add((sandbox.namespace, sandbox.name))
                message = (f"kubesim: {len(self.command_instances)} container processes are running, the cap set "
                           f"by --max-container-processes; container {slot.name} waits for one to end")
                if slot.waiting is None or slot.waiting[0] != "CreateContainerError":
                    event("Warning", "Failed", f"Error: {message}")
                slot.waiting = ("CreateContainerError", message)
                return
        had_instance = slot.previous is not None or slot.current is not None
        if slot.current is not None:
            self._discard(slot.previous)
            slot.previous = slot.current
        meta = pod["metadata"]

        def describe(ref=ref, container=slot.name):
            return {"pod": meta["name"], "namespace": meta["namespace"], "container": container,
                    "image": ref.original, "tag": ref.tag or ref.digest, "podIP": sandbox.ip, "node": sandbox.node}

        launcher = self._launcher(pod, sandbox, slot, spec, argv) if argv is not None else None
        inst = ContainerInstance(slot, ref, spec, describe, lambda done: self._exited(sandbox, done), launcher,
                                 jvm=ref.kind == JAVA and argv is not None and not self._spec_argv(spec))
        if argv is not None:
            self.command_instances.add(inst)
        slot.current = inst
        slot.waiting = None
        slot.next_attempt_at = None
        slot.backoff_shown_at = None
        slot.pull_failures = 0
        slot.image_id = ref.image_id
        if had_instance:
            slot.restart_count += 1
        event("Normal", "Created", f"Created container: {slot.name}")
        event("Normal", "Started", f"Started container {slot.name}")
        if run_to_completion and ref.kind not in (CRASH, EXIT) and argv is None:
            inst.stop()              # an init container of a long-running image without a command "completes"
            inst.exit_code, inst.reason = 0, "Completed"
            return
        probe = spec.get("readinessProbe") or {}
        delay = float(_option(self.options, "readiness_delay", 0.2))
        try:
            delay += float(probe.get("initialDelaySeconds") or 0)
        except (TypeError, ValueError):
            pass
        slot.ready_at = now + delay

    # ------------------------------------------------------------------------------------------ processes
    @staticmethod
    def _spec_argv(spec: dict) -> list[str]:
        return [str(a) for a in list(spec.get("command") or []) + list(spec.get("args") or [])]

    def _command(self, spec: dict, ref, init: bool = False) -> list[str] | None:
        """The argv a container of this image runs for real, or None (simulated). The images kubesim does not
        simulate, kubesim/jattach and kubesim/java run `command` + `args` (their entrypoint is unknown or none, so
        `args` alone are the command, as for the base images whose default is a shell); kubesim/java without
        either runs its JVM (jvm.py; an init container of it completes at once, as before); the other kubesim/*
        images and containers without either stay simulated."""
        argv = self._spec_argv(spec)
        if ref.kind in (QUIET, JATTACH, JAVA) and argv:
            return argv
        if ref.kind != JAVA or init:
            return None
        env = container_env(spec)
        main = "/app/app.jar"
        first = env.get("KUBESIM_JVMS", "").split(",")[0].strip().partition("=")
        if first[0] == "1" and first[2]:
            main = first[2]
        options = [] if env.get("KUBESIM_EXIT_ON_OOM", "true").lower() == "false" else ["-XX:+ExitOnOutOfMemoryError"]
        home = isolation.JAVA_HOME if self.isolated else self.tool_dirs[ref.tools]
        return jvm_command(home, options, main, java_release(ref.tag))

    @staticmethod
    def _grace(pod: dict) -> float:
        meta, spec = pod["metadata"], pod["spec"]
        value = meta.get("deletionGracePeriodSeconds")
        if value is None:
            value = spec.get("terminationGracePeriodSeconds")
        return DEFAULT_GRACE if value is None else float(value)

    def _prepare_volumes(self, pod, sandbox: PodSandbox, slot: ContainerSlot, now: float, event) -> bool:
        """The pod's volumes, set up once; a missing ConfigMap/Secret keeps the container in ContainerCreating
        with FailedMount events and is retried, as the kubelet's volume manager does."""
        if sandbox.volume_paths is not None:
            return True
        try:
            sandbox.volume_paths = prepare_volumes(self.store, pod, os.path.join(sandbox.directory, "volumes"),
                                                   self.isolated)
        except VolumeError as exc:
            isolation.remove_tree(os.path.join(sandbox.directory, "volumes"))
            event("Warning", "FailedMount", f"MountVolume.SetUp failed: {exc}")
            slot.waiting = ("ContainerCreating", "")
            slot.next_attempt_at = now + MOUNT_RETRY
            return False
        return True

    def instance_root(self, pod: dict, sandbox: PodSandbox, inst: ContainerInstance, spec: dict) -> str | None:
        """The root filesystem of a container instance, built on first use (its command, or the first exec into
        a container without one); None with --no-isolation."""
        if not self.isolated:
            return None
        if inst.root is None:
            if sandbox.volume_paths is None:
                sandbox.volume_paths = prepare_volumes(self.store, pod, os.path.join(sandbox.directory, "volumes"),
                                                       True)
            inst.directory = os.path.join(sandbox.directory, "containers", inst.slot.name, inst.container_id[-12:])
            inst.root = isolation.build_root(
                inst.directory, hostname=pod["spec"].get("hostname") or pod["metadata"]["name"], pod_ip=sandbox.ip,
                volume_mounts=container_mounts(spec, sandbox.volume_paths), image_dirs=self._image_dirs(inst.image),
                working_dir=spec.get("workingDir") or "/")
        return inst.root

    def _image_dirs(self, ref) -> list[tuple[str, str]]:
        """(directory on the machine, where the image has it) of the image's own files."""
        places = {JAVA: isolation.JAVA_HOME, JAVA_JRE: isolation.JAVA_HOME, JATTACH: isolation.JATTACH_BIN}
        dirs = [(self.tool_dirs[ref.tools], places[ref.tools])] if ref.tools in places else []
        if NETWORK in self.tool_dirs:
            dirs.append((self.tool_dirs[NETWORK], isolation.KUBESIM_BIN))
        return dirs

    def _image_path(self, ref, root: str | None) -> str:
        """The image's PATH: its own tool directory first, then the base image's."""
        if ref.tools in (JAVA, JAVA_JRE):
            return (isolation.JAVA_HOME_BIN if root else os.path.join(self.tool_dirs[ref.tools], "bin")) + ":" + \
                HOST_PATH
        if ref.tools == JATTACH:
            return (isolation.JATTACH_BIN if root else self.tool_dirs[JATTACH]) + ":" + HOST_PATH
        return HOST_PATH

    def process_isolation(self, pod: dict, sandbox: PodSandbox, inst: ContainerInstance, spec: dict,
                          main: bool) -> dict:
        """spawn()'s `pidns` and `user` for a process of this container (its main process, or an exec).

        PID namespaces, as containerd gives them: a kubesim/java container's main process is pid 1 of a namespace
        of its own; an ephemeral container's joins its targetContainerName's namespace (a target without one
        keeps it on the machine's process table, as the target is; no target: a namespace of its own), as does
        everything exec'd into a container that has one. Containers of the other images keep the machine's
        process table (no namespace). The user: runAsUser/runAsGroup of the container,
        else of the pod (default root), for kubesim/java, kubesim/jattach and ephemeral containers."""
        if not self.isolated:
            return {}
        plan = {}
        if not main:
            if inst.pid_namespace is not None:
                plan["pidns"] = inst.pid_namespace
            elif inst.init_pid is not None:   # its namespace ended with its main process
                raise StartError("SETUP", "cannot exec in a stopped container")
        elif inst.slot.kind == "ephemeral":
            name = spec.get("targetContainerName")
            target = sandbox.slots.get(name) if name else None
            joined = target.current if target is not None else None
            if joined is not None and joined.pid_namespace is not None and joined.running:
                plan["pidns"] = joined.pid_namespace
            elif not name:
                plan["pidns"] = "new"
            # a target without a namespace (kubesim/web, quiet: no process) leaves it the machine's, as theirs
        elif inst.image.kind == JAVA:
            plan["pidns"] = "new"
        if inst.slot.kind == "ephemeral" or inst.image.kind in (JAVA, JATTACH):
            plan["user"] = self._run_as(pod, spec)
        return plan

    @staticmethod
    def _run_as(pod: dict, spec: dict) -> list:
        """[uid, gid, supplementary groups] from the container's securityContext, else the pod's."""
        container = spec.get("securityContext") or {}
        pod_context = pod["spec"].get("securityContext") or {}

        def pick(key):
            value = container.get(key)
            return pod_context.get(key) if value is None else value
        uid, gid = int(pick("runAsUser") or 0), int(pick("runAsGroup") or 0)
        groups = [gid] + [int(g) for g in pod_context.get("supplementalGroups") or []]
        if pod_context.get("fsGroup") is not None:
            groups.append(int(pod_context["fsGroup"]))
        return [uid, gid, sorted(set(groups))]

    def process_plan(self, pod: dict, sandbox: PodSandbox, inst: ContainerInstance, spec: dict,
                     tty: bool = False) -> tuple[dict, str | None, str]:
        """(env, root, working directory) of a process in this container: its command or an exec. The env is the
        image's (PATH) and the runtime's (HOSTNAME, HOME), then the container's own (env, envFrom), so a PATH in
        the pod spec decides which binaries run."""
        root = self.instance_root(pod, sandbox, inst, spec)
        path = self._image_path(inst.image, root)
        network_tools = self.tool_dirs.get(NETWORK)
        if network_tools:   # last: it shadows nothing of the image's
            path += ":" + (isolation.KUBESIM_BIN if root else network_tools)
        env = {"PATH": path, "HOSTNAME": pod["spec"].get("hostname") or pod["metadata"]["name"],
               "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "LANG": "C.UTF-8"}
        if inst.image.kind == JAVA:
            env["JAVA_HOME"] = isolation.JAVA_HOME if root else self.tool_dirs[inst.image.tools]
        if root:
            env["HOME"] = "/root"
            cwd = spec.get("workingDir") or "/"
        else:
            cwd = sandbox.container_dir(inst.slot.name)
            env.update(HOME=os.path.join(cwd, "root"), TMPDIR=os.path.join(cwd, "tmp"))
        if tty:
            env["TERM"] = "xterm"
        env.update(container_environment(self.store, pod, spec))
        return env, root, cwd

    def _launcher(self, pod: dict, sandbox: PodSandbox, slot: ContainerSlot, spec: dict, argv: list[str]):
        async def launch(inst: ContainerInstance) -> ContainerProcess:
            env, root, cwd = self.process_plan(pod, sandbox, inst, spec)
            command = [expand(a, env) for a in argv]   # $(VAR) in command and args, as the kubelet expands them
            # stdin: true keeps the container's stdin open (a `sh` waits on it, as under a runtime; attach
            # writes to it); otherwise it reads /dev/null.
            stdin = asyncio.subprocess.PIPE if spec.get("stdin") else None
            proc = await spawn(command, env=env, root=root, cwd=cwd, stdin=stdin, stdout=asyncio.subprocess.PIPE,
                               stderr=asyncio.subprocess.PIPE, registry=self.process_pids,
                               owner=(sandbox.namespace, sandbox.name, sandbox.uid),
                               hold_signals=inst.jvm, **self.process_isolation(pod, sandbox, inst, spec, main=True))
            if proc.kubesim_child_pid is not None and inst.running:
                inst.init_pid = proc.kubesim_child_pid
                inst.pid_namespace = pid_namespace(proc)
                if inst.jvm:
                    await jvm_started(proc, inst.init_pid)
            self.mark_dirty(sandbox.namespace, sandbox.name)   # it runs: it can be Ready now
            return ContainerProcess(proc, inst.log.write, self.process_pids)
        return launch

    def _exited(self, sandbox: PodSandbox, inst: ContainerInstance) -> None:
        self.command_instances.discard(inst)
        if inst.exit_code and inst.runs_command and inst.reason == "StartError":
            pod = self.store.get("pods", sandbox.namespace, sandbox.name)
            if pod is not None:
                self.events.pod_event(pod, "Warning", "Failed", f"Error: {inst.message}", host=sandbox.node,
                                      field_path=self._field_path(pod, inst.slot.name))
        waiting, self._waiting_for_process = self._waiting_for_process, set()
        for key in waiting:
            self.mark_dirty(*key)
        self.mark_dirty(sandbox.namespace, sandbox.name)

    @staticmethod
    def _field_path(pod: dict, name: str) -> str:
        for field in ("initContainers", "containers", "ephemeralContainers"):
            if any(c.get("name") == name for c in pod["spec"].get(field) or []):
                return f"spec.{field}{{{name}}}"
        return ""

    @staticmethod
    def _discard(inst: ContainerInstance | None) -> None:
        """An instance nobody can see any more (neither current nor previous): its files go."""
        if inst is not None and inst.directory and not inst.running:
            isolation.remove_tree(inst.directory)
