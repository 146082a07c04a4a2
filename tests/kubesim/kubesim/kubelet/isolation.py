"""Each container's root filesystem of its own, as a container runtime gives it (spec §5.2: a container sees its
image's files plus its volumes, never the node's).

kubesim first moves itself into a mount namespace of its own (private propagation): every mount made here is
invisible on the machine and disappears with the kubesim process, even when it is killed. In it, a container
instance gets a root directory on disk (its writable layer: a restart starts from a fresh one, as a new container
does) with, mounted into it:

- the machine's system directories ``/usr`` (and ``/bin``, ``/lib``... as directories or the same symlinks),
  read-only: they play the image's files; a JDK the machine has in /usr/lib/jvm is hidden (an empty tmpfs), so
  the images' Java tools are kubesim's only;
- ``/etc`` as an overlay over the machine's ``/etc``: readable, writable into the container's own layer only;
  ``/etc/hostname`` and ``/etc/hosts`` say the pod's name and IP, as the kubelet's managed files do;
- ``/dev`` a small tmpfs with null, zero, full, random, urandom, tty (and ``/dev/shm``); ``/proc`` (the
  machine's process table, replaced by a proc of the container's PID namespace in the processes that have one:
  sandbox_exec.py) and ``/sys`` read-only;
- the pod's volumes at their ``volumeMounts`` (volumes.py), shared by the pod's containers;
- image tools (kubesim/java: ``/opt/java/openjdk``; kubesim/jattach: ``/opt/jattach/bin``; every image:
  ``/opt/kubesim/bin/kubesim-curl``).

sandbox_exec.py then puts each process into a copy of that tree and pivot_roots into it.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys

from kubesim.kubelet import sandbox_exec as sys_mount
from kubesim.kubelet.sandbox_exec import MS_BIND, MS_NODEV, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT

log = logging.getLogger("kubesim.kubelet.isolation")

SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
PRIVATE_DIRS = {"tmp": 0o1777, "root": 0o700, "var": 0o755, "var/tmp": 0o1777, "var/log": 0o755, "run": 0o755,
                "home": 0o755, "opt": 0o755, "mnt": 0o755, "srv": 0o755, "media": 0o755}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
JAVA_HOME = "/opt/java/openjdk"
JAVA_HOME_BIN = JAVA_HOME + "/bin"
JATTACH_BIN = "/opt/jattach/bin"
MACHINE_JVMS = "/usr/lib/jvm"
KUBESIM_BIN = "/opt/kubesim/bin"   # the tools every image carries: kubesim-curl (network.py)


class IsolationUnavailable(RuntimeError):
    """The machine does not allow what isolation needs (root, mount namespaces, overlayfs, tmpfs)."""


_entered = False


def enter_own_mount_namespace(probe_dir: str) -> None:
    """Move the kubesim process (the thread that forks every container process: the event loop's) into a private
    mount namespace, then check that bind mounts, tmpfs and overlayfs work there. Raises IsolationUnavailable
    with what failed."""
    global _entered
    try:
        if not _entered:
            sys_mount.unshare_mount_namespace()
            _entered = True
        os.makedirs(probe_dir, exist_ok=True)
        target = os.path.join(probe_dir, "mnt")
        lower, upper, work = (os.path.join(probe_dir, n) for n in ("lower", "upper", "work"))
        for d in (target, lower, upper, work):
            os.makedirs(d, exist_ok=True)
        sys_mount.mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k")
        sys_mount.umount(target)
        sys_mount.mount(lower, target, None, MS_BIND)
        sys_mount.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        sys_mount.umount(target)
        sys_mount.mount("overlay", target, "overlay", 0, f"lowerdir={lower},upperdir={upper},workdir={work}")
        sys_mount.umount(target)
    except OSError as exc:
        raise IsolationUnavailable(
            f"containers cannot get a filesystem of their own on this machine ({exc}); kubesim needs to run as "
            f"root with mount namespaces, bind mounts, tmpfs and overlayfs. Start it with --no-isolation to run "
            f"container processes on the machine's filesystem instead (unsafe: /tmp/x in a pod is the "
            f"machine's /tmp/x)") from None
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)


def mounts_under(path: str) -> list[str]:
    """Mount points at or below `path` in kubesim's namespace (from /proc/self/mountinfo)."""
    path = os.path.realpath(path)
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                point = line.split()[4].encode().decode("unicode_escape")
                if point == path or point.startswith(path.rstrip("/") + "/"):
                    found.append(point)
    except OSError:
        return []
    return found


def unmount_all(path: str) -> None:
    for point in sorted(mounts_under(path), key=len, reverse=True):
        try:
            sys_mount.umount(point)
        except OSError as exc:
            if exc.errno not in (22, 2):   # EINVAL/ENOENT: gone with its parent already
                log.warning("kubelet: cannot unmount %s: %s", point, exc)


def remove_tree(path: str) -> None:
    """Remove a container or pod directory, but never while anything is still mounted below it (a bind mount of
    a machine directory must never be walked by rmtree)."""
    unmount_all(path)
    left = mounts_under(path)
    if left:
        log.error("kubelet: not removing %s: still mounted there: %s", path, ", ".join(left))
        return
    shutil.rmtree(path, ignore_errors=True)


def safe_join(root: str, path: str) -> str:
    """`path` (absolute, inside the container) under `root`, refusing `..` and symlinks that leave the root."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"path {path!r} must not contain '..'")
    joined = os.path.join(root, *parts)
    real_root = os.path.realpath(root)
    parent = os.path.realpath(os.path.dirname(joined)) if parts else real_root
    if parent != real_root and not parent.startswith(real_root + "/"):
        raise ValueError(f"path {path!r} leaves the container root")
    return joined


def _bind(source: str, target: str, read_only: bool, recursive: bool = False) -> None:
    sys_mount.mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    if read_only:
        sys_mount.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _mount_point(path: str, is_file: bool) -> None:
    if is_file:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            open(path, "a").close()
    else:
        os.makedirs(path, exist_ok=True)


def tool_interpreter() -> str:
    """The Python for the image tools' `#!` line, as a container sees it: the machine's /usr/bin/python3 when
    there is one (inside /usr, which every root has), else kubesim's own (its prefix is then mounted too)."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else os.path.realpath(sys.executable)


def tool_python_binds() -> list[str]:
    """The interpreter prefix the image tools' `#!` line needs inside the root, when it is outside /usr."""
    if tool_interpreter().startswith("/usr/"):
        return []
    return [os.path.realpath(sys.base_prefix)]


def build_root(directory: str, *, hostname: str, pod_ip: str, volume_mounts: list[tuple[str, str, bool]],
               image_dirs: list[tuple[str, str]], working_dir: str) -> str:
    """Build a container instance's root under `directory` (its own, fresh); returns the root path.

    volume_mounts: (source path on the machine, mountPath in the container, readOnly); image_dirs: (directory
    on the machine, where the image has it), mounted read-only."""
    root = os.path.join(directory, "rootfs")
    upper, work = os.path.join(directory, "etc-upper"), os.path.join(directory, "etc-work")
    for d in (root, upper, work):
        os.makedirs(d, exist_ok=True)
    try:
        sys_mount.mount(root, root, None, MS_BIND)
        for name in SYSTEM_DIRS:
            host, target = "/" + name, os.path.join(root, name)
            if os.path.islink(host):
                os.symlink(os.readlink(host), target)
            elif os.path.isdir(host):
                os.makedirs(target, exist_ok=True)
                _bind(host, target, True)
        if os.path.isdir(MACHINE_JVMS):   # a JDK installed on the machine is in no image: jcmd, java... dangle
            sys_mount.mount("tmpfs", root + MACHINE_JVMS, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
        for name, mode in PRIVATE_DIRS.items():
            path = os.path.join(root, name)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
        etc = os.path.join(root, "etc")
        os.makedirs(etc, exist_ok=True)
        sys_mount.mount("overlay", etc, "overlay", 0, f"lowerdir=/etc,upperdir={upper},workdir={work}")
        with open(os.path.join(etc, "hostname"), "w") as f:
            f.write(hostname + "\n")
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write(f"# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                    f"ip6-loopback\n{pod_ip}\t{hostname}\n")
        dev = os.path.join(root, "dev")
        os.makedirs(dev, exist_ok=True)
        sys_mount.mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=64k")
        for name in DEVICES:
            if os.path.exists("/dev/" + name):
                _mount_point(os.path.join(dev, name), True)
                sys_mount.mount("/dev/" + name, os.path.join(dev, name), None, MS_BIND)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2")):
            os.symlink(target, os.path.join(dev, name))
        os.makedirs(os.path.join(dev, "shm"))
        sys_mount.mount("shm", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
        proc = os.path.join(root, "proc")
        os.makedirs(proc, exist_ok=True)
        sys_mount.mount("proc", proc, "proc", MS_NOSUID | MS_NODEV)
        sysfs = os.path.join(root, "sys")
        os.makedirs(sysfs, exist_ok=True)
        _bind("/sys", sysfs, True)
        for source, mount_path in image_dirs:
            target = safe_join(root, mount_path)
            os.makedirs(target, exist_ok=True)
            _bind(source, target, True)
        if image_dirs:
            for prefix in tool_python_binds():
                target = safe_join(root, prefix)
                os.makedirs(target, exist_ok=True)
                _bind(prefix, target, True)
        for source, mount_path, read_only in volume_mounts:
            target = safe_join(root, mount_path)
            _mount_point(target, os.path.isfile(source))
            _bind(source, target, read_only, recursive=True)
        os.makedirs(safe_join(root, working_dir or "/"), exist_ok=True)
    except BaseException:
        remove_tree(directory)
        raise
    return root
