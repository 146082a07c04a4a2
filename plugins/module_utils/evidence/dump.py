# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What triage.k8s.pod_dump does: heap and thread dumps of a JVM (and a user's own dump command), taken over
exec, brought out with fetch.fetch_file() (streamed, resumable, sha256-verified), then removed from the container.

Every command goes through exec_run.run(). What the JVM tools print is read by jvm.py (pure parsers and
decisions); this file only runs things and records them:

- the JVM: `jcmd -l`, else the process table (/proc/*/cmdline); one JVM is chosen, several are an error that
  lists them (jvm.choose_jvm);
- heap: `jcmd PID help GC.heap_dump` (which options exist), `GC.heap_info` (used heap; `VM.flags` MaxHeapSize
  when absent), `df -P -k DIR`, and, when the pod spec gives DIR an ephemeral-storage limit (storage.placement),
  `du -s -k` of what counts against it; jvm.decide_free_space() refuses with the figures unless force. The dump
  runs detached in the container (its own session, output and exit code in files beside the dump) and is polled
  with short execs, because proxies cut a silent exec after 20 s to 10 min (a poll whose stream is cut is
  repeated, up to POLL_CUTS in a row);
- threads: `jcmd PID Thread.print -l` (else `jstack -l PID`), `count` times, `interval` seconds apart, each one
  streamed into its own artifact.

With ``via: debug_container`` (evidence/debug.py adds or reuses the ephemeral container) every command runs in the
debug container instead, which shares the target's PID namespace: the JVM is found in /proc (processes of another
mount namespace than the debug container's own) and proved a JVM (libjvm.so mapped, or its executable a java
launcher) before anything signals it; `jattach PID jcmd "<dcmd>"` (`jattach PID threaddump -l`) is preferred,
else the image's jcmd; the JVM writes the dump in its own filesystem, which the debug container reads, hashes
and deletes at /proc/PID/root/<path> (Session.path), and the detached command's own files go to the debug
container's /tmp.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re
import time
import uuid

from ansible_collections.triage.k8s.plugins.module_utils.evidence import debug, exec_run, fetch, jvm, pod_facts, storage
from ansible_collections.triage.k8s.plugins.module_utils.evidence.bundle import now_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.kube.streams import StreamError

MODULE = "pod_dump"
PAUSE_WARNING = ("a heap dump stops the JVM for its whole duration (and, without all_objects, runs a full GC "
                 "first): requests to it stall meanwhile, and probes may fail")
POLL_SECONDS = 2
# Polls in a row whose exec stream may be cut before the dump is given up (and stopped).
POLL_CUTS = 5
SHORT = 30
OUTPUT_KEEP = 64 * 1024
_SAFE_DIR = re.compile(r"^/[A-Za-z0-9._+@/-]*$")


class DumpError(Exception):
    """The dump cannot be taken as asked; the message names the pod and says why (with figures)."""


def needed_seconds(params):
    """How long a debug container must still run to serve this run: the dump's bound (a thread dump series: its
    count and interval, each dump bounded by 300 s)."""
    if params["kind"] == "threads":
        return int(params["count"] * (params["interval"] + min(params["timeout"], 300)))
    return int(params["timeout"])


def dump_stamp():
    """The time and a random part, for a dump's file name: two dumps in the same second (two tasks, or a rerun)
    must not meet one name, in the container (the JVM refuses an existing file) or in the bundle."""
    return "%s-%s" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), uuid.uuid4().hex[:6])


class Session(object):
    """Exec helpers bound to one container: the target itself, or (``debug``: {"name", "image"}) the debug
    container that targets it. ``attach`` is how diagnostic commands reach the JVM ("jcmd", "jattach" or None,
    set by pick_jvm); ``root_pid`` the JVM whose /proc/PID/root the debug container reads the JVM's files at."""

    def __init__(self, api_client, pod, container, timeout, debug_container=None):
        self.api_client = api_client
        self.pod_object = pod
        self.namespace = pod["metadata"]["namespace"]
        self.pod = pod["metadata"]["name"]
        self.debug = debug_container
        self.container = debug_container["name"] if debug_container else container["name"]
        self.timeout = timeout
        self.attach = None
        self.root_pid = None
        if debug_container:
            self.where = "debug container %s (image %s) targeting container %s of pod %s in namespace %s" % (
                self.container, debug_container["image"], container["name"], self.pod, self.namespace)
        else:
            self.where = "container %s of pod %s in namespace %s" % (self.container, self.pod, self.namespace)
        self.commands = []

    def path(self, jvm_path):
        """Where the exec'd commands reach a file of the JVM's filesystem."""
        if self.debug and self.root_pid is not None:
            return debug.proc_root(self.root_pid, jvm_path)
        return jvm_path

    def scratch(self, directory):
        """Where a detached command keeps its output and exit code: beside the dump, or in the debug container's
        own /tmp (the target's filesystem is only for the JVM's file)."""
        return "/tmp" if self.debug else directory

    def dcmd_argv(self, argv):
        """A `jcmd PID ...` argv as this session's attach tool sends it."""
        return jvm.as_jattach(argv) if self.attach == "jattach" else argv

    def dcmd(self, pid, *words):
        """(rc, output, stderr) of one diagnostic command, jattach's own lines removed."""
        rc, out, err = self.run(self.dcmd_argv(["jcmd", str(pid)] + list(words)))
        return rc, jvm.strip_jattach(out) if self.attach == "jattach" else out, err

    def run(self, argv, timeout=SHORT, on_stdout=None):
        """(rc, stdout text, stderr text); rc None when it timed out. Raises exec_run.ExecError for a missing
        command."""
        out, err = fetch.Capped(OUTPUT_KEEP), fetch.Capped(OUTPUT_KEEP)
        ran = exec_run.run(self.api_client, self.namespace, self.pod, self.container, argv,
                           on_stdout or out, err, timeout=timeout)
        self.commands.append({"argv": list(argv), "rc": ran["rc"], "seconds": round(ran["ended"] - ran["started"], 3)})
        return ran["rc"], out.text(), err.text()

    def has(self, tool):
        try:
            rc, _out, _err = self.run([exec_run.SHELL, "-c", 'command -v "$1" >/dev/null 2>&1', "triage-has", tool])
        except exec_run.ExecError:
            return False
        return rc == 0


# ---------------------------------------------------------------- finding the JVM

def find_jvms(session):
    """(jvms, jcmd_available): from `jcmd -l`, else from the process table."""
    try:
        rc, out, err = session.run(["jcmd", "-l"])
        if rc == 0:
            jvms = jvm.parse_jcmd_list(out)
            if jvms:
                return jvms, True
    except exec_run.ExecError:
        pass
    script = ('for p in /proc/[0-9]*; do [ -r "$p/cmdline" ] || continue; printf "%s\\0" "${p#/proc/}"; '
              'cat "$p/cmdline" 2>/dev/null; printf "\\0\\0\\n"; done')
    try:
        rc, out, _err = session.run([exec_run.SHELL, "-c", script])
    except exec_run.ExecError as exc:
        raise DumpError("cannot list the processes of %s: %s" % (session.where, exc))
    processes = []
    for record in out.split("\0\0\n"):
        fields = record.split("\0")
        if fields and fields[0].isdigit():
            processes.append({"pid": int(fields[0]), "argv": [f for f in fields[1:] if f]})
    return jvm.jvms_from_processes(processes), False


def pick_jvm_debug(session, pid):
    """(jvms, chosen) from the debug container: the target's processes, the JVM proved before anything signals it,
    and the attach tool (jattach, else jcmd)."""
    if session.has("jattach"):
        session.attach = "jattach"
    elif session.has("jcmd"):
        session.attach = "jcmd"
    else:
        raise DumpError("%s: the debug image has neither jattach nor jcmd; use an image with jattach, or a JDK of "
                        "the JVM's major version" % session.where)
    try:
        jvms = jvm.jvms_from_scan(debug.scan_processes(session.run, session.where))
        chosen = jvm.choose_verified_jvm(jvms, pid)
    except (jvm.JvmError, debug.DebugError) as exc:
        raise DumpError("%s: %s" % (session.where, exc))
    session.root_pid = chosen["pid"]
    return jvms, chosen


def pick_jvm(session, pid):
    if session.debug:
        jvms, chosen = pick_jvm_debug(session, pid)
    else:
        jvms, has_jcmd = find_jvms(session)
        try:
            chosen = jvm.choose_jvm(jvms, pid)
        except jvm.JvmError as exc:
            raise DumpError("%s: %s" % (session.where, exc))
        session.attach = "jcmd" if has_jcmd else None
    version = None
    if session.attach:
        rc, out, _err = session.dcmd(chosen["pid"], "VM.version")
        if rc == 0:
            try:
                version = jvm.parse_vm_version(out)
            except jvm.JvmError:
                version = None
    return chosen, version, jvms


# ---------------------------------------------------------------- detached commands

def run_detached(session, argv, directory, timeout, progress_path=None, on_started=None):
    """Start argv in its own session in the container, poll with short execs until it ends or timeout.

    on_started() is called once the command runs: from then on the container has changed, whatever fails next.

    Returns {"rc", "output", "seconds", "polls"}. The command's output and exit code go to hidden files in
    directory, removed afterwards. On timeout the command is killed (its process group) and DumpError raised.
    """
    token = uuid.uuid4().hex[:12]
    out_file = posixpath.join(directory, ".triage-%s.out" % token)
    rc_file = posixpath.join(directory, ".triage-%s.rc" % token)
    pid_file = posixpath.join(directory, ".triage-%s.pid" % token)
    # The starting shell returns only once the command's output file exists, that is once it runs in a session
    # of its own: a runtime (kubesim does) may end the exec's process group when the exec ends, and a setsid
    # still starting would go with it.
    script = ('o=$1; r=$2; p=$3; shift 3; '
              'run() { "$@" >"$o" 2>&1 </dev/null; echo $? >"$r"; }; '
              'if command -v setsid >/dev/null 2>&1; then '
              'setsid sh -c \'o=$1; r=$2; shift 2; "$@" >"$o" 2>&1 </dev/null; echo $? >"$r"\' triage-dump '
              '"$o" "$r" "$@" </dev/null >/dev/null 2>&1 & '
              'else run "$@" </dev/null >/dev/null 2>&1 & fi; echo $! >"$p"; '
              'n=0; while [ ! -e "$o" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; [ -e "$o" ]')
    started = time.monotonic()
    rc, _out, err = session.run([exec_run.SHELL, "-c", script, "triage-detach", out_file, rc_file, pid_file] + argv)
    if rc != 0:
        _remove(session, [out_file, rc_file, pid_file])
        raise DumpError("cannot start %s in %s: %s" % (argv[0], session.where,
                                                       err.strip() or "it did not start within 10 s"))
    if on_started is not None:
        on_started()
    polls = 0
    cuts = 0
    # rc 0 and the exit code when it ended; 3 while it runs; 4 when it is gone without writing its exit code.
    check = ('[ -f "$1" ] && { cat "$1"; exit 0; }; kill -0 "$(cat "$2")" 2>/dev/null && exit 3; '
             '[ -f "$1" ] && { cat "$1"; exit 0; }; exit 4')
    while True:
        time.sleep(POLL_SECONDS if polls else 0.5)
        polls += 1
        try:
            rc, out, _err = session.run([exec_run.SHELL, "-c", check, "triage-poll", rc_file, pid_file])
        except StreamError as exc:
            # A cut poll says nothing about the dump, which runs in a session of its own: ask again.
            cuts += 1
            if cuts >= POLL_CUTS or time.monotonic() - started > timeout:
                _stop(session, pid_file, [out_file, rc_file, pid_file])
                raise DumpError("%s in %s: %d polls in a row lost their exec stream (last: %s); the command was "
                                "stopped" % (argv[0], session.where, cuts, exc))
            continue
        cuts = 0
        if rc == 0 and out.strip().lstrip("-").isdigit():
            code = int(out.strip())
            break
        if rc == 4:
            _rc, output, _err = session.run([exec_run.SHELL, "-c", 'cat "$1" 2>/dev/null; exit 0', "triage-out",
                                             out_file])
            _remove(session, [out_file, rc_file, pid_file])
            raise DumpError("%s ended in %s without an exit code (killed?): %s"
                            % (argv[0], session.where, output.strip()[-300:] or "no output"))
        if time.monotonic() - started > timeout:
            _stop(session, pid_file, [out_file, rc_file, pid_file])
            raise DumpError("%s did not finish within %ds in %s and was stopped" % (argv[0], timeout, session.where))
    _rc, output, _err = session.run(["cat", out_file])
    _remove(session, [out_file, rc_file, pid_file])
    return {"rc": code, "output": output, "seconds": round(time.monotonic() - started, 3), "polls": polls}


def _stop(session, pid_file, paths):
    """Kill the detached command's process group, then remove its files (best effort: the caller raises)."""
    try:
        session.run([exec_run.SHELL, "-c", 'p=$(cat "$1" 2>/dev/null) && kill -KILL -- -"$p" "$p" 2>/dev/null; '
                     'exit 0', "triage-kill", pid_file])
    except (exec_run.ExecError, StreamError):
        pass
    _remove(session, paths)


def _remove(session, paths):
    try:
        session.run(["rm", "-f", "--"] + list(paths))
    except (exec_run.ExecError, StreamError):
        pass


def remote_size(session, path):
    rc, out, _err = session.run([exec_run.SHELL, "-c", 'stat -c %s -- "$1" 2>/dev/null || wc -c < "$1"',
                                 "triage-size", path])
    text = out.strip()
    return int(text) if rc == 0 and text.isdigit() else None


def free_space(session, directory):
    rc, out, err = session.run(["df", "-P", "-k", directory])
    if rc != 0:
        raise DumpError("cannot read the free space of %s in %s (df: %s)" % (directory, session.where,
                                                                             err.strip() or "rc %s" % rc))
    try:
        return jvm.parse_df(out)
    except jvm.JvmError as exc:
        raise DumpError("cannot read the free space of %s in %s: %s" % (directory, session.where, exc))


def ephemeral_storage(session, container, directory):
    """What the pod spec says about the ephemeral-storage limits `directory` counts against, with the usage the
    container can measure (`du -s -k`, bounded to SHORT seconds): storage.placement() plus "used_bytes" and
    "used_source" (None when there is no limit, or du failed). Raises DumpError for a limit that cannot be read."""
    try:
        where = storage.placement(session.pod_object, container["name"], directory)
    except storage.StorageError as exc:
        raise DumpError("cannot read the ephemeral-storage limits of pod %s in namespace %s: %s"
                        % (session.pod, session.namespace, exc))
    where.update(used_bytes=None, used_source=None)
    if where["limits"] and where["du_path"]:
        try:
            rc, out, _err = session.run(["du", "-s", "-k", "-x", session.path(where["du_path"])])
            if rc == 0:
                where.update(used_bytes=storage.parse_du(out), used_source="du -s -k -x %s" % where["du_path"])
        except (exec_run.ExecError, storage.StorageError):
            pass
    return where


def used_heap(session, pid):
    """(bytes, source) of the heap in use: GC.heap_info, else VM.flags' MaxHeapSize (an upper bound)."""
    rc, out, _err = session.dcmd(pid, "GC.heap_info")
    if rc == 0:
        try:
            return jvm.parse_heap_info(out)["used_bytes"], "GC.heap_info"
        except jvm.JvmError:
            pass
    rc, out, _err = session.dcmd(pid, "VM.flags")
    if rc == 0:
        try:
            return jvm.parse_max_heap(out), "VM.flags MaxHeapSize"
        except jvm.JvmError:
            pass
    raise DumpError("cannot tell how big the heap of JVM %s in %s is (GC.heap_info and VM.flags failed); set force "
                    "to dump without the free-space check" % (pid, session.where))


# ---------------------------------------------------------------- the dumps

def _check_dir(directory):
    if not _SAFE_DIR.match(directory or "") or ".." in directory.split("/"):
        raise DumpError("dump_dir must be an absolute path of letters, digits and ._+@/- only, without '..': %r"
                        % (directory,))
    return directory.rstrip("/") or "/"


def _via(session):
    """What the manifest and the result record of how the JVM was reached."""
    if not session.debug:
        return {"via": "exec"}
    return {"via": "debug_container", "debug_container": session.container, "debug_image": session.debug["image"]}


def heap(session, target, container, params, result):
    directory = _check_dir(params["dump_dir"])
    chosen, version, _jvms = pick_jvm(session, params["pid"])
    pid = chosen["pid"]
    major = (version or {}).get("major")
    tool = session.attach
    if tool is None:
        if session.has("jmap"):
            tool = "jmap"
        else:
            raise DumpError("%s has neither jcmd nor jmap (a JRE-only or distroless image): use via=debug_container "
                            "with a debug_image that has jattach or a JDK" % session.where)
    help_options = None
    if tool != "jmap":
        rc, out, _err = session.dcmd(pid, "help", "GC.heap_dump")
        if rc == 0:
            try:
                help_options = jvm.parse_dcmd_options(out) or None
            except jvm.JvmError:
                help_options = None
    path = posixpath.join(directory, "triage-heap-%d-%s.hprof" % (pid, dump_stamp()))
    try:
        command = jvm.build_heap_dump(pid, path, major=major, help_options=help_options,
                                      all_objects=params["all_objects"], compress=params["compress"],
                                      gz_level=params["gz_level"], tool="jmap" if tool == "jmap" else "jcmd",
                                      openj9=bool((version or {}).get("openj9")))
        argv = command["argv"] if tool == "jmap" else session.dcmd_argv(command["argv"])
    except jvm.JvmError as exc:
        raise DumpError("%s: %s" % (session.where, exc))
    # The JVM writes in its own filesystem; the debug container measures and reads it through /proc/PID/root, where
    # a linked directory on the way would lead into the debug container's own files.
    if session.debug:
        try:
            linked = debug.linked_directories(session.run, session.path("/").rstrip("/"), [directory + "/dump"])[0]
        except debug.DebugError as exc:
            raise DumpError("%s: %s" % (session.where, exc))
        if linked:
            raise DumpError("%s: %s is a symbolic link in the JVM's filesystem, which /proc/PID/root would resolve in "
                            "the debug container's: choose a dump_dir without links (the path it points to)"
                            % (session.where, linked))
    space = free_space(session, session.path(directory))
    if params["force"]:
        try:
            used, used_source = used_heap(session, pid) if tool != "jmap" else (0, "not read (force)")
        except DumpError:
            used, used_source = 0, "not read (force)"
    else:
        used, used_source = used_heap(session, pid) if tool != "jmap" else (None, None)
        if used is None:
            raise DumpError("%s: jmap gives no heap figure to check the free space with; set force" % session.where)
    limits = ephemeral_storage(session, container, directory)
    tightest = limits["limits"][0] if limits["limits"] else {"bytes": None, "source": None}
    decision = jvm.decide_free_space(used, space["available_bytes"], compressed=command["compressed"],
                                     force=params["force"], ephemeral_limit_bytes=tightest["bytes"],
                                     ephemeral_used_bytes=limits["used_bytes"], ephemeral_source=tightest["source"])
    result["free_space"] = dict(decision, directory=directory, filesystem=space["filesystem"],
                                mount=space["mount"], used_heap_source=used_source, storage=limits["on"],
                                volume=limits["volume"], ephemeral_limits=limits["limits"],
                                ephemeral_used_source=limits["used_source"])
    result["warnings"].extend(decision.get("warnings") or [])
    if not decision["ok"]:
        raise DumpError("%s, pod %s in namespace %s: %s"
                        % (directory, session.pod, session.namespace, decision["message"]))
    result["warnings"].append(PAUSE_WARNING)
    dump_path = command["path"]
    ran = run_detached(session, argv, session.scratch(directory), params["timeout"],
                       on_started=lambda: result.update(changed=True, remote_path=dump_path))
    try:
        report = jvm.parse_heap_dump_result(ran["output"])
    except jvm.JvmError as exc:
        _remove(session, [session.path(dump_path)])
        raise DumpError("%s: %s" % (session.where, exc))
    if ran["rc"] != 0:
        _remove(session, [session.path(dump_path)])
        raise DumpError("%s: %s exited with rc %s: %s" % (session.where, tool, ran["rc"], ran["output"][-300:]))
    compressed_by = "jvm" if command["compressed"] else None
    if params["compress"] and not command["compressed"] and session.has("gzip"):
        size = remote_size(session, session.path(dump_path))
        post = jvm.decide_post_compress(size or 0, free_space(session, session.path(directory))["available_bytes"])
        if post["ok"]:
            gz = jvm.build_gzip(session.path(dump_path))
            gzipped = run_detached(session, gz["argv"], session.scratch(directory), params["timeout"])
            if gzipped["rc"] == 0:
                dump_path, compressed_by = dump_path + ".gz", "gzip"
            else:
                result["warnings"].append("gzip failed in the container (rc %s): fetching the dump raw"
                                          % gzipped["rc"])
        else:
            result["warnings"].append(post["message"])
    meta = dict(_via(session), kind="heap", runtime="jvm", pid=pid, jvm=version, jvm_main=chosen["main"],
                tool=tool, argv=argv, all_objects=params["all_objects"], gc_before_dump=command["gc_before_dump"],
                compressed=compressed_by, dump_seconds=report.get("seconds"), wall_seconds=ran["seconds"],
                polls=ran["polls"], free_space=result["free_space"], paused=True)
    entry = _bring_out(session, target, container, dump_path, "dumps/%s" % posixpath.basename(dump_path), params,
                       result, meta)
    result.update(pid=pid, jvm=version, dump=entry, compressed=compressed_by, dump_seconds=report.get("seconds"))


def threads(session, target, container, params, result):
    chosen, version, _jvms = pick_jvm(session, params["pid"])
    pid = chosen["pid"]
    tool = session.attach or ("jstack" if session.has("jstack") else None)
    if tool is None:
        raise DumpError("%s has neither jcmd nor jstack: use via=debug_container with a debug_image that has "
                        "jattach or a JDK" % session.where)
    argv = jvm.build_thread_dump(pid, tool=tool, locks=True)
    dumps = []
    for index in range(params["count"]):
        if index:
            time.sleep(params["interval"])
        taken_at = now_rfc3339()
        relpath = "dumps/threads-%d-%s-%d.txt" % (pid, dump_stamp(), index + 1)
        summary_capture = fetch.Capped(4 * 1024 * 1024)
        art = target.artifact(relpath, MODULE, {"kind": "threads", "count": params["count"],
                                                "interval": params["interval"]},
                              container=pod_facts.identity(container), kind="threads", runtime="jvm", pid=pid,
                              jvm=version, tool=tool, argv=argv, index=index + 1, taken_at=taken_at,
                              **_via(session))

        def sink(data, art=art, capture=summary_capture):
            art.write(data)
            capture(data)
        # jattach prints its own lines before the JVM's answer: they are not part of the thread dump.
        stdout = jvm.JattachFilter(sink) if tool == "jattach" else sink
        try:
            rc, _out, err = session.run(argv, timeout=min(params["timeout"], 300), on_stdout=stdout)
            if tool == "jattach":
                stdout.close()
        except Exception:
            art.discard()
            raise
        if rc != 0:
            art.discard()
            raise DumpError("%s: %s exited with rc %s: %s" % (session.where, tool, rc, err.strip()[-300:]))
        try:
            summary = jvm.summarize_thread_dump(summary_capture.text())
        except jvm.JvmError as exc:
            art.discard()
            raise DumpError("%s: %s" % (session.where, exc))
        art.meta.update(threads=summary["threads"], deadlock=summary["deadlock"])
        entry = art.finish()
        dumps.append({"path": entry["path"], "size": entry["size"], "sha256": entry["sha256"],
                      "threads": summary["threads"], "deadlock": summary["deadlock"], "taken_at": taken_at})
    result.update(pid=pid, jvm=version, thread_dumps=dumps)


def custom(session, target, container, params, result):
    output_path = params["output_path"]
    if not output_path or not output_path.startswith("/") or ".." in output_path.split("/"):
        raise DumpError("kind=custom needs output_path, the absolute path of the file the command writes")
    command = params["command"]
    argv = exec_run.build_argv(command, params.get("shell", False))
    directory = posixpath.dirname(output_path) or "/"
    ran = run_detached(session, argv, directory, params["timeout"],
                       on_started=lambda: result.update(changed=True, remote_path=output_path))
    if ran["rc"] != 0:
        raise DumpError("%s: the dump command exited with rc %s: %s"
                        % (session.where, ran["rc"], ran["output"].strip()[-300:]))
    meta = dict(_via(session), kind="custom", argv=argv, wall_seconds=ran["seconds"], polls=ran["polls"],
                command_output=ran["output"][-2000:])
    entry = _bring_out(session, target, container, output_path, "dumps/%s" % posixpath.basename(output_path),
                       params, result, meta)
    result.update(dump=entry)


def _bring_out(session, target, container, remote, local_rel, params, result, meta):
    """Fetch the finished dump (verified), then delete it in the container unless keep_remote. ``remote`` is the
    path in the dumped container's filesystem (read at session.path(remote) from a debug container)."""
    reach = session.path(remote)
    tools = set(t for t in ("tail", "sha256sum") if session.has(t))
    size = remote_size(session, reach)
    if size is not None and size > params["max_bytes"]:
        raise DumpError("the dump %s in %s is %d bytes, over max_bytes %d: left in the container"
                        % (remote, session.where, size, params["max_bytes"]))
    files = {"files": [], "resumes": 0, "bytes": 0}
    caps = {"member": params["max_bytes"], "total": params["max_bytes"]}
    pod = {"metadata": {"namespace": session.namespace, "name": session.pod}}
    fetch_params = {"timeout": params["timeout"], "retries": params["retries"]}
    meta = dict(meta, module=MODULE)
    if reach != remote:
        meta.update(remote_path=remote, read_at=reach)
    try:
        entry = fetch.fetch_file(session.api_client, target, pod, container, reach, local_rel, caps, tools,
                                 fetch_params, files, expected_size=size, meta=meta, exec_container=session.container)
    except fetch.FetchError as exc:
        result.update(changed=True, remote_path=remote, remote_deleted=False, resumes=files["resumes"] + exc.resumes)
        raise DumpError("the dump was taken (%s in %s, left there) but could not be copied out: %s. Copy it with "
                        "triage.k8s.pod_fetch (method file, more retries) or delete it there"
                        % (remote, session.where, exc))
    entry = dict(entry, remote_path=remote)
    result["resumes"] = files["resumes"]
    result["changed"] = True
    if not params["keep_remote"]:
        _remove(session, [reach])
        result["remote_deleted"] = remote_size(session, reach) is None
        if not result["remote_deleted"]:
            result["warnings"].append("the dump %s could not be deleted in %s" % (remote, session.where))
    else:
        result["remote_deleted"] = False
    result["remote_path"] = remote
    return entry
