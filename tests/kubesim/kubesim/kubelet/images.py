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

    - ``jcmd 1 GC.heap_dump [-all] [-gz=N] [-overwrite] <file>`` writes an HPROF-headed heap dump of
      ``KUBESIM_HEAP_DUMP_BYTES`` bytes (container env, default 4 MiB; gzip-compressed with -gz), after
      ``KUBESIM_HEAP_DUMP_SECONDS`` (default 0: a long, silent dump); an existing file without -overwrite is
      "File exists", a full disk "Dump file is incomplete"; ``jmap -dump:[live,]format=b[,gz=N],file=F 1`` too;
    - ``jcmd 1 GC.heap_info`` (G1's format) says ``KUBESIM_HEAP_USED_BYTES`` used (default the dump size) of
      ``KUBESIM_HEAP_MAX_BYTES``, which ``jcmd 1 VM.flags`` gives as MaxHeapSize;
    - ``jcmd 1 Thread.print`` and ``jstack 1`` print a thread dump; ``jcmd 1 VM.version``, ``jcmd -l``,
      ``jcmd 1 help`` and ``jcmd 1 help GC.heap_dump`` (its options) work too;
    - ``KUBESIM_JVMS="1=/app/app.jar,7=com.example.Batch"`` makes the tools see several JVMs (default one, pid 1).
      The JVMs are names only: no process of that pid exists in the container (kubesim has no PID namespace).

    A request for ``/kubesim/oom`` (through the pod proxy, a port-forward or a Service) makes the JVM run out of
    memory: it answers 500, logs ``java.lang.OutOfMemoryError: unable to create native thread`` with a stack
    trace, and exits with code 3 as ``-XX:+ExitOnOutOfMemoryError`` does, so the kubelet restarts it
    (``restartCount``, ``lastState.terminated.exitCode: 3``, the trace in ``logs --previous``).
    ``KUBESIM_EXIT_ON_OOM=false`` keeps it running instead.
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

Every image also carries ``kubesim-curl`` in ``/opt/kubesim/bin`` (last on PATH): a curl-like client whose
connections go through kubesim's pod network, where NetworkPolicy applies (network.py).

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
NETWORK = "network"   # not an image: the tools every image carries (kubesim-curl)

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

def jvms():
    """The simulated JVMs: KUBESIM_JVMS "pid=main,pid=main" (container env), default one JVM, pid 1."""
    listed = {}
    for item in os.environ.get("KUBESIM_JVMS", "1=/app/app.jar").split(","):
        pid, _, main = item.strip().partition("=")
        if pid.isdigit():
            listed[pid] = main
    return listed

def heap_sizes():
    dump = int(os.environ.get("KUBESIM_HEAP_DUMP_BYTES", "__DEFAULT_HEAP_DUMP_BYTES__"))
    used = int(os.environ.get("KUBESIM_HEAP_USED_BYTES", str(dump)))
    maximum = int(os.environ.get("KUBESIM_HEAP_MAX_BYTES", str(max(used * 2, 256 * 1024 * 1024))))
    return dump, used, maximum

def heap_info():
    _dump, used, maximum = heap_sizes()
    print(" garbage-first heap   total %dK, used %dK [0x00000000f0000000, 0x0000000100000000)"
          % (maximum // 1024, used // 1024))
    print("  region size 1024K, 4 young (4096K), 0 survivors (0K)")
    print(" Metaspace       used 12345K, committed 12800K, reserved 1114112K")
    print("  class space    used 1234K, committed 1408K, reserved 1048576K")

def heap_content(size):
    """HPROF header, then a repeating pattern: size bytes, in blocks."""
    header = b"JAVA PROFILE 1.0.2\0"
    block = bytes(range(256)) * 4096
    yield header[:size]
    written = min(len(header), size)
    while written < size:
        part = block[:size - written]
        written += len(part)
        yield part

def heap_dump(path, gz=None, overwrite=False):
    size = heap_sizes()[0]
    started = time.time()
    if os.path.exists(path) and not overwrite:
        print("File exists")
        return 1
    print("Dumping heap to %s ..." % path)
    sys.stdout.flush()
    time.sleep(float(os.environ.get("KUBESIM_HEAP_DUMP_SECONDS", "0")))
    try:
        if gz:
            import gzip
            with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=gz, mtime=0) as f:
                for part in heap_content(size):
                    f.write(part)
        else:
            with open(path, "wb") as f:
                for part in heap_content(size):
                    f.write(part)
    except OSError as exc:
        print("Dump file is incomplete: %s" % exc.strerror)
        return 1
    print("Heap dump file created [%d bytes in %.3f secs]" % (os.path.getsize(path), time.time() - started))
    return 0

HEAP_DUMP_HELP = """GC.heap_dump
Generate a HPROF format dump of the Java heap.

Impact: High: Depends on Java heap size and content. Request a full GC unless the '-all' option is specified.

Syntax : GC.heap_dump [options] <filename>

Arguments:
\tfilename : Name of the dump file (STRING, no default value)

Options: (options must be specified using the <key> or <key>=<value> syntax)
\t-all : [optional] Dump all objects, including unreachable objects (BOOLEAN, false)
\t-gz : [optional] If specified, the heap dump is written in gzipped format using the given compression level. 1 (recommended) is the fastest, 9 the strongest compression. (INT, 1)
\t-overwrite : [optional] If specified, the dump file will be overwritten if it exists (BOOLEAN, false)
\t-parallel : [optional] Number of parallel threads to use for heap dump. The VM will try to use the specified number of threads, but might use fewer. (INT, 1)"""

def jmap(argv):
    spec = [a for a in argv[1:] if a.startswith("-dump:")]
    pids = [a for a in argv[1:] if a.isdigit()]
    if not spec or not pids:
        print("Usage:\n    jmap -dump:<dump-options> <pid>", file=sys.stderr)
        return 1
    if pids[0] not in jvms():
        print("java.io.IOException: No such process", file=sys.stderr)
        return 1
    options = dict(o.partition("=")[::2] for o in spec[0][len("-dump:"):].split(","))
    if "file" not in options:
        print("Unknown option or missing file", file=sys.stderr)
        return 1
    return heap_dump(options["file"], gz=int(options["gz"]) if options.get("gz") else None)

def main(argv):
    prog = os.path.basename(argv[0])
    if prog == "jstack":
        if len(argv) < 2:
            print("Usage:\n    jstack [-l][-e] <pid>", file=sys.stderr)
            return 1
        thread_dump()
        return 0
    if prog == "jmap":
        return jmap(argv)
    if len(argv) < 2 or argv[1] == "-l":
        for pid, main_class in jvms().items():
            print("%s %s" % (pid, main_class))
        print("%d jdk.jcmd/sun.tools.jcmd.JCmd -l" % os.getpid())
        return 0
    pid = argv[1]
    if pid not in jvms() and pid != "0":
        print("java.io.IOException: No such process", file=sys.stderr)
        return 1
    command = argv[2:]
    print("%s:" % pid)
    if not command or command[0] == "help":
        if command[1:2] == ["GC.heap_dump"]:
            print(HEAP_DUMP_HELP)
            return 0
        print("The following commands are available:\nGC.heap_dump\nGC.heap_info\nThread.print\nVM.flags\n"
              "VM.version\nhelp\n\nFor more information about a specific command use 'help <command>'.")
        return 0
    if command[0] == "Thread.print":
        thread_dump()
        return 0
    if command[0] == "GC.heap_info":
        heap_info()
        return 0
    if command[0] == "VM.flags":
        print("-XX:+UseG1GC -XX:MaxHeapSize=%d -XX:+UseCompressedOops" % heap_sizes()[2])
        return 0
    if command[0] == "GC.heap_dump":
        files = [a for a in command[1:] if not a.startswith("-")]
        if not files:
            print("java.lang.IllegalArgumentException: The argument 'filename' is mandatory.")
            return 1
        gz = None
        for option in command[1:]:
            if option.startswith("-gz"):
                level = option.partition("=")[2] or "1"
                if not level.isdigit() or not 1 <= int(level) <= 9:
                    print("java.lang.IllegalArgumentException: Compression level out of range (1-9): " + level)
                    return 1
                gz = int(level)
        return heap_dump(files[0], gz=gz, overwrite="-overwrite" in command[1:])
    if command[0] == "VM.version":
        print("OpenJDK 64-Bit Server VM version 21.0.5+11-LTS\nJDK 21.0.5")
        return 0
    print("java.lang.IllegalArgumentException: Unknown diagnostic command")
    return 1

sys.exit(main(sys.argv))
'''


_CURL = r"""
# kubesim-curl: a curl-like client whose connections go through kubesim's pod network (kubelet/network.py).
# Only the few stdlib modules that start fast: it runs once per check, in a fresh interpreter.
import json, socket, sys, time

SOCKET = "\0__SOCKET__"
USAGE = ("usage: kubesim-curl [-s] [-S] [-f] [-v] [-m SECONDS] [-X METHOD] URL\n"
         "  URL: http://HOST[:PORT][/PATH] or tcp://HOST:PORT (connect only; prints 'connected')")

def fail(code, message):
    sys.stdout.flush()
    sys.stderr.write("kubesim-curl: (%d) %s\n" % (code, message))
    sys.exit(code)

def parse(argv):
    opts = {"max_time": None, "fail": False, "verbose": False, "method": "GET", "url": None}
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("-m", "--max-time", "--connect-timeout") and args:
            try:
                opts["max_time"] = float(args.pop(0))
            except ValueError:
                fail(2, "option %s: expected a proper numerical parameter" % a)
        elif a in ("-X", "--request") and args:
            opts["method"] = args.pop(0)
        elif a in ("--silent", "--show-error"):
            continue
        elif a == "--fail":
            opts["fail"] = True
        elif a == "--verbose":
            opts["verbose"] = True
        elif a.startswith("-") and len(a) > 1 and not a.startswith("--") and set(a[1:]) <= set("sSfv"):
            opts["fail"] = opts["fail"] or "f" in a
            opts["verbose"] = opts["verbose"] or "v" in a
        elif a.startswith("-") or opts["url"] is not None:
            fail(2, "option %s: is unknown\n%s" % (a, USAGE))
        else:
            opts["url"] = a
    if opts["url"] is None:
        fail(2, "no URL specified\n" + USAGE)
    return opts

def split_url(url):
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    if scheme not in ("http", "tcp"):
        fail(1, 'Protocol "%s" not supported' % scheme)
    slash = rest.find("/")
    netloc, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    host, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
    if not host:
        fail(3, "URL rejected: No host part in the URL")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            fail(3, "URL rejected: Port number was not a decimal number between 0 and 65535")
        port = int(port)
    elif scheme == "http":
        port = 80
    else:
        fail(3, "URL rejected: tcp:// needs a port")
    return scheme, host, port, path

def read_response(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        fail(1, "Received HTTP/0.9 when not allowed")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    elif b"content-length" in headers:
        body = body[:int(headers[b"content-length"])]
    return int(parts[1]), body

def main(argv):
    opts = parse(argv)
    scheme, host, port, path = split_url(opts["url"])
    started = time.monotonic()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(SOCKET)
    except OSError as exc:
        fail(7, "Failed to connect to %s port %d: Network is unreachable (%s)" % (host, port, exc))
    sock.sendall(json.dumps({"host": host, "port": port, "protocol": "TCP",
                             "timeout": opts["max_time"]}).encode() + b"\n")
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            fail(56, "Failure when receiving data from the peer")
        line += chunk
    reply = json.loads(line)
    elapsed = int((time.monotonic() - started) * 1000)
    result = reply.get("result")
    if opts["verbose"]:
        sys.stderr.write("* kubesim network: %s\n" % json.dumps(reply))
    if result == "unresolved":
        fail(6, "Could not resolve host: %s" % host)
    if result == "timeout":
        fail(28, "Connection timed out after %d milliseconds" % elapsed)
    if result == "refused":
        fail(7, "Failed to connect to %s port %d after %d ms: Connection refused" % (host, port, elapsed))
    if result != "connected":
        fail(7, "Failed to connect to %s port %d: %s" % (host, port, reply.get("message", result)))
    if scheme == "tcp":
        print("connected")
        return 0
    if opts["max_time"] is not None:
        sock.settimeout(max(0.001, opts["max_time"] - (time.monotonic() - started)))
    request = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: kubesim-curl/1\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    try:
        sock.sendall((request % (opts["method"], path, host, port)).encode())
        status, body = read_response(sock)
    except socket.timeout:
        fail(28, "Operation timed out after %d milliseconds" % int((time.monotonic() - started) * 1000))
    except OSError as exc:
        fail(56, "Failure when receiving data from the peer: %s" % exc)
    if opts["fail"] and status >= 400:
        fail(22, "The requested URL returned error: %d" % status)
    sys.stdout.buffer.write(body)
    return 0

sys.exit(main(sys.argv[1:]))
"""


def _write_tool(path: str, interpreter: str | None, text: str, flags: str = "") -> None:
    with open(path, "w") as f:
        f.write(f"#!{interpreter or sys.executable}{flags}\n" + text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def install_tools(root: str, interpreter: str | None = None, network_socket: str | None = None) -> dict[str, str]:
    """Write the image tool directories under `root`; returns {image kind: bin dir} (NETWORK: the directory
    every image has, with kubesim-curl, when `network_socket`, the pod network's abstract socket name, is given).
    `interpreter` is the Python of their `#!` line as the container sees it (default: kubesim's own)."""
    java_bin = os.path.join(root, "java", "bin")
    os.makedirs(java_bin, exist_ok=True)
    script = _JCMD.replace("__DEFAULT_HEAP_DUMP_BYTES__", str(DEFAULT_HEAP_DUMP_BYTES))
    for name in ("jcmd", "jstack", "jmap"):
        _write_tool(os.path.join(java_bin, name), interpreter, script)
    dirs = {JAVA: java_bin}
    if network_socket:
        net_bin = os.path.join(root, "network", "bin")
        os.makedirs(net_bin, exist_ok=True)
        _write_tool(os.path.join(net_bin, "kubesim-curl"), interpreter, _CURL.replace("__SOCKET__", network_socket),
                    " -IS")   # no site: stdlib only, and a faster start
        dirs[NETWORK] = net_bin
    return dirs
