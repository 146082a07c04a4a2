"""HotSpot attach clients, as the JDK's tools and jattach 2.x behave; the program's name picks which:

- ``jcmd [-l] | jcmd <pid> <command line>``: the JDK's jcmd (-l lists JVMs from /tmp/hsperfdata_*/<pid>);
- ``jstack [-l] [-e] <pid>``: a thread dump; ``jmap -dump:[live,]format=b[,gz=N],file=F <pid>``: a heap dump
  (F made absolute in the client's cwd, as jmap does, then written by the JVM in its own filesystem);
- ``jattach <pid> <cmd> [args...]``: reads the target's euid/egid and NStgid from /proc/<pid>/status, switches to
  them (needs root), prints ``Connected to remote JVM`` and ``JVM response code = N`` then the output, and exits
  with the JVM's code.

The attach itself (jvm.py serves the other end): when /proc/<pid>/root/tmp/.java_pid<nspid> is not a socket yet,
create ``.attach_pid<nspid>`` in /proc/<pid>/cwd (in /proc/<pid>/root/tmp when that fails or is not ours),
SIGQUIT the target, and poll for the socket (jattach: 6 s, jcmd: 10.5 s); the attach file is removed afterwards.
A process whose SigCgt shows no SIGQUIT handler is never signalled (the JDK's check: SIGQUIT would kill it).
"""
import os
import signal
import socket
import stat
import sys
import time

JCMD_TIMEOUT = 10.5
JATTACH_TIMEOUT = 6.0


class AttachError(Exception):
    pass


class NoSuchProcess(AttachError):
    pass


def status_fields(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        raise NoSuchProcess("No such process") from None
    except OSError as exc:
        raise AttachError(str(exc)) from None


class Target:
    """A process to attach to, as /proc/<pid>/status describes it."""

    def __init__(self, pid):
        fields = status_fields(pid)
        self.pid = pid
        self.uid = int(fields["Uid"].split()[1])   # effective
        self.gid = int(fields["Gid"].split()[1])
        self.nspid = int((fields.get("NStgid") or str(pid)).split()[-1])
        self.catches_quit = bool(int(fields.get("SigCgt", "0"), 16) & (1 << (signal.SIGQUIT - 1)))
        self.tmp = "/proc/%d/root/tmp" % pid
        self.socket_path = "%s/.java_pid%d" % (self.tmp, self.nspid)

    def socket_ready(self):
        try:
            return stat.S_ISSOCK(os.stat(self.socket_path).st_mode)
        except OSError:
            return False

    def start_listener(self, timeout):
        """The attach file, SIGQUIT, and a poll for the socket (bounded by `timeout`)."""
        if not self.catches_quit:
            raise AttachError("Unable to open socket file %s: target process %d doesn't respond within %dms or "
                              "HotSpot VM not loaded" % (self.socket_path, self.pid, int(timeout * 1000)))
        name = ".attach_pid%d" % self.nspid
        attach_file = None
        for directory in ("/proc/%d/cwd" % self.pid, self.tmp):
            path = os.path.join(directory, name)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o660)
            except OSError:
                continue
            owner = os.fstat(fd).st_uid
            os.close(fd)
            if owner == os.geteuid():
                attach_file = path
                break
            os.unlink(path)
        if attach_file is None:
            raise AttachError("Could not create the attach file %s in the target's cwd or /tmp" % name)
        try:
            os.kill(self.pid, signal.SIGQUIT)
            deadline = time.monotonic() + timeout
            delay = 0.02
            while not self.socket_ready():
                if time.monotonic() >= deadline:
                    raise AttachError("Unable to open socket file %s: target process %d doesn't respond within "
                                      "%dms or HotSpot VM not loaded" % (self.socket_path, self.pid,
                                                                         int(timeout * 1000)))
                time.sleep(min(delay, max(deadline - time.monotonic(), 0.001)))
                delay += 0.02
        except ProcessLookupError:
            raise NoSuchProcess("No such process") from None
        finally:
            try:
                os.unlink(attach_file)
            except OSError:
                pass

    def request(self, cmd, args, timeout):
        """(rc, output bytes) of one attach operation."""
        if not self.socket_ready():
            self.start_listener(timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
        except OSError as exc:
            sock.close()
            raise AttachError("Could not connect to socket %s: %s" % (self.socket_path, exc.strerror)) from None
        with sock:
            parts = [b"1", cmd.encode()] + [a.encode() for a in (list(args) + ["", "", ""])[:3]]
            sock.sendall(b"".join(p + b"\0" for p in parts))
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, newline, rest = data.partition(b"\n")
        if not newline or not head.lstrip(b"-").isdigit():
            raise AttachError("Error reading response: the target closed the connection (peer credentials "
                              "refused?)")
        return int(head), rest


# ------------------------------------------------------------------------------------------------ the JDK tools

def jvms():
    """{ns pid: main class} of the JVMs whose /tmp/hsperfdata_*/<pid> this process can read and that live."""
    found = {}
    try:
        users = [d for d in os.listdir("/tmp") if d.startswith("hsperfdata_")]
    except OSError:
        return found
    for directory in users:
        try:
            names = os.listdir(os.path.join("/tmp", directory))
        except OSError:
            continue
        for name in names:
            if not name.isdigit() or not os.path.exists("/proc/%s" % name):
                continue
            try:
                with open(os.path.join("/tmp", directory, name), "rb") as f:
                    data = f.read(65536)
            except OSError:
                continue
            _, _, tail = data.partition(b"sun.rt.javaCommand\0")
            found[int(name)] = os.fsdecode(tail.split(b"\0")[0])
    return found


def jdk_target(text):
    """The JDK tools' view of a pid argument: a Target, or the message they print."""
    if not text.isdigit():
        raise AttachError("java.lang.IllegalArgumentException: Invalid process identifier: " + text)
    try:
        return Target(int(text))
    except NoSuchProcess:
        raise AttachError("java.io.IOException: No such process") from None


def jdk_request(target, cmd, args):
    try:
        return target.request(cmd, args, JCMD_TIMEOUT)
    except NoSuchProcess:
        raise AttachError("java.io.IOException: No such process") from None
    except AttachError as exc:
        raise AttachError("com.sun.tools.attach.AttachNotSupportedException: %s" % exc) from None


def write(data):
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def jcmd(argv):
    if len(argv) < 2 or argv[1] == "-l":
        for pid, main_class in sorted(jvms().items()):
            print("%d %s" % (pid, main_class))
        print("%d jdk.jcmd/sun.tools.jcmd.JCmd -l" % os.getpid())
        return 0
    pids = sorted(jvms()) if argv[1] == "0" else [argv[1]]
    code = 0
    for pid in pids:
        print("%s:" % pid)
        try:
            rc, output = jdk_request(jdk_target(str(pid)), "jcmd", [" ".join(argv[2:])])
        except AttachError as exc:
            print(exc)
            code = 1
            continue
        write(output)
        code = code or (1 if rc else 0)
    return code


def jstack(argv):
    flags = [a for a in argv[1:] if a.startswith("-")]
    pids = [a for a in argv[1:] if not a.startswith("-")]
    if len(pids) != 1:
        print("Usage:\n    jstack [-l][-e] <pid>", file=sys.stderr)
        return 1
    try:
        rc, output = jdk_request(jdk_target(pids[0]), "threaddump", [" ".join(flags)])
    except AttachError as exc:
        print(exc, file=sys.stderr)
        return 1
    write(output)
    return 1 if rc else 0


def jmap(argv):
    spec = [a for a in argv[1:] if a.startswith("-dump:")]
    pids = [a for a in argv[1:] if a.isdigit()]
    if not spec or not pids:
        print("Usage:\n    jmap -dump:<dump-options> <pid>", file=sys.stderr)
        return 1
    options = {}
    for option in spec[0][len("-dump:"):].split(","):
        key, _, value = option.partition("=")
        options[key] = value
    if "file" not in options or not options["file"]:
        print("Unknown option or missing file", file=sys.stderr)
        return 1
    live = "-live" if "live" in options else "-all"
    try:
        target = jdk_target(pids[0])
        rc, output = jdk_request(target, "dumpheap", [os.path.abspath(options["file"]), live,
                                                     options.get("gz", "")])
    except AttachError as exc:
        print(exc, file=sys.stderr)
        return 1
    write(output)
    return 1 if rc else 0


# ------------------------------------------------------------------------------------------------ jattach

JATTACH_COMMANDS = ("load", "properties", "agentProperties", "datadump", "threaddump", "dumpheap", "inspectheap",
                    "setflag", "printflag", "jcmd")


def jattach(argv):
    if len(argv) < 3 or not argv[1].isdigit():
        print("jattach 2.2 built on Dec  2 2026\n\nUsage: jattach <pid> <cmd> [args ...]\n\nCommands:\n    "
              "%s" % "  ".join(JATTACH_COMMANDS))
        return 1
    pid, cmd, args = int(argv[1]), argv[2], argv[3:]
    if cmd == "jcmd":
        args = [" ".join(args)]
    try:
        target = Target(pid)
    except AttachError:
        print("Process %d not found" % pid, file=sys.stderr)
        return 1
    try:
        if os.getegid() != target.gid:
            os.setegid(target.gid)
        if os.geteuid() != target.uid:
            os.seteuid(target.uid)
    except OSError as exc:
        print("Failed to change credentials to match the target process: %s" % exc.strerror, file=sys.stderr)
        return 1
    try:
        rc, output = target.request(cmd, args, JATTACH_TIMEOUT)
    except AttachError as exc:
        print(str(exc) if not isinstance(exc, NoSuchProcess) else "Process %d not found" % pid, file=sys.stderr)
        return 1
    print("Connected to remote JVM")
    print("JVM response code = %d" % rc)
    write(output)
    return rc


def main(argv):
    tool = os.path.basename(argv[0])
    return {"jstack": jstack, "jmap": jmap, "jattach": jattach}.get(tool, jcmd)(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
