"""The first program of every container process (the container's command and every exec): it enters the
container's root filesystem and then execs the command, so nothing of it stays in the process tree.

Run as ``python -I -S sandbox_exec.py CONFIG_JSON ARGV...`` (self-contained: `-I` keeps the package off
sys.path, and starting without `site` keeps it fast). CONFIG_JSON has:

- ``root``: the container's root directory, already a mount tree in kubesim's own mount namespace
  (isolation.py builds it), or null when kubesim runs with ``--no-isolation``;
- ``cwd``: the working directory inside that root (created when missing, as containerd does);
- ``status_fd``: a close-on-exec pipe: when the exec succeeds it just closes; when the command cannot start the
  reason is written there (``ENOENT``/``EACCES``/``SETUP <message>``) and this program exits 127.

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
        if root:
            unshare_mount_namespace()
            pivot_into(root)
        cwd = config.get("cwd") or "/"
        os.makedirs(cwd, exist_ok=True)
        os.chdir(cwd)
    except OSError as exc:
        _fail(fd, f"SETUP {exc}")
    for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
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
