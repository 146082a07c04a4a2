"""Containers that have a `command`/`args` run it for real (spec §5.2; k8s_semantics.md "container lifecycle"):
their output is the container log, their exit code the container's termination, their crash the CrashLoopBackOff
a real node shows. Containers without one stay simulated (no process)."""
from __future__ import annotations

import base64
import os
import signal
import time

import pytest

from test_kubelet_support import eventually, events_of

BUSYBOX = "busybox:1.36"


@pytest.fixture(scope="module")
def kubesim(kubesim_factory):
    """Fast crash-loop back-off (first delay 0.2 s instead of the kubelet's 10 s) so restarts are observable."""
    p = kubesim_factory(extra_args=["--crash-backoff-base", "0.2"])
    yield p
    assert p.stop() == 0, p.stderr()
    assert "Traceback" not in p.stderr(), p.stderr()


def pod(name, command=None, args=None, image=BUSYBOX, init=None, **spec):
    container = {"name": "app", "image": image}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container],
                                                                                      **spec}}
    if init:
        body["spec"]["initContainers"] = init
    return body


def status_of(core, namespace, name, index=0):
    p = core.read_namespaced_pod(name, namespace)
    statuses = p.status.container_statuses or []
    return p, (statuses[index] if len(statuses) > index else None)


def running(core, namespace, name):
    p, cs = status_of(core, namespace, name)
    return cs is not None and cs.state.running is not None and p


def processes_with(marker: str) -> list[int]:
    """Pids on this machine whose command line (arguments joined by spaces) contains `marker`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read().replace(b"\0", b" "):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_a_shell_loop_logs_its_line_with_timestamps(core, namespace):
    """The issue's example: `while true; do echo "hello world"; sleep N; done` logs that line every N s; each
    line is stamped when it was written (`kubectl logs --timestamps`, RFC3339Nano)."""
    core.create_namespaced_pod(namespace, pod("hello", ["sh", "-c",
                                                        'while true; do echo "hello world"; sleep 0.3; done']))
    eventually(lambda: running(core, namespace, "hello"))
    text = eventually(lambda: (t := core.read_namespaced_pod_log("hello", namespace, timestamps=True))
                      and t.count("hello world") >= 3 and t, timeout=10)
    lines = text.splitlines()
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert all(line.split(" ", 1)[1] == "hello world" for line in lines)
    assert all(s.endswith("Z") and len(s) == len("2026-01-01T00:00:00.000000000Z") for s in stamps)
    assert stamps == sorted(stamps) and stamps[0] != stamps[-1]   # written over time, not all at once


def test_stdout_and_stderr_both_go_into_the_log(core, namespace):
    core.create_namespaced_pod(namespace, pod("both", ["sh", "-c", "echo to-out; echo to-err >&2; sleep 3600"]))
    text = eventually(lambda: (t := core.read_namespaced_pod_log("both", namespace)) and "to-err" in t and t)
    assert sorted(text.splitlines()) == ["to-err", "to-out"]


def test_exit_1_crash_loops_with_its_exit_code_and_previous_log(core, namespace):
    """A command exiting 1 under restartPolicy Always: terminated exitCode 1 reason Error in lastState,
    restartCount growing, CrashLoopBackOff while backing off, and `logs --previous` is the crashed run's output."""
    core.create_namespaced_pod(namespace, pod("crash", ["sh", "-c", 'echo "run at $(date +%s%N)"; '
                                                                    'echo "FATAL: cannot start" >&2; exit 1']))

    def backing_off():
        _, cs = status_of(core, namespace, "crash")
        return cs is not None and cs.restart_count >= 2 and cs.state.waiting is not None and \
            cs.state.waiting.reason == "CrashLoopBackOff" and cs
    cs = eventually(backing_off, timeout=15)
    term = cs.last_state.terminated
    assert (term.exit_code, term.reason) == (1, "Error")
    assert term.container_id.startswith("containerd://")
    previous = core.read_namespaced_pod_log("crash", namespace, previous=True)
    assert previous.splitlines()[-1] == "FATAL: cannot start"
    assert previous.startswith("run at ")
    assert any(e.reason == "BackOff" for e in events_of(core, namespace, "crash"))


def test_exit_0_with_restart_policy_never_succeeds(core, namespace):
    core.create_namespaced_pod(namespace, pod("job", ["sh", "-c", "echo done"], restartPolicy="Never"))
    p = eventually(lambda: (p := core.read_namespaced_pod("job", namespace)) and p.status.phase == "Succeeded" and p)
    term = p.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (0, "Completed")
    assert core.read_namespaced_pod_log("job", namespace) == "done\n"


def test_a_command_that_is_not_there_is_a_start_error(core, namespace):
    """containerd's answer to a missing binary: StartError, exit code 128, the runtime's message, a Failed event."""
    core.create_namespaced_pod(namespace, pod("missing", ["no-such-binary"], restartPolicy="Never"))
    p = eventually(lambda: (p := core.read_namespaced_pod("missing", namespace)) and p.status.phase == "Failed" and p)
    term = p.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (128, "StartError")
    assert 'exec: "no-such-binary": executable file not found in $PATH' in term.message
    assert any(e.reason == "Failed" and "no-such-binary" in e.message for e in events_of(core, namespace, "missing"))


def test_args_alone_are_the_command_and_vars_are_expanded(core, namespace):
    """`$(VAR)` in command/args is expanded from the container env (kubelet ExpandContainerCommandAndArgs);
    `$$` escapes. For an image whose entrypoint kubesim does not know, args alone are the command."""
    manifest = pod("args", args=["sh", "-c", "echo $(GREETING) $$HOME; sleep 3600"])
    manifest["spec"]["containers"][0]["env"] = [{"name": "GREETING", "value": "hi"}]
    core.create_namespaced_pod(namespace, manifest)
    assert eventually(lambda: core.read_namespaced_pod_log("args", namespace)) == "hi /root\n"


def test_seed_002_a_bad_secret_crashes_the_app_until_it_is_fixed(core, namespace):
    """The seed-002 case as a plain manifest: the app gets its secret from a Secret through env and a flag,
    logs a FATAL line and exits 1 while the value is wrong (CrashLoopBackOff, the FATAL line in `previous`);
    after the Secret is fixed, the next restart reads the new value and the pod runs (env is resolved at each
    container start)."""
    core.create_namespaced_secret(namespace, {"metadata": {"name": "backend"},
                                              "data": {"mysecret": base64.b64encode(b"1234").decode()}})
    script = ('echo "Note: mysecret value is $2 while expected value is 4321."; '
              'if [ "$2" != 4321 ]; then echo "FATAL: connection to remote service failed. Check mysecret '
              'parameter."; exit 1; fi; echo "listening on :8080"; exec sleep 3600')
    manifest = pod("hello-path-go", ["sh", "-c", script, "hello-path-go"], args=["--mysecret", "$(MYSECRET)"])
    manifest["spec"]["containers"][0]["env"] = [
        {"name": "MYSECRET", "valueFrom": {"secretKeyRef": {"name": "backend", "key": "mysecret"}}}]
    core.create_namespaced_pod(namespace, manifest)
    cs = eventually(lambda: (c := status_of(core, namespace, "hello-path-go")[1]) and c.restart_count >= 1 and
                    c.last_state.terminated is not None and c, timeout=15)
    assert cs.last_state.terminated.exit_code == 1
    previous = core.read_namespaced_pod_log("hello-path-go", namespace, previous=True)
    assert previous.splitlines() == ["Note: mysecret value is 1234 while expected value is 4321.",
                                     "FATAL: connection to remote service failed. Check mysecret parameter."]
    core.patch_namespaced_secret("backend", namespace, {"data": {"mysecret": base64.b64encode(b"4321").decode()}})
    eventually(lambda: running(core, namespace, "hello-path-go")
               and "listening on :8080" in core.read_namespaced_pod_log("hello-path-go", namespace), timeout=20)


def test_a_long_init_command_holds_the_pod_in_init(core, namespace):
    """An init container whose command runs keeps the pod Pending with Initialized False (kubectl: Init:0/1),
    its app containers not started; when it exits 0 the app starts."""
    init = [{"name": "wait", "image": BUSYBOX, "command": ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; "
                                                                      "done; echo init done"]}]
    core.create_namespaced_pod(namespace, pod("gated", init=init))

    def init_running():
        p = core.read_namespaced_pod("gated", namespace)
        ics = (p.status.init_container_statuses or [None])[0]
        return ics is not None and ics.state.running is not None and p
    p = eventually(init_running)
    time.sleep(0.5)
    p = core.read_namespaced_pod("gated", namespace)
    ics = p.status.init_container_statuses[0]
    assert p.status.phase == "Pending" and ics.state.running is not None and ics.ready is False
    assert next(c for c in p.status.conditions if c.type == "Initialized").status == "False"
    assert p.status.container_statuses[0].state.waiting.reason == "PodInitializing"
    from kubernetes.stream import stream
    stream(core.connect_get_namespaced_pod_exec, "gated", namespace, container="wait",
           command=["touch", "/tmp/go"], stdout=True, stderr=True, stdin=False, tty=False)
    p = eventually(lambda: running(core, namespace, "gated"))
    ics = p.status.init_container_statuses[0]
    assert ics.state.terminated.exit_code == 0 and ics.ready is True
    assert core.read_namespaced_pod_log("gated", namespace, container="wait") == "init done\n"


def test_a_failing_init_command_restarts_with_its_exit_code(core, namespace):
    init = [{"name": "migrate", "image": BUSYBOX, "command": ["sh", "-c", "echo migration failed; exit 3"]}]
    core.create_namespaced_pod(namespace, pod("migrating", init=init))

    def failed_twice():
        p = core.read_namespaced_pod("migrating", namespace)
        ics = (p.status.init_container_statuses or [None])[0]
        return ics is not None and ics.restart_count >= 1 and ics.last_state.terminated is not None and p
    p = eventually(failed_twice, timeout=15)
    ics = p.status.init_container_statuses[0]
    assert ics.last_state.terminated.exit_code == 3 and p.status.phase == "Pending"
    assert p.status.container_statuses[0].state.running is None


def test_delete_sends_sigterm_and_the_pod_goes_when_the_process_exits(core, namespace):
    """§5.1 graceful deletion: the kubelet sends SIGTERM; a process that exits on it ends the pod's life well
    before the grace period."""
    marker = f"sleep 9{os.getpid() % 1000:03d}11"
    core.create_namespaced_pod(namespace, pod("term", ["sh", "-c", f"trap 'exit 0' TERM; {marker} & wait"],
                                              terminationGracePeriodSeconds=20))
    eventually(lambda: running(core, namespace, "term") and processes_with(marker))
    started = time.monotonic()
    core.delete_namespaced_pod("term", namespace)
    eventually(lambda: not [p for p in core.list_namespaced_pod(namespace).items if p.metadata.name == "term"])
    assert time.monotonic() - started < 10
    eventually(lambda: not processes_with(marker), message="the container's processes are gone")


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(core, namespace):
    """§5.1: SIGKILL after terminationGracePeriodSeconds; the exit code is 137. Seen through an image change,
    which restarts the container in place and keeps the killed instance as lastState."""
    core.create_namespaced_pod(namespace, pod("stubborn", ["sh", "-c", "trap '' TERM; echo up; "
                                                                       "while true; do sleep 0.05; done"],
                                              terminationGracePeriodSeconds=1))
    eventually(lambda: running(core, namespace, "stubborn"))
    eventually(lambda: "up" in core.read_namespaced_pod_log("stubborn", namespace))
    started = time.monotonic()
    core.patch_namespaced_pod("stubborn", namespace, {"spec": {"containers": [{"name": "app",
                                                                                 "image": "busybox:1.37"}]}})
    cs = eventually(lambda: (c := status_of(core, namespace, "stubborn")[1]) and c.restart_count == 1 and
                    c.state.running is not None and c, timeout=10)
    elapsed = time.monotonic() - started
    assert cs.last_state.terminated.exit_code == 137
    assert elapsed >= 0.9, "killed before the grace period ended"
    assert cs.image == "docker.io/library/busybox:1.37"


def test_sigterm_default_action_gives_143(core, namespace):
    core.create_namespaced_pod(namespace, pod("plain", ["sleep", "3600"]))
    eventually(lambda: running(core, namespace, "plain"))
    core.patch_namespaced_pod("plain", namespace, {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}})
    cs = eventually(lambda: (c := status_of(core, namespace, "plain")[1]) and c.restart_count == 1 and c)
    assert (cs.last_state.terminated.exit_code, cs.last_state.terminated.reason) == (143, "Error")


def processes_rooted_in(text: str) -> list[int]:
    """Pids whose root mount comes from a directory whose path contains `text` (for a container process: its
    rootfs under the pod's directory, named by the pod's uid; read from the process's own mountinfo, since its
    /proc/PID/root link says `/` inside its mount namespace)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/mountinfo") as f:
                    roots = [line.split()[3] for line in f if line.split()[4] == "/"]
            except (OSError, IndexError):
                continue
            if any(text in r for r in roots):
                found.append(int(pid))
    return found


def test_containers_without_a_command_cost_no_process(core, namespace):
    """Thousands of pods stay cheap: an image without command/args is simulated, no process is started (while a
    pod with a command has its process, rooted in the pod's own directory)."""
    for i in range(5):
        core.create_namespaced_pod(namespace, pod(f"quiet-{i}", image="nginx:1.27"))
    core.create_namespaced_pod(namespace, pod("busy", ["sleep", "3600"]))
    quiet = [eventually(lambda i=i: running(core, namespace, f"quiet-{i}")) for i in range(5)]
    busy = eventually(lambda: running(core, namespace, "busy"))
    assert eventually(lambda: processes_rooted_in(busy.metadata.uid))
    assert all(processes_rooted_in(p.metadata.uid) == [] for p in quiet)


def test_the_cap_on_container_processes_holds_the_next_one_with_an_event(kubesim_factory):
    """--max-container-processes: a container beyond the cap waits (CreateContainerError, a Failed event that
    names the cap) and starts once another one ends."""
    from kubernetes import client
    sim = kubesim_factory(extra_args=["--max-container-processes", "2"])
    core = client.CoreV1Api(sim.api_client())
    for i in range(3):
        core.create_namespaced_pod("default", pod(f"p{i}", ["sleep", "3600"]))

    def held():
        waiting = [s for i in range(3) if (s := status_of(core, "default", f"p{i}")[1]) and s.state.waiting
                   and s.state.waiting.reason == "CreateContainerError"]
        return len(waiting) == 1 and waiting[0]
    cs = eventually(held)
    assert "--max-container-processes" in cs.state.waiting.message
    held_pod = next(f"p{i}" for i in range(3) if status_of(core, "default", f"p{i}")[1].name == cs.name
                    and status_of(core, "default", f"p{i}")[1].state.waiting)
    assert any(e.reason == "Failed" and "--max-container-processes" in e.message
               for e in events_of(core, "default", held_pod))
    other = next(f"p{i}" for i in range(3) if f"p{i}" != held_pod)
    core.delete_namespaced_pod(other, "default", grace_period_seconds=0)
    eventually(lambda: running(core, "default", held_pod))
    assert sim.stop() == 0


def test_every_process_ends_when_kubesim_stops(kubesim_factory):
    """SIGTERM to kubesim: container commands, what they started, and open exec sessions all end."""
    from kubernetes import client
    from kubernetes.stream import stream
    sim = kubesim_factory()
    core = client.CoreV1Api(sim.api_client())
    marker = f"sleep 8{os.getpid() % 1000:03d}7"
    core.create_namespaced_pod("default", pod("bg", ["sh", "-c", f"{marker} & {marker} & wait"]))
    core.create_namespaced_pod("default", pod("quiet", image="nginx"))
    eventually(lambda: len(processes_with(marker)) >= 2)
    exec_marker = f"sleep 7{os.getpid() % 1000:03d}7"
    resp = stream(core.connect_get_namespaced_pod_exec, "quiet", "default", command=exec_marker.split(),
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    eventually(lambda: processes_with(exec_marker))
    assert sim.stop() == 0
    resp.close()
    eventually(lambda: not processes_with(marker) and not processes_with(exec_marker), timeout=5,
               message="no container process outlives kubesim")


def test_a_killed_kubesim_takes_its_container_processes_with_it(tmp_path):
    """Even SIGKILL (no clean-up code runs): every container process is started with PR_SET_PDEATHSIG, and the
    container mounts lived in kubesim's own mount namespace, so they went with it."""
    from conftest import KubesimProcess
    from kubernetes import client
    sim = KubesimProcess(str(tmp_path), ["--state-dir", str(tmp_path / "state")])
    try:
        core = client.CoreV1Api(sim.api_client())
        marker = f"sleep 6{os.getpid() % 1000:03d}7"
        core.create_namespaced_pod("default", pod("orphan", marker.split()))
        eventually(lambda: processes_with(marker))
    finally:
        sim.proc.send_signal(signal.SIGKILL)
        sim.proc.wait()
        sim.stop()
    eventually(lambda: not processes_with(marker), timeout=5)
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()


def test_stdin_true_keeps_a_shell_waiting_and_attach_feeds_it(core, namespace):
    """`stdin: true` keeps the container's stdin open (a `sh` waits on it instead of exiting, as `kubectl run -i`
    and debug containers rely on); attach writes to it and sees the output (§7 attach)."""
    from kubernetes.stream import stream
    manifest = pod("interactive", ["sh"])
    manifest["spec"]["containers"][0]["stdin"] = True
    core.create_namespaced_pod(namespace, manifest)
    eventually(lambda: running(core, namespace, "interactive"))
    time.sleep(0.5)
    assert running(core, namespace, "interactive"), "sh with an open stdin must not exit"
    resp = stream(core.connect_get_namespaced_pod_attach, "interactive", namespace, stdin=True, stdout=True,
                  stderr=True, tty=False, _preload_content=False)
    resp.write_stdin("echo attached-$((40+2))\n")
    out = ""
    deadline = time.monotonic() + 10
    while "attached-42" not in out and time.monotonic() < deadline:
        resp.update(timeout=1)
        out += resp.read_stdout(timeout=0) or ""
    resp.close()
    assert "attached-42" in out
    assert "attached-42" in core.read_namespaced_pod_log("interactive", namespace)


def test_secret_values_come_from_data_with_string_data_as_fallback():
    """The apiserver merges stringData into base64 data on write (stringData never served back); until every
    stored object has been through that, the kubelet side reads `data` and falls back to `stringData` for keys
    data lacks."""
    from kubesim.kubelet.env import secret_data
    secret = {"data": {"a": base64.b64encode(b"from-data").decode()}, "stringData": {"a": "ignored", "b": "only-here"}}
    assert secret_data(secret) == {"a": b"from-data", "b": b"only-here"}
    assert secret_data({}) == {}
