# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What triage.k8s.pod_exec does around exec_run.run(): pick the container, send the output to capped sinks
(files in a bundle, or memory for the result), and record the command, rc and container in the manifest."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.triage.k8s.plugins.module_utils.evidence import exec_run, pod_facts
from ansible_collections.triage.k8s.plugins.module_utils.kube.streams import StreamError

MODULE = "pod_exec"
ExecError = exec_run.ExecError
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def argv_of(command, shell):
    return exec_run.build_argv(command, shell)


def pick_container(pod, name):
    """The container asked for (any kind), else kubectl's default; ExecError lists the pod's containers."""
    metadata = pod["metadata"]
    if name:
        container = pod_facts.find_container(pod, name)
        if container is None:
            raise ExecError("pod %s in namespace %s has no container %s (it has: %s)" % (
                metadata["name"], metadata["namespace"], name, ", ".join(pod_facts.container_names(pod))))
    else:
        container = pod_facts.default_container(pod)
        if container is None:
            raise ExecError("pod %s in namespace %s has no container" % (metadata["name"], metadata["namespace"]))
    if not (container["status"].get("state") or {}).get("running"):
        raise ExecError("container %s of pod %s in namespace %s is not running (%s): nothing to exec into" % (
            container["name"], metadata["name"], metadata["namespace"],
            pod_facts.state_text(container["status"].get("state"))))
    return container


class CappedSink(object):
    """Passes at most `cap` bytes to write(); counts everything it was given."""

    def __init__(self, write, cap):
        self._write = write
        self.cap = cap
        self.total = 0

    def __call__(self, data):
        room = self.cap - self.total
        if room > 0:
            self._write(data[:room])
        self.total += len(data)

    @property
    def truncated(self):
        return self.total > self.cap


def output_name(target, params, argv):
    if params.get("output_name"):
        return _SLUG.sub("-", params["output_name"]).strip("-") or "command"
    count = 0
    if target is not None and getattr(target, "is_bundle", False):
        count = len([a for a in target.manifest["artifacts"] if a.get("module") == MODULE
                     and a["path"].endswith(".stdout")])
    elif target is not None and os.path.isdir(os.path.join(target.root, "exec")):
        count = len([n for n in os.listdir(os.path.join(target.root, "exec")) if n.endswith(".stdout")])
    return "%d-%s" % (count + 1, _SLUG.sub("-", os.path.basename(argv[0])).strip("-") or "command")


def run_command(api_client, pod, container, argv, params, target, check_mode):
    """The module's result (without `changed` failures): rc, timed_out, output or artifacts, warnings."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    identity = pod_facts.identity(container)
    timeout = params["timeout"]
    base = {"command": argv, "container": identity, "timed_out": False, "killed_pids": [],
            "remote_timeout": bool(timeout)}
    if check_mode:
        base.update(changed=True, remote_argv=exec_run.wrapped(argv, timeout, "<id>") if timeout else argv,
                    would_run=True)
        return base
    stdin = params.get("stdin")
    stdin = stdin.encode("utf-8") if stdin is not None else None
    if target is None:
        return _run_to_memory(api_client, namespace, name, container, argv, stdin, timeout,
                              params["max_output_bytes"], base)
    return _run_to_files(api_client, namespace, name, container, argv, stdin, timeout, params, target, base)


def _run_to_memory(api_client, namespace, name, container, argv, stdin, timeout, cap, base):
    out, err = [], []
    out_sink, err_sink = CappedSink(out.append, cap), CappedSink(err.append, cap)
    ran = exec_run.run(api_client, namespace, name, container["name"], argv, out_sink, err_sink, stdin=stdin,
                       timeout=timeout)
    result = dict(base)
    result.update(_ran_fields(ran), changed=True,
                  stdout=b"".join(out).decode("utf-8", "replace"), stderr=b"".join(err).decode("utf-8", "replace"),
                  stdout_truncated=out_sink.truncated, stderr_truncated=err_sink.truncated)
    return result


def _ran_fields(ran):
    return dict((k, ran[k]) for k in ("rc", "timed_out", "killed_pids", "remote_timeout", "remote_argv", "warnings",
                                      "started", "ended"))


def _run_to_files(api_client, namespace, name, container, argv, stdin, timeout, params, target, base):
    stem = "exec/%s" % output_name(target, params, argv)
    recorded = {"timeout": timeout, "shell": params.get("shell", False), "stdin": params.get("stdin") is not None}
    meta = dict(container=pod_facts.identity(container), command=argv, cap=params["max_bytes"])
    stdout_art = target.artifact(stem + ".stdout", MODULE, recorded, stream="stdout", **meta)
    stderr_art = target.artifact(stem + ".stderr", MODULE, recorded, stream="stderr", **meta)
    out_sink = CappedSink(stdout_art.write, params["max_bytes"])
    err_sink = CappedSink(stderr_art.write, params["max_bytes"])
    try:
        ran = exec_run.run(api_client, namespace, name, container["name"], argv, out_sink, err_sink, stdin=stdin,
                           timeout=timeout)
    except StreamError as exc:
        # What arrived is kept (marked incomplete) and the cut is recorded: never a quietly short file.
        for art, sink in ((stdout_art, out_sink), (stderr_art, err_sink)):
            art.meta.update(truncated=sink.truncated, rc=None, error=str(exc))
            art.finish(complete=False)
        target.record_failure(MODULE, "exec %s in container %s" % (exec_run.shell_join(argv), container["name"]),
                              str(exc), container=container["name"])
        raise
    except Exception:
        stdout_art.discard()
        stderr_art.discard()
        raise
    entries = []
    for art, sink in ((stdout_art, out_sink), (stderr_art, err_sink)):
        art.meta.update(rc=ran["rc"], timed_out=ran["timed_out"], killed_pids=ran["killed_pids"],
                        remote_argv=ran["remote_argv"], truncated=sink.truncated,
                        original_size=sink.total if sink.truncated else None)
        entries.append(art.finish())
    if ran["timed_out"] and target.is_bundle:
        target.record_failure(MODULE, "exec %s in container %s" % (exec_run.shell_join(argv), container["name"]),
                              "timed out after %ds and was stopped" % timeout, container=container["name"])
    result = dict(base)
    result.update(_ran_fields(ran), changed=True, stdout_truncated=out_sink.truncated,
                  stderr_truncated=err_sink.truncated,
                  artifacts=[dict((k, e.get(k)) for k in ("path", "size", "sha256", "truncated")) for e in entries])
    return result
