"""The simulated container runtime: pod sandboxes, container slots and container instances.

A *slot* is one container name of a pod (regular, init or ephemeral) and lives as long as the pod. Each start
creates a new *instance* (a new containerID, its own log); the previous instance is kept for `logs --previous`
and `lastState`. Nothing here writes to the API: the Kubelet component turns this state into pod status.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field

from kubesim.kubelet.images import CRASH, EXIT, JAVA, WEB, ImageRef
from kubesim.kubelet.isolation import remove_tree
from kubesim.kubelet.logbuffer import LogBuffer
from kubesim.kubelet.process import StartError
from kubesim.kubelet.webserver import ContainerHttpServer

DEFAULT_WEB_PORT = 8080


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def container_env(spec: dict) -> dict[str, str]:
    """The literal env of a container spec (valueFrom is resolved by the caller that has the store)."""
    return {e["name"]: str(e.get("value", "")) for e in spec.get("env") or [] if "valueFrom" not in e}


class ContainerInstance:
    """One run of a container: what `containerID` names."""

    def __init__(self, slot: "ContainerSlot", image: ImageRef, spec: dict, describe, on_exit, launcher=None,
                 jvm: bool = False):
        self.slot = slot
        self.image = image
        self.spec = spec
        self.container_id = "containerd://" + secrets.token_hex(32)
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.exit_code: int | None = None
        self.reason = ""
        self.message = ""
        self.log = LogBuffer()
        self.directory: str | None = None     # this instance's own files (its root filesystem), when it has any
        self.root: str | None = None          # its root, once built (isolation.py)
        self.process = None                   # the ContainerProcess of a container that runs its command
        self.jvm = jvm                        # its command is kubesim/java's JVM (container_tools/jvm.py)
        self.init_pid: int | None = None      # its command's pid on the machine, when it has a PID namespace
        self.pid_namespace: int | None = None  # a descriptor of that namespace (what execs join), while it runs
        self.servers: dict[int, ContainerHttpServer] = {}
        self._task: asyncio.Task | None = None
        self._started = asyncio.Event()        # set once its command runs (or could not start), or at once
        self._stop_grace: float | None = None
        self._on_exit = on_exit
        if launcher is not None:
            self._task = asyncio.get_running_loop().create_task(self._run_process(launcher))
        else:
            self._started.set()
        if image.kind == WEB or jvm:   # a JVM's HTTP server stays in kubesim; its process is the launcher's
            ports = [p["containerPort"] for p in spec.get("ports") or []
                     if p.get("protocol", "TCP") == "TCP" and isinstance(p.get("containerPort"), int)]
            on_oom = self._out_of_memory if image.kind == JAVA else None
            for port in ports or [DEFAULT_WEB_PORT]:
                self.servers[port] = ContainerHttpServer(port, describe, self.log.write, on_oom)
            self.log.write(f"kubesim {image.kind} server {image.tag} listening on "
                           f"{', '.join(':%d' % p for p in self.servers)}\n")
            if image.kind == JAVA:
                self.log.write("Started Application in 1.234 seconds (process running for 1.6)\n")
        elif image.kind in (CRASH, EXIT):
            self._task = asyncio.get_running_loop().create_task(self._run_to_exit(container_env(spec)))

    @property
    def running(self) -> bool:
        return self.exit_code is None

    def _out_of_memory(self) -> None:
        """kubesim/java after a request for /kubesim/oom: the trace a JVM logs when it cannot start a thread, then,
        as with -XX:+ExitOnOutOfMemoryError (what container images usually set), exit code 3 and a restart by
        the kubelet. KUBESIM_EXIT_ON_OOM=false keeps it running, answering 500 to that path each time."""
        if not self.running:
            return
        self.log.write('Exception in thread "http-nio-8080-exec-7" java.lang.OutOfMemoryError: unable to create '
                       'native thread: possibly out of memory or process/resource limits reached\n')
        for frame in ("java.base/java.lang.Thread.start0(Native Method)",
                      "java.base/java.lang.Thread.start(Thread.java:1553)",
                      "org.apache.tomcat.util.threads.ThreadPoolExecutor.addWorker(ThreadPoolExecutor.java:906)"):
            self.log.write("\tat %s\n" % frame)
        if container_env(self.spec).get("KUBESIM_EXIT_ON_OOM", "true").lower() == "false":
            return
        self.log.write("Terminating due to java.lang.OutOfMemoryError: unable to create native thread\n")
        self._finish(3)
        if self.process is not None:   # the JVM process goes, and with it everything in its PID namespace
            self.process.kill()
        else:
            self._stop_grace = 0.0
        self._on_exit(self)

    async def _run_to_exit(self, env: dict) -> None:
        crash = self.image.kind == CRASH
        try:
            delay = float(env.get("KUBESIM_CRASH_AFTER_SECONDS", "0.1" if crash else "0.05"))
            code = int(env.get("KUBESIM_EXIT_CODE", "1" if crash else "0"))
        except ValueError:
            delay, code = 0.1, 1
        if crash:
            self.log.write(f"starting kubesim/crash {self.image.tag}\n")
            self.log.write("loading configuration from /etc/app/config.yaml\n")
            await asyncio.sleep(delay)
            self.log.write(f"fatal: cannot connect to database: connection refused (exit {code})\n")
        else:
            self.log.write(f"kubesim/exit {self.image.tag}: work done\n")
            await asyncio.sleep(delay)
        self._finish(code)
        self._on_exit(self)

    async def _run_process(self, launcher) -> None:
        """Start the command (launcher: the kubelet's, returns a ContainerProcess or raises StartError) and
        report its exit."""
        try:
            self.process = await launcher(self)
            self._started.set()
            if self._stop_grace is not None:   # stopped while it was starting
                self.process.stop(self._stop_grace)
        except StartError as exc:
            self._finish(128, "StartError", f"failed to create containerd task: failed to create shim task: OCI "
                                            f"runtime create failed: runc create failed: unable to start container "
                                            f"process: {exc.message}: unknown")
        except asyncio.CancelledError:
            self._finish(137)
            raise
        except Exception as exc:   # a setup failure (mounts, volumes) is the container's start error, not ours
            self._finish(128, "StartError", f"failed to create containerd task: {exc}")
        else:
            self._finish(await self.process.wait())
        self._on_exit(self)

    def _finish(self, code: int, reason: str = "", message: str = "") -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.finished_at = time.time()
        self.reason = reason or ("Completed" if code == 0 else "Error")
        self.message = message
        self._started.set()
        self.log.close()
        if self.pid_namespace is not None:
            os.close(self.pid_namespace)
            self.pid_namespace = None
        for server in self.servers.values():
            asyncio.get_running_loop().create_task(server.close())

    @property
    def command_started(self) -> bool:
        """Its command runs (a container without one: always): before that it cannot be Ready."""
        return self._started.is_set()

    async def wait_started(self) -> None:
        """Until its command runs (an exec joins its PID namespace, which exists from then on)."""
        await self._started.wait()

    @property
    def runs_command(self) -> bool:
        return self._task is not None and self.image.kind not in (CRASH, EXIT)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM. A real command gets `grace` seconds before SIGKILL and reports its exit when it happens; the
        simulated processes exit at once (a JVM with 143, the others cleanly)."""
        if self.runs_command:
            if self.process is not None:
                self.process.stop(grace)
            else:
                self._stop_grace = grace   # still starting: stopped as soon as it runs (never left behind)
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._finish(143 if self.image.kind == JAVA else 0)

    async def wait_stopped(self) -> None:
        if self.runs_command and self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    def terminated_state(self) -> dict:
        state = {"containerID": self.container_id, "exitCode": self.exit_code, "finishedAt": iso(self.finished_at)}
        if self.message:
            state["message"] = self.message
        state.update(reason=self.reason, startedAt=iso(self.started_at))
        return {"terminated": state}


@dataclass
class ContainerSlot:
    name: str
    kind: str                                  # "container" | "init" | "ephemeral"
    spec_image: str = ""                       # the image this slot was last reconciled for
    current: ContainerInstance | None = None   # running, or terminated and not restarted
    previous: ContainerInstance | None = None  # the last terminated instance (lastState, logs --previous)
    restart_count: int = 0
    waiting: tuple[str, str] | None = None     # (reason, message) while not running
    ready_at: float | None = None
    next_attempt_at: float | None = None       # pull retry or crash-loop restart
    backoff_shown_at: float | None = None      # when ErrImagePull turns into ImagePullBackOff
    pull_failures: int = 0
    crash_count: int = 0
    restart_requested: bool = False             # the spec changed: start again once the old instance stopped
    image_id: str = ""


@dataclass
class PodSandbox:
    uid: str
    namespace: str
    name: str
    node: str
    ip: str
    host_ip: str
    directory: str
    sandbox_id: str = field(default_factory=lambda: secrets.token_hex(32))
    start_time: float = field(default_factory=time.time)
    slots: dict[str, ContainerSlot] = field(default_factory=dict)
    terminating: bool = False
    volume_paths: dict | None = None           # volumes.prepare_volumes(), once a container needed them
    evicted: str | None = None                 # the eviction message, once the kubelet evicted it (eviction.py)
    wake_handle: asyncio.TimerHandle | None = None

    def container_dir(self, container: str) -> str:
        """The per-container sandbox: the working directory, HOME and TMPDIR of exec."""
        path = os.path.join(self.directory, container)
        for sub in ("root", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        return path

    def server_for_port(self, port: int) -> ContainerHttpServer | None:
        for slot in self.slots.values():
            inst = slot.current
            if inst is not None and inst.running and port in inst.servers:
                return inst.servers[port]
        return None

    def stop_all(self, grace: float = 30.0) -> None:
        for slot in self.slots.values():
            if slot.current is not None and slot.current.running:
                slot.current.stop(grace)
        if self.wake_handle is not None:
            self.wake_handle.cancel()

    def instances(self):
        for slot in self.slots.values():
            for inst in (slot.current, slot.previous):
                if inst is not None:
                    yield inst

    def remove_files(self) -> None:
        remove_tree(self.directory)
