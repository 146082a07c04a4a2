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
