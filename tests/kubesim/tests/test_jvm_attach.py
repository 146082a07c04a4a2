"""kubesim/java's JVM as a real process in a PID namespace of its own, and HotSpot attach from an ephemeral
container that targets it (kubelet.process_isolation, sandbox_exec.py, container_tools/jvm.py and attach.py).

What a user of `kubectl debug --target` sees on a real node: the debug container sees the JVM as pid 1 and its
files through /proc/1/root; jattach attaches as the JVM's uid; without --target nothing of the JVM is visible."""
from __future__ import annotations

import os

from test_exec import run
from test_kubelet_support import eventually, pod_manifest, start_pod

LIST_PIDS = ["sh", "-c", 'echo "self $$"; for d in /proc/[0-9]*; do echo "${d#/proc/}"; done']


def visible_pids(core, namespace, pod, **kwargs):
    out, _, code, _ = run(core, namespace, pod, LIST_PIDS, **kwargs)
    assert code == 0, out
    lines = out.split()
    return lines[1], set(lines[2:])


def java_pod(core, namespace, name="java", image="kubesim/java:21", user=None, **env):
    manifest = pod_manifest(name, image=image, env=env or None)
    if user is not None:   # the container's, so that a debug container runs as root by default
        manifest["spec"]["containers"][0]["securityContext"] = {"runAsUser": user, "runAsGroup": user}
    start_pod(core, namespace, manifest)
    return name


def add_debug_container(core, namespace, pod, name, target="app", user=None, group=None):
    container = {"name": name, "image": "kubesim/jattach:2.2", "command": ["sleep", "3600"]}
    if target:
        container["targetContainerName"] = target
    if user is not None:
        container["securityContext"] = {"runAsUser": user, "runAsGroup": user if group is None else group}
    core.patch_namespaced_pod_ephemeralcontainers(pod, namespace, {"spec": {"ephemeralContainers": [container]}})

    def running():
        p = core.read_namespaced_pod(pod, namespace)
        return any(s.name == name and s.state.running for s in p.status.ephemeral_container_statuses or [])
    eventually(running, message=f"ephemeral container {name} running")


def machine_processes_of(pod):
    """Pids on this machine of the processes whose environment names the pod (HOSTNAME=<pod>)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if f"HOSTNAME={pod}".encode() in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def test_the_jvm_is_pid_1_of_its_namespace_and_an_exec_sees_only_it_and_itself(core, namespace):
    # a name no other test's pod has: the machine's processes are told apart by HOSTNAME=<pod name> below, and a
    # "java" pod of another test may still be terminating
    pod = java_pod(core, namespace, name="jvm-" + namespace)
    own, pids = visible_pids(core, namespace, pod)
    assert pids == {"1", own}
    out, _, code, _ = run(core, namespace, pod, ["sh", "-c", "cat /proc/1/cmdline; echo; readlink /proc/1/exe; "
                                                             "grep libjvm.so /proc/1/maps; grep NSpid /proc/1/status; "
                                                             "ls /tmp/hsperfdata_root"])
    assert code == 0
    cmdline, exe, maps, nspid, perf = out.split("\n", 4)
    assert cmdline.rstrip("\0").split("\0") == ["java", "-XX:+ExitOnOutOfMemoryError", "-jar", "/app/app.jar"]
    assert exe == "/opt/java/openjdk/bin/java"
    assert maps.endswith("/opt/java/openjdk/lib/server/libjvm.so")
    assert nspid.split()[1:] == ["1"]   # seen from inside: one level, pid 1
    assert perf.split() == ["1"]
    (host_pid,) = [p for p in machine_processes_of(pod) if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"java\0")]
    with open(f"/proc/{host_pid}/status") as f:
        assert [line.split()[1:] for line in f if line.startswith("NSpid")] == [[str(host_pid), "1"]]


def test_sigquit_without_the_attach_file_logs_a_thread_dump_and_the_jvm_lives(core, namespace):
    pod = java_pod(core, namespace)
    _, _, code, _ = run(core, namespace, pod, ["kill", "-QUIT", "1"])
    assert code == 0
    eventually(lambda: "Full thread dump OpenJDK" in core.read_namespaced_pod_log(pod, namespace))
    out, _, code, _ = run(core, namespace, pod, ["jcmd", "1", "VM.version"])
    assert code == 0 and "OpenJDK 64-Bit Server VM" in out
    (status,) = core.read_namespaced_pod(pod, namespace).status.container_statuses
    assert status.restart_count == 0 and status.state.running


def test_a_debug_container_targeting_the_jvm_attaches_with_jattach_as_its_uid(core, namespace):
    pod = java_pod(core, namespace, user=1000, KUBESIM_HEAP_DUMP_BYTES="12345")
    add_debug_container(core, namespace, pod, "debug")
    own, pids = visible_pids(core, namespace, pod, container="debug")
    assert {"1", own} <= pids and len(pids) == 3   # the JVM, the debug container's sleep, this shell
    out, _, code, _ = run(core, namespace, pod, ["sh", "-c", "ls /proc/1/root/tmp/hsperfdata_*; id -u"],
                          container="debug")
    assert code == 0 and out.split() == ["1", "0"]
    out, _, code, _ = run(core, namespace, pod, ["jattach", "1", "threaddump"], container="debug")
    assert code == 0, out
    assert out.startswith("Connected to remote JVM\nJVM response code = 0\n") and "Full thread dump" in out
    out, _, code, _ = run(core, namespace, pod, ["jattach", "1", "jcmd", "GC.heap_dump", "/tmp/heap.hprof"],
                          container="debug")
    assert code == 0 and "Heap dump file created [12345 bytes" in out
    out, _, code, _ = run(core, namespace, pod, ["sh", "-c", "stat -c '%s %u' /tmp/heap.hprof; head -c 18 "
                                                             "/tmp/heap.hprof"])
    assert code == 0 and out == "12345 1000\nJAVA PROFILE 1.0.2"   # written by the JVM, in its filesystem
    _, _, code, _ = run(core, namespace, pod, ["test", "-e", "/tmp/heap.hprof"], container="debug")
    assert code != 0   # the debug container's own /tmp is not the JVM's


def test_another_uid_is_refused_and_without_a_target_the_jvm_is_not_visible(core, namespace):
    pod = java_pod(core, namespace, user=1000)
    add_debug_container(core, namespace, pod, "other", user=2000)
    out, err, code, _ = run(core, namespace, pod, ["jattach", "1", "threaddump"], container="other")
    assert code != 0 and "Failed to change credentials to match the target process" in err
    add_debug_container(core, namespace, pod, "alone", target=None)
    own, pids = visible_pids(core, namespace, pod, container="alone")
    assert pids == {"1", own}
    out, _, code, _ = run(core, namespace, pod, ["cat", "/proc/1/cmdline"], container="alone")
    assert code == 0 and out.split("\0")[:2] == ["sleep", "3600"]


# A raw attach client of the socket jattach made the JVM open: prints the first bytes of the answer.
RAW_ATTACH = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("/proc/1/root/tmp/.java_pid1")
s.sendall(b"1\0properties\0\0\0\0")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(repr(data[:2]))
"""


def test_a_non_root_client_needs_the_jvms_uid_and_gid(core, namespace):
    """Without root, the attach socket is reached only as the JVM's uid and gid: the same uid with another gid is
    refused by the kernel's /proc access check already (ptrace mode), before the JVM's SO_PEERCRED check."""
    pod = java_pod(core, namespace, user=1000)
    add_debug_container(core, namespace, pod, "root")
    out, _, code, _ = run(core, namespace, pod, ["jattach", "1", "properties"], container="root")
    assert code == 0 and "java.vm.version=" in out   # the listener runs now
    add_debug_container(core, namespace, pod, "samegroup", user=1000)
    add_debug_container(core, namespace, pod, "othergroup", user=1000, group=2000)
    out, _, code, _ = run(core, namespace, pod, ["python3", "-c", RAW_ATTACH], container="samegroup")
    assert code == 0 and out.strip() == "b'0\\n'"
    _, err, code, _ = run(core, namespace, pod, ["python3", "-c", RAW_ATTACH], container="othergroup")
    assert code == 1 and "PermissionError" in err


def test_the_jre_image_has_no_jdk_tools_but_the_same_jvm(core, namespace):
    pod = java_pod(core, namespace, image="kubesim/java:21-jre")
    out, _, code, _ = run(core, namespace, pod, ["sh", "-c", "command -v jcmd || echo no jcmd; command -v java"])
    assert code == 0 and out.split() == ["no", "jcmd", "/opt/java/openjdk/bin/java"]
    add_debug_container(core, namespace, pod, "debug")
    out, _, code, _ = run(core, namespace, pod, ["jattach", "1", "jcmd", "VM.version"], container="debug")
    assert code == 0 and "JDK 21.0.5" in out


def test_a_java_image_with_a_command_runs_it_and_no_jvm(core, namespace):
    manifest = pod_manifest("jdk", image="kubesim/java:21")
    manifest["spec"]["containers"][0]["command"] = ["sleep", "3600"]
    start_pod(core, namespace, manifest)
    out, _, code, _ = run(core, namespace, "jdk", ["sh", "-c", "cat /proc/1/cmdline; echo; command -v jcmd"])
    assert code == 0 and out.split("\n")[:2] == ["sleep\x003600\x00", "/opt/java/openjdk/bin/jcmd"]


def test_restart_and_deletion_leave_no_process_behind(core, namespace):
    pod = java_pod(core, namespace, name="java-restarted")   # a name no other test's pod has (HOSTNAME)
    add_debug_container(core, namespace, pod, "debug")
    # a process out of the exec's process group (which ends with the exec): only the namespace's end can kill it
    _, _, code, _ = run(core, namespace, pod, ["sh", "-c", "setsid sh -c 'echo $$ > /tmp/bg; exec sleep 1000' "
                                                           ">/dev/null 2>&1 </dev/null & while [ ! -s /tmp/bg ]; "
                                                           "do :; done"])
    assert code == 0
    before = set(machine_processes_of(pod))
    assert len(before) >= 5   # relay + JVM, relay + debug sleep, the setsid sleep
    _, _, code, _ = run(core, namespace, pod, ["kill", "-TERM", "1"])   # the JVM exits 143; the kubelet restarts it

    def restarted():
        status = core.read_namespaced_pod(pod, namespace).status
        (app,) = status.container_statuses
        (debug,) = status.ephemeral_container_statuses
        return app.restart_count == 1 and app.state.running and debug.state.terminated and (app, debug)
    app, debug = eventually(restarted, message="JVM restarted, debug container ended with its namespace")
    assert app.last_state.terminated.exit_code == 143 and debug.state.terminated.exit_code == 137
    eventually(lambda: not before & set(machine_processes_of(pod)), message="old namespace's processes gone")
    core.delete_namespaced_pod(pod, namespace)
    eventually(lambda: not machine_processes_of(pod), message="no process of the pod left on the machine")
