"""The simulated container runtime: pod sandboxes, container slots and container instances.

A *slot* is one container name of a pod (regular, init or ephemeral) and lives as long as the pod. Each start
creates a new *instance* (a new containerID, its own log); the previous instance is kept for `logs --previous`
and `lastState`. Nothing here writes to the API: the Kubelet component turns this state into pod status.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field

from kubesim.kubelet.images import CRASH, EXIT, JAVA, WEB, ImageRef
from kubesim.kubelet.logbuffer import LogBuffer
from kubesim.kubelet.webserver import ContainerHttpServer

DEFAULT_WEB_PORT = 8080


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def container_env(spec: dict) -> dict[str, str]:
    """The literal env of a container spec (valueFrom is resolved by the caller that has the store)."""
    return {e["name"]: str(e.get("value", "")) for e in spec.get("env") or [] if "valueFrom" not in e}


class ContainerInstance:
    """One run of a container: what `containerID` names."""

    def __init__(self, slot: "ContainerSlot", image: ImageRef, spec: dict, describe, on_exit):
        self.slot = slot
        self.image = image
        self.spec = spec
        self.container_id = "containerd://" + secrets.token_hex(32)
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.exit_code: int | None = None
        self.reason = ""
        self.log = LogBuffer()
        self.servers: dict[int, ContainerHttpServer] = {}
        self._task: asyncio.Task | None = None
        self._on_exit = on_exit
        if image.kind in (WEB, JAVA):
            ports = [p["containerPort"] for p in spec.get("ports") or []
                     if p.get("protocol", "TCP") == "TCP" and isinstance(p.get("containerPort"), int)]
            for port in ports or [DEFAULT_WEB_PORT]:
                self.servers[port] = ContainerHttpServer(port, describe, self.log.write)
            self.log.write(f"kubesim {image.kind} server {image.tag} listening on "
                           f"{', '.join(':%d' % p for p in self.servers)}\n")
            if image.kind == JAVA:
                self.log.write("Started Application in 1.234 seconds (process running for 1.6)\n")
        elif image.kind in (CRASH, EXIT):
            self._task = asyncio.get_running_loop().create_task(self._run_to_exit(container_env(spec)))

    @property
    def running(self) -> bool:
        return self.exit_code is None

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

    def _finish(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.finished_at = time.time()
        self.reason = "Completed" if code == 0 else "Error"
        self.log.close()
        for server in self.servers.values():
            asyncio.get_running_loop().create_task(server.close())

    def stop(self) -> None:
        """SIGTERM: the simulated processes exit at once (a JVM with 143, the others cleanly)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._finish(143 if self.image.kind == JAVA else 0)

    def terminated_state(self) -> dict:
        state = {"containerID": self.container_id, "exitCode": self.exit_code, "finishedAt": iso(self.finished_at),
                 "reason": self.reason, "startedAt": iso(self.started_at)}
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

    def stop_all(self) -> None:
        for slot in self.slots.values():
            if slot.current is not None and slot.current.running:
                slot.current.stop()
        if self.wake_handle is not None:
            self.wake_handle.cancel()

    def remove_files(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
