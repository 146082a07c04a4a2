"""The three ways of isolating a pod that the benchmark compares, each run as the user runs it (a whole command,
so its wall time includes what the user waits for: ansible-playbook's start, kubectl's process starts)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(BENCH_DIR)
BIN_DIR = os.path.dirname(sys.executable)


@dataclass
class Run:
    rc: int
    wall: float
    started: float   # time.time() at start
    ended: float
    maxrss_kib: int  # peak RSS of the process and every descendant it waited for
    log: str         # path of its stdout+stderr


WRAPPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rusage_wrapper.py")


def run_command(argv: list[str], log_path: str, env: dict | None = None, timeout: float = 1800) -> Run:
    """Run argv to completion through rusage_wrapper.py (wall time and peak RSS of the command's process tree)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    figures = log_path + ".rusage"
    with open(log_path, "wb") as log:
        started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-S", WRAPPER, figures] + argv, stdout=log,
                                stderr=subprocess.STDOUT, env=full_env, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        outer = time.perf_counter() - t0
    try:
        with open(figures, encoding="utf-8") as f:
            wall, maxrss = f.read().split()
        wall, maxrss = float(wall), int(maxrss)
    except (OSError, ValueError):
        wall, maxrss = outer, 0
    return Run(rc=proc.returncode, wall=wall, started=started, ended=time.time(), maxrss_kib=maxrss, log=log_path)


def ansible_env(workdir: str, collections_path: str | None = None) -> dict:
    env = {
        "ANSIBLE_HOME": os.path.join(workdir, "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(workdir, "ansible-tmp"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PATH": BIN_DIR + os.pathsep + os.environ.get("PATH", ""),
    }
    if collections_path:
        env["ANSIBLE_COLLECTIONS_PATH"] = collections_path
    return env


class Approach:
    key = ""
    title = ""
    does = ""   # one line for docs/benchmarks.md: what this baseline did

    def missing(self) -> str | None:
        """Why this approach cannot run on this machine, or None."""
        return None


class Collection(Approach):
    key, title = "collection", "triage.k8s"
    does = ("`ansible-playbook triage.k8s.isolate -e pod=... -e namespace=... -e kubeconfig=...` (the playbook "
            "as shipped: pod_isolate with strategy auto, wait true)")

    def __init__(self, workdir: str, collections_path: str):
        self.workdir, self.collections_path = workdir, collections_path

    def missing(self):
        if not os.path.isdir(os.path.join(self.collections_path, "ansible_collections", "triage", "k8s")):
            return f"the collection is not installed under {self.collections_path}"
        return None

    def isolate(self, kubeconfig, namespace, pod, service, key, log) -> Run:
        return run_command([os.path.join(BIN_DIR, "ansible-playbook"), "triage.k8s.isolate", "-e", f"pod={pod}",
                            "-e", f"namespace={namespace}", "-e", f"kubeconfig={kubeconfig}",
                            "-e", "reason=benchmark"], log, ansible_env(self.workdir, self.collections_path))


class KubernetesCore(Approach):
    key, title = "k8s_core", "kubernetes.core"
    does = ("`bench/playbooks/k8s_core_isolate.yml`: k8s_info of the pod and of every Service of the namespace "
            "(selectors matched in one Jinja template), k8s_json_patch of one label (a `test` op of the old "
            "value, then `replace` with crashed-<old>), then k8s_info of each selecting Service's Endpoints with "
            "`until`/`retries: 120`/`delay: 1` until the pod's IP left them")

    def __init__(self, workdir: str):
        self.workdir = workdir

    def version(self) -> str:
        try:
            import importlib.metadata as md
            return "ansible " + md.version("ansible")
        except Exception:  # noqa: BLE001
            return "?"

    def missing(self):
        try:
            import ansible_collections.kubernetes.core  # noqa: F401
        except ImportError:
            return "kubernetes.core is not installed (it comes with the `ansible` package in .venv-bench)"
        return None

    def isolate(self, kubeconfig, namespace, pod, service, key, log) -> Run:
        return run_command([os.path.join(BIN_DIR, "ansible-playbook"),
                            os.path.join(BENCH_DIR, "playbooks", "k8s_core_isolate.yml"),
                            "-e", f"kubeconfig={kubeconfig}", "-e", f"target_namespace={namespace}",
                            "-e", f"pod={pod}", "-e", f"key={key}"], log, ansible_env(self.workdir))


class Kubectl(Approach):
    key, title = "kubectl", "kubectl"
    does = ("`bench/kubectl/isolate.sh` (seed 004): `kubectl get pod -o jsonpath`, `kubectl get svc -o jsonpath="
            "{.spec.selector}`, `kubectl label --overwrite pods POD release=crashed-<old>`, then `kubectl get "
            "endpoints` once a second until the pod's IP left them")

    def __init__(self, workdir: str, kubectl: str | None = None):
        self.workdir = workdir
        self.kubectl = kubectl or shutil.which("kubectl") or "/usr/bin/kubectl"

    def version(self) -> str:
        try:
            out = subprocess.run([self.kubectl, "version", "--client"], capture_output=True, text=True, timeout=30)
            return out.stdout.splitlines()[0].strip()
        except Exception:  # noqa: BLE001
            return "?"

    def missing(self):
        if not os.access(self.kubectl, os.X_OK):
            return "kubectl is not installed (the bench expects kubectl 1.32 on PATH or at /usr/bin/kubectl)"
        return None

    def isolate(self, kubeconfig, namespace, pod, service, key, log) -> Run:
        env = {"PATH": os.path.dirname(self.kubectl) + os.pathsep + os.environ.get("PATH", ""),
               # discovery cache of the run, warmed by the first (uncounted) run, as on a user's machine
               "KUBECACHEDIR": os.path.join(self.workdir, "kube-cache")}
        return run_command([os.path.join(BENCH_DIR, "kubectl", "isolate.sh"), kubeconfig, namespace, pod, service,
                            key], log, env)
