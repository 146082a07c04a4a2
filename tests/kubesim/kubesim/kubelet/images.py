"""Simulated container images: what each image does when kubesim's kubelet "runs" it.

kubesim has no container engine. A container of a simulated image is an object inside the kubesim process; a
container with a command (and kubesim/java's JVM) and every `exec` are real processes. The image reference
decides the behaviour:

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
    The same server (inside kubesim), and the container's main process is a real JVM process
    (container_tools/jvm.py, run as ``$JAVA_HOME/bin/java``): pid 1 of a PID namespace of its own, with
    HotSpot's attach listener, hsperfdata and SIGQUIT thread dumps (docs/kubesim.md, "The kubesim/java JVM").
    ``jcmd``, ``jstack`` and ``jmap`` in ``/opt/java/openjdk/bin`` are attach clients (container_tools/attach.py);
    the JVM does the work: heap dumps of ``KUBESIM_HEAP_DUMP_BYTES`` (default 4 MiB) after
    ``KUBESIM_HEAP_DUMP_SECONDS``, ``GC.heap_info`` with ``KUBESIM_HEAP_USED_BYTES`` of ``KUBESIM_HEAP_MAX_BYTES``,
    thread dumps; ``KUBESIM_JVMS="1=/app/app.jar,7=com.example.Batch"`` starts more JVM processes (pid 7).
    A tag ending in ``-jre`` is a JRE: the same JVM, no jcmd/jstack/jmap. With ``command``/``args`` the command
    runs instead (no JVM), with the JDK tools on PATH.
``kubesim/jattach:<tag>``
    The machine's /usr and ``jattach`` (``/opt/jattach/bin``): a debug image; runs ``command``/``args`` for real.

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
root filesystem of its own (isolation.py); so does every exec. kubesim/java's JAVA_HOME is ``/opt/java/openjdk``
in the container (as in the eclipse-temurin images), its bin first on PATH.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import sys
from dataclasses import dataclass

WEB = "web"
JAVA = "java"
CRASH = "crash"
EXIT = "exit"
QUIET = "quiet"
JATTACH = "jattach"
JAVA_JRE = "java-jre"   # not a kind: the tools of a kubesim/java image whose tag ends in -jre
NETWORK = "network"   # not an image: the tools every image carries (kubesim-curl)

SIMULATED_REPOSITORIES = {
    "docker.io/kubesim/web": WEB,
    "docker.io/kubesim/java": JAVA,
    "docker.io/kubesim/crash": CRASH,
    "docker.io/kubesim/exit": EXIT,
    "docker.io/kubesim/jattach": JATTACH,
}

LIBJVM_BYTES = 64 * 1024
CONTAINER_TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "container_tools")


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
    def tools(self) -> str:
        """Which image directory (install_tools) this image's containers get."""
        if self.kind == JAVA and self.tag.endswith("-jre"):
            return JAVA_JRE
        return self.kind

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


def _container_tool(name: str) -> str:
    with open(os.path.join(CONTAINER_TOOLS, name), encoding="utf-8") as f:
        return f.read()


def _install_java_home(home: str, interpreter: str, jdk: bool) -> None:
    """$JAVA_HOME of an eclipse-temurin-like image: bin/java (the interpreter's own binary under that name, so
    the JVM's /proc/<pid>/exe is .../bin/java; pyvenv.cfg tells it where its stdlib is), lib/kubesim/jvm.py (what
    the JVM runs), lib/server/libjvm.so (mapped by the JVM), and in a JDK the attach clients jcmd, jstack, jmap."""
    for sub in ("bin", "lib/kubesim", "lib/server"):
        os.makedirs(os.path.join(home, sub), exist_ok=True)
    real = os.path.realpath(interpreter)
    shutil.copy2(real, os.path.join(home, "bin", "java"))
    with open(os.path.join(home, "pyvenv.cfg"), "w") as f:
        f.write(f"home = {os.path.dirname(real)}\n")
    with open(os.path.join(home, "lib", "kubesim", "jvm.py"), "w") as f:
        f.write(_container_tool("jvm.py"))
    with open(os.path.join(home, "lib", "server", "libjvm.so"), "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01" + b"\0" * (LIBJVM_BYTES - 7))
    with open(os.path.join(home, "release"), "w") as f:
        # no JAVA_VERSION: one home serves every tag (the JVM is told its release when it starts)
        f.write('IMPLEMENTOR="Eclipse Adoptium"\nIMAGE_TYPE="%s"\n' % ("JDK" if jdk else "JRE"))
    if jdk:
        client = _container_tool("attach.py")
        for name in ("jcmd", "jstack", "jmap"):
            _write_tool(os.path.join(home, "bin", name), interpreter, client, " -IS")


# The Temurin release each major stands for (eclipse-temurin's tags start with the major: 17, 17-jre, 21-jdk).
JAVA_RELEASES = {8: "jdk8u432-b06", 11: "jdk-11.0.25+9", 17: "jdk-17.0.13+11", 21: "jdk-21.0.5+11",
                 25: "jdk-25.0.1+8"}
DEFAULT_JAVA_MAJOR = 21   # latest, or a tag that names no major


def java_release(tag: str) -> str:
    """The release a kubesim/java tag runs: its leading number is the major (8 and older: JDK 8)."""
    match = re.match(r"\d+", tag)
    major = int(match.group(0)) if match else DEFAULT_JAVA_MAJOR
    if major <= 8:
        return JAVA_RELEASES[8]
    return JAVA_RELEASES.get(major, f"jdk-{major}.0.1+1")


def jvm_command(home: str, options: list[str], main: str, release: str) -> list[str]:
    """The argv a kubesim/java container's main process is started with: the JVM program under the name `java`
    (found on PATH, as an image's entrypoint is), told its release (what VM.version says, and which options its
    diagnostic commands have); it shows itself as `java <options> -jar <main>`."""
    return ["java", "-I", "-S", os.path.join(home, "lib", "kubesim", "jvm.py"), f"--kubesim-release={release}",
            *options, *(["-jar", main] if main.endswith(".jar") else [main])]


def install_tools(root: str, interpreter: str | None = None, network_socket: str | None = None) -> dict[str, str]:
    """Write the image directories under `root`; returns {image tools key: directory}: JAVA and JAVA_JRE
    ($JAVA_HOME, mounted at /opt/java/openjdk), JATTACH (a bin directory with jattach) and NETWORK (the directory
    every image has, with kubesim-curl, when `network_socket`, the pod network's abstract socket name, is given).
    `interpreter` is the Python of the tools' `#!` line as the container sees it (default: kubesim's own)."""
    interpreter = interpreter or sys.executable
    dirs = {}
    for key, jdk in ((JAVA, True), (JAVA_JRE, False)):
        home = os.path.join(root, key, "openjdk")
        _install_java_home(home, interpreter, jdk)
        dirs[key] = home
    jattach_bin = os.path.join(root, JATTACH, "bin")
    os.makedirs(jattach_bin, exist_ok=True)
    _write_tool(os.path.join(jattach_bin, "jattach"), interpreter, _container_tool("attach.py"), " -IS")
    dirs[JATTACH] = jattach_bin
    if network_socket:
        net_bin = os.path.join(root, "network", "bin")
        os.makedirs(net_bin, exist_ok=True)
        _write_tool(os.path.join(net_bin, "kubesim-curl"), interpreter, _CURL.replace("__SOCKET__", network_socket),
                    " -IS")   # no site: stdlib only, and a faster start
        dirs[NETWORK] = net_bin
    return dirs
