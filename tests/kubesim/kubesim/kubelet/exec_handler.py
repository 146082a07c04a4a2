"""`pods/exec` (spec §7): the command runs for real, as an asyncio subprocess, in the container's root
filesystem (isolation.py; built on the first exec into a container that runs no command of its own).

- working directory: the container's workingDir (default /); HOME=/root; PATH is the image's (kubesim/java:
  /opt/java/openjdk/bin first) unless the container's env sets one; then the container's env (env, envFrom,
  valueFrom) and HOSTNAME=<pod name>. With --no-isolation: the old per-container directory on the machine.
- output is streamed: a chunk is read from the process only after the previous one was handed to the websocket,
  so a command writing GiBs costs kubesim no more memory than a few chunks.
- PID namespace and user (kubelet.process_isolation): an exec into a container with a PID namespace (kubesim/java,
  ephemeral containers) joins it and runs as the container's user; into the other containers it sees the
  machine's process table, as root. No user namespace; a TTY is not a real pty (stderr is merged into stdout).
- protocol: websocket v5/v4/v1 (+ base64 variants) channel framing from channels.py, the initial empty frame on
  the lowest writable channel, the exit Status on channel 3, then the websocket closes.
"""
from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from kubesim import errors
from kubesim.kubelet import channels
from kubesim.kubelet.channels import CLOSE, ERROR, RESIZE, STDERR, STDIN, STDOUT
from kubesim.kubelet.lookup import container_spec, query_bool, resolve_container
from kubesim.kubelet.pod_handler import PodHandler
from kubesim.kubelet.process import StartError, exit_code, signal_group, spawn

log = logging.getLogger("kubesim.kubelet.exec")


def exit_status(command: list[str], code: int) -> dict:
    """What the kubelet writes on channel 3 (§7)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(command)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def internal_status(message: str) -> dict:
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def should_drop(cluster, ctx):
    """Ask the fault injector whether this stream is to be dropped mid-way: the firing rule (its `after_seconds`
    says when) or None."""
    faults = getattr(cluster, "faults", None)
    check = getattr(faults, "should_drop_stream", None)
    if check is None:
        return None
    try:
        return check(ctx)
    except Exception:
        log.exception("fault check failed")
        return None


def drop_now(request: web.BaseRequest, on_drop) -> None:
    """Reset the connection (no close frame, no status), as a broken network would."""
    on_drop()
    transport = request.transport
    if transport is not None:
        transport.abort()


async def flushed(request: web.BaseRequest, limit: float = 1.0) -> None:
    """Wait (at most `limit` seconds) until what was sent left the process: abort() discards the write buffer,
    and a cut after N bytes must deliver those N bytes."""
    transport = request.transport
    deadline = asyncio.get_running_loop().time() + limit
    while transport is not None and transport.get_write_buffer_size() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)


async def drop_later(request: web.BaseRequest, decision, on_drop) -> None:
    """drop_now() once the rule's `after_seconds` have passed."""
    delay = float(getattr(decision, "after_seconds", 0) or 0)
    await asyncio.sleep(delay)
    drop_now(request, on_drop)


class ExecHandler(PodHandler):
    def prepare(self, ctx):
        """Validation before the upgrade: errors are plain HTTP Status responses (§6)."""
        pod = self.scheduled_pod(ctx)
        query = ctx.query
        container = resolve_container(pod, query.get("container"))
        command = query.getall("command", [])
        if not command:
            raise errors.bad_request("you must specify at least 1 command")
        stdin = query_bool(query, "stdin")
        stdout = query_bool(query, "stdout", True)
        stderr = query_bool(query, "stderr", True)
        tty = query_bool(query, "tty")
        if not (stdin or stdout or stderr):
            raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise errors.bad_request(f"cannot exec into a container in a completed pod; current phase is {phase}")
        sandbox = self.kubelet.sandbox_for(ctx.namespace, ctx.name, pod["metadata"].get("uid"))
        slot = sandbox.slots.get(container) if sandbox else None
        if slot is None or slot.current is None or not slot.current.running:
            raise errors.bad_request(f'unable to upgrade connection: container not found ("{container}")')
        spec = container_spec(pod, container)
        try:
            env, root, cwd = self.kubelet.process_plan(pod, sandbox, slot.current, spec, tty)
        except (OSError, ValueError) as exc:   # ValueError: a bad mountPath, a volume that cannot be set up
            raise errors.internal(f"error preparing the container's filesystem: {exc}") from None
        return dict(command=command, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty, env=env, root=root,
                    cwd=cwd, owner=(sandbox.namespace, sandbox.name, sandbox.uid),
                    instance=slot.current,
                    isolation=lambda inst=slot.current: self.kubelet.process_isolation(pod, sandbox, inst, spec,
                                                                                       main=False))

    async def __call__(self, request: web.BaseRequest, ctx) -> web.StreamResponse:
        plan = self.prepare(ctx)
        if not channels.is_websocket_request(request):
            raise errors.bad_request("Upgrade request required")
        sock = await channels.upgrade(request, channels.EXEC_PROTOCOLS)
        try:
            await self._run(request, ctx, sock, **plan)
        finally:
            await sock.close()
        return sock.ws

    async def _run(self, request, ctx, sock: channels.ChannelSocket, command, stdin, stdout, stderr, tty, env,
                   root, cwd, owner=None, instance=None, isolation=dict):
        first = STDOUT if stdout else STDERR if stderr and not tty else ERROR
        await sock.send(first, b"")
        registry = self.kubelet.process_pids
        try:
            if instance is not None:
                await instance.wait_started()
            proc = await spawn(
                command, env=env, root=root, cwd=cwd, registry=registry, owner=owner, **isolation(),
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if stdout or (tty and stderr) else asyncio.subprocess.DEVNULL,
                stderr=(asyncio.subprocess.STDOUT if tty else asyncio.subprocess.PIPE) if stderr
                else asyncio.subprocess.DEVNULL)
        except StartError as exc:
            detail = (f'error executing command in container: failed to exec in container: failed to start exec: '
                      f'OCI runtime exec failed: exec failed: unable to start container process: {exc.message}: '
                      f'unknown')
            await sock.send_status(internal_status(detail))
            return

        def kill():
            signal_group(proc.pid, signal.SIGKILL)   # the whole group: what the command started goes too

        decision = should_drop(self.cluster, ctx)
        # A drop-stream rule with after_bytes cuts the connection once that much output went out (counted over
        # stdout and stderr): the cut lands at the same offset on a fast machine and a loaded one.
        byte_budget = [getattr(decision, "after_bytes", None) if decision else None]

        async def pump(stream, channel):
            while True:
                chunk = await stream.read(65536)
                if not chunk:
                    return
                if byte_budget[0] is not None:
                    if len(chunk) >= byte_budget[0]:
                        if byte_budget[0]:
                            await sock.send(channel, chunk[:byte_budget[0]])
                        await flushed(request)
                        drop_now(request, kill)
                        return
                    byte_budget[0] -= len(chunk)
                await sock.send(channel, chunk)

        async def read_client():
            while True:
                frame = await sock.receive()
                if frame is None:
                    return
                channel, data = frame
                if channel == STDIN and proc.stdin is not None and data:
                    try:
                        proc.stdin.write(data)
                        await proc.stdin.drain()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                elif channel == CLOSE and data[:1] == bytes([STDIN]) and proc.stdin is not None:
                    proc.stdin.close()
                elif channel == RESIZE:
                    pass  # no pty: nothing to resize

        pumps = []
        if proc.stdout is not None:
            pumps.append(asyncio.ensure_future(pump(proc.stdout, STDOUT if stdout else STDERR)))
        if proc.stderr is not None:
            pumps.append(asyncio.ensure_future(pump(proc.stderr, STDERR)))
        client = asyncio.ensure_future(read_client())
        dropper = None
        if decision and byte_budget[0] is None:
            dropper = asyncio.ensure_future(drop_later(request, decision, kill))
        finished = asyncio.ensure_future(self._wait_exit(proc, pumps))
        try:
            done, _ = await asyncio.wait({finished, client}, return_when=asyncio.FIRST_COMPLETED)
            if finished not in done:
                kill()  # the client went away: end the command, as the runtime does when the stream closes
                await finished
                return
            code = finished.result()
            await sock.send_status(exit_status(command, code))
        finally:
            kill()
            registry.pop(proc.pid, None)
            for task in (client, dropper, finished, *pumps):
                if task is not None and not task.done():
                    task.cancel()
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()

    @staticmethod
    async def _wait_exit(proc, pumps) -> int:
        if pumps:
            await asyncio.gather(*pumps, return_exceptions=True)
        return exit_code(await proc.wait())
