# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pod_dump's flow (evidence/dump.py) against a local "container" with a fake jcmd of the test's own: the JVM
choice, the free-space refusal, the detached heap dump polled and brought out verified and deleted, thread
dumps, a custom dump and a dump that outlives its timeout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import gzip
import os
import shutil
import sys
import uuid

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence import bundle as bundle_mod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import dump, exec_run, manifest as manifest_file

from .local_container import LocalContainer
from .test_evidence_bundle import POD, make_bundle
from .test_evidence_fetch import CONTAINER

FAKE_JCMD = r'''#!%s
import gzip, os, sys, time
jvms = os.environ.get("FAKE_JVMS", "42=com.example.Main").split(",")
pids = dict(j.split("=") for j in jvms)
args = sys.argv[1:]
if not args or args[0] == "-l":
    for pid, main in pids.items():
        print(pid, main)
    print("999 jdk.jcmd/sun.tools.jcmd.JCmd -l")
    sys.exit(0)
if args[0] not in pids:
    print("java.io.IOException: No such process", file=sys.stderr)
    sys.exit(1)
print(args[0] + ":")
cmd = args[1:]
if cmd == ["VM.version"]:
    print("OpenJDK 64-Bit Server VM version 17.0.9+9\nJDK 17.0.9")
elif cmd == ["help", "GC.heap_dump"]:
    print("GC.heap_dump\n\nOptions: (options must be specified using the <key> or <key>=<value> syntax)\n"
          "\t-all : [optional] Dump all objects (BOOLEAN, false)\n\t-gz : [optional] level (INT, 1)")
elif cmd == ["GC.heap_info"]:
    used = int(os.environ.get("FAKE_USED_K", "4096"))
    print(" garbage-first heap   total 262144K, used %%dK [0x00000000f0000000, 0x0000000100000000)" %% used)
elif cmd[:1] == ["GC.heap_dump"]:
    time.sleep(float(os.environ.get("FAKE_DUMP_SECONDS", "0")))
    path = [a for a in cmd[1:] if not a.startswith("-")][0]
    with gzip.open(path, "wb") as f:
        f.write(b"JAVA PROFILE 1.0.2\0" + b"\1" * 100000)
    print("Heap dump file created [%%d bytes in 0.010 secs]" %% os.path.getsize(path))
elif cmd == ["Thread.print", "-l"]:
    print("Full thread dump OpenJDK 64-Bit Server VM (17.0.9+9 mixed mode):\n")
    print('"main" #1 prio=5\n   java.lang.Thread.State: RUNNABLE\n')
    print('"worker" #2 prio=5\n   java.lang.Thread.State: WAITING\n')
else:
    print("java.lang.IllegalArgumentException: Unknown diagnostic command")
    sys.exit(1)
''' % sys.executable

PARAMS = {"pid": None, "dump_dir": None, "all_objects": False, "compress": True, "gz_level": 1, "force": False,
          "count": 1, "interval": 0, "timeout": 60, "retries": 3, "max_bytes": 1024 ** 3, "keep_remote": False,
          "command": None, "shell": False, "output_path": None}


@pytest.fixture
def jvm_box(tmp_path, monkeypatch):
    tools = tmp_path / "tools"
    tools.mkdir()
    local = LocalContainer(str(tools))
    local.tool("jcmd", FAKE_JCMD)
    monkeypatch.setattr(exec_run, "run", local.run)
    monkeypatch.setattr(dump, "POLL_SECONDS", 0.1)
    # The dump path may hold letters, digits and ._+@/- only (what the JVM's argument parser accepts).
    remote = "/tmp/triage-dump-test-%s" % uuid.uuid4().hex
    os.mkdir(remote)
    local.remote = remote
    yield local
    shutil.rmtree(remote, ignore_errors=True)


def run(box, tmp_path, kind, target=None, **changes):
    params = dict(PARAMS, dump_dir=box.remote)
    params.update(changes)
    target = target or bundle_mod.BundleTarget(make_bundle(tmp_path))
    session = dump.Session(None, POD, CONTAINER, params["timeout"])
    result = {"changed": False, "warnings": [], "commands": session.commands}
    getattr(dump, kind)(session, target, CONTAINER, params, result)
    return result, target


def test_heap_dump_is_taken_detached_brought_out_verified_and_deleted(tmp_path, jvm_box):
    result, target = run(jvm_box, tmp_path, "heap")
    assert result["pid"] == 42 and result["jvm"]["major"] == 17 and result["compressed"] == "jvm"
    assert result["dump"]["verified"] and result["dump"]["sha256"] == result["dump"]["remote_sha256"]
    local = os.path.join(target.root, result["dump"]["path"])
    assert gzip.open(local).read(19) == b"JAVA PROFILE 1.0.2\0"
    assert result["remote_deleted"] and os.listdir(jvm_box.remote) == []
    assert any("stops the JVM" in w for w in result["warnings"])
    entry = [a for a in manifest_file.load(target.root)["artifacts"] if a["path"] == result["dump"]["path"]][0]
    assert entry["module"] == "pod_dump" and entry["pid"] == 42 and entry["tool"] == "jcmd"
    assert entry["argv"][:3] == ["jcmd", "42", "GC.heap_dump"] and "-gz=1" in entry["argv"]
    assert entry["jvm"]["jdk"] == "17.0.9" and entry["paused"] and entry["free_space"]["ok"]
    # started detached (a shell that returns at once), then polled with short execs
    assert any(c[:2] == ["/bin/sh", "-c"] and "setsid" in c[2] for c in jvm_box.calls)


def test_not_enough_free_space_refuses_with_the_figures_and_dumps_nothing(tmp_path, jvm_box, monkeypatch):
    monkeypatch.setenv("FAKE_USED_K", str(1024 ** 3))  # a 1 TiB heap
    with pytest.raises(dump.DumpError) as info:
        run(jvm_box, tmp_path, "heap")
    assert "refusing the heap dump" in str(info.value) and "used heap 1024.0 GiB" in str(info.value)
    assert not [c for c in jvm_box.calls if c[2:3] == ["GC.heap_dump"]]
    assert os.listdir(jvm_box.remote) == []


def test_force_dumps_anyway_with_a_warning(tmp_path, jvm_box, monkeypatch):
    monkeypatch.setenv("FAKE_USED_K", str(1024 ** 3))
    result, _target = run(jvm_box, tmp_path, "heap", force=True)
    assert result["dump"]["verified"] and result["free_space"]["forced"]
    assert any("dumping anyway" in w for w in result["warnings"])


def test_several_jvms_are_listed_and_pid_chooses(tmp_path, jvm_box, monkeypatch):
    monkeypatch.setenv("FAKE_JVMS", "42=com.example.Main,43=com.example.Batch")
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    with pytest.raises(dump.DumpError) as info:
        run(jvm_box, tmp_path, "threads", target)
    assert "2 JVMs run in the container: 42 (com.example.Main), 43 (com.example.Batch)" in str(info.value)
    result, _target = run(jvm_box, tmp_path, "threads", target, pid=43)
    assert result["pid"] == 43
    with pytest.raises(dump.DumpError) as info:
        run(jvm_box, tmp_path, "threads", target, pid=7)
    assert "pid 7 is not a JVM" in str(info.value)


def test_thread_dumps_count_times_each_its_own_artifact(tmp_path, jvm_box):
    result, target = run(jvm_box, tmp_path, "threads", count=3, interval=0.2)
    dumps = result["thread_dumps"]
    assert len(dumps) == 3 and len(set(d["path"] for d in dumps)) == 3
    assert [d["threads"] for d in dumps] == [2, 2, 2]
    listed = [a for a in manifest_file.load(target.root)["artifacts"] if a.get("kind") == "threads"]
    assert [a["index"] for a in listed] == [1, 2, 3]
    assert all("Full thread dump OpenJDK" in open(os.path.join(target.root, d["path"])).read() for d in dumps)
    assert not [c for c in jvm_box.calls if c[0] == "kill"]


def test_a_dump_that_outlives_its_timeout_is_stopped_and_reported(tmp_path, jvm_box, monkeypatch):
    monkeypatch.setenv("FAKE_DUMP_SECONDS", "30")
    with pytest.raises(dump.DumpError) as info:
        run(jvm_box, tmp_path, "heap", timeout=2)
    assert "did not finish within 2s" in str(info.value)
    assert [n for n in os.listdir(jvm_box.remote) if n.startswith(".triage-")] == []


def test_custom_dump_brings_out_the_file_the_command_wrote(tmp_path, jvm_box):
    out = os.path.join(jvm_box.remote, "stacks.txt")
    result, target = run(jvm_box, tmp_path, "custom", command=["sh", "-c", "echo stacks > %s" % out],
                         output_path=out)
    assert open(os.path.join(target.root, result["dump"]["path"])).read() == "stacks\n"
    assert result["dump"]["verified"] and not os.path.exists(out)


def test_no_jdk_tools_is_a_clear_error(tmp_path, jvm_box, monkeypatch):
    monkeypatch.setattr(dump, "find_jvms", lambda session: ([{"pid": 5, "main": "app.jar", "source": "ps"}], False))
    monkeypatch.setattr(dump.Session, "has", lambda self, tool: tool not in ("jmap", "jstack"))
    with pytest.raises(dump.DumpError) as info:
        run(jvm_box, tmp_path, "heap")
    assert "neither jcmd nor jmap" in str(info.value) and "debug_container" in str(info.value)


def test_a_dump_killed_without_an_exit_code_is_an_error_not_a_wait(tmp_path, jvm_box, monkeypatch):
    monkeypatch.setenv("FAKE_DUMP_SECONDS", "30")
    real_run = jvm_box.run
    pid_files = []

    def kill_dump(*args, **kwargs):
        argv = args[4]
        if "triage-poll" in argv and not pid_files:
            pid_files.append(argv[-1])
            with open(argv[-1]) as handle:
                os.killpg(int(handle.read().strip()), 9)  # the dump's own session, as an OOM kill would
        return real_run(*args, **kwargs)
    monkeypatch.setattr(exec_run, "run", kill_dump)
    with pytest.raises(dump.DumpError) as info:
        run(jvm_box, tmp_path, "heap", timeout=60)
    assert "without an exit code" in str(info.value)


def with_limit(monkeypatch, limit):
    pod = copy.deepcopy(POD)
    pod["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"] = limit
    real_init = dump.Session.__init__

    def init(self, api_client, _pod, container, timeout):
        real_init(self, api_client, pod, container, timeout)
    monkeypatch.setattr(dump.Session, "__init__", init)


def test_the_ephemeral_storage_limit_and_the_measured_usage_refuse_a_dump_df_would_allow(tmp_path, jvm_box,
                                                                                         monkeypatch):
    monkeypatch.setenv("FAKE_USED_K", str(40 * 1024))  # 40 MiB used: needs 296 MiB compressed, df has room
    with_limit(monkeypatch, "300Mi")
    result, target = run(jvm_box, tmp_path, "heap")
    assert result["free_space"]["ok"] and result["free_space"]["ephemeral_limit_bytes"] == 300 * 2 ** 20
    assert result["free_space"]["storage"] == "writable-layer"
    with open(os.path.join(jvm_box.remote, "filler"), "wb") as handle:
        handle.write(b"\0" * (8 * 2 ** 20))
    with pytest.raises(dump.DumpError) as info:
        run(jvm_box, tmp_path, "heap", target)
    message = str(info.value)
    assert "refusing the heap dump" in message and "limits.ephemeral-storage of container app" in message
    assert "300.0 MiB, of which 8.0 MiB already used" in message
    assert not [c for c in jvm_box.calls if c[2:3] == ["GC.heap_dump"] and len(c) > 3]
    assert sorted(os.listdir(jvm_box.remote)) == ["filler"]
    forced, _target = run(jvm_box, tmp_path, "heap", target, force=True)
    assert forced["free_space"]["forced"] and forced["dump"]["verified"]


def test_a_copy_cut_mid_way_is_resumed_and_verified(tmp_path, jvm_box):
    jvm_box.cuts = [(lambda argv: argv[:1] == ["cat"] and argv[-1].endswith(".gz"), 40),
                    (lambda argv: argv[:1] == ["tail"], 30)]
    result, _target = run(jvm_box, tmp_path, "heap")
    assert result["resumes"] == 2 and result["dump"]["verified"]
    assert result["dump"]["sha256"] == result["dump"]["remote_sha256"] and result["remote_deleted"]


def test_a_copy_cut_more_often_than_retries_is_a_clear_error_and_the_dump_stays(tmp_path, jvm_box):
    jvm_box.cuts = [(lambda argv: argv[:1] == ["cat"] and argv[-1].endswith(".gz"), 40),
                    (lambda argv: argv[:1] == ["tail"], 30)]
    params = dict(PARAMS, dump_dir=jvm_box.remote, retries=1)
    session = dump.Session(None, POD, CONTAINER, 60)
    result = {"changed": False, "warnings": [], "commands": session.commands}
    with pytest.raises(dump.DumpError) as info:
        dump.heap(session, bundle_mod.BundleTarget(make_bundle(tmp_path)), CONTAINER, params, result)
    assert "the dump was taken" in str(info.value) and "cut 2 times" in str(info.value)
    assert result["changed"] and result["resumes"] == 1 and not result["remote_deleted"]
    assert os.listdir(jvm_box.remote) == [os.path.basename(result["remote_path"])]


def test_a_poll_whose_stream_is_cut_is_asked_again(tmp_path, jvm_box, monkeypatch):
    monkeypatch.setenv("FAKE_DUMP_SECONDS", "0.5")
    jvm_box.cuts = [(lambda argv: "triage-poll" in argv, 0)] * 2
    result, _target = run(jvm_box, tmp_path, "heap")
    assert result["dump"]["verified"]
    assert len([c for c in jvm_box.calls if "triage-poll" in c]) >= 3
