"""The `python -m kubesim serve` contract (issue #3): readiness by kubeconfig, clean exits, clear errors."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time


def _serve(tmp_path, *args):
    return subprocess.Popen([sys.executable, "-m", "kubesim", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_file(path, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_sigint_stops_cleanly(tmp_path):
    kc = tmp_path / "kc"
    proc = _serve(tmp_path, "--kubeconfig", str(kc))
    _wait_file(kc, proc)
    assert oct(os.stat(kc).st_mode & 0o777) == "0o600"  # it holds a credential
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_unwritable_kubeconfig_is_a_clear_error(tmp_path):
    proc = _serve(tmp_path, "--kubeconfig", str(tmp_path / "missing-dir" / "kc"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "cannot write kubeconfig" in err and "Traceback" not in err


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "kubesim", "serve", "--port", str(port), "--kubeconfig",
                                 str(tmp_path / "kc")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
    assert not (tmp_path / "kc").exists()


def test_help_documents_every_flag():
    from kubesim.cli import build_parser
    out = subprocess.run([sys.executable, "-m", "kubesim", "serve", "--help"], capture_output=True, text=True,
                         check=True).stdout
    serve = next(a for a in build_parser()._actions if a.dest == "command").choices["serve"]
    for action in serve._actions:
        for flag in action.option_strings:
            assert flag in out
        assert action.help, f"{action.option_strings} has no help text"
    for flag in ("--readiness-delay", "--nodes", "--crash-backoff-base", "--image-pull-backoff-base",
                 "--termination-delay", "--max-pods"):
        assert flag in out


def test_bad_tunable_is_a_clear_usage_error(tmp_path):
    proc = _serve(tmp_path, "--kubeconfig", str(tmp_path / "kc"), "--crash-backoff-base", "soon")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "argument --crash-backoff-base: not a number of seconds: 'soon'" in err
    assert "Traceback" not in err


def test_kubelet_tunables_reach_the_kubelet(kubesim_factory):
    """--nodes and --crash-backoff-base are real: one Node, and the first CrashLoopBackOff waits 1.5 s, not 10 s
    (the kubelet's message names the back-off)."""
    from kubernetes import client
    server = kubesim_factory(["--nodes", "1", "--crash-backoff-base", "1.5"])
    api = server.api_client()
    core = client.CoreV1Api(api)
    assert [n.metadata.name for n in core.list_node().items] == ["kubesim-node-1"]
    core.create_namespaced_pod("default", {"metadata": {"name": "crasher"}, "spec": {"containers": [
        {"name": "app", "image": "kubesim/crash:1"}]}})
    deadline = time.monotonic() + 20
    messages = set()
    while time.monotonic() < deadline and not any("back-off 3s" in m for m in messages):
        statuses = core.read_namespaced_pod("crasher", "default").status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        if waiting and waiting.reason == "CrashLoopBackOff":
            messages.add(waiting.message)
        time.sleep(0.05)
    assert any(m.startswith("back-off 1.5s restarting failed container=app") for m in messages), messages
    assert any(m.startswith("back-off 3s restarting failed container=app") for m in messages), messages
    api.close()


def test_client_certificates_need_https(tmp_path):
    """A client certificate is a TLS credential: --client-cert-kubeconfig with --insecure-http is a usage error."""
    proc = _serve(tmp_path, "--kubeconfig", str(tmp_path / "kc"), "--insecure-http",
                  "--client-cert-kubeconfig", str(tmp_path / "cert"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--client-cert-kubeconfig needs HTTPS" in err and "Traceback" not in err
    assert not (tmp_path / "kc").exists() and not (tmp_path / "cert").exists()


def test_unwritable_client_cert_kubeconfig_is_a_clear_error(tmp_path):
    proc = _serve(tmp_path, "--kubeconfig", str(tmp_path / "kc"),
                  "--client-cert-kubeconfig", str(tmp_path / "missing-dir" / "cert"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "cannot write kubeconfig" in err and "missing-dir" in err
    assert not (tmp_path / "kc").exists()  # the readiness signal never appears
