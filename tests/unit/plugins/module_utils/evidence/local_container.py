# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A stand-in for exec_run.run() that runs each argv for real on this machine (the "container" is the machine,
with a directory of the test's own tools first on PATH), streaming stdout in chunks to the sink, and cutting a
chosen stream after some bytes as a dropped exec would (StreamError)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import time

from ansible_collections.triage.k8s.plugins.module_utils.evidence import exec_run
from ansible_collections.triage.k8s.plugins.module_utils.kube.streams import StreamError


class LocalContainer(object):
    def __init__(self, tools_dir=None):
        self.tools_dir = tools_dir
        self.calls = []
        # [(predicate(argv), after_bytes)]: the next call matching predicate is cut after that many bytes.
        self.cuts = []
        # {container: PATH}: a container whose commands see only that PATH (a distroless one: no tar, no cat).
        self.paths = {}

    def tool(self, name, script):
        path = os.path.join(self.tools_dir, name)
        with open(path, "w") as handle:
            handle.write(script)
        os.chmod(path, 0o755)

    def run(self, api_client, namespace, pod, container, argv, on_stdout, on_stderr, stdin=None, timeout=60):
        self.calls.append(list(argv))
        cut = None
        for index, (predicate, after) in enumerate(self.cuts):
            if predicate(argv):
                cut = after
                del self.cuts[index]
                break
        env = dict(os.environ)
        if self.tools_dir:
            env["PATH"] = self.tools_dir + ":" + env.get("PATH", "/usr/bin:/bin")
        if self.paths.get(container):
            env["PATH"] = self.paths[container]
        started = time.time()
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            raise exec_run.ExecError("container %s of pod %s has no command %s (%s)" % (container, pod, argv[0], exc))
        sent = 0
        while True:
            chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(65536)
            if not chunk:
                break
            if cut is not None and sent + len(chunk) > cut:
                on_stdout(chunk[:cut - sent])
                proc.kill()
                proc.wait()
                raise StreamError("the stream was cut after %d bytes" % cut, cut)
            on_stdout(chunk)
            sent += len(chunk)
        err = proc.stderr.read()
        if err:
            on_stderr(err)
        rc = proc.wait()
        return {"rc": rc, "timed_out": False, "killed_pids": [], "remote_timeout": True, "command": list(argv),
                "remote_argv": list(argv), "status": {}, "started": started, "ended": time.time(),
                "stdout_bytes": sent, "stderr_bytes": len(err), "warnings": [], "protocol": "v5.channel.k8s.io"}
