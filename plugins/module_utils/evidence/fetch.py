# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What triage.k8s.pod_fetch does: files and directories out of a container, streamed, capped, verified.

Per path, one of two transfers, both over exec_run.run() (the one exec channel) and both writing only through the
safe sinks of untar.py:

- tar: `tar cf - -C <dir> ./<name>` in the container; its stdout is fed, chunk by chunk, to
  untar.extract_tar_stream() through a bounded queue (the exec runs in a worker thread, the extractor pulls), so
  memory stays flat whatever the archive's size. Every member must be below ./<name>; links, devices and FIFOs are
  recorded, never created.
- file (one regular file, `cat`): stdout goes straight into an untar.FileSink; a dropped stream is resumed from
  the sink's verified offset with `tail -c +N` (or restarted with `cat`) up to `retries` times.

When the container has neither tar nor cat (distroless) and `debug_image` is given, an ephemeral debug container
targeting it is added (evidence/debug.py) and the same transfers run in it, on the target's files at
/proc/<pid>/root/<path> (pid: the target's process in the shared PID namespace). A path with a symbolic link
among its directories is refused there: the link would resolve in the debug container's filesystem, not the
target's. The bytes are as untrusted as ever, the manifest names the target container and the path in it.

Everything is written into a staging directory under the target's .work/ and moved to its place only when
complete, then listed in the manifest with the remote path, the remote sha256 (when the container has sha256sum)
and whether it matched. Nothing the container sends is trusted: its probe answers (type, size, tools) only decide
which transfer to try and refuse an oversized file early; the caps are enforced while streaming in any case.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import posixpath
import queue
import re
import shutil
import threading
import time
import uuid

from ansible_collections.triage.k8s.plugins.module_utils.evidence import debug, exec_run, pod_facts, untar
from ansible_collections.triage.k8s.plugins.module_utils.evidence.bundle import now_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.evidence.files import (
    make_private_dir,
    make_private_dirs,
    sha256_file,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.streams import StreamError
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import utc_now

MODULE = "pod_fetch"
TOOLS = ("tar", "cat", "tail", "sha256sum", "stat", "wc")
# Chunks waiting between the exec thread and the extractor: 16 x 64 KiB, so at most about 1 MiB in memory.
QUEUE_CHUNKS = 16
STDERR_KEEP = 16 * 1024
_HEX64 = re.compile(r"^\\?([0-9a-f]{64})[ \t]")
_PROBE = (
    'for t in %s; do command -v "$t" >/dev/null 2>&1 && printf "tool %%s\\n" "$t"; done; '
    'for p in "$@"; do '
    'if [ -L "$p" ]; then k=link; elif [ -d "$p" ]; then k=dir; elif [ -f "$p" ]; then k=file; '
    'elif [ -e "$p" ]; then k=other; else k=missing; fi; s=-; '
    'if [ "$k" = file ]; then s=$(stat -c %%s -- "$p" 2>/dev/null || wc -c < "$p" 2>/dev/null || echo -); fi; '
    'printf "path %%s %%s\\n" "$k" "$s"; done' % " ".join(TOOLS))


class FetchError(Exception):
    """A path that cannot be fetched as asked; the message names it and says why. `resumes`: the resumed
    streams before a copy that was given up."""

    resumes = 0
    changed = False


class _ConsumerGone(Exception):
    """Raised into the exec's stdout sink when the extractor stopped reading: ends the stream."""


# ---------------------------------------------------------------- what the container says (hints only)

def probe(api_client, namespace, pod, container, paths, timeout):
    """{"tools": set, "paths": [{"kind", "size"}]} from one exec, or None when the container has no /bin/sh.

    The answer is a hint: a hostile container can say anything here, and every decision taken from it is
    checked again while streaming.
    """
    out = Capped(64 * 1024)
    err = Capped(STDERR_KEEP)
    argv = [exec_run.SHELL, "-c", _PROBE, "triage-probe"] + list(paths)
    try:
        ran = exec_run.run(api_client, namespace, pod, container, argv, out, err, timeout=timeout)
    except exec_run.ExecError:
        return None
    if ran["rc"] != 0:
        return None
    tools, found = set(), []
    for line in out.text().splitlines():
        fields = line.split(" ")
        if len(fields) == 2 and fields[0] == "tool" and fields[1] in TOOLS:
            tools.add(fields[1])
        elif len(fields) == 3 and fields[0] == "path":
            size = int(fields[2]) if fields[2].isdigit() else None
            found.append({"kind": fields[1], "size": size})
    if len(found) != len(paths):
        return {"tools": tools, "paths": [{"kind": "unknown", "size": None} for _p in paths]}
    return {"tools": tools, "paths": found}


def remote_sha256(api_client, namespace, pod, container, directory, names, timeout):
    """{name: hex} from the container's sha256sum over names (relative to directory); {} when it cannot tell."""
    plain = [n for n in names if n and "\n" not in n and "%" not in n]
    if not plain:
        return {}
    out = Capped(len(plain) * 200 + 4096)
    err = Capped(STDERR_KEEP)
    argv = [exec_run.SHELL, "-c", 'cd -- "$1" && shift && exec sha256sum "$@"', "triage-sha256", directory] + [
        "./" + n for n in plain]
    try:
        ran = exec_run.run(api_client, namespace, pod, container, argv, out, err, timeout=timeout)
    except (exec_run.ExecError, StreamError):
        return {}
    if ran["rc"] != 0 or out.truncated:
        return {}
    lines = out.text().splitlines()
    if len(lines) != len(plain):
        return {}
    hashes = {}
    for name, line in zip(plain, lines):
        match = _HEX64.match(line)
        if not match:
            return {}
        hashes[name] = match.group(1)
    return hashes


class Capped(object):
    """An exec sink keeping the first cap bytes (probe answers, stderr for messages)."""

    def __init__(self, cap):
        self.cap = cap
        self.parts = []
        self.size = 0
        self.truncated = False

    def __call__(self, data):
        room = self.cap - self.size
        if room <= 0:
            self.truncated = True
            return
        if len(data) > room:
            self.truncated = True
        kept = data[:room]
        self.parts.append(kept)
        self.size += len(kept)

    def text(self):
        return b"".join(self.parts).decode("utf-8", "replace")


# ---------------------------------------------------------------- the exec feeding a pull-based reader

class _Pipe(object):
    """Bounded hand-over from the exec thread (put, the stdout sink) to the extractor (read)."""

    def __init__(self):
        self._queue = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._buffer = b""
        self._closed = False
        self.consumer_gone = False
        self.failure = None

    def put(self, data):
        while True:
            if self.consumer_gone:
                raise _ConsumerGone()
            try:
                self._queue.put(data, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self, failure=None):
        self.failure = failure
        while True:
            try:
                self._queue.put(None, timeout=0.2)
                return
            except queue.Full:
                if self.consumer_gone:
                    return

    def read(self, size):
        while not self._buffer:
            if self._closed:
                return b""
            chunk = self._queue.get()
            if chunk is None:
                self._closed = True
                if self.failure is not None:
                    raise self.failure
                return b""
            self._buffer = chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def stop(self):
        self.consumer_gone = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


def _tar_into(api_client, namespace, pod, container, remote, staging, caps, timeout):
    """Stream `tar` of one remote path into staging; returns (summary, ran, stderr text, exec error)."""
    directory, name = posixpath.split(remote.rstrip("/") or "/")
    directory = directory or "/"
    if not name:
        raise FetchError("cannot fetch the root directory / as a whole: name a directory below it")
    argv = ["tar", "cf", "-", "-C", directory, "./" + name]
    pipe = _Pipe()
    err = Capped(STDERR_KEEP)
    outcome = {}

    def worker():
        try:
            outcome["ran"] = exec_run.run(api_client, namespace, pod, container, argv, pipe.put, err,
                                          timeout=timeout)
            pipe.finish()
        except _ConsumerGone:
            outcome["stopped"] = True
            pipe.finish()
        except (exec_run.ExecError, StreamError) as exc:
            outcome["error"] = exc
            pipe.finish(StreamError(str(exc)))
        except Exception as exc:  # pylint: disable=broad-except  # reported by the main thread, never lost
            outcome["error"] = exc
            pipe.finish(StreamError("%s: %s" % (type(exc).__name__, exc)))

    thread = threading.Thread(target=worker, name="triage-fetch-exec")
    thread.daemon = True
    thread.start()
    try:
        summary = untar.extract_tar_stream(pipe, staging, caps["member"], caps["total"], required_prefix=name)
    finally:
        pipe.stop()
        thread.join()
    return summary, outcome, err.text(), directory, name


def _file_into(api_client, namespace, pod, container, remote, staging, relpath, cap, tools, timeout, retries):
    """Stream one regular file with cat into a FileSink, resuming a dropped stream; returns (sink, resumes)."""
    sink = untar.FileSink(staging, relpath, cap)
    resumes = 0
    err = Capped(STDERR_KEEP)
    argv = ["cat", remote]
    while True:
        try:
            ran = exec_run.run(api_client, namespace, pod, container, argv, sink.write, err, timeout=timeout)
        except StreamError as exc:
            if resumes >= retries:
                sink.abort()
                failure = FetchError("%s: the stream was cut %d times, the last after %d bytes (%s); gave up"
                                     % (remote, resumes + 1, sink.offset, exc))
                failure.resumes = resumes
                raise failure
            resumes += 1
            offset = sink.resume_offset()
            if "tail" in tools:
                argv = ["tail", "-c", "+%d" % (offset + 1), remote]
            else:
                sink.restart()
                argv = ["cat", remote]
            continue
        except untar.SinkError as exc:
            raise FetchError(str(exc))
        except exec_run.ExecError as exc:
            sink.abort()
            raise FetchError(str(exc))
        if ran["timed_out"]:
            sink.abort()
            raise FetchError("%s: the copy did not finish within %ds and was stopped" % (remote, timeout))
        if ran["rc"] != 0:
            sink.abort()
            raise FetchError("%s: %s exited with rc %s: %s" % (remote, argv[0], ran["rc"],
                                                               err.text().strip()[-300:] or "no message"))
        return sink, resumes


# ---------------------------------------------------------------- the module's flow

def local_base(target, container_name):
    """Where fetched paths go, relative to the target root."""
    return "files/%s" % container_name if target.is_bundle else ""


def _local_rel(base, remote):
    rel = remote.strip("/")
    return "%s/%s" % (base, rel) if base else rel


def check_paths(paths):
    """The remote paths, normalised; FetchError for a relative one, one with '..', or none."""
    if not paths:
        raise FetchError("paths is empty: name at least one file or directory in the container")
    clean = []
    for path in paths:
        text = str(path)
        if not text.startswith("/"):
            raise FetchError("path %r must be absolute (a path in the container's filesystem)" % text)
        if "\x00" in text or "\n" in text:
            raise FetchError("path %r contains a NUL or newline character" % text)
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise FetchError("path %r may not contain '..'" % text)
        if not parts:
            raise FetchError("cannot fetch the root directory / as a whole: name a directory below it")
        clean.append("/" + "/".join(parts))
    return clean


def fetch(api_client, target, pod, container, paths, params, check_mode=False):
    """The module's result: fetched files, skipped members, failures, transfer figures."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    identity = pod_facts.identity(container)
    where = "container %s of pod %s in namespace %s" % (container["name"], name, namespace)
    if check_mode:
        result = {"changed": bool(paths), "container": identity, "files": [], "skipped_members": [], "failures": [],
                  "would_copy": [{"path": p, "size": None} for p in paths],
                  "warnings": ["check mode sends no exec (an exec is a write), so the sizes are not known"]}
        if params.get("debug_image"):
            choice = _debug_choice(pod, container, params)
            result["debug_container"] = dict(debug.describe_choice(choice, pod, container["name"],
                                                                   params["debug_image"]), body=choice["container"])
            result["warnings"].append("without an exec it is not known whether the container has tar or cat: if it "
                                      "has neither, the debug container %s would be %s" % (
                                          choice["name"], "added" if choice["action"] == "add" else "used"))
        return result
    caps = {"member": params["max_bytes"], "total": params["max_total_bytes"]}
    timeout = params["timeout"]
    started = time.monotonic()
    result = {"container": identity, "files": [], "skipped_members": [], "failures": [], "resumes": 0,
              "bytes": 0, "warnings": []}
    info = probe(api_client, namespace, name, container["name"], paths, min(timeout, 60))
    tools = info["tools"] if info else set()
    method = params["method"]
    reach = {"container": container["name"], "root": ""}
    if params.get("debug_image") and method == "auto" and not tools & set(("tar", "cat")):
        reach, info = _through_debug(api_client, pod, container, paths, params, result)
        tools = info["tools"]
    base = local_base(target, container["name"])
    staging_root = os.path.join(target.work_dir, "fetch-%s" % uuid.uuid4().hex)
    make_private_dir(staging_root)
    try:
        for index, remote in enumerate(paths):
            hint = info["paths"][index] if info else {"kind": "unknown", "size": None}
            budget = caps["total"] - result["bytes"]
            try:
                _fetch_one(api_client, target, pod, container, remote, hint, tools, method, base, staging_root,
                           dict(member=caps["member"], total=budget), params, result, where, reach)
            except (FetchError, untar.SinkError, untar.UntarError) as exc:
                result["resumes"] += getattr(exc, "resumes", 0)
                result["failures"].append(target.record_failure(MODULE, "fetch %s from %s" % (remote, where),
                                                                str(exc), container=container["name"], path=remote))
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    elapsed = time.monotonic() - started
    result.update(changed=any(f["changed"] for f in result["files"]) or bool(result.get("changed")),
                  seconds=round(elapsed, 3),
                  bytes_per_second=int(result["bytes"] / elapsed) if elapsed > 0 else None)
    _write_listing(target, result, paths, identity, params)
    return result


def _debug_choice(pod, container, params):
    try:
        return debug.choose(pod, container["name"], params["debug_image"], params.get("debug_name"),
                            params["timeout"], utc_now(), params.get("debug_profile") or "baseline")
    except debug.DebugError as exc:
        raise FetchError(str(exc))


def _through_debug(api_client, pod, container, paths, params, result):
    """Add (or reuse) the debug container, find the target's process, probe the paths at /proc/PID/root.
    Returns (reach, info). FetchError (changed when the container was added) when that cannot be done."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    timeout = min(params["timeout"], 60)
    _debug_choice(pod, container, params)  # a bad image or name: refused before anything is sent
    if (pod.get("spec") or {}).get("shareProcessNamespace"):
        # Every container's processes (and the pause process, pid 1) share one namespace there: which of them is
        # the target's cannot be told from inside, and another container's root would be read.
        raise FetchError("container %s of pod %s in namespace %s has neither tar nor cat, and the pod shares one "
                         "process namespace between its containers (shareProcessNamespace), so a debug container "
                         "cannot tell the target's processes from the others'" % (container["name"], name, namespace))
    try:
        _pod, debug_name = debug.ensure(api_client, pod, container["name"], params["debug_image"],
                                        params.get("debug_name"), params["timeout"], params["debug_timeout"],
                                        utc_now(), result, params.get("debug_profile") or "baseline")
        pid = debug.find_target_pid(api_client, namespace, name, debug_name, timeout=timeout)
    except (debug.DebugError, exec_run.ExecError, StreamError) as exc:
        failure = FetchError("container %s of pod %s in namespace %s has neither tar nor cat, and the debug "
                             "container could not reach it: %s" % (container["name"], name, namespace, exc))
        failure.changed = bool(result.get("changed"))
        raise failure
    root = debug.proc_root(pid, "/").rstrip("/")
    where = "the debug container %s of pod %s in namespace %s" % (debug_name, name, namespace)
    info = probe(api_client, namespace, name, debug_name, [root + p for p in paths], timeout)

    def run(argv):
        out, err = Capped(64 * 1024), Capped(STDERR_KEEP)
        ran = exec_run.run(api_client, namespace, name, debug_name, argv, out, err, timeout=timeout)
        return ran["rc"], out.text(), err.text()
    try:
        if info is None:
            raise debug.DebugError("no answer to the probe")
        links = debug.linked_directories(run, root, paths)
    except (debug.DebugError, exec_run.ExecError, StreamError) as exc:
        failure = FetchError("%s cannot read the target's files (a debug image needs /bin/sh, tar or cat): %s"
                             % (where, exc))
        failure.changed = bool(result.get("changed"))
        raise failure
    for index, linked in enumerate(links):
        if linked:
            info["paths"][index] = {"kind": "linked", "size": None, "link": linked}
    result["debug_container"]["target_pid"] = pid
    meta = {"via": "debug_container", "debug_container": debug_name, "debug_image": params["debug_image"],
            "read_at": root}
    return {"container": debug_name, "root": root, "meta": meta}, info


def _choose(method, hint, tools, remote, info_known):
    kind = hint["kind"]
    if kind == "missing":
        raise FetchError("%s does not exist in the container" % remote)
    if kind == "linked":
        raise FetchError("%s: %s is a symbolic link in the container, which /proc/PID/root would resolve in the "
                         "debug container's filesystem: not followed (name the path it points to)"
                         % (remote, hint["link"]))
    if method == "tar":
        return "tar"
    if method == "file":
        if kind in ("dir",):
            raise FetchError("%s is a directory: method=file copies single regular files only (use tar)" % remote)
        return "file"
    if kind == "link":
        raise FetchError("%s is a symbolic link in the container: not followed (name its target)" % remote)
    if kind == "other":
        raise FetchError("%s is not a regular file or directory (a device, FIFO or socket): skipped" % remote)
    if "tar" in tools or not info_known:
        return "tar"
    if kind == "dir":
        raise FetchError("%s is a directory and the container has no tar: copy its files one by one "
                         "(list them in paths)" % remote)
    if "cat" in tools:
        return "file"
    raise FetchError("the container has neither tar nor cat to read %s: set debug_image to read it through a debug "
                     "container" % remote)


def _fetch_one(api_client, target, pod, container, remote, hint, tools, method, base, staging_root, caps, params,
               result, where, reach):
    """One path. ``reach``: {"container": where the commands run, "root": "" or the /proc/PID/root a debug
    container reads the target's files at}; everything recorded names ``remote`` as the target sees it."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    runs_in, reached = reach["container"], reach["root"] + remote
    chosen = _choose(method, hint, tools, remote, hint["kind"] != "unknown")
    if hint["kind"] == "file" and hint["size"] is not None and hint["size"] > caps["member"]:
        raise FetchError("%s is %d bytes, over max_bytes %d: not copied" % (remote, hint["size"], caps["member"]))
    if hint["kind"] == "file" and hint["size"] is not None and hint["size"] > caps["total"]:
        raise FetchError("%s is %d bytes, over what remains of max_total_bytes (%d): not copied"
                         % (remote, hint["size"], caps["total"]))
    if chosen == "file":
        fetch_file(api_client, target, pod, container, reached, _local_rel(base, remote), caps, tools, params, result,
                   expected_size=hint["size"], meta=reach.get("meta"), exec_container=runs_in, shown_remote=remote)
        return
    staging = os.path.join(staging_root, str(len(os.listdir(staging_root))))
    make_private_dir(staging)
    started = now_rfc3339()
    summary, outcome, stderr, directory, top = _tar_into(api_client, namespace, name, runs_in, reached,
                                                         staging, caps, params["timeout"])
    shown_directory = posixpath.dirname(remote.rstrip("/")) or "/"
    written = [m for m in summary["members"] if m["status"] == "written" and m["type"] == "file"]
    for member in summary["members"]:
        if member["status"] in ("written", "exists") and member["type"] in ("file", "dir"):
            continue
        skipped = dict((k, member.get(k)) for k in ("name", "type", "size", "target", "status", "reason"))
        skipped["remote_path"] = remote
        result["skipped_members"].append(skipped)
        if member["status"] == "refused" and len(result["warnings"]) < 20:
            # A refused name is what tampering looks like: say it, not only in the listing.
            result["warnings"].append("%s: archive member %r refused: %s"
                                      % (remote, member["name"], member["reason"]))
    hashes = {}
    if written and "sha256sum" in tools:
        hashes = remote_sha256(api_client, namespace, name, runs_in, directory,
                               [_member_rel(m["name"]) for m in written], min(params["timeout"], 600))
    for member in written:
        expected = hashes.get(_member_rel(member["name"]))
        member.update(remote_path=posixpath.join(shown_directory, _member_rel(member["name"])),
                      remote_sha256=expected, verified=expected is not None)
    mismatched = [m for m in written if m["remote_sha256"] and m["remote_sha256"] != m["sha256"]]
    good = [m for m in written if m not in mismatched]
    _place(target, staging, good, shown_directory, base, container, started, "tar", 0, result,
           reach.get("meta"))
    for member in mismatched:
        result["failures"].append(target.record_failure(
            MODULE, "fetch %s from %s" % (member["remote_path"], where),
            "sha256 %s of the copy differs from the container's %s: not kept"
            % (member["sha256"], member["remote_sha256"]),
            container=container["name"], path=member["remote_path"]))
    problem = summary["error"] or _exec_problem(outcome, stderr, remote)
    if problem:
        raise FetchError("%s: %s (%d file(s) before it were kept)" % (remote, problem, len(good)))


def fetch_file(api_client, target, pod, container, remote, local_rel, caps, tools, params, result,
               expected_size=None, meta=None, exec_container=None, shown_remote=None):
    """One regular file with cat (resumed when cut), checked against expected_size and the container's sha256,
    placed at local_rel in the target and listed in the manifest with meta; appends to result["files"].
    ``exec_container``: the container the commands run in when it is not ``container`` (a debug container that
    reads ``remote`` at /proc/PID/root/...; ``shown_remote`` is then the path in ``container``, which the
    manifest and the result name)."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    runs_in = exec_container or container["name"]
    started = now_rfc3339()
    staging_root = os.path.join(target.work_dir, "fetch-%s" % uuid.uuid4().hex)
    make_private_dir(staging_root)
    try:
        leaf = posixpath.basename(remote)
        sink, resumes = _file_into(api_client, namespace, name, runs_in, remote, staging_root, leaf,
                                   min(caps["member"], caps["total"]), tools, params["timeout"], params["retries"])
        result["resumes"] += resumes
        expected = None
        if "sha256sum" in tools:
            expected = remote_sha256(api_client, namespace, name, runs_in, posixpath.dirname(remote),
                                     [leaf], min(params["timeout"], 600)).get(leaf)
        try:
            record = sink.commit(expected_size=expected_size, expected_sha256=expected)
        except untar.SinkError as exc:
            sink.abort()
            raise FetchError(str(exc))
        record.update(remote_path=shown_remote or remote, remote_sha256=expected, verified=expected is not None,
                      local_rel=local_rel)
        _place(target, staging_root, [record], posixpath.dirname(remote), "", container, started, "file", resumes,
               result, meta)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    return result["files"][-1]


def _member_rel(name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _exec_problem(outcome, stderr, remote):
    if "error" in outcome:
        return str(outcome["error"])
    ran = outcome.get("ran")
    if ran is None:
        return None if outcome.get("stopped") else "the copy ended without an exit status"
    if ran["timed_out"]:
        return "the copy did not finish in time and was stopped"
    if ran["rc"] != 0:
        return "tar exited with rc %s: %s" % (ran["rc"], stderr.strip()[-300:] or "no message")
    return None


def _place(target, staging, records, remote_dir, base, container, started, method, resumes, result, meta=None):
    """Move each verified file from staging into the target and list it; an identical earlier copy is kept."""
    for record in records:
        rel_in_staging = record["path"]
        remote_path = record.get("remote_path") or posixpath.join(remote_dir, rel_in_staging)
        final_rel = record.get("local_rel") or _local_rel(base, remote_path)
        final_dir = posixpath.dirname(final_rel)
        source = os.path.join(staging, rel_in_staging)
        final = os.path.join(target.root, final_rel)
        changed = True
        if os.path.lexists(final):
            if os.path.islink(final) or not os.path.isfile(final):
                raise FetchError("%s exists in the destination and is not a regular file: not replaced" % final_rel)
            if sha256_file(final)[0] == record["sha256"]:
                os.unlink(source)
                changed = False
            else:
                raise FetchError("%s was fetched before with other content (sha256 %s): the earlier copy is kept; "
                                 "fetch into a new bundle or dest" % (final_rel, sha256_file(final)[0]))
        else:
            if final_dir:
                make_private_dirs(target.root, final_dir)
            os.rename(source, final)
        entry = {"path": final_rel, "size": record["size"], "sha256": record["sha256"], "module": MODULE,
                 "options": {"method": method}, "started": started, "ended": now_rfc3339(), "complete": True,
                 "container": pod_facts.identity(container), "remote_path": remote_path,
                 "remote_sha256": record.get("remote_sha256"), "verified": bool(record.get("verified")),
                 "method": method, "resumes": resumes}
        entry.update(meta or {})
        if changed:
            target.list_artifact(entry)
            result["bytes"] += record["size"]
        result["files"].append({"path": final_rel, "remote_path": remote_path, "size": record["size"],
                                "sha256": record["sha256"], "remote_sha256": entry["remote_sha256"],
                                "verified": entry["verified"], "method": method, "changed": changed})


def _write_listing(target, result, paths, identity, params):
    """fetch/<n>.json: every path asked, every file, every skipped member (links with their targets)."""
    if not target.is_bundle or not (result["files"] or result["skipped_members"] or result["failures"]):
        return
    if not any(f["changed"] for f in result["files"]) and not result["skipped_members"] and not result["failures"]:
        return
    count = len([a for a in target.manifest["artifacts"] if a.get("module") == MODULE and
                 a["path"].startswith("fetch/")])
    listing = {"paths": paths, "container": identity, "files": result["files"], "skipped": result["skipped_members"],
               "failures": result["failures"], "resumes": result["resumes"]}
    art = target.artifact("fetch/%d.json" % (count + 1), MODULE, {"paths": paths, "method": params["method"]},
                          container=identity, kind="listing",
                          links=[s for s in result["skipped_members"] if s["type"] in ("symlink", "hardlink")],
                          skipped=result["skipped_members"])
    with art:
        art.write((json.dumps(listing, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    result["listing"] = art.relpath
