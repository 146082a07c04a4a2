"""pods/exec over the websocket channel protocol (spec §7), through the Python client's `stream()` and raw
websocket frames, plus kubectl exec and cp where kubectl is installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time

import pytest
from kubernetes.stream import stream

from test_kubelet_support import drop_stream_fault, pod_manifest, raw_websocket, read_frames, start_pod

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


@pytest.fixture
def java_pod(core, namespace):
    start_pod(core, namespace, pod_manifest("java", image="kubesim/java:21",
                                            env={"KUBESIM_HEAP_DUMP_BYTES": "3000000"}))
    return "java"


def run(core, namespace, pod, command, protocol=None, stdin_data=None, **kwargs):
    """exec with _preload_content=False; returns (stdout, stderr, returncode, negotiated protocol)."""
    headers = {"sec-websocket-protocol": protocol} if protocol else None
    resp = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=command, stdout=True,
                  stderr=True, stdin=stdin_data is not None, tty=False, _preload_content=False,
                  **({"_headers": headers} if headers else {}), **kwargs)
    if stdin_data is not None:
        resp.write_stdin(stdin_data)
        resp.close_channel(0)
    resp.run_forever(timeout=20)
    return resp.read_stdout(), resp.read_stderr(), resp.returncode, resp.subprotocol


@pytest.mark.parametrize("protocol", [None, "v4.channel.k8s.io"], ids=["v5-default-offer", "v4-only"])
def test_exec_stdout_stderr_and_exit_codes(core, namespace, java_pod, protocol):
    """§7: stdout on 1, stderr on 2, exit code parsed from the Status on channel 3 (0 and non-zero)."""
    out, err, code, negotiated = run(core, namespace, java_pod, ["sh", "-c", "echo to-out; echo to-err >&2"],
                                     protocol)
    assert negotiated == (protocol or "v5.channel.k8s.io")
    assert (out, err, code) == ("to-out\n", "to-err\n", 0)
    out, err, code, _ = run(core, namespace, java_pod, ["sh", "-c", "echo partial; exit 3"], protocol)
    assert (out, code) == ("partial\n", 3)


def test_exec_preloaded_returns_the_output(core, namespace, java_pod):
    """The default `_preload_content=True` waits for the close and returns stdout+stderr as one string."""
    assert stream(core.connect_get_namespaced_pod_exec, java_pod, namespace, command=["echo", "hello world"],
                  stdout=True, stderr=True) == "hello world\n"


def test_exec_status_frames_on_the_wire(k8s, namespace, core, java_pod):
    """§7: an initial empty frame on stdout, then data, then the Status JSON on channel 3, then close."""
    path = f"/api/v1/namespaces/{namespace}/pods/{java_pod}/exec"
    query = [("command", "sh"), ("command", "-c"), ("command", "exit 3"), ("stdout", "true"), ("stderr", "true")]
    ws = raw_websocket(k8s, path, ["v4.channel.k8s.io"], query)
    assert ws.subprotocol == "v4.channel.k8s.io"
    frames = read_frames(ws)
    assert frames[0][1] == b"\x01"
    assert frames[-1][1][0] == 3
    status = json.loads(frames[-1][1][1:])
    assert status == {"metadata": {}, "status": "Failure",
                      "message": "command terminated with non-zero exit code: error executing command "
                                 "[sh -c exit 3], exit code 3",
                      "reason": "NonZeroExitCode",
                      "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    ws = raw_websocket(k8s, path, ["v4.channel.k8s.io"], [("command", "true"), ("stdout", "1")])
    assert json.loads(read_frames(ws)[-1][1][1:]) == {"metadata": {}, "status": "Success"}


@pytest.mark.parametrize("spelling", ["true", "True", "1"])
def test_bool_query_parameters_in_every_spelling(k8s, namespace, core, java_pod, spelling):
    """§7: the server parses bools like Convert_Slice_string_To_bool; only "false"/"0" are false."""
    path = f"/api/v1/namespaces/{namespace}/pods/{java_pod}/exec"
    ws = raw_websocket(k8s, path, ["v4.channel.k8s.io"],
                       [("command", "sh"), ("command", "-c"), ("command", "echo o; echo e >&2"),
                        ("stdout", spelling), ("stderr", "false")])
    frames = read_frames(ws)
    payloads = [f[1] for f in frames]
    assert b"\x01o\n" in payloads
    assert not any(p[:1] == b"\x02" and len(p) > 1 for p in payloads)  # stderr=false: nothing on channel 2


def test_stdin_with_v5_close_signal(core, namespace, java_pod):
    """§7: v5 lets the client close stdin ([255, 0]); `cat` then ends and its output comes back."""
    out, err, code, negotiated = run(core, namespace, java_pod, ["cat"], stdin_data="line one\nline two\n")
    assert negotiated == "v5.channel.k8s.io"
    assert (out, code) == ("line one\nline two\n", 0)


def test_stdin_with_v4_needs_no_eof(core, namespace, java_pod):
    """§7: v4 has no stdin EOF, so a command that reads a fixed amount still works."""
    resp = stream(core.connect_get_namespaced_pod_exec, java_pod, namespace, command=["head", "-c", "5"],
                  stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False,
                  _headers={"sec-websocket-protocol": "v4.channel.k8s.io"})
    resp.write_stdin("abcdefgh")
    resp.run_forever(timeout=10)
    assert resp.read_stdout() == "abcde"
    assert resp.returncode == 0


def test_exec_runs_in_the_container_root_with_its_env(core, namespace, java_pod):
    """§7/§5.2: exec runs in the container (its working directory, default `/`, HOME=/root as runc sets it for
    root) with the container's env; a file it writes stays in the container's filesystem."""
    out, _, code, _ = run(core, namespace, java_pod,
                          ["sh", "-c", 'echo "$HOSTNAME $KUBESIM_HEAP_DUMP_BYTES"; touch marker; ls; '
                                       'test "$(pwd)" = / && test "$HOME" = /root && echo ok'])
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "java 3000000"
    assert "marker" in lines and lines[-1] == "ok"
    assert not os.path.exists("/marker")


def test_unknown_command_is_an_internal_error_like_the_runtime(core, namespace, java_pod):
    resp = stream(core.connect_get_namespaced_pod_exec, java_pod, namespace, command=["no-such-tool"],
                  stdout=True, stderr=True, _preload_content=False)
    resp.run_forever(timeout=10)
    status = json.loads(resp.read_channel(3))
    assert status["reason"] == "InternalError" and status["code"] == 500
    assert 'exec: "no-such-tool": executable file not found in $PATH' in status["message"]


def test_jcmd_heap_dump_of_the_configured_size_streams_out(core, namespace, java_pod):
    """kubesim/java: `jcmd 1 GC.heap_dump` writes KUBESIM_HEAP_DUMP_BYTES bytes; `cat` streams it out as
    binary over exec (how the collection copies dumps without kubectl)."""
    out, _, code, _ = run(core, namespace, java_pod, ["jcmd", "1", "GC.heap_dump", "heap.hprof"])
    assert code == 0
    assert "Heap dump file created [3000000 bytes" in out
    resp = stream(core.connect_get_namespaced_pod_exec, java_pod, namespace, command=["cat", "heap.hprof"],
                  stdout=True, stderr=True, _preload_content=False, binary=True)
    data = b""
    while resp.is_open():
        resp.update(timeout=5)
        data += resp.read_stdout(timeout=0) or b""
    data += resp.read_stdout(timeout=0) or b""
    assert resp.returncode == 0
    assert len(data) == 3_000_000
    assert data.startswith(b"JAVA PROFILE 1.0.2\0")


def test_thread_dump_tools(core, namespace, java_pod):
    out, _, code, _ = run(core, namespace, java_pod, ["jcmd", "1", "Thread.print"])
    assert code == 0 and "Full thread dump OpenJDK" in out and '"main" #1' in out
    out, _, code, _ = run(core, namespace, java_pod, ["jstack", "1"])
    assert code == 0 and "java.lang.Thread.State" in out
    _, _, code, _ = run(core, namespace, java_pod, ["jcmd", "42", "Thread.print"])
    assert code == 1


def test_only_the_java_image_puts_the_jvm_tools_first_on_path(core, namespace, java_pod):
    """The image decides the tools: kubesim/java's jcmd comes first on PATH; other images see the host's PATH
    (the host may or may not have a JDK of its own), then the kubesim-curl every image carries, last."""
    start_pod(core, namespace, pod_manifest("plain", image="nginx"))
    java_jcmd, _, code, _ = run(core, namespace, java_pod, ["sh", "-c", "command -v jcmd"])
    assert code == 0 and java_jcmd.strip() == "/opt/java/openjdk/bin/jcmd"   # JAVA_HOME/bin of temurin images
    plain_jcmd, _, _, _ = run(core, namespace, "plain", ["sh", "-c", "command -v jcmd || true"])
    assert plain_jcmd.strip() != java_jcmd.strip()
    plain_path, _, _, _ = run(core, namespace, "plain", ["sh", "-c", "echo $PATH"])
    assert plain_path.strip() == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/kubesim/bin"


def test_exec_errors_are_the_api_servers(core, namespace, kubesim):
    """§6: 400 for a missing container name when there are several, and for an unknown container."""
    manifest = pod_manifest("two")
    manifest["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    start_pod(core, namespace, manifest)
    status, _, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/pods/two/exec?command=true")
    assert status == 400
    assert json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "a container name must be specified for pod two, choose one of: "
                                           "[app sidecar]", "reason": "BadRequest", "code": 400}
    status, _, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/pods/two/exec?command=true"
                                             "&container=nope")
    assert status == 400 and json.loads(body)["message"] == "container nope is not valid for pod two"
    status, _, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/pods/missing/exec?command=true")
    assert status == 404 and json.loads(body)["reason"] == "NotFound"


# ------------------------------------------------------------------------------------------------ kubectl

def kubectl(kubesim, *args, input_bytes=None):
    return subprocess.run([KUBECTL, "--kubeconfig", kubesim.kubeconfig, *args], input=input_bytes,
                          capture_output=True, timeout=60)


@needs_kubectl
def test_kubectl_exec(kubesim, namespace, java_pod):
    result = kubectl(kubesim, "exec", "-n", namespace, java_pod, "--", "sh", "-c", "echo from-kubectl; exit 0")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"from-kubectl\n"
    result = kubectl(kubesim, "exec", "-n", namespace, java_pod, "--", "sh", "-c", "exit 4")
    assert result.returncode == 4
    assert b"command terminated with exit code 4" in result.stderr
    result = kubectl(kubesim, "exec", "-i", "-n", namespace, java_pod, "--", "wc", "-c", input_bytes=b"12345")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == b"5"


@needs_kubectl
def test_kubectl_cp_both_directions(kubesim, namespace, java_pod, core, tmp_path):
    """§7 kubectl cp: `tar -xmf -` into the pod, `tar cf -` out of it; a heap dump made by jcmd comes out whole."""
    src = tmp_path / "upload.txt"
    src.write_bytes(b"uploaded content\n" * 1000)
    result = kubectl(kubesim, "cp", str(src), f"{namespace}/{java_pod}:upload.txt")
    assert result.returncode == 0, result.stderr
    out, _, code, _ = run(core, namespace, java_pod, ["cat", "upload.txt"])
    assert code == 0 and out == "uploaded content\n" * 1000

    _, _, code, _ = run(core, namespace, java_pod, ["jcmd", "1", "GC.heap_dump", "dump.hprof"])
    assert code == 0
    dest = tmp_path / "dump.hprof"
    result = kubectl(kubesim, "cp", f"{namespace}/{java_pod}:dump.hprof", str(dest))
    assert result.returncode == 0, result.stderr
    assert os.path.getsize(dest) == 3_000_000
    assert dest.read_bytes().startswith(b"JAVA PROFILE 1.0.2\0")


def test_tar_stream_out_of_the_sandbox(core, namespace, java_pod, tmp_path):
    """What kubectl cp runs, through the Python client: `tar cf - <file>` as binary."""
    run(core, namespace, java_pod, ["sh", "-c", "mkdir -p logs && echo app-log > logs/app.log"])
    resp = stream(core.connect_get_namespaced_pod_exec, java_pod, namespace, command=["tar", "cf", "-", "logs"],
                  stdout=True, stderr=True, _preload_content=False, binary=True)
    data = b""
    while resp.is_open():
        resp.update(timeout=5)
        data += resp.read_stdout(timeout=0) or b""
    archive = tmp_path / "out.tar"
    archive.write_bytes(data)
    with tarfile.open(archive) as tar:
        assert tar.extractfile("logs/app.log").read() == b"app-log\n"


def test_websocket_handshake_without_upgrade_is_rejected(kubesim, namespace, core, java_pod):
    status, _, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/pods/{java_pod}/exec"
                                             "?command=true&stdout=true")
    assert status == 400
    assert json.loads(body)["message"] == "Upgrade request required"


def test_drop_stream_fault_cuts_exec_mid_way(kubesim, core, namespace, java_pod):
    """Fault injection (`drop-stream`): the connection is reset after `after_seconds`, with no Status on
    channel 3, so the client cannot read an exit code (what reliability tests of the collection rely on)."""
    with drop_stream_fault(kubesim, namespace, "exec", after_seconds=0.5):
        started = time.monotonic()
        resp = stream(core.connect_get_namespaced_pod_exec, java_pod, namespace,
                      command=["sh", "-c", "echo first; sleep 5; echo never"], stdout=True, stderr=True,
                      _preload_content=False)
        out = ""
        while resp.is_open() and time.monotonic() - started < 10:
            try:
                resp.update(timeout=1)
            except Exception:  # the reset surfaces as a socket error in websocket-client
                break
            out += resp.read_stdout(timeout=0) or ""
        assert time.monotonic() - started < 4
        assert "first" in out and "never" not in out
        assert resp.read_channel(3) == ""
    out, _, code, _ = run(core, namespace, java_pod, ["echo", "after"])
    assert (out, code) == ("after\n", 0)


def test_drop_stream_after_bytes_cuts_exec_at_that_offset(kubesim, core, namespace, java_pod):
    """`after_bytes`: the exec stream is reset once that much output went out, wherever the machine's speed puts
    the transfer (a test that cuts by time races a fast copy); the client sees no exit status."""
    with drop_stream_fault(kubesim, namespace, "exec", after_bytes=300000):
        resp = stream(core.connect_get_namespaced_pod_exec, java_pod, namespace,
                      command=["sh", "-c", "head -c 2000000 /dev/zero"], stdout=True, stderr=True,
                      _preload_content=False)
        received = 0
        started = time.monotonic()
        while resp.is_open() and time.monotonic() - started < 10:
            try:
                resp.update(timeout=1)
            except Exception:  # the reset surfaces as a socket error in websocket-client
                break
            received += len(resp.read_stdout(timeout=0) or "")
        try:  # frames the last update() buffered before the reset broke it off
            received += len(resp.read_stdout(timeout=0) or "")
        except Exception:  # nothing was buffered, and asking read the closed socket
            pass
        assert 0 < received <= 300000
        assert resp.read_channel(3) == ""
    out, _, code, _ = run(core, namespace, java_pod, ["sh", "-c", "head -c 2000000 /dev/zero | wc -c"])
    assert (out.strip(), code) == ("2000000", 0)


def test_attach_streams_the_container_output_until_it_stops(core, namespace):
    """pods/attach speaks the exec channel protocol: new output of the container on channel 1, and the Success
    status on channel 3 when the container stops (here: the pod is deleted)."""
    start_pod(core, namespace, pod_manifest("attached"))
    resp = stream(core.connect_get_namespaced_pod_attach, "attached", namespace, stdout=True, stderr=True,
                  stdin=False, tty=False, _preload_content=False)
    core.connect_get_namespaced_pod_proxy_with_path("attached", namespace, "seen-by-attach")
    out = ""
    started = time.monotonic()
    while "/seen-by-attach" not in out and time.monotonic() - started < 10:
        resp.update(timeout=1)
        out += resp.read_stdout(timeout=0) or ""
    assert '"GET /seen-by-attach HTTP/1.1" 200' in out
    core.delete_namespaced_pod("attached", namespace)
    resp.run_forever(timeout=10)
    assert not resp.is_open()
    assert resp.returncode == 0
