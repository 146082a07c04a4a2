"""Each container sees a root filesystem of its own (spec §5.2: a container's files are its image plus its
writable layer plus its volumes; never the node's), used by its command, by exec and by `kubectl cp`; emptyDir
volumes are shared by the containers of one pod (k8s_semantics.md, volumes)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid

import pytest
from kubernetes.stream import stream

from test_kubelet_support import eventually, events_of, raw_websocket

BUSYBOX = "busybox:1.36"
KUBECTL = shutil.which("kubectl")


def pod(name, containers, volumes=None, init=None, **spec):
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": containers, **spec}}
    if volumes:
        body["spec"]["volumes"] = volumes
    if init:
        body["spec"]["initContainers"] = init
    return body


def box(name="app", command=None, **extra):
    c = {"name": name, "image": BUSYBOX, **extra}
    if command is not None:
        c["command"] = command
    return c


def start(core, namespace, manifest):
    core.create_namespaced_pod(namespace, manifest)
    name = manifest["metadata"]["name"]

    def all_running():
        p = core.read_namespaced_pod(name, namespace)
        statuses = p.status.container_statuses or []
        return statuses and all(s.state.running for s in statuses) and p
    return eventually(all_running, timeout=15)


def sh(core, namespace, name, script, container=None, binary=False):
    """exec `sh -c script`; (stdout, stderr, exit code)."""
    kwargs = {"container": container} if container else {}
    resp = stream(core.connect_get_namespaced_pod_exec, name, namespace, command=["sh", "-c", script],
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False, binary=binary,
                  **kwargs)
    out, err = (b"", b"") if binary else ("", "")
    while resp.is_open():
        resp.update(timeout=5)
        out += resp.read_stdout(timeout=0) or out[:0]
        err += resp.read_stderr(timeout=0) or err[:0]
    out += resp.read_stdout(timeout=0) or out[:0]
    return out, err, resp.returncode


def test_tmp_of_one_pod_is_neither_another_pods_nor_the_machines(core, namespace):
    """The defect the issue names: /tmp/x written in one pod must not be readable from another pod or the host."""
    name = f"x-{uuid.uuid4().hex}"
    start(core, namespace, pod("writer", [box()]))
    start(core, namespace, pod("reader", [box()]))
    _, _, code = sh(core, namespace, "writer", f"echo secret > /tmp/{name} && cat /tmp/{name}")
    assert code == 0
    assert not os.path.exists(f"/tmp/{name}")
    out, _, code = sh(core, namespace, "reader", f"cat /tmp/{name}")
    assert code == 1 and out == ""
    out, _, code = sh(core, namespace, "writer", f"cat /tmp/{name}")
    assert (out, code) == ("secret\n", 0)   # the writer's own file stays (same container instance)


def test_rm_rf_in_a_pod_does_not_reach_the_machine(core, namespace, tmp_path):
    """`rm -rf` of a path that exists on the machine removes nothing there; the machine's directories outside
    the system ones do not exist in the container at all."""
    canary = tmp_path / "canary"
    canary.write_text("still here")
    start(core, namespace, pod("wrecker", [box()]))
    out, err, code = sh(core, namespace, "wrecker", f"ls {tmp_path}; rm -rf {tmp_path} /data; mkdir -p /data/x "
                                                    f"&& rm -rf /data && echo removed-own-data")
    assert "removed-own-data" in out and "No such file or directory" in err
    assert canary.read_text() == "still here"
    _, _, code = sh(core, namespace, "wrecker", f"test -e {os.path.dirname(sys.executable)}")
    assert code == 1


def test_system_directories_are_read_only_and_etc_is_the_containers_own(core, namespace):
    start(core, namespace, pod("sysdirs", [box()]))
    _, err, code = sh(core, namespace, "sysdirs", "touch /usr/kubesim-x")
    assert code != 0 and "Read-only file system" in err
    marker = f"kubesim-{uuid.uuid4().hex}"
    out, _, code = sh(core, namespace, "sysdirs", f"echo {marker} >> /etc/{marker} && cat /etc/{marker} && "
                                                  "cat /etc/hostname && grep sysdirs /etc/hosts")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == marker and lines[1] == "sysdirs"
    ip = core.read_namespaced_pod("sysdirs", namespace).status.pod_ip
    assert lines[2].split() == [ip, "sysdirs"]
    assert not os.path.exists(f"/etc/{marker}")


def test_exec_sees_what_the_containers_command_wrote(core, namespace):
    """One container instance, one filesystem: the command's files are there for exec, in the workingDir."""
    start(core, namespace, pod("worker", [box(command=["sh", "-c", "echo ready > state; sleep 3600"],
                                              workingDir="/srv/app")]))
    out, _, code = eventually(lambda: (r := sh(core, namespace, "worker", "pwd; cat state")) and r[2] == 0 and r)
    assert out == "/srv/app\nready\n"


def test_a_restarted_container_gets_a_fresh_root_but_keeps_its_emptydir(core, namespace):
    """A restart is a new container: its writable layer starts empty; emptyDir content survives (pod lifetime)."""
    script = ("if [ -e /cache/ran ]; then echo second; ls /tmp; exec sleep 3600; fi; "
              "touch /cache/ran /tmp/first-run; echo first; exit 1")
    core.create_namespaced_pod(namespace, pod("restarted", [box(command=["sh", "-c", script],
                                                                volumeMounts=[{"name": "cache",
                                                                               "mountPath": "/cache"}])],
                                              volumes=[{"name": "cache", "emptyDir": {}}]))
    eventually(lambda: (p := core.read_namespaced_pod("restarted", namespace)).status.container_statuses and
               p.status.container_statuses[0].restart_count == 1 and p.status.container_statuses[0].state.running,
               timeout=15)
    assert eventually(lambda: core.read_namespaced_pod_log("restarted", namespace)) == "second\n"
    assert core.read_namespaced_pod_log("restarted", namespace, previous=True) == "first\n"


def test_emptydir_is_shared_by_the_containers_of_a_pod_only(core, namespace):
    volumes = [{"name": "shared", "emptyDir": {}}]
    mount = [{"name": "shared", "mountPath": "/shared"}]
    start(core, namespace, pod("pair", [box("a", volumeMounts=mount), box("b", volumeMounts=mount)], volumes))
    start(core, namespace, pod("other", [box("a", volumeMounts=mount)], volumes))
    _, _, code = sh(core, namespace, "pair", "echo from-a > /shared/note", container="a")
    assert code == 0
    assert sh(core, namespace, "pair", "cat /shared/note", container="b")[0] == "from-a\n"
    assert sh(core, namespace, "pair", "test -e /tmp/note || echo separate-tmp", container="b")[0] == \
        "separate-tmp\n"
    assert sh(core, namespace, "other", "cat /shared/note")[2] == 1


def test_memory_emptydir_with_size_limit_reports_its_size_and_fills_up(core, namespace):
    """medium: Memory is a tmpfs sized by sizeLimit, as the kubelet mounts it: `df` in the container shows
    little free space, and writing past it fails with ENOSPC. (For the heap-dump free-space refusal.)"""
    volumes = [{"name": "dumps", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]
    start(core, namespace, pod("small", [box(volumeMounts=[{"name": "dumps", "mountPath": "/dumps"}])], volumes))
    out, _, code = sh(core, namespace, "small", "df -k /dumps | tail -1")
    fields = out.split()
    assert code == 0 and fields[0] == "tmpfs" and int(fields[1]) == 1024 and int(fields[3]) <= 1024
    _, err, code = sh(core, namespace, "small", "head -c 2097152 /dev/zero > /dumps/big")
    assert code != 0 and "No space left on device" in err


def test_a_hostile_tool_from_a_configmap_comes_first_on_the_containers_path(core, namespace):
    """The container's PATH decides which binary runs, for exec and the command alike: a ConfigMap volume
    (defaultMode 0755) holding a `tar` script put ahead of /bin can emit any bytes (issue 12's hostile tar)."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "tools"}, "data": {
        "tar": "#!/bin/sh\nprintf 'hostile\\000bytes\\n../../etc/x\\n'\n",
        "sha256sum": "#!/bin/sh\nprintf '%s  %s\\n' 0000000000000000000000000000000000000000000000000000000000000000 "
                     "\"$1\"\n"}})
    env = [{"name": "PATH", "value": "/hostile:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}]
    start(core, namespace, pod("hostile", [box(env=env, volumeMounts=[{"name": "tools", "mountPath": "/hostile"}],
                                               command=["sh", "-c", "tar; sleep 3600"])],
                               [{"name": "tools", "configMap": {"name": "tools", "defaultMode": 0o755}}]))
    resp = stream(core.connect_get_namespaced_pod_exec, "hostile", namespace, command=["tar", "cf", "-", "/x"],
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False, binary=True)
    resp.run_forever(timeout=10)
    assert resp.read_stdout() == b"hostile\0bytes\n../../etc/x\n"
    out, _, _ = sh(core, namespace, "hostile", "sha256sum /etc/hostname; command -v tar")
    assert out == "0" * 64 + "  /etc/hostname\n/hostile/tar\n"
    assert eventually(lambda: core.read_namespaced_pod_log("hostile", namespace)).startswith("hostile")
    _, err, code = sh(core, namespace, "hostile", "echo x > /hostile/tar")
    assert code != 0 and "Read-only file system" in err   # configMap volumes are mounted read-only


def test_an_init_container_can_plant_a_tool_in_an_emptydir(core, namespace):
    script = "printf '#!/bin/sh\\necho fake jcmd \"$@\"\\n' > /tools/jcmd && chmod 755 /tools/jcmd"
    mount = [{"name": "tools", "mountPath": "/tools"}]
    env = [{"name": "PATH", "value": "/tools:/usr/bin:/bin"}]
    start(core, namespace, pod("planted", [box(env=env, volumeMounts=mount)],
                               [{"name": "tools", "emptyDir": {}}],
                               init=[box("plant", command=["sh", "-c", script], volumeMounts=mount)]))
    assert sh(core, namespace, "planted", "jcmd -l")[0] == "fake jcmd -l\n"


def test_secret_volume_files_and_a_missing_configmap_is_failed_mount(core, namespace):
    import base64
    core.create_namespaced_secret(namespace, {"metadata": {"name": "creds"},
                                              "data": {"password": base64.b64encode(b"s3cr3t").decode()}})
    start(core, namespace, pod("secretvol", [box(command=["sleep", "3600"],
                                                 volumeMounts=[{"name": "c", "mountPath": "/etc/creds"}])],
                               [{"name": "c", "secret": {"secretName": "creds",
                                                         "items": [{"key": "password", "path": "db/pw"}]}}]))
    assert sh(core, namespace, "secretvol", "cat /etc/creds/db/pw")[0] == "s3cr3t"
    core.create_namespaced_pod(namespace, pod("nomap", [box(command=["sleep", "3600"],
                                                            volumeMounts=[{"name": "m", "mountPath": "/m"}])],
                                              [{"name": "m", "configMap": {"name": "absent"}}]))
    eventually(lambda: any(e.reason == "FailedMount" and 'configmap "absent" not found' in e.message
                           for e in events_of(core, namespace, "nomap")))
    cs = core.read_namespaced_pod("nomap", namespace).status.container_statuses[0]
    assert cs.state.waiting.reason == "ContainerCreating"
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "absent"}, "data": {"k": "v"}})
    eventually(lambda: core.read_namespaced_pod("nomap", namespace).status.container_statuses[0].state.running)
    assert sh(core, namespace, "nomap", "cat /m/k")[0] == "v"


def test_large_exec_output_streams_whole(k8s, core, namespace):
    """32 MiB out of `head -c` arrive whole and in order over the v4 channel protocol (read frame by frame
    here; the memory figure for GiBs is in the benchmarks)."""
    import json
    import websocket
    start(core, namespace, pod("big", [box()]))
    size = 32 * 1024 * 1024
    script = f"head -c {size} /dev/urandom | tee /tmp/blob; sha256sum /tmp/blob >&2"
    ws = raw_websocket(k8s, f"/api/v1/namespaces/{namespace}/pods/big/exec", ["v4.channel.k8s.io"],
                       [("command", "sh"), ("command", "-c"), ("command", script), ("stdout", "true"),
                        ("stderr", "true")])
    ws.settimeout(60)
    digest, received, err, status = hashlib.sha256(), 0, b"", None
    while True:
        opcode, frame = ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        channel, data = frame.data[0], frame.data[1:]
        if channel == 1:
            digest.update(data)
            received += len(data)
        elif channel == 2:
            err += data
        elif channel == 3:
            status = json.loads(data)
    assert status == {"metadata": {}, "status": "Success"}
    assert received == size
    assert digest.hexdigest() == err.split()[0].decode()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
def test_kubectl_cp_goes_into_the_containers_root(kubesim, core, namespace, tmp_path):
    start(core, namespace, pod("cp", [box()]))
    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    name = f"kubesim-cp-{uuid.uuid4().hex}.txt"
    env = {**os.environ, "KUBECONFIG": kubesim.kubeconfig}
    subprocess.run([KUBECTL, "cp", str(src), f"{namespace}/cp:/tmp/{name}"], check=True, env=env, timeout=30)
    assert not os.path.exists(f"/tmp/{name}")
    assert sh(core, namespace, "cp", f"cat /tmp/{name}")[0] == "copied in\n"
    back = tmp_path / "back.txt"
    subprocess.run([KUBECTL, "cp", f"{namespace}/cp:/tmp/{name}", str(back)], check=True, env=env, timeout=30)
    assert back.read_text() == "copied in\n"


def test_kubesim_refuses_to_start_without_isolation_unless_told(tmp_path):
    """Where containers cannot get a filesystem of their own (here: root without CAP_SYS_ADMIN, so no mount
    namespace), kubesim exits with a clear message instead of sharing the machine's files; --no-isolation
    starts it with a loud warning."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to take CAP_SYS_ADMIN away")
    base = [setpriv, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", sys.executable, "-m", "kubesim",
            "serve", "--port", "0", "--kubeconfig", str(tmp_path / "kc"), "--state-dir", str(tmp_path / "s")]
    refused = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "containers cannot get a filesystem of their own" in refused.stderr
    assert "--no-isolation" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "kc").exists()
    from conftest import KubesimProcess
    sim = KubesimProcess(str(tmp_path), ["--no-isolation"])
    try:
        eventually(lambda: "WARNING: --no-isolation" in sim.stderr())
    finally:
        assert sim.stop() == 0
