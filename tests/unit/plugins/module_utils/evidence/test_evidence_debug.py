# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pod_dump's debug-container path: which ephemeral container a run adds or reuses (evidence/debug.py, pure),
how the JVM is found and proved from the shared PID namespace (jvm.py), jattach's output, and the heap and thread
dumps taken through a debug container against a local "container" with a fake jattach of the test's own, the
JVM's filesystem being a directory that stands for /proc/PID/root."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import gzip
import os
import sys

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence import bundle as bundle_mod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import debug, dump, exec_run, jvm
from ansible_collections.triage.k8s.plugins.module_utils.evidence import manifest as manifest_file
from ansible_collections.triage.k8s.plugins.module_utils.model import ephemeral

from .local_container import LocalContainer
from .test_evidence_bundle import POD, make_bundle
from .test_evidence_dump import PARAMS
from .test_evidence_fetch import CONTAINER

NOW = datetime.datetime(2026, 1, 5, 12, 0, 0, tzinfo=datetime.timezone.utc)
IMAGE = "kubesim/jattach:2"


def pod_with(ephemerals=(), statuses=(), security_context=None):
    pod = copy.deepcopy(POD)
    pod["metadata"].setdefault("resourceVersion", "7")
    pod["spec"] = {"containers": [{"name": "app", "image": "kubesim/java:21-jre"}]}
    if security_context:
        pod["spec"]["containers"][0]["securityContext"] = security_context
    if ephemerals:
        pod["spec"]["ephemeralContainers"] = list(ephemerals)
    pod["status"] = dict(pod.get("status") or {}, ephemeralContainerStatuses=list(statuses))
    return pod


def debug_body(name, image=IMAGE, lifetime=3600):
    return {"name": name, "image": image, "command": ["sleep", str(lifetime)], "targetContainerName": "app"}


def running(name, started):
    return {"name": name, "state": {"running": {"startedAt": started}}}


# ---------------------------------------------------------------------------- which debug container

def test_a_first_run_adds_a_bounded_sleep_targeting_the_container_as_its_user():
    pod = pod_with(security_context={"runAsUser": 1000, "runAsGroup": 1000, "readOnlyRootFilesystem": True})
    choice = debug.choose(pod, "app", IMAGE, None, 1800, NOW)
    assert choice["action"] == "add" and choice["name"] == debug.default_name("app", IMAGE)
    body = choice["container"]
    assert body["targetContainerName"] == "app" and body["image"] == IMAGE
    assert body["command"] == ["sleep", str(2 * 1800 + debug.LIFETIME_MARGIN)]
    assert body["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000}
    assert debug.choose(pod_with(), "app", IMAGE, None, 60, NOW)["container"]["command"] == ["sleep", "3600"]
    assert "securityContext" not in debug.choose(pod_with(), "app", IMAGE, None, 60, NOW)["container"]


def test_a_profile_adds_its_settings_and_a_container_of_another_profile_is_not_reused():
    pod = pod_with(security_context={"runAsUser": 1000})
    general = debug.choose(pod, "app", IMAGE, None, 60, NOW, "general")
    assert general["container"]["securityContext"] == {"capabilities": {"add": ["SYS_PTRACE"]}, "runAsUser": 1000}
    assert general["name"] != debug.default_name("app", IMAGE)
    with pytest.raises(debug.DebugError, match="unknown debug_profile"):
        debug.choose(pod, "app", IMAGE, None, 60, NOW, "root")
    name = debug.default_name("app", IMAGE)
    baseline = pod_with([dict(debug_body(name), securityContext={"runAsUser": 1000})],
                        [running(name, "2026-01-05T11:59:00Z")], security_context={"runAsUser": 1000})
    assert debug.choose(baseline, "app", IMAGE, None, 60, NOW)["action"] == "reuse"
    with pytest.raises(debug.DebugError, match="different securityContext"):
        debug.choose(baseline, "app", IMAGE, name, 60, NOW, "general")


def test_default_names_are_stable_per_container_and_image():
    assert debug.default_name("app", IMAGE) == debug.default_name("app", IMAGE)
    assert debug.default_name("app", IMAGE) != debug.default_name("app", "kubesim/java:21")
    assert debug.default_name("app", IMAGE, 2) == debug.default_name("app", IMAGE) + "-2"
    assert len(debug.default_name("a" * 63, IMAGE, 20)) <= 63


def test_a_running_container_with_time_left_is_reused_else_the_next_name_is_taken():
    name = debug.default_name("app", IMAGE)
    ten_minutes_ago = "2026-01-05T11:50:00Z"
    pod = pod_with([debug_body(name)], [running(name, ten_minutes_ago)])
    assert debug.choose(pod, "app", IMAGE, None, 1800, NOW)["action"] == "reuse"
    # 50 minutes left, the run may need an hour: a new one, the old one named in skipped.
    choice = debug.choose(pod, "app", IMAGE, None, 3600, NOW)
    assert choice["action"] == "add" and choice["name"] == name + "-2"
    assert choice["skipped"][0]["name"] == name and "ends in 3000s" in choice["skipped"][0]["why"]


def test_an_ended_or_unpullable_container_is_passed_over_and_a_named_one_is_an_error():
    name = debug.default_name("app", IMAGE)
    ended = pod_with([debug_body(name)], [{"name": name, "state": {"terminated": {"reason": "Completed"}}}])
    assert debug.choose(ended, "app", IMAGE, None, 60, NOW)["name"] == name + "-2"
    with pytest.raises(debug.DebugError) as info:
        debug.choose(ended, "app", IMAGE, name, 60, NOW)
    assert "pod web-1 in namespace shop" in str(info.value) and "has ended (Completed)" in str(info.value)
    pulling = pod_with([debug_body("dbg", image="registry.invalid/x:1")],
                       [{"name": "dbg", "state": {"waiting": {"reason": "ImagePullBackOff"}}}])
    with pytest.raises(debug.DebugError, match="different image"):
        debug.choose(pulling, "app", IMAGE, "dbg", 60, NOW)
    with pytest.raises(debug.DebugError, match="cannot start: ImagePullBackOff"):
        debug.choose(pulling, "app", "registry.invalid/x:1", "dbg", 60, NOW)
    # With the default name too: another container of an image that cannot be pulled would not start either.
    unpulled = debug.default_name("app", "registry.invalid/x:1")
    pulling = pod_with([debug_body(unpulled, image="registry.invalid/x:1")],
                       [{"name": unpulled, "state": {"waiting": {"reason": "ErrImagePull"}}}])
    with pytest.raises(debug.DebugError, match="cannot start: ErrImagePull"):
        debug.choose(pulling, "app", "registry.invalid/x:1", None, 60, NOW)
    starting = pod_with([debug_body("dbg")], [{"name": "dbg", "state": {"waiting": {"reason": "ContainerCreating"}}}])
    assert debug.choose(starting, "app", IMAGE, "dbg", 60, NOW)["action"] == "wait"


def test_bad_names_images_and_targets_are_refused_before_anything_is_sent():
    with pytest.raises(debug.DebugError, match="not a valid container name"):
        debug.choose(pod_with(), "app", IMAGE, "Not_A_Name", 60, NOW)
    with pytest.raises(debug.DebugError, match="debug_image"):
        debug.choose(pod_with(), "app", "tools/jattach 2", None, 60, NOW)
    with pytest.raises(debug.DebugError, match="not a regular container of pod web-1 in namespace shop"):
        debug.choose(pod_with(), "sidecar", IMAGE, None, 60, NOW)
    with pytest.raises(debug.DebugError, match="regular container"):
        debug.choose(pod_with(), "app", IMAGE, "app", 60, NOW)


def test_the_shared_check_words_the_callers_option_and_a_running_only_verdict_fails_an_ended_container():
    pod = pod_with()
    with pytest.raises(ephemeral.EphemeralContainerError, match="container 'nope'"):
        ephemeral.check_ephemeral_container(pod, {"name": "d", "targetContainerName": "nope"}, target_option="container")
    ended = pod_with([debug_body("d")], [{"name": "d", "state": {"terminated": {"reason": "Completed"}}}])
    assert ephemeral.ephemeral_verdict(ended, "d")[0] == "done"
    assert ephemeral.ephemeral_verdict(ended, "d", running_only=True)[0] == "failed"


# ---------------------------------------------------------------------------- the JVM seen from the debug container

SCAN = ("1\0/opt/java/openjdk/bin/java\0"
        "7f00-7f10 r-xp 0 08:01 42 /opt/java/openjdk/lib/server/libjvm.so\0Uid:\t1000\t1000\t1000\t1000\0"
        "java\0-Xmx1g\0-jar\0/app/app.jar\0\0\n"
        "9\0\0\0Uid:\t0\t0\t0\t0\0java\0com.example.Fake\0\0\n"
        "garbage\0\0\n")


def test_the_scan_is_parsed_and_only_a_mapped_libjvm_or_a_java_executable_proves_a_jvm():
    processes = debug.parse_proc_scan(SCAN)
    assert [p["pid"] for p in processes] == [1, 9] and processes[0]["uid"] == 1000
    candidates = jvm.jvms_from_scan(processes)
    assert [(c["pid"], c["verified"][0]) for c in candidates] == [(1, True), (9, False)]
    assert jvm.choose_verified_jvm(candidates)["pid"] == 1
    with pytest.raises(jvm.JvmError, match="pid 9 is not shown to be a JVM .*nothing is signalled"):
        jvm.choose_verified_jvm(candidates, pid=9)
    with pytest.raises(jvm.JvmError, match="no process is shown to be a JVM"):
        jvm.choose_verified_jvm([c for c in candidates if c["pid"] == 9])
    xrs = jvm.jvms_from_scan([{"pid": 3, "exe": "/usr/bin/java", "libjvm": "x /libjvm.so", "argv": ["java", "-Xrs"]}])
    assert not xrs[0]["verified"][0] and "-Xrs" in xrs[0]["verified"][1]


def test_jattach_output_and_commands():
    assert jvm.strip_jattach("Connected to remote JVM\nJVM response code = 0\nJDK 21\n") == "JDK 21\n"
    assert jvm.as_jattach(["jcmd", "1", "GC.heap_dump", "-gz=1", "/tmp/x.hprof.gz"]) == [
        "jattach", "1", "jcmd", "GC.heap_dump -gz=1 /tmp/x.hprof.gz"]
    with pytest.raises(jvm.JvmError):
        jvm.as_jattach(["jcmd", "1", "GC.heap_dump", "/tmp/a b"])
    assert jvm.build_thread_dump(1, tool="jattach") == ["jattach", "1", "threaddump", "-l"]
    kept = []
    stream = jvm.JattachFilter(kept.append)
    for chunk in (b"Connec", b"ted to remote JVM\nJVM resp", b"onse code = 0\nFull thread", b" dump\n", b"more\n"):
        stream(chunk)
    stream.close()
    assert b"".join(kept) == b"Full thread dump\nmore\n"


# ---------------------------------------------------------------------------- dumps through the debug container

FAKE_JATTACH = r'''#!%s
import gzip, os, sys
root = os.environ["FAKE_ROOT"]
pid, cmd, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
if pid != "1":
    print("Could not start attach mechanism: No such process"); sys.exit(1)
print("Connected to remote JVM")
print("JVM response code = 0")
if cmd == "threaddump":
    print("Full thread dump OpenJDK 64-Bit Server VM (21.0.5+11 mixed mode):\n")
    print('"main" #1 prio=5\n   java.lang.Thread.State: RUNNABLE\n')
    sys.exit(0)
line = rest[0].split(" ")
if line == ["VM.version"]:
    print("OpenJDK 64-Bit Server VM version 21.0.5+11-LTS\nJDK 21.0.5")
elif line == ["help", "GC.heap_dump"]:
    print("GC.heap_dump\n\nOptions: (options must be specified using the <key> or <key>=<value> syntax)\n"
          "\t-all : [optional] Dump all objects (BOOLEAN, false)\n\t-gz : [optional] level (INT, 1)")
elif line == ["GC.heap_info"]:
    print(" garbage-first heap   total 262144K, used 4096K [0x00000000f0000000, 0x0000000100000000)")
elif line[0] == "GC.heap_dump":
    path = root + line[-1]  # the JVM writes in its own filesystem
    with gzip.open(path, "wb") as f:
        f.write(b"JAVA PROFILE 1.0.2\0" + b"\1" * 50000)
    print("Heap dump file created [%%d bytes in 0.010 secs]" %% os.path.getsize(path))
else:
    print("Operation %%s not recognized!" %% cmd); sys.exit(1)
''' % sys.executable


@pytest.fixture
def debug_box(tmp_path, monkeypatch):
    tools = tmp_path / "tools"
    tools.mkdir()
    root = tmp_path / "jvm-root"
    (root / "tmp").mkdir(parents=True)
    local = LocalContainer(str(tools))
    local.tool("jattach", FAKE_JATTACH)
    local.root = str(root)
    monkeypatch.setenv("FAKE_ROOT", str(root))
    monkeypatch.setattr(exec_run, "run", local.run)
    monkeypatch.setattr(dump, "POLL_SECONDS", 0.1)
    # /proc/1/root of the JVM is the test's directory; the scan sees the JVM as pid 1, libjvm.so mapped.
    monkeypatch.setattr(debug, "proc_root", lambda pid, path: str(root) + path)
    monkeypatch.setattr(debug, "scan_processes", lambda run, where: debug.parse_proc_scan(SCAN))
    return local


def run_debug(tmp_path, kind, **changes):
    params = dict(PARAMS, dump_dir="/tmp")
    params.update(changes)
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    session = dump.Session(None, POD, CONTAINER, params["timeout"],
                           debug_container={"name": "triage-debug-x", "image": IMAGE})
    result = {"changed": False, "warnings": [], "commands": session.commands}
    getattr(dump, kind)(session, target, CONTAINER, params, result)
    return result, target


def test_a_heap_dump_through_jattach_is_written_by_the_jvm_read_through_its_root_and_deleted(tmp_path, debug_box):
    result, target = run_debug(tmp_path, "heap")
    assert result["pid"] == 1 and result["jvm"]["major"] == 21 and result["compressed"] == "jvm"
    assert result["dump"]["verified"] and result["dump"]["sha256"] == result["dump"]["remote_sha256"]
    assert result["remote_path"].startswith("/tmp/triage-heap-1-") and result["remote_deleted"]
    assert os.listdir(os.path.join(debug_box.root, "tmp")) == []
    with gzip.open(os.path.join(target.root, result["dump"]["path"])) as handle:
        assert handle.read(19) == b"JAVA PROFILE 1.0.2\0"
    entry = [a for a in manifest_file.load(target.root)["artifacts"] if a["path"] == result["dump"]["path"]][0]
    assert entry["via"] == "debug_container" and entry["debug_container"] == "triage-debug-x"
    assert entry["debug_image"] == IMAGE and entry["tool"] == "jattach"
    assert entry["argv"][:3] == ["jattach", "1", "jcmd"] and entry["argv"][3].startswith("GC.heap_dump -gz=1 /tmp/")
    assert [c for c in debug_box.calls if any(arg.startswith("GC.heap_dump ") for arg in c)]
    assert entry["remote_path"] == result["remote_path"] and entry["container"]["name"] == "app"
    # The free space is read where the JVM writes, the helper files of the detached dump stay in the debug container.
    assert ["df", "-P", "-k", os.path.join(debug_box.root, "tmp")] in debug_box.calls
    detached = [c for c in debug_box.calls if c[:2] == ["/bin/sh", "-c"] and "setsid" in c[2]][0]
    assert detached[4].startswith("/tmp/.triage-")


def test_a_dump_dir_through_a_link_is_refused_before_the_jvm_dumps(tmp_path, debug_box):
    os.symlink("/tmp", os.path.join(debug_box.root, "dumps"))
    with pytest.raises(dump.DumpError, match="/dumps is a symbolic link in the JVM's filesystem"):
        run_debug(tmp_path, "heap", dump_dir="/dumps")
    assert not [c for c in debug_box.calls if any(arg.startswith("GC.heap_dump ") for arg in c)]
    assert os.listdir(os.path.join(debug_box.root, "tmp")) == []


def test_thread_dumps_through_jattach_leave_out_its_own_lines(tmp_path, debug_box):
    result, target = run_debug(tmp_path, "threads", count=2)
    assert [d["threads"] for d in result["thread_dumps"]] == [1, 1]
    with open(os.path.join(target.root, result["thread_dumps"][0]["path"]), "rb") as handle:
        assert handle.read().startswith(b"Full thread dump OpenJDK")
    entry = [a for a in manifest_file.load(target.root)["artifacts"] if a["kind"] == "threads"][0]
    assert entry["via"] == "debug_container" and entry["tool"] == "jattach"


def test_a_debug_image_without_jattach_and_jcmd_is_a_clear_error(tmp_path, debug_box, monkeypatch):
    os.unlink(os.path.join(debug_box.tools_dir, "jattach"))
    monkeypatch.setenv("PATH", debug_box.tools_dir)  # the machine's own jcmd is not in the "image"
    with pytest.raises(dump.DumpError) as info:
        run_debug(tmp_path, "heap")
    message = str(info.value)
    assert "neither jattach nor jcmd" in message and "pod web-1 in namespace shop" in message
    assert "triage-debug-x" in message


# ---------------------------------------------------------------------------- pod_fetch through the debug container

@pytest.fixture
def distroless(tmp_path, monkeypatch):
    """Container app has a shell but neither tar nor cat; the debug container "dbg" has the machine's tools and
    reaches the target's root (a directory of the test) as /proc/1/root."""
    from ansible_collections.triage.k8s.plugins.module_utils.evidence import fetch
    empty = tmp_path / "empty-path"
    empty.mkdir()
    root = tmp_path / "target-root"
    (root / "var" / "log").mkdir(parents=True)
    (root / "var" / "log" / "app.log").write_bytes(b"line 1\nline 2\n")
    os.symlink("/etc/passwd", str(root / "var" / "log" / "passwd-link"))
    os.symlink("/var/log", str(root / "logs"))
    local = LocalContainer()
    local.paths["app"] = str(empty)
    monkeypatch.setattr(exec_run, "run", local.run)
    monkeypatch.setattr(debug, "proc_root", lambda pid, path: str(root) + path)
    added = []

    def ensure(api_client, pod, target_container, image, debug_name, needed, timeout, now, result, profile):
        added.append((target_container, image))
        result["debug_container"] = {"name": "dbg", "image": image, "added": True}
        result["changed"] = True
        return pod, "dbg"
    monkeypatch.setattr(debug, "ensure", ensure)
    monkeypatch.setattr(debug, "find_target_pid", lambda api_client, namespace, pod, name, timeout=30: 1)
    local.root, local.added, local.fetch = str(root), added, fetch
    return local


def test_a_container_without_tar_and_cat_is_read_through_the_debug_container(tmp_path, distroless):
    fetch = distroless.fetch
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    params = {"max_bytes": 1024 ** 2, "max_total_bytes": 2 * 1024 ** 2, "timeout": 60, "retries": 3,
              "method": "auto", "debug_image": IMAGE, "debug_name": None, "debug_timeout": 30}
    result = fetch.fetch(None, target, POD, CONTAINER, ["/var/log", "/logs/app.log"], params)
    assert distroless.added == [("app", IMAGE)] and result["changed"]
    assert [f["path"] for f in result["files"]] == ["files/app/var/log/app.log"]
    assert result["files"][0]["remote_path"] == "/var/log/app.log" and result["files"][0]["verified"]
    # The link in the archive is recorded, never created; the path through a linked directory is refused.
    assert [(s["type"], s["target"]) for s in result["skipped_members"]] == [("symlink", "/etc/passwd")]
    assert not os.path.lexists(os.path.join(target.root, "files/app/var/log/passwd-link"))
    assert len(result["failures"]) == 1 and "/logs is a symbolic link" in result["failures"][0]["error"]
    entry = [a for a in manifest_file.load(target.root)["artifacts"] if a["path"] == "files/app/var/log/app.log"][0]
    assert entry["via"] == "debug_container" and entry["debug_container"] == "dbg" and entry["debug_image"] == IMAGE
    assert entry["container"]["name"] == "app" and entry["remote_path"] == "/var/log/app.log"
    # Only the debug container ran the transfers.
    assert any(call[:1] == ["tar"] for call in distroless.calls)


def test_without_a_debug_image_such_a_container_stays_a_clear_error(tmp_path, distroless):
    fetch = distroless.fetch
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    params = {"max_bytes": 1024 ** 2, "max_total_bytes": 2 * 1024 ** 2, "timeout": 60, "retries": 3,
              "method": "auto", "debug_image": None, "debug_name": None, "debug_timeout": 30}
    result = fetch.fetch(None, target, POD, CONTAINER, [distroless.root + "/var/log/app.log"], params)
    assert distroless.added == [] and not result["changed"]
    assert "neither tar nor cat" in result["failures"][0]["error"]


# ---------------------------------------------------------------------------- ensure(): the patch and the wait

@pytest.fixture
def api(monkeypatch):
    """The patch and the wait of kube/ephemeral.py, scripted: ``outcome`` is what the wait reports."""
    calls = {"patches": [], "outcome": ("done", {"state": "running"})}

    def add(api_client, pod, container, still_needed, what):
        if not still_needed(pod):
            return None, pod
        calls["patches"].append(container)
        return dict(pod, spec=dict(pod["spec"], ephemeralContainers=[container])), pod

    def wait(api_client, pod, name, timeout, running_only=False):
        assert running_only
        outcome, detail = calls["outcome"]
        return outcome, dict({"reason": None, "message": None}, **detail), pod, 0.5
    monkeypatch.setattr(debug, "add_ephemeral_container", add)
    monkeypatch.setattr(debug, "wait_ephemeral", wait)
    return calls


def test_ensure_adds_once_and_says_the_container_stays(api):
    result = {"changed": False}
    _pod, name = debug.ensure(None, pod_with(), "app", IMAGE, None, 60, 30, NOW, result)
    assert name == debug.default_name("app", IMAGE) and len(api["patches"]) == 1
    assert result["changed"] and result["debug_container"]["added"]
    assert "can never be removed" in result["warnings"][0] and "pod web-1 in namespace shop" in result["warnings"][0]
    reused = {"changed": False}
    running_pod = pod_with([api["patches"][0]], [running(name, "2026-01-05T11:59:00Z")])
    debug.ensure(None, running_pod, "app", IMAGE, None, 60, 30, NOW, reused)
    assert len(api["patches"]) == 1 and not reused["changed"] and reused["debug_container"]["action"] == "reuse"


def test_a_container_that_does_not_start_in_time_or_cannot_be_pulled_is_a_clear_changed_error(api):
    api["outcome"] = ("timeout", {"state": "waiting", "reason": "ContainerCreating"})
    result = {"changed": False}
    with pytest.raises(debug.DebugError) as info:
        debug.ensure(None, pod_with(), "app", IMAGE, None, 60, 30, NOW, result)
    assert "did not start within 30s (last state waiting, ContainerCreating)" in str(info.value)
    assert "pod web-1 in namespace shop" in str(info.value) and "can never be removed" in str(info.value)
    assert result["changed"]
    api["outcome"] = ("failed", {"state": "waiting", "reason": "ErrImagePull", "message": "no such host"})
    with pytest.raises(debug.DebugError, match="cannot run: ErrImagePull: no such host"):
        debug.ensure(None, pod_with(), "app", "registry.invalid/x:1", None, 60, 30, NOW, {"changed": False})


def test_a_pod_that_shares_its_process_namespace_is_refused_before_anything_is_added(tmp_path, distroless):
    fetch = distroless.fetch
    target = bundle_mod.BundleTarget(make_bundle(tmp_path))
    pod = copy.deepcopy(POD)
    pod["spec"]["shareProcessNamespace"] = True
    params = {"max_bytes": 1024 ** 2, "max_total_bytes": 2 * 1024 ** 2, "timeout": 60, "retries": 3,
              "method": "auto", "debug_image": IMAGE, "debug_name": None, "debug_timeout": 30}
    with pytest.raises(fetch.FetchError, match="shareProcessNamespace"):
        fetch.fetch(None, target, pod, CONTAINER, ["/var/log/app.log"], params)
    assert distroless.added == []


def test_check_mode_names_the_debug_container_it_would_add_and_runs_nothing(tmp_path, distroless):
    fetch = distroless.fetch
    params = {"max_bytes": 1024 ** 2, "max_total_bytes": 2 * 1024 ** 2, "timeout": 60, "retries": 3,
              "method": "auto", "debug_image": IMAGE, "debug_name": None, "debug_timeout": 30}
    pod = copy.deepcopy(POD)
    result = fetch.fetch(None, None, pod, CONTAINER, ["/var/log/app.log"], params, check_mode=True)
    assert distroless.calls == [] and distroless.added == []
    assert result["debug_container"]["action"] == "add"
    assert result["debug_container"]["body"]["targetContainerName"] == "app"
    assert any("neither, the debug container" in w for w in result["warnings"])
