# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Commands in a container with a timeout that stops the remote work, not only the local wait.

The command runs under a small /bin/sh wrapper that exports a marker (TRIAGE_EXEC_ID=<random>) and execs
``timeout -k 5 N`` around the command when the container has ``timeout``, else the command itself:

    /bin/sh -c 'TRIAGE_EXEC_ID=...; export TRIAGE_EXEC_ID; if command -v timeout ...; then exec timeout -k 5 N "$@";
                fi; exec "$@"' triage-exec ARGV...

When the local deadline passes first (no ``timeout`` in the container, or it did not end the command), a second
exec kills every process whose environment carries the marker (read from /proc/<pid>/environ), while the first
stream is still open (a kubelet does not end a command when its stream closes), and the result says which pids
it killed. A container without /bin/sh runs the command directly; its timeout is then local
only, and the result warns that the command may still be running.

pod_dump and pod_fetch use run() with their own sinks (a tar extractor, a file).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex
import time
import uuid

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import KubeError
from ansible_collections.triage.k8s.plugins.module_utils.kube import streams

SHELL = "/bin/sh"
KILL_AFTER = 5
# Time given to the remote `timeout` to end the command and the exit Status to arrive, past the timeout.
GRACE = KILL_AFTER + 5
MARKER_VAR = "TRIAGE_EXEC_ID"
# rc of GNU/busybox timeout when the time ran out (124), or when -k had to KILL (137).
TIMEOUT_CODES = (124, 137)
_NOT_FOUND = re.compile(r"(not found|No such file or directory|can't execute|cannot execute|Permission denied)")


class ExecError(Exception):
    """The command could not run (no such command, no shell, stream refused); the message says which."""


def build_argv(command, shell):
    """The argv to run: a list as given; a string split as a shell would, or given to /bin/sh -c when shell."""
    if isinstance(command, (list, tuple)):
        argv = [str(part) for part in command]
        if shell:
            argv = [SHELL, "-c", " ".join(shlex.quote(a) for a in argv)]
    else:
        text = str(command)
        if shell:
            argv = [SHELL, "-c", text]
        else:
            try:
                argv = shlex.split(text)
            except ValueError as exc:
                raise ExecError("command %r cannot be split into arguments: %s" % (text, exc))
    if not argv or not argv[0]:
        raise ExecError("command is empty")
    return argv


def wrapped(argv, timeout, exec_id):
    """The wrapper argv that bounds argv remotely (see the module docstring)."""
    script = ("%s=%s; export %s; if command -v timeout >/dev/null 2>&1; then exec timeout -k %d %d \"$@\"; fi; "
              "exec \"$@\"" % (MARKER_VAR, exec_id, MARKER_VAR, KILL_AFTER, timeout))
    return [SHELL, "-c", script, "triage-exec"] + list(argv)


def kill_argv(exec_id):
    """The second exec: kill every process carrying the marker, print the pids."""
    script = ("for p in /proc/[0-9]*; do if grep -q '%s=%s' \"$p/environ\" 2>/dev/null; then "
              "kill -KILL \"${p#/proc/}\" 2>/dev/null && echo \"${p#/proc/}\"; fi; done; exit 0"
              % (MARKER_VAR, exec_id))
    return [SHELL, "-c", script]


def _is_missing_executable(status, name):
    message = (status or {}).get("message") or ""
    return "executable file not found" in message or ("no such file or directory" in message.lower()
                                                      and name in message)


def run(api_client, namespace, pod, container, argv, on_stdout, on_stderr, stdin=None, timeout=60):
    """Run argv with the remote timeout. Returns a dict: rc, timed_out, killed_pids, remote_timeout,
    command (what the user asked), remote_argv (what ran), status, started, ended, warnings.

    A missing command is told apart from a command that exits 127 by itself through the wrapper's own message
    in the last stderr chunks. Raises ExecError when the command could not run at all.
    """
    where = "container %s of pod %s in namespace %s" % (container, pod, namespace)
    exec_id = uuid.uuid4().hex
    warnings = []
    seen_err = []

    def err_sink(data):
        seen_err.append(data)
        if len(seen_err) > 8:
            del seen_err[0]
        on_stderr(data)

    remote = wrapped(argv, timeout, exec_id) if timeout else list(argv)
    killed = []

    def stop_remote():
        killed.extend(_kill_marked(api_client, namespace, pod, container, exec_id, warnings, where))

    deadline = time.monotonic() + timeout + GRACE if timeout else None
    result = _exec(api_client, namespace, pod, container, remote, on_stdout, err_sink, stdin, deadline, stop_remote)
    remote_timeout = bool(timeout)
    if result.rc is None and not result.deadline_passed and timeout and _is_missing_executable(result.status, SHELL):
        # No shell in the container (distroless): run the command itself, bounded only here.
        warnings.append("%s has no %s, so the timeout of %ds is enforced locally only: if the command outlives "
                        "it, it may still be running in the container" % (where, SHELL, timeout))
        remote = list(argv)
        remote_timeout = False
        deadline = time.monotonic() + timeout
        result = _exec(api_client, namespace, pod, container, remote, on_stdout, err_sink, stdin, deadline, None)
    if result.rc is None and not result.deadline_passed:
        if _is_missing_executable(result.status, argv[0]):
            raise ExecError("%s has no command %s (%s)" % (where, argv[0], result.message))
        raise ExecError("the command could not run in %s: %s" % (where, result.message or "no exit status"))
    stderr_text = b"".join(seen_err).decode("utf-8", "replace")
    if remote_timeout and result.rc == 127 and argv[0] in stderr_text and _NOT_FOUND.search(stderr_text):
        raise ExecError("%s has no command %s (%s)" % (where, argv[0], stderr_text.strip().splitlines()[-1]))
    timed_out = False
    if result.deadline_passed:
        timed_out = True
        if not remote_timeout:
            warnings.append("the command in %s was still running after %ds; the stream was closed, but without a "
                            "shell it could not be stopped: it may still be running" % (where, timeout))
        elif result.deadline_hit:
            warnings.append("the command in %s sent no exit status after it was killed" % where)
    elif remote_timeout and result.rc in TIMEOUT_CODES and result.ended - result.started >= timeout - 0.5:
        # The remote `timeout` ended it (124, or 137 after -k): a code the command returned itself comes earlier.
        timed_out = True
    return {"rc": result.rc, "timed_out": timed_out, "killed_pids": killed,
            "remote_timeout": remote_timeout, "command": list(argv), "remote_argv": remote,
            "status": result.status, "started": result.started, "ended": result.ended,
            "stdout_bytes": result.stdout_bytes, "stderr_bytes": result.stderr_bytes, "warnings": warnings,
            "protocol": result.protocol}


def _exec(api_client, namespace, pod, container, argv, on_stdout, on_stderr, stdin, deadline, on_deadline):
    try:
        return streams.exec_stream(api_client, namespace, pod, container, argv, on_stdout, on_stderr,
                                   stdin=stdin, deadline=deadline, on_deadline=on_deadline)
    except KubeError as exc:
        raise ExecError(str(exc))


def _kill_marked(api_client, namespace, pod, container, exec_id, warnings, where):
    out = []
    try:
        result = streams.exec_stream(api_client, namespace, pod, container, kill_argv(exec_id), out.append,
                                     lambda _data: None, deadline=time.monotonic() + 30)
    except (KubeError, streams.StreamError) as exc:
        warnings.append("the command in %s outlived its timeout and could not be stopped by a second exec: %s"
                        % (where, exc))
        return []
    if result.rc != 0:
        warnings.append("the command in %s outlived its timeout; stopping it by a second exec failed: %s"
                        % (where, result.message))
    return [int(p) for p in b"".join(out).decode("ascii", "replace").split() if p.isdigit()]


def shell_join(argv):
    return " ".join(shlex.quote(a) for a in argv)
