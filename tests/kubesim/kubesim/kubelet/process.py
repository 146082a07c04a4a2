"""Container processes: the container's own command and every exec, started through sandbox_exec.py in the
container's root (isolation.py), in a process group of their own.

- The command's stdout and stderr go into the instance's log line by line, each line stamped when it was read
  (what `kubectl logs --timestamps` shows); a line longer than 16 KiB is cut there, as the CRI log splits it.
- When the main process exits, whatever it left running in its process group is killed, as the runtime does
  when a container's init process exits (a container without a PID namespace has no kernel to do it for us).
- ``pidns``: "new" makes the command pid 1 of a PID namespace of its own; a file descriptor (held open by the
  caller) joins that namespace. sandbox_exec.py then stays as the relay (the pid kubesim waits for, the process
  group leader) and reports the command's pid on the machine: ``proc.kubesim_child_pid``; ``pid_namespace()``
  opens the namespace for later joins.
- Stop: SIGTERM to the group, SIGKILL after the grace period (exit code 143, or 137 when it had to be killed).
- A command that cannot start (not found, not executable) is a StartError with exit code 128 and the runtime's
  message, as containerd reports it.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_exec.py")
MAX_LINE = 16 * 1024   # the CRI log splits longer lines (partial lines)
_PID_LINE = re.compile(r"PID ([0-9]+)\n")


class StartError(Exception):
    """The command did not start; `message` is the runtime's text, `reason` ENOENT/EACCES/SETUP."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def start_error(command: list[str], status: str) -> StartError:
    reason, _, detail = status.partition(" ")
    what = {"ENOENT": "executable file not found in $PATH", "EACCES": "permission denied"}.get(reason, detail)
    return StartError(reason, f'exec: "{command[0] if command else ""}": {what}')


async def _read_status(fd: int) -> str:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                os.fdopen(fd, "rb", 0))
    try:
        return (await reader.read()).decode("utf-8", "replace")
    finally:
        transport.close()


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def spawn(command: list[str], *, env: dict, root: str | None, cwd: str, stdin=None, stdout=None,
                stderr=None, registry: dict | None = None, owner: tuple | None = None, pidns: str | int | None = None,
                user: list | None = None, hold_signals: bool = False) -> asyncio.subprocess.Process:
    """Start `command` in the container (root None: on the machine, in `cwd`). Raises StartError. `registry`
    ({pid: process}) holds it while it runs, so that everything can be ended when kubesim stops. `owner`
    ((namespace, pod name, pod uid)) becomes `proc.kubesim_owner` before the command can run: the pod network
    finds a connecting process's pod by its session (this process: a session leader)."""
    if not command:
        raise StartError("ENOENT", 'exec: "": executable file not found in $PATH')
    read_fd, write_fd = os.pipe()
    config = {"root": root, "cwd": cwd, "status_fd": write_fd}
    pass_fds = [write_fd]
    if isinstance(pidns, int):
        pidns = os.dup(pidns)   # the caller's descriptor may be closed while this one is still in use
        config["pidns"] = f"/proc/self/fd/{pidns}"
        pass_fds.append(pidns)
    elif pidns:
        config["pidns"] = pidns
    if user is not None:
        config["user"] = user
    if hold_signals:
        config["hold_signals"] = True
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", HELPER, json.dumps(config), *command, env=env, cwd="/",
            start_new_session=True, pass_fds=pass_fds, stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=stdout if stdout is not None else asyncio.subprocess.DEVNULL,
            stderr=stderr if stderr is not None else asyncio.subprocess.DEVNULL)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        for fd in pass_fds:
            os.close(fd)
    proc.kubesim_owner = owner
    if registry is not None:
        registry[proc.pid] = proc
    try:
        status = await _read_status(read_fd)
    except BaseException:   # cancelled while starting: the process must not outlive its caller
        signal_group(proc.pid, signal.SIGKILL)
        if registry is not None:
            registry.pop(proc.pid, None)
        raise
    proc.kubesim_child_pid, status = split_child_pid(status)
    if status:
        await proc.wait()
        if registry is not None:
            registry.pop(proc.pid, None)
        raise start_error(command, status)
    return proc


def split_child_pid(status: str) -> tuple[int | None, str]:
    """(the relay's `PID <n>` line, the rest: the child's failure). Both are single small writes to the pipe,
    each atomic, in either order (a command that is not found can fail before the relay has written)."""
    match = _PID_LINE.match(status) or _PID_LINE.search(status, max(len(status) - 40, 0))
    if match is None or (match.start() and match.end() != len(status)):
        return None, status
    return int(match.group(1)), status[:match.start()] + status[match.end():]


def pid_namespace(proc: asyncio.subprocess.Process) -> int | None:
    """A descriptor of the PID namespace a spawn(pidns=...) process runs its command in (the relay's
    pid_for_children; the relay is kubesim's child, so its pid cannot be reused before kubesim reaps it), or
    None when it has already ended."""
    try:
        return os.open(f"/proc/{proc.pid}/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def exit_code(returncode: int) -> int:
    """A signal death (-N from asyncio) is reported as 128+N, as the runtime does."""
    return 128 - returncode if returncode < 0 else returncode


async def pump_lines(stream: asyncio.StreamReader, write) -> None:
    """Feed `write` whole lines (at most MAX_LINE bytes each) as they arrive; the rest at EOF."""
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        pending += chunk
        while True:
            cut = pending.find(b"\n", 0, MAX_LINE)
            if cut < 0 and len(pending) < MAX_LINE:
                break
            end = cut + 1 if cut >= 0 else MAX_LINE
            write(pending[:end])
            pending = pending[end:]
    if pending:
        write(pending)


async def exited(proc: asyncio.subprocess.Process) -> None:
    """Return once `proc` itself has exited. asyncio's Process.wait() also waits until the process's pipes have
    closed (Python 3.11 wakes its waiters in connection_lost), and a process the main one left behind in its group
    holds them open: the group would then be ended only by the grace period's SIGKILL. A pidfd becomes readable
    when the process exits, whoever holds its pipes."""
    if proc.returncode is not None:
        return
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:   # exited and reaped already
        return
    except OSError:   # no pidfd on this kernel: the pipes' end is the signal
        await proc.wait()
        return
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
    try:
        await gone
    finally:
        loop.remove_reader(fd)
        os.close(fd)


class ContainerProcess:
    """The main process of one container instance."""

    def __init__(self, proc: asyncio.subprocess.Process, write_log, registry: dict):
        self.proc = proc
        self.pid = proc.pid
        self._registry = registry
        self._pumps = [asyncio.ensure_future(pump_lines(s, write_log)) for s in (proc.stdout, proc.stderr) if s]
        self._kill_handle: asyncio.TimerHandle | None = None
        self.stopping = False

    async def wait(self) -> int:
        """Wait for the main process, end its group, drain the output; the container's exit code."""
        try:
            await exited(self.proc)
        finally:
            signal_group(self.pid, signal.SIGKILL)
            if self._kill_handle is not None:
                self._kill_handle.cancel()
        code = await self.proc.wait()   # the group is gone: its pipes close
        await asyncio.gather(*self._pumps, return_exceptions=True)
        self._registry.pop(self.pid, None)
        return exit_code(code)

    def stop(self, grace: float) -> None:
        """SIGTERM now, SIGKILL after `grace` seconds if it is still there."""
        if self.proc.returncode is not None:
            return
        self.stopping = True
        signal_group(self.pid, signal.SIGTERM)
        if self._kill_handle is None:
            self._kill_handle = asyncio.get_running_loop().call_later(
                max(grace, 0.0), signal_group, self.pid, signal.SIGKILL)

    def kill(self) -> None:
        signal_group(self.pid, signal.SIGKILL)


def close_transport(proc: asyncio.subprocess.Process) -> None:
    """Release a finished process's pipes now (a transport left to the garbage collector after the loop has
    closed complains on stderr)."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()
