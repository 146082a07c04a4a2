# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report.md rendering, the log plan and the tail ring, command building and exit codes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence import exec_run, incident, logs, report
from ansible_collections.triage.k8s.plugins.module_utils.kube.streams import exit_code
from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.evidence.evidence_objects import POD


def manifest_for(pod=None, artifacts=(), failures=()):
    header = incident.build_incident(pod or POD, "https://k8s.example:6443", "prod", "alice@laptop", "OOM", "INC-1",
                                     "2026-12-01T10:06:07.123Z", "id-1")
    return {"incident": header, "artifacts": list(artifacts), "failures": list(failures), "closed_at": None}


def test_report_shows_state_termination_resources_and_how_to_verify():
    text = report.render(manifest_for(artifacts=[{
        "path": "logs/app.previous.log", "size": 2048, "module": "pod_logs", "container": {"name": "app"},
        "truncated": True, "cap": 1024, "kept": "tail", "started": "2026-12-01T10:06:08.000Z"}],
        failures=[{"module": "pod_exec", "what": "exec jcmd", "error": "timed out after 60s", "time": "t"}]),
        events=[], archive_name="20261201T100607Z_shop_web-1.tar.gz")
    assert "pod web-1 in namespace shop" in text
    assert "Phase **Running**, ready: **no**" in text
    assert "| app | regular | running since 2026-12-01T10:05:00Z | no | 3 | OOMKilled/137 at 2026-12-01T10:04:59Z |" in text
    assert "limits memory=256Mi" in text
    assert "docker.io/shop/web@sha256:abc" in text
    assert "| logs/app.previous.log | 2.0 KiB | pod_logs | container app; truncated at 1024 bytes (tail kept) |" in text
    assert "- pod_exec, exec jcmd: timed out after 60s" in text
    assert "cd 20261201T100607Z_shop_web-1 && sha256sum -c SHA256SUMS" in text
    assert "sha256sum -c 20261201T100607Z_shop_web-1.tar.gz.sha256" in text


def test_timeline_merges_record_containers_and_events_in_time_order():
    pod = dict(POD, metadata=dict(POD["metadata"], annotations={
        "triage.k8s/isolated-at": "2026-12-01T10:05:30Z", "triage.k8s/isolated-by": "bob",
        "triage.k8s/strategy": "replace-first", "triage.k8s/reason": "OOM"}, labels={"triage.k8s/isolated": "true"}))
    events = [{"type": "Warning", "reason": "BackOff", "message": "Back-off restarting", "count": 4,
               "lastTimestamp": "2026-12-01T10:04:59Z", "involvedObject": {"kind": "Pod", "name": "web-1"}}]
    rows = report.timeline(manifest_for(pod)["incident"], events, [])
    texts = [(when, text) for when, _source, text in rows]
    assert [w for w, _t in texts] == sorted(w for w, _t in texts)
    assert ("2026-12-01T10:00:00Z", "container app (previous instance) started") in texts
    assert ("2026-12-01T10:04:59Z", "container app terminated: OOMKilled, exit code 137") in texts
    assert ("2026-12-01T10:04:59Z", "Warning BackOff Pod/web-1: Back-off restarting (x4)") in texts
    assert ("2026-12-01T10:05:30Z", "pod isolated by bob (replace-first; reason: OOM)") in texts


def test_report_escapes_table_cells():
    text = report.render(manifest_for(artifacts=[{"path": "exec/a|b.stdout", "size": 1, "module": "pod_exec",
                                                  "command": ["sh", "-c", "a | b"], "rc": 0}]))
    assert "exec/a\\|b.stdout" in text and "a \\| b" in text


def pod_with(containers, init=(), statuses=None):
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"initContainers": [{"name": n} for n in init], "containers": [{"name": n} for n in containers]},
            "status": statuses or {}}


def test_log_plan_covers_init_regular_and_previous_only_where_it_exists():
    pod = pod_with(["app", "side"], init=["setup"], statuses={
        "initContainerStatuses": [{"name": "setup", "state": {"terminated": {"exitCode": 0}}}],
        "containerStatuses": [
            {"name": "app", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1}}},
            {"name": "side", "state": {"waiting": {"reason": "ContainerCreating"}}}]})
    planned = [(e["container"], e["previous"], bool(e["skip"])) for e in logs.plan(pod)]
    assert planned == [("setup", False, False), ("setup", True, True), ("app", False, False), ("app", True, False),
                       ("side", False, True), ("side", True, True)]
    assert [e["container"] for e in logs.plan(pod, ["side"], previous=False)] == ["side"]
    with pytest.raises(logs.LogPlanError, match=r"has no container nope \(it has: setup, app, side\)"):
        logs.plan(pod, ["nope"])


@pytest.mark.parametrize("total,cap", [(10, 100), (100, 100), (101, 100), (1000, 7), (4096 * 3 + 5, 4096)])
def test_tail_ring_keeps_exactly_the_last_cap_bytes(tmp_path, total, cap):
    data = bytes(bytearray(i % 251 for i in range(total)))
    ring = logs.TailRing(str(tmp_path / "ring"), cap)
    for start in range(0, total, 13):
        ring.write(data[start:start + 13])
    assert b"".join(ring.chunks(chunk=5)) == data[-cap:]
    assert os.path.getsize(str(tmp_path / "ring")) == min(total, cap)


def test_a_cut_tail_starts_at_a_whole_line():
    assert b"".join(logs._from_first_line(iter([b"ial line", b" end\nnext line\n"]))) == b"next line\n"
    assert b"".join(logs._from_first_line(iter([b"no newline at all"]))) == b"no newline at all"


@pytest.mark.parametrize("command,shell,argv", [
    (["ls", "-l"], False, ["ls", "-l"]),
    ("printf '%s|' one 'two words'", False, ["printf", "%s|", "one", "two words"]),
    ("ps -ef | grep java", True, ["/bin/sh", "-c", "ps -ef | grep java"]),
    (["echo", "a b"], True, ["/bin/sh", "-c", "echo 'a b'"]),
])
def test_build_argv(command, shell, argv):
    assert exec_run.build_argv(command, shell) == argv


def test_build_argv_refuses_empty_and_unbalanced():
    for bad in ("", [], "echo 'unclosed"):
        with pytest.raises(exec_run.ExecError):
            exec_run.build_argv(bad, False)


def test_wrapper_bounds_the_command_remotely_and_passes_argv_untouched():
    wrapped = exec_run.wrapped(["jcmd", "1", "Thread.print"], 30, "abc123")
    assert wrapped[:2] == ["/bin/sh", "-c"] and wrapped[3:] == ["triage-exec", "jcmd", "1", "Thread.print"]
    assert 'exec timeout -k 5 30 "$@"' in wrapped[2] and "TRIAGE_EXEC_ID=abc123; export TRIAGE_EXEC_ID" in wrapped[2]
    assert "TRIAGE_EXEC_ID=abc123" in exec_run.kill_argv("abc123")[2]


@pytest.mark.parametrize("status,rc", [
    ({"status": "Success"}, 0),
    ({"status": "Failure", "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}, 3),
    # The command never ran (missing binary, container gone): no exit code, and none is invented.
    ({"status": "Failure", "reason": "InternalError", "details": {"causes": [{"message": "exec failed"}]}}, None),
    ({"status": "Failure", "message": "text only (v1 protocol)"}, None),
    (None, None),
])
def test_exit_code_comes_from_the_status_only(status, rc):
    assert exit_code(status) == rc
