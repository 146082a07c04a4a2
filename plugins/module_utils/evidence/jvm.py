# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JVM heap and thread dumps: reading what the container's tools print, and deciding what to run.

Pure functions: no exec, no I/O. pod_dump runs the commands (over exec) and hands their output here. The shapes
are HotSpot's (openjdk/jdk src/hotspot/share/services/diagnosticCommand.cpp, gc/*/…Heap.cpp print_on, JDK 8 to
mainline; diagnostics.md §4). Every parser reads the output of one command and raises JvmError when it does not
look like that command's output, so an error message from jcmd is never taken for a figure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# Free space asked for before a heap dump, as a multiple of the used heap (see decide_free_space for why).
RAW_DUMP_FACTOR = 2.0
GZIP_DUMP_FACTOR = 1.0
RESERVE_BYTES = 256 * MIB

# First JDK feature release with each option used here, for when `jcmd PID help GC.heap_dump` could not be read:
# GC.heap_dump -all exists in JDK 8, -gz since JDK 15 (JDK-8237354); jmap -dump:gz= since JDK 17 (JDK-8256450).
# GC.heap_info exists since JDK 9 (JDK 8 answers "Unknown diagnostic command": read PerfCounter.print instead).
_HEAP_DUMP_OPTION_SINCE = {"-all": 8, "-gz": 15}
_JMAP_GZ_SINCE = 17
HEAP_INFO_SINCE = 9
# The JVM's diagnostic-command parser splits its arguments on spaces and jmap's -dump: on commas, so a dump path
# is limited to characters neither treats specially (pod_dump chooses the name itself).
_SAFE_DUMP_PATH = re.compile(r"^/[A-Za-z0-9._+@/-]+$")

# The jcmd and jps launchers list themselves: `jdk.jcmd/sun.tools.jcmd.JCmd -l` (JDK 9+), `sun.tools.jcmd.JCmd -l`
# (JDK 8).
_TOOL_MAIN_CLASSES = ("sun.tools.jcmd.JCmd", "sun.tools.jps.Jps", "sun.tools.jstack.JStack", "sun.tools.jmap.JMap")
_JAVA_LAUNCHERS = ("java", "javaw", "jsvc")
# Launcher options that take the next argument as their value (java -help, JDK 8 to 21).
_OPTIONS_WITH_VALUE = ("-cp", "-classpath", "--class-path", "-p", "--module-path", "--upgrade-module-path",
                       "--add-modules", "--add-reads", "--add-exports", "--add-opens", "--limit-modules",
                       "--patch-module", "--source", "--enable-native-access")

_UNITS = {"": 1, "B": 1, "K": KIB, "M": MIB, "G": GIB, "T": 1024 * GIB}


class JvmError(Exception):
    """A clear, user-facing error; candidates lists the JVMs when the choice was ambiguous."""

    def __init__(self, message, candidates=None):
        super(JvmError, self).__init__(message)
        self.candidates = candidates or []


def _lines(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return (text or "").splitlines()


def _strip_pid_banner(lines):
    """jcmd prints `<pid>:` before a diagnostic command's output."""
    if lines and re.match(r"^\d+:\s*$", lines[0]):
        return lines[1:]
    return lines


_ATTACH_FAILURES = (
    "AttachNotSupportedException", "Unable to open socket file", "doesn't respond within",
    "Could not find any Java process", "Exception in thread", "java.io.IOException",
    "not a valid process", "Unknown diagnostic command", "Permission denied",
)


def jcmd_failure(text):
    """The error line when a jcmd/jmap/jstack output is a failure rather than a result, else None."""
    for line in _lines(text):
        if any(marker in line for marker in _ATTACH_FAILURES):
            return line.strip()
    return None


# --- finding the JVM ---------------------------------------------------------------------------------------------

def parse_jcmd_list(text):
    """`jcmd -l` (or `jcmd` alone): [{"pid", "main"}] without the jcmd process itself.

    Each line is `<pid> <display name>`; the display name is the main class or jar and its arguments, empty or
    `-- process information unavailable` when the JVM's perf data cannot be read.
    """
    found = []
    for line in _lines(text):
        match = re.match(r"^\s*(\d+)(?:\s+(.*))?$", line)
        if not match:
            # Only lines that are not a JVM's are checked for errors: a JVM's arguments may say anything.
            failure = jcmd_failure(line)
            if failure:
                raise JvmError("jcmd -l failed: %s" % failure)
            continue
        main = (match.group(2) or "").strip()
        if any(tool in main for tool in _TOOL_MAIN_CLASSES):
            continue
        if main in ("-- process information unavailable", match.group(1)):
            main = ""
        found.append({"pid": int(match.group(1)), "main": main, "source": "jcmd"})
    return found


def parse_proc_cmdline(raw):
    """argv from the bytes of /proc/PID/cmdline (NUL-separated, usually NUL-terminated)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [part.decode("utf-8", "replace") for part in parts]


def parse_ps(text):
    """A process table from `ps -eo pid,args` (procps) or busybox `ps` ("PID USER TIME COMMAND"): [{"pid", "argv"}].

    The header says where the command starts: it is the last column, and may contain spaces; the columns before
    it are single words. Arguments are split on whitespace (ps does not quote them).
    """
    lines = _lines(text)
    header_index = next((index for index, line in enumerate(lines) if re.search(r"\bPID\b", line)), None)
    if header_index is None:
        raise JvmError("not a ps output: no header with a PID column")
    columns = lines[header_index].split()
    pid_column = columns.index("PID")
    processes = []
    for line in lines[header_index + 1:]:
        fields = line.split(None, len(columns) - 1)
        if len(fields) < len(columns) or not fields[pid_column].isdigit():
            continue
        processes.append({"pid": int(fields[pid_column]), "argv": fields[-1].split()})
    return processes


def main_class(argv):
    """What `jcmd -l` would call the JVM started by argv: the jar, the module/class or the main class."""
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg in ("-jar", "-m", "--module") and index + 1 < len(argv):
            return " ".join(argv[index + 1:])
        if arg in _OPTIONS_WITH_VALUE:
            index += 2
            continue
        if arg.startswith("-"):
            index += 1
            continue
        return " ".join(argv[index:])
    return ""


def jvms_from_processes(processes):
    """The JVMs in a process table ([{"pid", "argv", optional "exe"}]), when jcmd is absent or lists nothing.

    A JVM here is a process whose executable (the /proc/PID/exe link when known, else argv[0]) is a java launcher.
    This is a candidate list, not the proof a signal needs: see verify_jvm.
    """
    found = []
    for process in processes:
        argv = process.get("argv") or []
        exe = process.get("exe") or (argv[0] if argv else "")
        if posixpath.basename(exe) not in _JAVA_LAUNCHERS:
            continue
        main = main_class(argv)
        if any(tool in main for tool in _TOOL_MAIN_CLASSES) or main.startswith("jdk.jcmd/"):
            continue
        found.append({"pid": int(process["pid"]), "main": main, "source": "process table"})
    return found


def verify_jvm(exe=None, maps=None, argv=None):
    """(True, why) when a process is shown to be a JVM that SIGQUIT makes print its threads, else (False, why).

    SIGQUIT prints a thread dump only in a JVM; it kills a Go program or a plain process (diagnostics.md §5), so
    it needs proof, not a name: libjvm mapped in /proc/PID/maps (any launcher, including embedded JVMs), or
    /proc/PID/exe pointing at a java launcher. argv[0] proves nothing: a process sets it itself. A JVM started
    with -Xrs (or -XX:+ReduceSignalUsage) leaves SIGQUIT to its default action, which ends the process.
    """
    reduced = [arg for arg in (argv or []) if arg in ("-Xrs", "-XX:+ReduceSignalUsage")]
    if reduced:
        return False, "it was started with %s: SIGQUIT would terminate it instead of printing its threads" % reduced[0]
    if maps:
        for line in _lines(maps):
            if line.rstrip().endswith("/libjvm.so") or "/libjvm.so " in line:
                return True, "libjvm.so is mapped into the process"
    if exe:
        target = exe.strip()
        if target.endswith(" (deleted)"):
            return False, "the executable %s was deleted" % target[:-10]
        if posixpath.basename(target) in _JAVA_LAUNCHERS:
            return True, "its executable is %s" % target
    return False, "neither /proc/PID/maps nor /proc/PID/exe shows a JVM"


def jvms_from_scan(processes):
    """The JVM candidates among the target's processes seen from a debug container ([{"pid", "exe", "libjvm",
    "uid", "argv"}], evidence/debug.py's scan): a java launcher as executable or argv[0], or libjvm.so mapped.
    Each carries "verified": verify_jvm's (ok, why) from the mapping and the executable, never from argv alone.
    """
    found = []
    for process in processes:
        argv = process.get("argv") or []
        exe = process.get("exe") or ""
        named = posixpath.basename(exe) in _JAVA_LAUNCHERS or (argv and posixpath.basename(argv[0]) in _JAVA_LAUNCHERS)
        if not (named or process.get("libjvm")):
            continue
        main = main_class(argv)
        if any(tool in main for tool in _TOOL_MAIN_CLASSES) or main.startswith("jdk.jcmd/"):
            continue
        found.append({"pid": int(process["pid"]), "main": main, "source": "/proc", "uid": process.get("uid"),
                      "verified": verify_jvm(exe=exe or None, maps=process.get("libjvm"), argv=argv)})
    return found


def choose_verified_jvm(candidates, pid=None):
    """choose_jvm among the candidates verify_jvm proved (jattach and jcmd SIGQUIT the target, which kills anything
    but a JVM); JvmError saying why for a pid, or for all of them, that is not proved."""
    proved = [jvm for jvm in candidates if jvm["verified"][0]]
    if pid is not None:
        for jvm in candidates:
            if jvm["pid"] == int(pid) and not jvm["verified"][0]:
                raise JvmError("pid %s is not shown to be a JVM (%s): nothing is signalled"
                               % (pid, jvm["verified"][1]), candidates=candidates)
    if not proved and candidates:
        raise JvmError("no process is shown to be a JVM (%s): nothing is signalled. /proc/PID/maps and "
                       "/proc/PID/exe of another user's process are readable only as that user, or with SYS_PTRACE "
                       "(debug_profile=general)"
                       % "; ".join("pid %d: %s" % (jvm["pid"], jvm["verified"][1]) for jvm in candidates),
                       candidates=candidates)
    return choose_jvm(proved, pid)


_JATTACH_BANNER = re.compile(r"^(Connected to remote JVM|JVM response code = -?\d+)\s*$")


def strip_jattach(text):
    """jattach's output without its own lines (`Connected to remote JVM`, `JVM response code = N`) before the
    JVM's answer."""
    lines = _text(text).split("\n")
    while lines and _JATTACH_BANNER.match(lines[0]):
        lines.pop(0)
    return "\n".join(lines)


class JattachFilter(object):
    """A stream filter (bytes in, bytes to ``write``) that drops jattach's leading lines, for a thread dump
    streamed into an artifact: it holds back at most the first LIMIT bytes until they are decided."""

    LIMIT = 4096

    def __init__(self, write):
        self.write = write
        self.pending = b""
        self.decided = False

    def __call__(self, data):
        if self.decided:
            self.write(data)
            return
        self.pending += data
        while not self.decided:
            end = self.pending.find(b"\n")
            if end < 0:
                if len(self.pending) > self.LIMIT:
                    self._flush()
                return
            if _JATTACH_BANNER.match(self.pending[:end].decode("utf-8", "replace")):
                self.pending = self.pending[end + 1:]
            else:
                self._flush()

    def _flush(self):
        self.decided = True
        data, self.pending = self.pending, b""
        if data:
            self.write(data)

    def close(self):
        if not self.decided:
            if not _JATTACH_BANNER.match(self.pending.decode("utf-8", "replace")):
                self._flush()
            self.decided = True


def choose_jvm(jvms, pid=None):
    """The one JVM to dump: the given pid (which must be one of them), or the only one. JvmError otherwise."""
    listing = ", ".join("%d (%s)" % (jvm["pid"], jvm["main"] or "main class unknown") for jvm in jvms)
    if pid is not None:
        for jvm in jvms:
            if jvm["pid"] == int(pid):
                return jvm
        raise JvmError("pid %s is not a JVM in this container; JVMs found: %s" % (pid, listing or "none"),
                       candidates=jvms)
    if not jvms:
        raise JvmError("no JVM found in the container (jcmd -l and the process table list none)")
    if len(jvms) > 1:
        raise JvmError("%d JVMs run in the container: %s; set pid to choose one" % (len(jvms), listing),
                       candidates=jvms)
    return jvms[0]


# --- what the JVM is ---------------------------------------------------------------------------------------------

def parse_vm_version(text):
    """`jcmd PID VM.version`: {"vm", "vm_release", "jdk", "major", "openj9"}.

    HotSpot prints `<vm name> version <vm release>` then `JDK <major>.<minor>.<security>[.<patch>]` (JDK 9+) or
    `JDK 8.0_<update>` (JDK 8, whose VM release is the HotSpot 25.x number, not the JDK's).
    """
    failure = jcmd_failure(text)
    if failure:
        raise JvmError("VM.version failed: %s" % failure)
    vm = vm_release = jdk = None
    major = None
    for line in _strip_pid_banner(_lines(text)):
        line = line.strip()
        match = re.match(r"^(.*\bVM) version (\S+)", line)
        if match and vm is None:
            vm, vm_release = match.group(1), match.group(2)
            continue
        match = re.match(r"^JDK (\d+)(?:[.\d_+\-a-zA-Z]*)$", line)
        if match:
            jdk = line[4:]
            major = int(match.group(1))
    if vm is None:
        raise JvmError("not a VM.version output: no '<VM> version <release>' line")
    if major is None:
        # Without the JDK line (OpenJ9 prints none), a release such as 17.0.9+9 or 1.8.0_392 starts with it.
        match = re.match(r"^(?:1\.)?(\d+)", vm_release)
        if match and int(match.group(1)) < 25:
            major = int(match.group(1))
    return {"vm": vm, "vm_release": vm_release, "jdk": jdk, "major": major, "openj9": "OpenJ9" in vm}


def _lines_after(text, heading, what):
    """The lines after the first one starting with heading (none without it); JvmError for a jcmd failure."""
    failure = jcmd_failure(text)
    if failure:
        raise JvmError("%s failed: %s" % (what, failure))
    lines = _lines(text)
    for index, line in enumerate(lines):
        if line.startswith(heading):
            return lines[index + 1:]
    return []


def parse_dcmd_options(text):
    """The option names (`-all`, `-gz`, ...) in `jcmd PID help GC.heap_dump`'s "Options:" section.

    Each option is a line `<TAB>-name : [optional] description (TYPE, default)` (DCmdParser::print_help).
    """
    option = re.compile(r"^\s+(-[A-Za-z][\w-]*)\s*:")
    return {m.group(1) for m in map(option.match, _lines_after(text, "Options:", "jcmd help")) if m}


def parse_dcmd_list(text):
    """The command names in `jcmd PID help` (one a line after "The following commands are available:")."""
    commands = set()
    for line in _lines_after(text, "The following commands are available", "jcmd help"):
        if line.startswith("For more information"):
            break
        match = re.match(r"^([A-Za-z][\w.]*)(?: \[disabled\])?\s*$", line)
        if match:
            commands.add(match.group(1))
    return commands


# --- how big the heap is -----------------------------------------------------------------------------------------

def _amount(number, unit):
    return int(number) * _UNITS[unit.upper()]


# G1 ("total NK, used NK"; newer mainline: "total reserved NK, committed NK, used NK"), Parallel (PSYoungGen,
# ParOldGen), Serial (def new / tenured generation), CMS (par new / concurrent mark-sweep generation) all print
# generation lines "<name> total <n>K, ... used <n>K"; their sub-spaces ("eden space 65536K, 12% used") do not.
_GENERATION = re.compile(r"^\s*(?P<name>[A-Za-z][\w -]*?)\s+total (?:reserved \d+K, committed )?\d+K, used "
                         r"(?P<used>\d+)K")
_ZGC = re.compile(r"^\s*ZHeap\s+used (?P<used>\d+)M, capacity \d+M, max capacity \d+M")
_SHENANDOAH = re.compile(r"^\s*(?:\d+[BKMGT]? max, \d+[BKMGT]? soft max, \d+[BKMGT]? committed, |"
                         r"\d+[BKMGT]? total, \d+[BKMGT]? committed, )(?P<used>\d+)(?P<unit>[BKMGT]?) used")
_SHENANDOAH_GEN = re.compile(r"^\s*\d+[BKMGT]? max, (?P<used>\d+)(?P<unit>[BKMGT]?) used\s*$")


def parse_heap_info(text):
    """`jcmd PID GC.heap_info` (JDK 9+): {"collector", "used_bytes"}.

    Figures are those HotSpot prints, truncated to their unit (K, or M for ZGC, the "proper unit" for Shenandoah),
    so used_bytes may be low by less than one unit; decide_free_space's margin covers that.
    """
    failure = jcmd_failure(text)
    if failure:
        raise JvmError("GC.heap_info failed: %s" % failure)
    lines = _strip_pid_banner(_lines(text))
    joined = "\n".join(lines)
    if "Shenandoah Heap" in joined:
        generational = "Generational Shenandoah Heap" in joined
        pattern = _SHENANDOAH_GEN if generational else _SHENANDOAH
        used = [_amount(m.group("used"), m.group("unit")) for m in map(pattern.match, lines) if m]
        if used:
            return {"collector": "Shenandoah (generational)" if generational else "Shenandoah", "used_bytes": sum(used)}
    for line in lines:
        match = _ZGC.match(line)
        if match:
            return {"collector": "ZGC", "used_bytes": _amount(match.group("used"), "M")}
    generations = [m for m in map(_GENERATION.match, lines) if m]
    if generations:
        names = [m.group("name").strip() for m in generations]
        used = sum(_amount(m.group("used"), "K") for m in generations)
        return {"collector": _collector_name(names), "used_bytes": used}
    raise JvmError("not a GC.heap_info output this module can read (no heap usage line)")


def _collector_name(names):
    known = {"garbage-first heap": "G1", "PSYoungGen": "Parallel", "def new generation": "Serial",
             "DefNew": "Serial", "par new generation": "CMS", "ParNew": "CMS"}
    for name in names:
        if name in known:
            return known[name]
    return names[0]


def parse_perf_counters(text):
    """Used heap from `jcmd PID PerfCounter.print` (JDK 8 has no GC.heap_info): {"collector", "used_bytes"}.

    Sums sun.gc.generation.<g>.space.<s>.used (bytes), the counters jstat reads.
    """
    failure = jcmd_failure(text)
    if failure:
        raise JvmError("PerfCounter.print failed: %s" % failure)
    used = [int(m.group(1)) for m in (re.match(r"^sun\.gc\.generation\.\d+\.space\.\d+\.used=(\d+)\s*$", line)
                                      for line in _lines(text)) if m]
    if not used:
        raise JvmError("PerfCounter.print shows no sun.gc.generation.*.space.*.used counter")
    collector = None
    for line in _lines(text):
        match = re.match(r'^sun\.gc\.policy\.name="(.*)"\s*$', line)
        if match:
            collector = match.group(1)
    return {"collector": collector, "used_bytes": sum(used)}


def parse_max_heap(text):
    """-XX:MaxHeapSize (bytes) from `jcmd PID VM.flags`: the upper bound when the used heap cannot be read."""
    match = re.search(r"-XX:MaxHeapSize=(\d+)\b", text if isinstance(text, str) else text.decode("utf-8", "replace"))
    if not match:
        raise JvmError("VM.flags shows no -XX:MaxHeapSize")
    return int(match.group(1))


# --- free space --------------------------------------------------------------------------------------------------

def parse_df(text):
    """`df -P -k DIR`, `df -k DIR`, `df -B1 DIR` (GNU or busybox): {"filesystem", "size_bytes", "available_bytes",
    "mount"} for the (single) filesystem listed.

    The block size comes from the header ("1024-blocks", "1K-blocks", "1B-blocks", "512-blocks"). Fields are read
    around the capacity column (`NN%`), so a filesystem or mount name with spaces still parses.
    """
    lines = [line for line in _lines(text) if line.strip()]
    if not lines or not lines[0].startswith("Filesystem"):
        raise JvmError("not a df output: no 'Filesystem' header")
    match = re.search(r"\b(\d+)([KMGT]?)B?-blocks\b", lines[0])
    if not match:
        raise JvmError("df output does not say its block size (use df -P -k or df -B1)")
    block = _amount(match.group(1), match.group(2))
    entries = []
    pending = []
    for line in lines[1:]:
        tokens = pending + line.split()
        position = next((index for index in range(4, len(tokens)) if re.match(r"^(\d+%|-)$", tokens[index])
                         and all(token.isdigit() for token in tokens[index - 3:index])), None)
        if position is None:
            pending = tokens  # GNU df without -P wraps a long filesystem name onto its own line
            continue
        pending = []
        entries.append({
            "filesystem": " ".join(tokens[:position - 3]),
            "size_bytes": int(tokens[position - 3]) * block,
            "available_bytes": int(tokens[position - 1]) * block,
            "mount": " ".join(tokens[position + 1:]),
        })
    if len(entries) != 1:
        raise JvmError("df listed %d filesystems, expected the one holding the dump directory" % len(entries))
    return entries[0]


def decide_free_space(used_heap_bytes, available_bytes, compressed=False, force=False,
                      ephemeral_limit_bytes=None, ephemeral_used_bytes=None, ephemeral_source=None):
    """Whether a heap dump fits where it is written: {"ok", "required_bytes", "available_bytes", "message", ...}.

    required = used heap x factor + RESERVE_BYTES, where:
    - factor RAW_DUMP_FACTOR (2.0) for an uncompressed HPROF: the file is not the heap's own layout. With
      compressed oops (the default below 32 GiB) a reference is 4 bytes in the heap and 8 in the file, and an
      object's 12-byte header becomes a 25-byte instance record, so reference-heavy heaps dump to up to about
      twice their size, while primitive arrays (usually the bulk) dump at about 1x. 2.0 is that worst case, not
      the typical figure, because the two errors do not cost the same: a refused dump can be forced, a dump that
      fills ephemeral storage gets the pod evicted and destroys the evidence it was meant to save.
    - factor GZIP_DUMP_FACTOR (1.0) when the JVM compresses (-gz): this assumes the file compresses at least 2x,
      which HPROF's content (strings, byte arrays, runs of 8-byte ids and zeros) normally does even at level 1;
      a heap full of random bytes would not, and force is the way out there.
    - RESERVE_BYTES (256 MiB): room left for the application's own logs and temp files while the dump is written
      and fetched, which also covers the truncation of GC.heap_info's figures to their unit (under 1 MiB for
      ZGC's M, under 1% for Shenandoah's "proper unit", which switches to M only from 100M on).
    The used heap is an upper bound for the default live dump (which runs a full GC first) and about right for
    -all. With an ephemeral-storage limit, the room under the limit counts too: df shows the node's disk, but the
    kubelet evicts the pod when its own usage passes the limit (ephemeral_source names that limit, as
    storage.placement() does; ephemeral_used_bytes is what the container could measure of the usage).
    force=True turns a refusal into a warning.
    """
    factor = GZIP_DUMP_FACTOR if compressed else RAW_DUMP_FACTOR
    required = int(used_heap_bytes * factor) + RESERVE_BYTES
    decision = {"required_bytes": required, "available_bytes": available_bytes, "used_heap_bytes": used_heap_bytes,
                "factor": factor, "reserve_bytes": RESERVE_BYTES, "forced": False, "warnings": []}
    room = available_bytes
    where = "free on the dump directory's filesystem"
    limit_name = ephemeral_source or "the pod's ephemeral-storage limit"
    if ephemeral_limit_bytes is not None:
        decision.update(ephemeral_limit_bytes=ephemeral_limit_bytes, ephemeral_used_bytes=ephemeral_used_bytes,
                        ephemeral_source=limit_name)
        if ephemeral_used_bytes is not None:
            under_limit = ephemeral_limit_bytes - ephemeral_used_bytes
            if under_limit < room:
                room, where = under_limit, ("left under %s (%s, of which %s already used)"
                                            % (limit_name, format_bytes(ephemeral_limit_bytes),
                                               format_bytes(ephemeral_used_bytes)))
        elif required > ephemeral_limit_bytes:
            room, where = ephemeral_limit_bytes, "the whole of %s" % limit_name
        else:
            decision["warnings"].append(
                "%s is %s and the current usage is unknown: the dump (up to %s) may get the pod evicted"
                % (limit_name, format_bytes(ephemeral_limit_bytes), format_bytes(required)))
    decision["room_bytes"] = room
    figures = ("the dump needs up to %s (used heap %s x %.1f + %s reserve), %s is %s"
               % (format_bytes(required), format_bytes(used_heap_bytes), factor, format_bytes(RESERVE_BYTES),
                  where, format_bytes(room)))
    if required <= room:
        decision.update(ok=True, message="enough space: " + figures)
        return decision
    if force:
        decision.update(ok=True, forced=True, message="not enough space, dumping anyway (force): " + figures)
        decision["warnings"].append(decision["message"])
        return decision
    decision.update(ok=False, message="refusing the heap dump: " + figures + ". A dump that fills ephemeral storage "
                    "gets the pod evicted, which destroys the evidence; free space, choose another directory "
                    "(a volume), or set force")
    return decision


def format_bytes(count):
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if abs(count) >= size:
            return "%.1f %s" % (count / size, unit)
    return "%d bytes" % count


# --- the commands ------------------------------------------------------------------------------------------------

def heap_dump_options(major=None, help_options=None):
    """The GC.heap_dump options the target supports: from its help output when read, else from its JDK version."""
    if help_options is not None:
        return set(help_options)
    if major is None:
        return {"-all"}
    return {option for option, since in _HEAP_DUMP_OPTION_SINCE.items() if major >= since}


def build_heap_dump(pid, path, major=None, help_options=None, all_objects=False, compress=True, gz_level=1,
                    tool="jcmd", executable=None, openj9=False):
    """The heap dump command: {"argv", "path", "compressed", "gc_before_dump", "tool"}.

    jcmd: `jcmd PID GC.heap_dump [-all] [-gz=N] PATH` (-gz where supported; without -all the JVM runs a full GC
    first and dumps the live set). jmap, the fallback: `jmap -dump:[live,]format=b[,gz=N],file=PATH PID`.
    path gets a .gz suffix when the JVM compresses. Without -overwrite the JVM refuses an existing file, which is
    what a dump that must not replace anything wants.
    """
    if openj9:
        raise JvmError("an OpenJ9 JVM: GC.heap_dump/jmap are HotSpot commands; use kind: custom with OpenJ9's "
                       "jcmd Dump.heap")
    if not _SAFE_DUMP_PATH.match(path) or ".." in path.split("/"):
        raise JvmError("heap dump path must be absolute, of letters, digits and ._+@/- only, without '..': %r"
                       % (path,))
    if not 1 <= int(gz_level) <= 9:
        raise JvmError("gz_level must be 1 to 9")
    pid = str(int(pid))
    if tool == "jcmd":
        options = heap_dump_options(major, help_options)
        if all_objects and "-all" not in options:
            raise JvmError("this JVM's GC.heap_dump has no -all option")
        compressed = bool(compress and "-gz" in options)
    elif tool == "jmap":
        compressed = bool(compress and major is not None and major >= _JMAP_GZ_SINCE)
    else:
        raise JvmError("unknown heap dump tool %r (jcmd or jmap)" % (tool,))
    if compressed and not path.endswith(".gz"):
        path += ".gz"
    level = str(int(gz_level))
    if tool == "jcmd":
        argv = ([executable or "jcmd", pid, "GC.heap_dump"] + (["-all"] if all_objects else [])
                + (["-gz=" + level] if compressed else []) + [path])
    else:
        spec = (([] if all_objects else ["live"]) + ["format=b"] + (["gz=" + level] if compressed else [])
                + ["file=" + path])
        argv = [executable or "jmap", "-dump:" + ",".join(spec), pid]
    return {"argv": argv, "path": path, "compressed": compressed, "gc_before_dump": not all_objects, "tool": tool}


def as_jattach(argv, executable="jattach"):
    """A `jcmd PID <dcmd> <args...>` argv as jattach sends it: `jattach PID jcmd "<dcmd> <args...>"` (the JVM
    splits the command line on spaces itself, so every argument must be free of them)."""
    if len(argv) < 3:
        raise JvmError("not a jcmd command: %r" % (argv,))
    words = list(argv[2:])
    if any(not word or " " in word or "\0" in word for word in words):
        raise JvmError("a diagnostic command sent through jattach cannot carry an empty argument or a space: %r"
                       % (words,))
    return [executable, str(int(argv[1])), "jcmd", " ".join(words)]


def build_gzip(path):
    """Compress a finished raw dump in the container: {"argv", "path"}. `-n` keeps name and time out of the file."""
    if not _SAFE_DUMP_PATH.match(path):
        raise JvmError("unsafe dump path %r" % (path,))
    return {"argv": ["gzip", "-1", "-n", path], "path": path + ".gz"}


def decide_post_compress(dump_bytes, available_bytes):
    """Whether gzip may run after a raw dump: its output (at most the input's size, plus a few bytes) sits next to
    the raw file until gzip removes that, so it needs the dump's size free, and the reserve. Else fetch it raw."""
    required = dump_bytes + RESERVE_BYTES
    ok = required <= available_bytes
    return {"ok": ok, "required_bytes": required, "available_bytes": available_bytes,
            "message": "%s: compressing needs up to %s next to the %s dump, %s free"
                       % ("compressing in the container" if ok else "not compressing in the container (fetching raw)",
                          format_bytes(required), format_bytes(dump_bytes), format_bytes(available_bytes))}


def build_thread_dump(pid, tool="jcmd", locks=True, executable=None):
    """`jcmd PID Thread.print -l`, `jattach PID threaddump -l` (a debug image), or the fallback `jstack -l PID`:
    the argv."""
    pid = str(int(pid))
    if tool == "jcmd":
        return [executable or "jcmd", pid, "Thread.print"] + (["-l"] if locks else [])
    if tool == "jattach":
        return [executable or "jattach", pid, "threaddump"] + (["-l"] if locks else [])
    if tool == "jstack":
        return [executable or "jstack"] + (["-l"] if locks else []) + [pid]
    raise JvmError("unknown thread dump tool %r (jcmd, jattach or jstack)" % (tool,))


def build_sigquit(pid, verified):
    """`kill -QUIT PID`, only for a process verify_jvm proved to be a JVM (SIGQUIT kills anything else)."""
    ok, why = verified
    if not ok:
        raise JvmError("not sending SIGQUIT to pid %s: it is not shown to be a JVM (%s)" % (pid, why))
    return ["kill", "-QUIT", str(int(pid))]


def parse_heap_dump_result(text):
    """The JVM's own report after GC.heap_dump/jmap: {"bytes", "seconds"}; JvmError when it failed.

    HotSpot prints `Heap dump file created [N bytes in S secs]` (N as written, compressed with -gz), or
    `Dump file is incomplete: ...`, or (without -overwrite) `... File exists`.
    """
    match = re.search(r"Heap dump file created \[(\d+) bytes in ([\d.]+) secs\]", _text(text))
    if match:
        return {"bytes": int(match.group(1)), "seconds": float(match.group(2))}
    failure = jcmd_failure(text)
    for line in _lines(text):
        if "incomplete" in line or "File exists" in line or "Unable to create" in line:
            failure = line.strip()
    if failure:
        raise JvmError("heap dump failed: %s" % failure)
    if "Heap dump file created" in _text(text):
        return {"bytes": None, "seconds": None}  # JDK 8's jmap prints no figures
    raise JvmError("heap dump gave no 'Heap dump file created' report: %s" % (_text(text).strip()[:200] or "(empty)"))


def summarize_thread_dump(text):
    """{"threads", "deadlock", "vm"} of a Thread.print/jstack output; JvmError when it is not a thread dump."""
    failure = jcmd_failure(text)
    header = None
    threads = 0
    for line in _lines(text):
        if line.startswith("Full thread dump "):
            header = line[len("Full thread dump "):].rstrip(":")
        elif line.startswith('"'):
            threads += 1
    if header is None:
        raise JvmError("not a thread dump: %s" % (failure or "no 'Full thread dump' line"))
    text = _text(text)
    deadlock = "Found one Java-level deadlock" in text or bool(re.search(r"Found \d+ deadlocks", text))
    return {"threads": threads, "deadlock": deadlock, "vm": header}


def _text(text):
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else (text or "")
