"""The simulated JVM of a kubesim/java container: a real process that behaves, seen from outside, as HotSpot does.

Run as ``java -I -S $JAVA_HOME/lib/kubesim/jvm.py <java options> (-jar JAR | CLASS) [args]`` where ``java`` is a
copy of the Python interpreter in $JAVA_HOME/bin (so /proc/<pid>/exe is .../bin/java). It is pid 1 of the
container's PID namespace (sandbox_exec.py puts it there) and, on start:

- rewrites its argv area so that /proc/<pid>/cmdline reads ``java <options> -jar JAR`` (without privileges the
  area cannot shrink: the cmdline ends with NUL bytes where the interpreter's own arguments were);
- maps $JAVA_HOME/lib/server/libjvm.so (it shows in /proc/<pid>/maps) and writes /tmp/hsperfdata_<user>/<pid>, as
  HotSpot does with UsePerfData (jcmd -l lists JVMs from those files);
- KUBESIM_JVMS="1=/app/app.jar,7=com.example.Batch" (env): pid 1 starts one more JVM per further entry, at that
  pid of the namespace when it is still free (pids are handed out in order, so the pids before it are used by
  short-lived processes first), each with its own main class and the same behaviour.

Signals, as HotSpot's signal dispatcher handles them:

- SIGQUIT: when ``.attach_pid<pid>`` exists in the cwd or /tmp (owned by this euid or root) and the attach
  listener is not running, it starts: a UNIX socket /tmp/.java_pid<pid>, mode 0600. Otherwise a thread dump goes
  to stdout (the container log) and the JVM keeps running.
- SIGTERM, SIGINT, SIGHUP: exit 143, 130, 129 (the shutdown hooks remove the perf file and the socket).

The attach protocol (version 1): the request is ``1\\0<cmd>\\0<arg1>\\0<arg2>\\0<arg3>\\0``, the answer
``<rc>\\n<output>`` then EOF. A client whose SO_PEERCRED uid/gid is neither this euid/egid nor root is refused
(closed without an answer). Requests are served one at a time, in the listener's thread, as HotSpot's is. A heap
dump is written by this process: its path resolves in this filesystem, relative to the cwd, as this uid.

Env knobs: KUBESIM_HEAP_DUMP_BYTES (dump size, default 4 MiB), KUBESIM_HEAP_DUMP_SECONDS (how long a dump takes,
default 0), KUBESIM_HEAP_USED_BYTES (default the dump size), KUBESIM_HEAP_MAX_BYTES.
"""
import ctypes
import mmap
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time

DEFAULT_HEAP_DUMP_BYTES = 4 * 1024 * 1024
RELEASE_OPTION = "--kubesim-release="   # the kubelet's: the Temurin release of the image's tag (images.py)
DEFAULT_RELEASE = "jdk-21.0.5+11"
LTS = (11, 17, 21, 25)
# GC.heap_dump's options and the JDK that brought them (JDK-8237354 -gz, JDK-8267666 -overwrite, JDK-8306441
# -parallel); GC.heap_info came with JDK 9. A JVM refuses an option it does not know.
HEAP_DUMP_OPTIONS_SINCE = (("-all", 8), ("-gz", 15), ("-overwrite", 17), ("-parallel", 22))
HEAP_INFO_SINCE = 9
JAVA_HOME = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PERF_MAGIC = b"\xca\xfe\xc0\xc0"
MAX_REQUEST = 64 * 1024
ATTACH_ERROR_BADVERSION = 101


# ------------------------------------------------------------------------------------------ what the JVM reports

def parse_release(text):
    """{"major", "vm", "jdk", "java"} of a Temurin release name: jdk8u432-b06 (HotSpot 25.432-b06, JDK 8.0_432,
    java.version 1.8.0_432) or jdk-17.0.13+11 (17.0.13+11-LTS, 17.0.13)."""
    match = re.match(r"^jdk8u(\d+)-b(\d+)$", text)
    if match:
        update, build = match.groups()
        return {"major": 8, "vm": "25.%s-b%s" % (update, build), "jdk": "8.0_%s" % update,
                "java": "1.8.0_%s" % update}
    match = re.match(r"^jdk-((\d+)(?:\.\d+)*)\+(\d+)$", text)
    if not match:
        return parse_release(DEFAULT_RELEASE)
    major = int(match.group(2))
    return {"major": major, "vm": "%s+%s%s" % (match.group(1), match.group(3), "-LTS" if major in LTS else ""),
            "jdk": match.group(1), "java": match.group(1)}


RELEASE = parse_release(DEFAULT_RELEASE)


def frame(text, module_version=True):
    """A stack frame line; JDK 9+ name the module (java.base@<version>/)."""
    where, _, rest = text.partition("(")
    if RELEASE["major"] >= 9 and module_version:
        return "\tat %s(java.base@%s/%s" % (where, RELEASE["java"], rest)
    return "\tat %s(%s" % (where, rest)


def thread_dump(out, locks=False):
    out.append(time.strftime("%Y-%m-%d %H:%M:%S"))
    out.append("Full thread dump OpenJDK 64-Bit Server VM (%s mixed mode, sharing):" % RELEASE["vm"])
    out.append("")
    threads = [("main", 1, "RUNNABLE"), ("Reference Handler", 9, "RUNNABLE"), ("Finalizer", 10, "WAITING"),
               ("Signal Dispatcher", 11, "RUNNABLE"), ("http-nio-8080-exec-1", 31, "TIMED_WAITING"),
               ("http-nio-8080-exec-2", 32, "TIMED_WAITING"), ("GC Thread#0", 5, "RUNNABLE")]
    for name, nid, state in threads:
        out.append('"%s" #%d prio=5 os_prio=0 cpu=%.2fms elapsed=%.2fs tid=0x00007f%08x nid=%d %s' % (
            name, nid, random.random() * 100, random.random() * 1000, nid * 4096, nid,
            "runnable" if state == "RUNNABLE" else "waiting on condition"))
        out.append("   java.lang.Thread.State: %s" % state)
        if state != "RUNNABLE":
            out.append(frame("%s.park(Native Method)" % ("jdk.internal.misc.Unsafe" if RELEASE["major"] >= 9
                                                           else "sun.misc.Unsafe")))
            out.append(frame("java.util.concurrent.locks.LockSupport.parkNanos(LockSupport.java:269)"))
        else:
            out.append(frame("java.lang.Thread.run(Thread.java:1583)"))
        if locks:
            out.append("")
            out.append("   Locked ownable synchronizers:")
            out.append("\t- None")
        out.append("")
    out.append("JNI global refs: 21, weak refs: 0")
    return 0


def heap_sizes():
    dump = int(os.environ.get("KUBESIM_HEAP_DUMP_BYTES", str(DEFAULT_HEAP_DUMP_BYTES)))
    used = int(os.environ.get("KUBESIM_HEAP_USED_BYTES", str(dump)))
    maximum = int(os.environ.get("KUBESIM_HEAP_MAX_BYTES", str(max(used * 2, 256 * 1024 * 1024))))
    return dump, used, maximum


def heap_info(out):
    _dump, used, maximum = heap_sizes()
    out.append(" garbage-first heap   total %dK, used %dK [0x00000000f0000000, 0x0000000100000000)"
               % (maximum // 1024, used // 1024))
    out.append("  region size 1024K, 4 young (4096K), 0 survivors (0K)")
    out.append(" Metaspace       used 12345K, committed 12800K, reserved 1114112K")
    out.append("  class space    used 1234K, committed 1408K, reserved 1048576K")
    return 0


def vm_flags():
    return "-XX:+UseG1GC -XX:MaxHeapSize=%d -XX:+UseCompressedOops" % heap_sizes()[2]


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


def heap_dump(out, path, gz=None, overwrite=False):
    size = heap_sizes()[0]
    started = time.time()
    if os.path.exists(path) and not overwrite:
        out.append("File exists")
        return 1
    out.append("Dumping heap to %s ..." % path)
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
        out.append("Dump file is incomplete: %s" % exc.strerror)
        return 1
    out.append("Heap dump file created [%d bytes in %.3f secs]" % (os.path.getsize(path), time.time() - started))
    return 0


HEAP_DUMP_HELP_HEAD = """GC.heap_dump
Generate a HPROF format dump of the Java heap.

Impact: High: Depends on Java heap size and content. Request a full GC unless the '-all' option is specified.

Syntax : GC.heap_dump [options] <filename>

Arguments:
\tfilename : Name of the dump file (STRING, no default value)

Options: (options must be specified using the <key> or <key>=<value> syntax)"""
HEAP_DUMP_OPTION_HELP = {
    "-all": "\t-all : [optional] Dump all objects, including unreachable objects (BOOLEAN, false)",
    "-gz": "\t-gz : [optional] If specified, the heap dump is written in gzipped format using the given compression "
           "level. 1 (recommended) is the fastest, 9 the strongest compression. (INT, 1)",
    "-overwrite": "\t-overwrite : [optional] If specified, the dump file will be overwritten if it exists "
                  "(BOOLEAN, false)",
    "-parallel": "\t-parallel : [optional] Number of parallel threads to use for heap dump. The VM will try to use "
                 "the specified number of threads, but might use fewer. (INT, 1)",
}


def heap_dump_options():
    return [name for name, since in HEAP_DUMP_OPTIONS_SINCE if RELEASE["major"] >= since]


def heap_dump_help():
    return "\n".join([HEAP_DUMP_HELP_HEAD] + [HEAP_DUMP_OPTION_HELP[name] for name in heap_dump_options()])


def commands():
    return tuple(c for c in ("GC.heap_dump", "GC.heap_info", "Thread.print", "VM.flags", "VM.version", "help")
                 if c != "GC.heap_info" or RELEASE["major"] >= HEAP_INFO_SINCE)


def dcmd(out, line):
    """A diagnostic command line, as `jcmd <pid> <line>` sends it."""
    words = line.split()
    if not words or words[0] == "help":
        if words[1:2] == ["GC.heap_dump"]:
            out.append(heap_dump_help())
            return 0
        out.append("The following commands are available:\n%s\n\nFor more information about a specific command "
                   "use 'help <command>'." % "\n".join(commands()))
        return 0
    name, args = words[0], words[1:]
    if name not in commands():
        out.append("java.lang.IllegalArgumentException: Unknown diagnostic command")
        return 1
    if name == "Thread.print":
        return thread_dump(out, locks="-l" in args)
    if name == "GC.heap_info":
        return heap_info(out)
    if name == "VM.flags":
        out.append(vm_flags())
        return 0
    if name == "VM.version":
        out.append("OpenJDK 64-Bit Server VM version %s\nJDK %s" % (RELEASE["vm"], RELEASE["jdk"]))
        return 0
    if name == "GC.heap_dump":
        files = [a for a in args if not a.startswith("-")]
        if not files:
            out.append("java.lang.IllegalArgumentException: The argument 'filename' is mandatory.")
            return 1
        known = heap_dump_options()
        for option in args:
            if option.startswith("-") and option.partition("=")[0] not in known:
                out.append("java.lang.IllegalArgumentException: Unknown argument '%s' in diagnostic command."
                           % option.partition("=")[0])
                return 1
        gz = None
        for option in args:
            if option.startswith("-gz"):
                level = option.partition("=")[2] or "1"
                if not level.isdigit() or not 1 <= int(level) <= 9:
                    out.append("java.lang.IllegalArgumentException: Compression level out of range (1-9): " + level)
                    return 1
                gz = int(level)
        return heap_dump(out, files[0], gz=gz, overwrite="-overwrite" in args)
    out.append("java.lang.IllegalArgumentException: Unknown diagnostic command")
    return 1


def properties(out):
    for key, value in (("java.vm.version", RELEASE["vm"]), ("java.version", RELEASE["java"]), ("java.home", JAVA_HOME),
                       ("java.vm.name", "OpenJDK 64-Bit Server VM"), ("user.dir", os.getcwd()),
                       ("sun.java.command", JVM.main_name)):
        out.append("%s=%s" % (key, value))
    return 0


def class_histogram(out):
    used = heap_sizes()[1]
    rows = [("[B", used // 2), ("java.lang.String", used // 5), ("java.util.HashMap$Node", used // 10)]
    out.append(" num     #instances         #bytes  class name (module)")
    out.append("-------------------------------------------------------")
    for n, (name, size) in enumerate(rows, 1):
        module = " (java.base@%s)" % RELEASE["java"] if RELEASE["major"] >= 9 else ""
        out.append("%4d:      %10d     %10d  %s%s" % (n, max(size // 24, 1), size, name, module))
    out.append("Total      %10d     %10d" % (sum(max(s // 24, 1) for _, s in rows), sum(s for _, s in rows)))
    return 0


def operation(cmd, args):
    """One attach operation: (rc, output text)."""
    out = []
    if cmd == "jcmd":
        rc = dcmd(out, args[0])
    elif cmd in ("threaddump", "datadump"):
        rc = thread_dump(out, locks="-l" in args[0])
        if cmd == "datadump":   # the same as SIGQUIT: to the JVM's own stdout
            print("\n".join(out), flush=True)
            out = []
    elif cmd == "dumpheap":
        if not args[0]:
            out.append("No dump file specified")
            rc = 1
        else:
            level = args[2]
            # jmap's gz= reaches the JVM as the third argument, read from JDK 17 on (JDK-8256450)
            gz = int(level) if RELEASE["major"] >= 17 and level.isdigit() and int(level) > 0 else None
            rc = heap_dump(out, args[0], gz=gz)
    elif cmd == "inspectheap":
        rc = class_histogram(out)
    elif cmd in ("properties", "agentProperties"):
        rc = properties(out)
    elif cmd == "printflag":
        known = {f.lstrip("-XX:").lstrip("+").split("=")[0]: f for f in vm_flags().split()}
        flag = known.get(args[0])
        rc = 0 if flag else 1
        out.append(flag if flag else "no such flag '%s'" % args[0])
    elif cmd == "setflag":
        out.append("only 'writeable' flags can be set")
        rc = 1
    elif cmd == "load":
        out.append("Could not find agent library %s" % args[0])
        rc = 1
    else:
        out.append("Operation %s not recognized!" % cmd)
        rc = 1
    return rc, "\n".join(out) + ("\n" if out else "")


# ------------------------------------------------------------------------------------------------ the process

class JVM:
    main_name = ""
    listener = None           # the attach listener's socket, once started
    socket_path = ""
    perf_path = ""
    mapped = None


def rewrite_cmdline(argv):
    """Make /proc/self/cmdline say `argv` (NUL-separated), in the area the kernel reads it from."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        start, end = int(fields[45]), int(fields[46])   # arg_start, arg_end (fields 48 and 49 of stat)
    except (OSError, IndexError, ValueError):
        return
    text = b"\0".join(os.fsencode(a) for a in argv) + b"\0"
    if len(text) > end - start:
        return
    ctypes.memmove(start, text + b"\0" * (end - start - len(text)), end - start)


def user_name():
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def write_perf_file():
    """/tmp/hsperfdata_<user>/<pid>: what jcmd -l and jps read (the main class as sun.rt.javaCommand)."""
    directory = "/tmp/hsperfdata_%s" % user_name()
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        path = os.path.join(directory, str(os.getpid()))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(PERF_MAGIC + b"\x00\x02\x00\x00" + b"\0" * 24)
            f.write(b"sun.rt.javaCommand\0" + os.fsencode(JVM.main_name) + b"\0")
        JVM.perf_path = path
    except OSError:
        pass


def map_libjvm():
    try:
        with open(os.path.join(JAVA_HOME, "lib", "server", "libjvm.so"), "rb") as f:
            JVM.mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        pass


def cleanup():
    for path in (JVM.perf_path, JVM.socket_path if JVM.listener is not None else ""):
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass


def attach_triggered():
    """HotSpot's is_init_trigger: an .attach_pid<pid> file in the cwd or /tmp owned by this euid or root."""
    name = ".attach_pid%d" % os.getpid()
    for directory in (os.getcwd(), "/tmp"):
        try:
            st = os.stat(os.path.join(directory, name))
        except OSError:
            continue
        if st.st_uid in (0, os.geteuid()):
            return True
    return False


def start_listener():
    path = "/tmp/.java_pid%d" % os.getpid()
    try:
        os.unlink(path)
    except OSError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(5)
    JVM.listener, JVM.socket_path = sock, path
    threading.Thread(target=serve, args=(sock,), name="Attach Listener", daemon=True).start()


def read_request(conn):
    data = b""
    while data.count(b"\0") < 5 and len(data) < MAX_REQUEST:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return [os.fsdecode(p) for p in data.split(b"\0")[:5]]


def serve(sock):
    euid, egid = os.geteuid(), os.getegid()
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            try:
                _pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
                if uid != 0 and (uid, gid) != (euid, egid):
                    continue   # HotSpot: "Attach: peer credentials do not match": closed, no answer
                conn.settimeout(10)
                parts = read_request(conn)
                if len(parts) < 2 or parts[0] != "1":
                    conn.sendall(b"%d\n" % ATTACH_ERROR_BADVERSION)
                    continue
                args = (parts[2:] + ["", "", ""])[:3]
                rc, text = operation(parts[1], args)
                conn.sendall(b"%d\n" % rc + text.encode("utf-8", "replace"))
            except OSError:
                continue


def on_quit(_sig, _frame):
    if attach_triggered() and (JVM.listener is None or not os.path.exists(JVM.socket_path)):
        if JVM.listener is not None:
            JVM.listener.close()
        try:
            start_listener()
            return
        except OSError as exc:
            print("Attach listener failed to start: %s" % exc, file=sys.stderr, flush=True)
    out = []
    thread_dump(out)
    print("\n".join(out), flush=True)


def on_exit_signal(sig, _frame):
    cleanup()
    os._exit(128 + sig)


def parse(argv):
    """(options, main): the main is the jar after -jar, else the first word that is not an option."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-jar" and i + 1 < len(argv):
            return argv[:i], argv[i + 1]
        if arg in ("-cp", "-classpath", "--class-path", "-p", "--module-path"):
            i += 2
            continue
        if not arg.startswith("-"):
            return argv[:i], arg
        i += 1
    return argv, ""


def extra_jvms(first_pid):
    """KUBESIM_JVMS entries after the first: [(pid, main)]."""
    listed = []
    for item in os.environ.get("KUBESIM_JVMS", "").split(","):
        pid, _, main = item.strip().partition("=")
        if pid.isdigit() and main and int(pid) != first_pid:
            listed.append((int(pid), main))
    return sorted(listed)


def start_extra_jvm(pid, main, options):
    """Fork a JVM that runs `main` at namespace pid `pid` (when the pids below it are taken by short-lived
    children first, the kernel hands out `pid` next)."""
    shown = ["java"] + options + (["-jar", main] if main.endswith(".jar") else [main])
    while True:
        child = os.fork()
        if child == 0:
            if os.getpid() == pid:
                run(main, shown)
            os._exit(0)
        if child == pid:
            return
        os.waitpid(child, 0)
        if child > pid:   # taken: that JVM is not started
            return


def run(main, shown_argv):
    JVM.main_name = main
    rewrite_cmdline(shown_argv)
    map_libjvm()
    write_perf_file()
    # the handlers come last: the kubelet takes SIGQUIT handled and unblocked as "started" (jvm_started)
    signal.signal(signal.SIGQUIT, on_quit)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_exit_signal)
    # started with these blocked (sandbox_exec's hold_signals): one sent before the handlers were there waits
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT))
    try:
        while True:
            signal.pause()
    finally:
        cleanup()


def main(argv):
    global RELEASE
    if argv and argv[0].startswith(RELEASE_OPTION):
        RELEASE = parse_release(argv.pop(0)[len(RELEASE_OPTION):])
    options, main_name = parse(argv)
    if not main_name:
        print("Usage: java [options] <mainclass> [args...]\n           (to execute a class)\n   or  java [options] "
              "-jar <jarfile> [args...]\n           (to execute a jar file)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for pid, name in extra_jvms(os.getpid()):
        if pid > os.getpid():
            start_extra_jvm(pid, name, options)
    run(main_name, ["java"] + argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
