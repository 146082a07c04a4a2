"""Simulated container images: what each image does when kubesim's kubelet "runs" it.

kubesim has no container engine. A container is an object inside the kubesim process (no process or thread of its
own); only `exec` starts real processes. The image reference decides the behaviour, whatever the tag:

``kubesim/web:<tag>``
    A real HTTP server (asyncio, inside the kubesim process) on the container's declared TCP containerPorts
    (8080 when none is declared). It answers every path:

    - ``GET /``: plain text ``pod=<pod> namespace=<ns> image=<image> tag=<tag>``;
    - ``GET /json`` (or any path with ``Accept: application/json``): JSON
      ``{"pod", "namespace", "container", "image", "tag", "podIP", "node", "path", "method"}``;
    - ``GET /healthz``: ``ok``.

    Each request is written to the container log in a combined-log-like line. The listening socket (on
    127.0.0.1, an ephemeral port) is opened on first use by port-forward or proxy, so thousands of pods do not
    hold thousands of sockets.
``kubesim/java:<tag>``
    The same server, plus JVM tools on PATH for ``exec``:

    - ``jcmd 1 GC.heap_dump <file>`` writes an HPROF-headed heap dump of ``KUBESIM_HEAP_DUMP_BYTES`` bytes
      (container env, default 4 MiB);
    - ``jcmd 1 Thread.print`` and ``jstack 1`` print a thread dump; ``jcmd 1 VM.version``, ``jcmd -l`` and
      ``jcmd 1 help`` work too.
``kubesim/crash:<tag>``
    Logs a few lines, then exits with code 1 (``KUBESIM_EXIT_CODE`` in the container env overrides it) after
    ``KUBESIM_CRASH_AFTER_SECONDS`` (default 0.1). restartPolicy Always/OnFailure gives CrashLoopBackOff with the
    kubelet's exponential back-off (base ``ClusterOptions.crash_backoff_base``, 10 s as in the kubelet, cap
    300 s); the first restart is immediate as in the kubelet.
``kubesim/exit:<tag>``
    Logs one line and exits 0 (``KUBESIM_EXIT_CODE`` overrides): what a Job's pod runs.
any image from a registry host ending in ``.invalid`` (RFC 2606), e.g. ``registry.invalid/app:1``
    Cannot be pulled: ErrImagePull, then ImagePullBackOff, retried with back-off.
any other image (nginx, busybox, ...) with ``command`` or ``args``
    Runs them for real (see below).
any other image without them
    A quiet container (no process) that starts and keeps running until stopped, so real manifests reach
    Running; as an init container it completes at once.

Image references are normalised like containerd reports them (``nginx`` -> ``docker.io/library/nginx:latest``)
and the image ID is a digest reference derived deterministically from the normalised reference
(``docker.io/library/nginx@sha256:<sha256 of the reference>``).

A container of any other image whose spec has a ``command`` or ``args`` runs it for real (process.py), in a
root filesystem of its own (isolation.py); so does every exec. kubesim/java's tools are in
``/opt/java/openjdk/bin`` in the container (JAVA_HOME/bin of the eclipse-temurin images), first on PATH.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from dataclasses import dataclass

WEB = "web"
JAVA = "java"
CRASH = "crash"
EXIT = "exit"
QUIET = "quiet"

SIMULATED_REPOSITORIES = {
    "docker.io/kubesim/web": WEB,
    "docker.io/kubesim/java": JAVA,
    "docker.io/kubesim/crash": CRASH,
    "docker.io/kubesim/exit": EXIT,
}

DEFAULT_HEAP_DUMP_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference."""
    original: str
    registry: str
    repository: str       # path without registry, e.g. "library/nginx"
    tag: str              # "latest" when absent
    digest: str           # "sha256:..." when the reference pins one, else ""

    @property
    def name(self) -> str:
        """The normalised name without tag: docker.io/library/nginx."""
        return f"{self.registry}/{self.repository}"

    @property
    def normalized(self) -> str:
        """What the runtime reports in containerStatuses[].image."""
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag}"

    @property
    def image_id(self) -> str:
        """containerStatuses[].imageID: a digest reference, deterministic for a given reference."""
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}@sha256:{hashlib.sha256(self.normalized.encode()).hexdigest()}"

    @property
    def kind(self) -> str:
        return SIMULATED_REPOSITORIES.get(self.name, QUIET)

    @property
    def pullable(self) -> bool:
        host = self.registry.split(":", 1)[0].lower()
        return not (host == "invalid" or host.endswith(".invalid"))


class InvalidImageName(ValueError):
    pass


_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def parse_image(image: str) -> ImageRef:
    """Parse like the docker reference library: [registry[:port]/]path[:tag][@digest]."""
    def bad(detail="invalid reference format"):
        return InvalidImageName(f'couldn\'t parse image name "{image}": {detail}')
    if not image or image != image.strip():
        raise bad()
    rest, _, digest = image.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise bad()
    parts = rest.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, path_parts = parts[0], parts[1:]
    else:
        registry, path_parts = "docker.io", parts
    tag = ""
    if ":" in path_parts[-1]:
        last, _, tag = path_parts[-1].partition(":")
        path_parts = path_parts[:-1] + [last]
        if not _TAG.fullmatch(tag):
            raise bad()
    for component in path_parts:
        if not _COMPONENT.fullmatch(component):
            if _COMPONENT.fullmatch(component.lower()):
                raise bad("invalid reference format: repository name must be lowercase")
            raise bad()
    path = "/".join(path_parts)
    if registry == "docker.io" and len(path_parts) == 1:
        path = "library/" + path
    return ImageRef(image, registry, path, tag or ("" if digest else "latest"), digest)


# ------------------------------------------------------------------------------------------------ exec tools

_JCMD = r'''
import os, sys, time, random

def thread_dump():
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    print(now)
    print("Full thread dump OpenJDK 64-Bit Server VM (21.0.5+11-LTS mixed mode, sharing):")
    print()
    threads = [("main", 1, "RUNNABLE"), ("Reference Handler", 9, "RUNNABLE"), ("Finalizer", 10, "WAITING"),
               ("Signal Dispatcher", 11, "RUNNABLE"), ("http-nio-8080-exec-1", 31, "TIMED_WAITING"),
               ("http-nio-8080-exec-2", 32, "TIMED_WAITING"), ("GC Thread#0", 5, "RUNNABLE")]
    for name, nid, state in threads:
        print('"%s" #%d prio=5 os_prio=0 cpu=%.2fms elapsed=%.2fs tid=0x00007f%08x nid=%d %s' % (
            name, nid, random.random() * 100, random.random() * 1000, nid * 4096, nid,
            "runnable" if state == "RUNNABLE" else "waiting on condition"))
        print("   java.lang.Thread.State: %s" % state)
        if state != "RUNNABLE":
            print("\tat jdk.internal.misc.Unsafe.park(java.base@21.0.5/Native Method)")
            print("\tat java.util.concurrent.locks.LockSupport.parkNanos(java.base@21.0.5/LockSupport.java:269)")
        else:
            print("\tat java.lang.Thread.run(java.base@21.0.5/Thread.java:1583)")
        print()
    print("JNI global refs: 21, weak refs: 0")

def heap_dump(path):
    size = int(os.environ.get("KUBESIM_HEAP_DUMP_BYTES", "__DEFAULT_HEAP_DUMP_BYTES__"))
    started = time.time()
    if os.path.exists(path):
        print("File exists")
        return 1
    print("Dumping heap to %s ..." % path)
    sys.stdout.flush()
    header = b"JAVA PROFILE 1.0.2\0"
    block = bytes(range(256)) * 4096
    with open(path, "wb") as f:
        written = f.write(header[:size])
        while written < size:
            written += f.write(block[:size - written])
    print("Heap dump file created [%d bytes in %.3f secs]" % (size, time.time() - started))
    return 0

def main(argv):
    prog = os.path.basename(argv[0])
    if prog == "jstack":
        if len(argv) < 2:
            print("Usage:\n    jstack [-l][-e] <pid>", file=sys.stderr)
            return 1
        thread_dump()
        return 0
    if len(argv) < 2 or argv[1] == "-l":
        print("1 /app/app.jar")
        print("%d jdk.jcmd/sun.tools.jcmd.JCmd -l" % os.getpid())
        return 0
    pid = argv[1]
    if pid not in ("1", "0"):
        print("java.io.IOException: No such process", file=sys.stderr)
        return 1
    command = argv[2:]
    print("1:")
    if not command or command[0] == "help":
        print("The following commands are available:\nGC.heap_dump\nThread.print\nVM.version\nhelp")
        return 0
    if command[0] == "Thread.print":
        thread_dump()
        return 0
    if command[0] == "GC.heap_dump":
        files = [a for a in command[1:] if not a.startswith("-")]
        if not files:
            print("java.lang.IllegalArgumentException: The argument 'filename' is mandatory.")
            return 1
        return heap_dump(files[0])
    if command[0] == "VM.version":
        print("OpenJDK 64-Bit Server VM version 21.0.5+11-LTS\nJDK 21.0.5")
        return 0
    print("java.lang.IllegalArgumentException: Unknown diagnostic command")
    return 1

sys.exit(main(sys.argv))
'''


def install_tools(root: str, interpreter: str | None = None) -> dict[str, str]:
    """Write the image tool directories under `root`; returns {image kind: bin dir}. `interpreter` is the
    Python of their `#!` line as the container sees it (default: kubesim's own)."""
    java_bin = os.path.join(root, "java", "bin")
    os.makedirs(java_bin, exist_ok=True)
    script = f"#!{interpreter or sys.executable}\n" + _JCMD.replace("__DEFAULT_HEAP_DUMP_BYTES__", str(DEFAULT_HEAP_DUMP_BYTES))
    for name in ("jcmd", "jstack"):
        path = os.path.join(java_bin, name)
        with open(path, "w") as f:
            f.write(script)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return {JAVA: java_bin}
