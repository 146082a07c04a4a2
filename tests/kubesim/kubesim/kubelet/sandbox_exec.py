"""The first program of every container process (the container's command and every exec): it enters the
container's root filesystem and then execs the command, so nothing of it stays in the process tree.

Run as ``python -I -S sandbox_exec.py CONFIG_JSON ARGV...`` (self-contained: `-I` keeps the package off
sys.path, and starting without `site` keeps it fast). CONFIG_JSON has:

- ``root``: the container's root directory, already a mount tree in kubesim's own mount namespace
  (isolation.py builds it), or null when kubesim runs with ``--no-isolation``;
- ``cwd``: the working directory inside that root (created when missing, as containerd does);
- ``status_fd``: a close-on-exec pipe: when the exec succeeds it just closes; when the command cannot start the
  reason is written there (``ENOENT``/``EACCES``/``SETUP <message>``) and this program exits 127;
- ``pidns`` (optional): ``"new"`` for a PID namespace of its own (the command is its pid 1), or the path of a
  namespace to join (``/proc/self/fd/N`` of a descriptor kubesim holds open);
- ``user`` (optional): ``[uid, gid, [supplementary gids]]`` the command runs as (default: kubesim's, root);
- ``hold_signals`` (optional): exec the command with SIGTERM, SIGINT, SIGHUP and SIGQUIT blocked, for a command that
  unblocks them once its handlers are in place (the JVM): as pid 1 of a namespace, a signal with no handler
  would be discarded, a blocked one waits.

With ``pidns``, this program enters the namespace (unshare or setns, which only its children feel), forks, and
stays as the *relay*: it writes ``PID <the child's pid on the machine>`` to status_fd, ignores the signals the
container's process group gets (they reach the child directly: kubesim signals the group), and exits with the
child's status (128+N for a signal). The child, in the namespace, continues with the steps below and mounts a
fresh proc of that namespace on the root's /proc before pivot_root, so /proc shows the namespace's processes
only. When pid 1 of a namespace exits, the kernel kills everything else in it.

Steps: die with kubesim (PR_SET_PDEATHSIG, so even a SIGKILLed kubesim leaves no container process behind), a
new mount namespace of its own whose mounts propagate nowhere, ``pivot_root`` into the container root and detach
the old root, so the machine's files are out of reach by path; then ``execvpe`` with the container's env, whose
PATH decides which binary runs (the container's PATH, not kubesim's).

The syscall wrappers here are also what isolation.py uses in the kubesim process.
"""
import ctypes
import json
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(value):
    return None if value is None else os.fsencode(value)


def mount(source, target, fstype=None, flags=0, data=None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           f"mount {source} on {target}")


def umount(target, flags=MNT_DETACH) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def unshare_mount_namespace() -> None:
    """A private mount namespace for the calling thread: mounts made from now on are seen by nobody else."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def enter_pid_namespace(spec: str) -> None:
    """The PID namespace the next child of the calling process is born in: a new one, or the one at a path."""
    if spec == "new":
        _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
        return
    fd = os.open(spec, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWPID), "setns(pid namespace)")
    finally:
        os.close(fd)


HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
GROUP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def fork_into_namespace(fd: int) -> None:
    """Fork; the parent relays the child's exit status and never returns, the child returns (in the namespace)."""
    for sig in GROUP_SIGNALS:   # before the fork: the child resets them before its exec
        signal.signal(sig, signal.SIG_IGN)
    child = os.fork()
    if child == 0:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)   # the relay's death ends the namespace
        return
    try:
        os.write(fd, b"PID %d\n" % child)
    finally:
        os.close(fd)   # the child's copy alone tells the exec's outcome
    _, status = os.waitpid(child, 0)
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


def mount_namespace_proc(root: str) -> None:
    """A proc of the caller's PID namespace on the root's /proc, in place of the machine's."""
    target = os.path.join(root, "proc")
    try:
        umount(target)
    except OSError:
        pass
    mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def switch_user(user) -> None:
    uid, gid, groups = int(user[0]), int(user[1]), [int(g) for g in (user[2] if len(user) > 2 else [])]
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)


def pivot_into(root: str) -> None:
    """Make `root` (a mount point) the process's `/` and detach the old root (the pivot_root(".", ".") way)."""
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(0, f"pivot_root: unknown syscall number on {os.uname().machine}")
    os.chdir(root)
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    umount(".", MNT_DETACH)
    os.chdir("/")


def _fail(fd: int, message: str) -> None:
    try:
        os.write(fd, message.encode("utf-8", "replace"))
    finally:
        os._exit(127)


def main(argv) -> None:
    config = json.loads(argv[1])
    command = argv[2:]
    fd = int(config["status_fd"])
    os.set_inheritable(fd, False)   # closed by a successful exec: the parent reads EOF
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:   # kubesim died before the prctl: do not run orphaned
            os._exit(137)
        root = config.get("root")
        pidns = config.get("pidns")
        if pidns:
            enter_pid_namespace(pidns)
            fork_into_namespace(fd)
        if root:
            unshare_mount_namespace()
            if pidns:
                mount_namespace_proc(root)
            pivot_into(root)
        cwd = config.get("cwd") or "/"
        os.makedirs(cwd, exist_ok=True)
        if config.get("user"):
            switch_user(config["user"])
        os.chdir(cwd)
    except OSError as exc:
        _fail(fd, f"SETUP {exc}")
    for sig in (signal.SIGPIPE, *GROUP_SIGNALS):
        signal.signal(sig, signal.SIG_DFL)
    if config.get("hold_signals"):
        signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    _fail(fd, exec_in_path(command, dict(os.environ)))


def exec_in_path(command, env) -> str:
    """execve the command, looked up in the env's PATH like runc does (a name with a slash is taken as is).
    Returns the failure (ENOENT/EACCES) only when nothing could be executed. Written out here because the
    stdlib's lookup imports modules lazily, and after pivot_root the stdlib is out of reach."""
    name = command[0]
    candidates = [name] if "/" in name else \
        [os.path.join(d or ".", name) for d in env.get("PATH", "").split(":")]
    failure = "ENOENT"
    for path in candidates:
        try:
            os.execve(path, command, env)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            failure = "EACCES"
        except OSError as exc:
            failure = f"SETUP {exc}"
    return failure


if __name__ == "__main__":
    main(sys.argv)
