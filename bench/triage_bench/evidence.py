"""Evidence figures: a file copied out of a pod, a container log, a JVM heap dump and a thread dump, each ending in
a verified local file. Every figure has one function per approach; the collection's are the place to add its
column once its evidence modules exist (pod_fetch, pod_logs, pod_exec/pod_snapshot are being built on other
branches): replace `not_built(...)` with a function of the same shape as the kubectl one."""
from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client
from kubernetes.stream import stream

from triage_bench.approaches import BENCH_DIR, BIN_DIR, ansible_env, run_command

MiB = 1024 * 1024
FULL_SIZES = {"fetch_bytes": 1024 * MiB, "log_bytes": 9 * MiB, "heap_bytes": 1024 * MiB}
QUICK_SIZES = {"fetch_bytes": 8 * MiB, "log_bytes": 256 * 1024, "heap_bytes": 8 * MiB}
NAMESPACE = "evidence"
HPROF_MAGIC = b"JAVA PROFILE 1.0.2"


class NotBuilt(Exception):
    """The approach has no way to produce this figure yet."""


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


class Target:
    """The pods the evidence figures read from, and what a correct copy must contain."""

    def __init__(self, observer: client.ApiClient, workdir: str, sizes: dict):
        self.core = client.CoreV1Api(observer)
        self.workdir = os.path.join(workdir, "evidence")
        os.makedirs(self.workdir, exist_ok=True)
        self.sizes = sizes
        self.web = "evidence-web"
        self.java = "evidence-java"
        self.sandbox = {}
        self.fetch_sha = ""
        self.log_lines = 0

    def exec(self, pod: str, command: list[str]) -> str:
        return stream(self.core.connect_get_namespaced_pod_exec, pod, NAMESPACE, command=command, stdout=True,
                      stderr=True, stdin=False, tty=False)

    def create(self, wl) -> None:
        wl.namespace(NAMESPACE)
        for name, image, env in ((self.web, "kubesim/web:1", []),
                                 (self.java, "kubesim/java:17",
                                  [{"name": "KUBESIM_HEAP_DUMP_BYTES", "value": str(self.sizes["heap_bytes"])}])):
            self.core.create_namespaced_pod(NAMESPACE, {
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "env": env,
                                         "ports": [{"containerPort": 8080}]}]}})
        wl.wait_pods_running(NAMESPACE, 2)
        deadline = time.monotonic() + 30
        while not all(wl.is_ready(json.loads(self.core.read_namespaced_pod(p, NAMESPACE, _preload_content=False)
                                             .data)) for p in (self.web, self.java)):
            if time.monotonic() > deadline:
                raise RuntimeError("the evidence pods did not become Ready")
            time.sleep(0.2)
        for pod in (self.web, self.java):
            self.sandbox[pod] = self.exec(pod, ["pwd"]).strip()
        # The file to copy out: random bytes, so nothing on the way can compress it.
        path = os.path.join(self.sandbox[self.web], "evidence.bin")
        self.exec(self.web, ["sh", "-c", f"head -c {self.sizes['fetch_bytes']} /dev/urandom > {path}"])
        self.fetch_sha = sha256(path)   # kubesim's sandboxes are host directories: read it as the source
        self.fill_log()

    def fill_log(self) -> None:
        """kubesim/web writes one log line per request: long request paths through the pod proxy fill the log up
        to `log_bytes` (kubesim keeps at most 10 MiB per container, like the kubelet's rotation)."""
        path = "x" * 2000
        count = max(1, self.sizes["log_bytes"] // (len(path) + 100))

        def hit(i):
            self.core.connect_get_namespaced_pod_proxy_with_path(f"{self.web}:8080", NAMESPACE, f"{path}/{i}",
                                                                 _preload_content=False)
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(hit, range(count)))
        self.log_lines = count

    def remote(self, pod: str, name: str) -> str:
        return os.path.join(self.sandbox[pod], name)


def measured(run, path: str, nbytes_expected: int | None, check) -> dict:
    size = os.path.getsize(path) if os.path.exists(path) else 0
    ok, why = check(path) if run.rc == 0 and os.path.exists(path) else (False, f"exit {run.rc}, see {run.log}")
    result = {"rc": run.rc, "wall": run.wall, "bytes": size, "maxrss_kib": run.maxrss_kib,
              "mib_s": (size / MiB / run.wall) if run.wall and ok else None, "verified": ok, "state": why,
              "log": run.log}
    if os.path.exists(path):
        os.unlink(path)
    return result


def kubectl(target: Target, sim, argv: list[str], log: str, stdout_to: str | None = None):
    base = ["kubectl", "--kubeconfig", sim.kubeconfig, "-n", NAMESPACE] + argv
    if stdout_to:
        return run_command(["sh", "-c", '"$@" > "$0"', stdout_to] + base, log)
    return run_command(base, log)


def k8s_core(target: Target, sim, playbook: str, extra: dict, log: str, workdir: str):
    argv = [os.path.join(BIN_DIR, "ansible-playbook"), os.path.join(BENCH_DIR, "playbooks", playbook),
            "-e", f"kubeconfig={sim.kubeconfig}", "-e", f"target_namespace={NAMESPACE}"]
    for k, v in extra.items():
        argv += ["-e", f"{k}={v}"]
    return run_command(argv, log, ansible_env(workdir))


# --- the checks ----------------------------------------------------------------------------------------------
def same_file(target: Target):
    def check(path):
        return (True, "sha256 matches") if sha256(path) == target.fetch_sha else (False, "sha256 differs")
    return check


def whole_log(target: Target):
    def check(path):
        with open(path, "rb") as f:
            lines = sum(1 for line in f if b"/xxxxxxxxxx" in line)
        return (lines >= target.log_lines, f"{lines} of {target.log_lines} request lines")
    return check


def heap_dump(target: Target):
    def check(path):
        with open(path, "rb") as f:
            head = f.read(len(HPROF_MAGIC))
        size = os.path.getsize(path)
        ok = head == HPROF_MAGIC and size >= target.sizes["heap_bytes"]
        return ok, f"HPROF header {'ok' if head == HPROF_MAGIC else 'missing'}, {size} bytes"
    return check


def thread_dump(target: Target):
    def check(path):
        with open(path, "rb") as f:
            text = f.read()
        ok = b"Full thread dump" in text or b'"main"' in text
        return ok, "thread dump" if ok else "no thread dump in the output"
    return check


# --- pod_fetch: a file copied out ------------------------------------------------------------------------------
def kubectl_fetch(t: Target, sim, workdir, tag):
    dest = os.path.join(t.workdir, f"{tag}.bin")
    run = kubectl(t, sim, ["cp", f"{t.web}:{t.remote(t.web, 'evidence.bin')}", dest], os.path.join(workdir, f"{tag}.log"))
    return measured(run, dest, t.sizes["fetch_bytes"], same_file(t))


def k8s_core_fetch(t: Target, sim, workdir, tag):
    dest = os.path.join(t.workdir, f"{tag}.bin")
    run = k8s_core(t, sim, "k8s_core_fetch.yml", {"pod": t.web, "remote_path": t.remote(t.web, "evidence.bin"),
                                                  "local_path": dest}, os.path.join(workdir, f"{tag}.log"), workdir)
    return measured(run, dest, t.sizes["fetch_bytes"], same_file(t))


# --- pod_logs: a container log ---------------------------------------------------------------------------------
def kubectl_logs(t: Target, sim, workdir, tag):
    dest = os.path.join(t.workdir, f"{tag}.log")
    run = kubectl(t, sim, ["logs", t.web], os.path.join(workdir, f"{tag}.out"), stdout_to=dest)
    return measured(run, dest, None, whole_log(t))


def k8s_core_logs(t: Target, sim, workdir, tag):
    dest = os.path.join(t.workdir, f"{tag}.log")
    run = k8s_core(t, sim, "k8s_core_logs.yml", {"pod": t.web, "local_path": dest},
                   os.path.join(workdir, f"{tag}.out"), workdir)
    return measured(run, dest, None, whole_log(t))


# --- pod_dump: a JVM heap dump, end to end to a verified local file --------------------------------------------
def kubectl_heap(t: Target, sim, workdir, tag):
    dest = os.path.join(t.workdir, f"{tag}.hprof")
    remote = t.remote(t.java, f"{tag}.hprof")
    script = (f'kubectl --kubeconfig "$0" -n {NAMESPACE} exec {t.java} -- jcmd 1 GC.heap_dump {remote} && '
              f'kubectl --kubeconfig "$0" -n {NAMESPACE} cp {t.java}:{remote} {dest} && '
              f'kubectl --kubeconfig "$0" -n {NAMESPACE} exec {t.java} -- rm -f {remote}')
    run = run_command(["sh", "-c", script, sim.kubeconfig], os.path.join(workdir, f"{tag}.log"))
    return measured(run, dest, t.sizes["heap_bytes"], heap_dump(t))


def k8s_core_heap(t: Target, sim, workdir, tag):
    dest = os.path.join(t.workdir, f"{tag}.hprof")
    run = k8s_core(t, sim, "k8s_core_heapdump.yml", {"pod": t.java, "remote_path": t.remote(t.java, f"{tag}.hprof"),
                                                     "local_path": dest}, os.path.join(workdir, f"{tag}.log"), workdir)
    return measured(run, dest, t.sizes["heap_bytes"], heap_dump(t))


# --- thread dump over exec -------------------------------------------------------------------------------------
def kubectl_threads(t: Target, sim, workdir, tag):
    dest = os.path.join(t.workdir, f"{tag}.txt")
    run = kubectl(t, sim, ["exec", t.java, "--", "jcmd", "1", "Thread.print"], os.path.join(workdir, f"{tag}.log"),
                  stdout_to=dest)
    return measured(run, dest, None, thread_dump(t))


def k8s_core_threads(t: Target, sim, workdir, tag):
    dest = os.path.join(t.workdir, f"{tag}.txt")
    run = k8s_core(t, sim, "k8s_core_threaddump.yml", {"pod": t.java, "local_path": dest},
                   os.path.join(workdir, f"{tag}.log"), workdir)
    return measured(run, dest, None, thread_dump(t))


def not_built(module: str):
    def measure(t, sim, workdir, tag):
        raise NotBuilt(f"{module} is not built yet")
    measure.module = module
    return measure


# figure -> (title, {approach key: measure function})
FIGURES = {
    "pod_fetch": ("file copied out of a pod", {"collection": not_built("triage.k8s.pod_fetch"),
                                               "k8s_core": k8s_core_fetch, "kubectl": kubectl_fetch}),
    "pod_logs": ("container log saved to a file", {"collection": not_built("triage.k8s.pod_logs"),
                                                   "k8s_core": k8s_core_logs, "kubectl": kubectl_logs}),
    "pod_dump": ("JVM heap dump to a verified local file", {"collection": not_built("triage.k8s.pod_snapshot"),
                                                            "k8s_core": k8s_core_heap, "kubectl": kubectl_heap}),
    "thread_dump": ("JVM thread dump over exec", {"collection": not_built("triage.k8s.pod_exec"),
                                                  "k8s_core": k8s_core_threads, "kubectl": kubectl_threads}),
}


def count_steps(active, reps: int) -> int:
    return len(FIGURES) * len(active) * reps


def run_all(sim, observer, wl, active, workdir: str, sizes: dict, reps: int, progress) -> dict:
    target = Target(observer, workdir, sizes)
    target.create(wl)
    logdir = os.path.join(workdir, "logs")
    results = {"sizes": sizes, "log_lines": target.log_lines, "figures": {}}
    for figure, (title, measures) in FIGURES.items():
        per = results["figures"].setdefault(figure, {"title": title, "runs": {}})
        for i in range(reps):
            for a in active:
                measure = measures.get(a.key)
                try:
                    r = measure(target, sim, logdir, f"{figure}-{a.key}-{i}")
                except NotBuilt as err:
                    per["runs"][a.key] = {"not_built": str(err)}
                    progress.step(f"{figure} {a.title}: {err}")
                    continue
                per["runs"].setdefault(a.key, []).append(r)
                speed = f"{r['mib_s']:.1f} MiB/s" if r["mib_s"] else "-"
                progress.step(f"{figure} {a.title} #{i + 1}: rc={r['rc']} {r['wall']:.2f} s, {speed}, peak RSS "
                              f"{r['maxrss_kib'] / 1024:.0f} MiB, {r['state']}")
    return results
