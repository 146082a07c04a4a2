"""Evidence figures: a file copied out of a pod, a container log, a JVM heap dump and a thread dump, each ending in
a verified local file. Every figure has one measure function per approach (this collection's modules pod_fetch,
pod_logs and pod_dump, kubernetes.core's k8s_cp/k8s_log/k8s_exec, the kubectl runbook); each result is checked
(sha256, line count, HPROF header and size) and a figure is only reported for a verified transfer."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client
from kubernetes.stream import stream

from triage_bench.approaches import BENCH_DIR, BIN_DIR, ansible_env, run_command
from triage_bench.cluster import api_client

MiB = 1024 * 1024
# Files and heap dumps come in two sizes: "small" for every approach, "large" (issue 14's 1 GiB) for those whose
# small run projects one large run to fit in `budget_s` (kubernetes.core's k8s_exec+k8s_cp moves about 1 MiB/s).
# Quick mode (make test) runs the small size only: the large figures are the same measure functions.
# The log: a kubelet rotates a container's log file once it passes containerLogMaxSize (default 10 MiB) and the
# logs API serves only the newest file, so the largest log one request returns is about 10 MiB (kubesim keeps the
# same 10 MiB); the log is filled to just under that, never over (the oldest lines would be dropped).
LOG_FILE_MAX = 10 * MiB
FULL_SIZES = {"small": 64 * MiB, "large": 1024 * MiB, "log_bytes": LOG_FILE_MAX - 64 * 1024, "budget_s": 300,
              "large_figures": True}
QUICK_SIZES = {"small": 2 * MiB, "large": 4 * MiB, "log_bytes": 256 * 1024, "budget_s": 3, "large_figures": False}
NAMESPACE = "evidence"
HPROF_MAGIC = b"JAVA PROFILE 1.0.2"


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


class Target:
    """The pods the evidence figures read from, and what a correct copy must contain."""

    def __init__(self, observer: client.ApiClient, workdir: str, sizes: dict, kubeconfig: str,
                 collections: str | None = None):
        self.core = client.CoreV1Api(observer)
        self.kubeconfig = kubeconfig     # the identity the approaches talk as (bench-evidence)
        self.collections = collections   # ANSIBLE_COLLECTIONS_PATH of this collection's copy
        self.workdir = os.path.join(workdir, "evidence")
        os.makedirs(self.workdir, exist_ok=True)
        self.sizes = sizes
        self.web = "evidence-web"
        self.java = {v: f"evidence-java-{v}" for v in ("small", "large")}
        self.sandbox = {}
        self.fetch_sha = {}
        self.log_lines = 0
        self.log_bytes = 0

    def exec(self, pod: str, command: list[str]) -> str:
        return stream(self.core.connect_get_namespaced_pod_exec, pod, NAMESPACE, command=command, stdout=True,
                      stderr=True, stdin=False, tty=False)

    def create(self, wl) -> None:
        wl.namespace(NAMESPACE)
        pods = [(self.web, "kubesim/web:1", [])] + [
            (self.java[v], "kubesim/java:17", [{"name": "KUBESIM_HEAP_DUMP_BYTES", "value": str(self.sizes[v])}])
            for v in ("small", "large")]
        for name, image, env in pods:
            self.core.create_namespaced_pod(NAMESPACE, {
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "env": env,
                                         "ports": [{"containerPort": 8080}]}]}})
        wl.wait_pods_running(NAMESPACE, len(pods))
        deadline = time.monotonic() + 30
        while not all(wl.is_ready(json.loads(self.core.read_namespaced_pod(p[0], NAMESPACE, _preload_content=False)
                                             .data)) for p in pods):
            if time.monotonic() > deadline:
                raise RuntimeError("the evidence pods did not become Ready")
            time.sleep(0.2)
        # Each container has a root filesystem of its own (kubesim runs commands in a mount namespace, as a node
        # does), so the files live in the container's /tmp and the source hash is taken inside the container.
        for pod in [p[0] for p in pods]:
            self.sandbox[pod] = "/tmp"
        # The files to copy out: random bytes, so nothing on the way can compress them.
        for v in ("small", "large"):
            path = self.remote(self.web, f"evidence-{v}.bin")
            self.exec(self.web, ["sh", "-c", f"head -c {self.sizes[v]} /dev/urandom > {path}"])
            self.fetch_sha[v] = self.exec(self.web, ["sha256sum", path]).split()[0]
        self.fill_log()

    def fill_log(self) -> None:
        """kubesim/web writes one log line per request: long request paths through the pod proxy fill the log up
        to `log_bytes`, under the 10 MiB a log file holds. The line length is measured on a first request, and
        the log as served afterwards is read back: its request lines and bytes are what a copy must contain."""
        path = "x" * 2000

        def hit(i):
            self.core.connect_get_namespaced_pod_proxy_with_path(f"{self.web}:8080", NAMESPACE, f"{path}/{i}",
                                                                 _preload_content=False)
        before = len(self.read_log())
        hit(0)
        line = max(1, len(self.read_log()) - before)
        count = max(1, (self.sizes["log_bytes"] - before) // line - 1)
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(hit, range(1, count)))
        text = self.read_log()
        if len(text) > LOG_FILE_MAX:
            raise RuntimeError(f"the evidence log grew to {len(text)} bytes, over the {LOG_FILE_MAX} a file holds")
        self.log_lines = text.count(b"/xxxxxxxxxx")
        self.log_bytes = len(text)
        if self.log_lines < count:
            raise RuntimeError(f"the evidence log holds {self.log_lines} of the {count} request lines sent")

    def read_log(self) -> bytes:
        return self.core.read_namespaced_pod_log(self.web, NAMESPACE, _preload_content=False).data

    def remote(self, pod: str, name: str) -> str:
        return os.path.join(self.sandbox[pod], name)


def measured(run, path: str, check) -> dict:
    size = os.path.getsize(path) if os.path.exists(path) else 0
    ok, why = check(path) if run.rc == 0 and os.path.exists(path) else (False, f"exit {run.rc}, see {run.log}")
    result = {"rc": run.rc, "wall": run.wall, "bytes": size, "maxrss_kib": run.maxrss_kib,
              "mib_s": (size / MiB / run.wall) if run.wall and ok else None, "verified": ok, "state": why,
              "log": run.log}
    if os.path.exists(path):
        os.unlink(path)
    return result


def kubectl(target: Target, sim, argv: list[str], log: str, stdout_to: str | None = None):
    base = ["kubectl", "--kubeconfig", target.kubeconfig, "-n", NAMESPACE] + argv
    if stdout_to:
        return run_command(["sh", "-c", '"$@" > "$0"', stdout_to] + base, log)
    return run_command(base, log)


def playbook(target: Target, name: str, extra: dict, log: str, workdir: str, collections: str | None = None):
    """ansible-playbook of bench/playbooks/<name> against the evidence namespace; `collections` puts this
    collection's copy (the one the isolation figures run) on the collections path."""
    argv = [os.path.join(BIN_DIR, "ansible-playbook"), os.path.join(BENCH_DIR, "playbooks", name),
            "-e", f"kubeconfig={target.kubeconfig}", "-e", f"target_namespace={NAMESPACE}"]
    for k, v in extra.items():
        argv += ["-e", f"{k}={v}"]
    return run_command(argv, log, ansible_env(workdir, collections))


def k8s_core(target: Target, sim, name: str, extra: dict, log: str, workdir: str):
    return playbook(target, name, extra, log, workdir)


def triage(target: Target, sim, name: str, extra: dict, log: str, workdir: str):
    return playbook(target, name, extra, log, workdir, target.collections)


def collected(run, dest: str, pattern: str, check) -> dict:
    """The result of a collection run that wrote into the directory `dest`: exactly one file matching `pattern`
    must be there, and it is checked like the baselines' single file. `dest` is removed afterwards."""
    found = sorted(glob.glob(os.path.join(dest, pattern)))
    path = found[0] if len(found) == 1 else os.path.join(dest, "missing")
    result = measured(run, path, check)
    if run.rc == 0 and len(found) != 1:
        result["state"] = f"{len(found)} files matching {pattern} in the destination"
    shutil.rmtree(dest, ignore_errors=True)
    return result


# --- the checks ----------------------------------------------------------------------------------------------
def same_file(target: Target, variant: str):
    def check(path):
        return (True, "sha256 matches") if sha256(path) == target.fetch_sha[variant] else (False, "sha256 differs")
    return check


def whole_log(target: Target):
    def check(path):
        with open(path, "rb") as f:
            lines = sum(1 for line in f if b"/xxxxxxxxxx" in line)
        return (lines >= target.log_lines, f"{lines} of {target.log_lines} request lines")
    return check


def heap_dump(target: Target, variant: str):
    def check(path):
        with open(path, "rb") as f:
            head = f.read(len(HPROF_MAGIC))
        size = os.path.getsize(path)
        ok = head == HPROF_MAGIC and size >= target.sizes[variant]
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
def kubectl_fetch(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, f"{tag}.bin")
    run = kubectl(t, sim, ["cp", f"{t.web}:{t.remote(t.web, f'evidence-{variant}.bin')}", dest],
                  os.path.join(workdir, f"{tag}.log"))
    return measured(run, dest, same_file(t, variant))


def triage_fetch(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, tag)
    remote = t.remote(t.web, f"evidence-{variant}.bin")
    run = triage(t, sim, "triage_fetch.yml", {"pod": t.web, "remote_path": remote, "dest": dest},
                 os.path.join(workdir, f"{tag}.log"), workdir)
    return collected(run, dest, remote.lstrip("/"), same_file(t, variant))


def k8s_core_fetch(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, f"{tag}.bin")
    run = k8s_core(t, sim, "k8s_core_fetch.yml", {"pod": t.web, "local_path": dest,
                                                  "remote_path": t.remote(t.web, f"evidence-{variant}.bin")},
                   os.path.join(workdir, f"{tag}.log"), workdir)
    return measured(run, dest, same_file(t, variant))


# --- pod_logs: a container log ---------------------------------------------------------------------------------
def kubectl_logs(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, f"{tag}.log")
    run = kubectl(t, sim, ["logs", t.web], os.path.join(workdir, f"{tag}.out"), stdout_to=dest)
    return measured(run, dest, whole_log(t))


def triage_logs(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, tag)
    run = triage(t, sim, "triage_logs.yml", {"pod": t.web, "dest": dest}, os.path.join(workdir, f"{tag}.out"),
                 workdir)
    return collected(run, dest, "logs/app.log", whole_log(t))


def k8s_core_logs(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, f"{tag}.log")
    run = k8s_core(t, sim, "k8s_core_logs.yml", {"pod": t.web, "local_path": dest},
                   os.path.join(workdir, f"{tag}.out"), workdir)
    return measured(run, dest, whole_log(t))


# --- pod_dump: a JVM heap dump, end to end to a verified local file --------------------------------------------
def kubectl_heap(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, f"{tag}.hprof")
    pod = t.java[variant]
    remote = t.remote(pod, f"{tag}.hprof")
    script = (f'kubectl --kubeconfig "$0" -n {NAMESPACE} exec {pod} -- jcmd 1 GC.heap_dump {remote} && '
              f'kubectl --kubeconfig "$0" -n {NAMESPACE} cp {pod}:{remote} {dest} && '
              f'kubectl --kubeconfig "$0" -n {NAMESPACE} exec {pod} -- rm -f {remote}')
    run = run_command(["sh", "-c", script, t.kubeconfig], os.path.join(workdir, f"{tag}.log"))
    return measured(run, dest, heap_dump(t, variant))


def triage_heap(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, tag)
    run = triage(t, sim, "triage_heapdump.yml", {"pod": t.java[variant], "dest": dest},
                 os.path.join(workdir, f"{tag}.log"), workdir)
    return collected(run, dest, "dumps/*.hprof", heap_dump(t, variant))


def k8s_core_heap(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, f"{tag}.hprof")
    pod = t.java[variant]
    run = k8s_core(t, sim, "k8s_core_heapdump.yml", {"pod": pod, "remote_path": t.remote(pod, f"{tag}.hprof"),
                                                     "local_path": dest}, os.path.join(workdir, f"{tag}.log"), workdir)
    return measured(run, dest, heap_dump(t, variant))


# --- thread dump over exec -------------------------------------------------------------------------------------
def kubectl_threads(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, f"{tag}.txt")
    run = kubectl(t, sim, ["exec", t.java["small"], "--", "jcmd", "1", "Thread.print"], os.path.join(workdir, f"{tag}.log"),
                  stdout_to=dest)
    return measured(run, dest, thread_dump(t))


def triage_threads(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, tag)
    run = triage(t, sim, "triage_threaddump.yml", {"pod": t.java["small"], "dest": dest},
                 os.path.join(workdir, f"{tag}.log"), workdir)
    return collected(run, dest, "dumps/threads-*.txt", thread_dump(t))


def k8s_core_threads(t: Target, sim, workdir, tag, variant):
    dest = os.path.join(t.workdir, f"{tag}.txt")
    run = k8s_core(t, sim, "k8s_core_threaddump.yml", {"pod": t.java["small"], "local_path": dest},
                   os.path.join(workdir, f"{tag}.log"), workdir)
    return measured(run, dest, thread_dump(t))


def figure(title: str, variant: str, throughput: bool, module: str, collection, k8s_core, kubectl) -> tuple:
    """(title, variant, show throughput, {approach key: measure function}); `module` is what the collection's
    column runs."""
    return title, variant, throughput, {"collection": collection, "k8s_core": k8s_core, "kubectl": kubectl}, module


FIGURES = {
    "pod_fetch": figure("file of {small} copied out of a pod", "small", True, "triage.k8s.pod_fetch",
                        triage_fetch, k8s_core_fetch, kubectl_fetch),
    "pod_fetch_large": figure("file of {large} copied out of a pod", "large", True, "triage.k8s.pod_fetch",
                              triage_fetch, k8s_core_fetch, kubectl_fetch),
    "pod_logs": figure("container log of {log} saved to a file", "small", True, "triage.k8s.pod_logs",
                       triage_logs, k8s_core_logs, kubectl_logs),
    "pod_dump": figure("heap dump of {small} to a verified local file", "small", True, "triage.k8s.pod_dump",
                       triage_heap, k8s_core_heap, kubectl_heap),
    "pod_dump_large": figure("heap dump of {large} to a verified local file", "large", True,
                             "triage.k8s.pod_dump", triage_heap, k8s_core_heap, kubectl_heap),
    "thread_dump": figure("JVM thread dump over exec, saved to a file", "small", False, "triage.k8s.pod_dump",
                          triage_threads, k8s_core_threads, kubectl_threads),
}


def figures_for(sizes: dict) -> dict:
    """The figures a run measures: quick mode leaves out the large variants (the same functions, only bigger)."""
    return {k: v for k, v in FIGURES.items() if sizes.get("large_figures", True) or v[1] != "large"}


def count_steps(active, reps: int, sizes: dict, left_out: dict) -> int:
    return sum(reps for figure in figures_for(sizes) for a in active if a.key not in left_out.get(figure, ()))


def mib(n: int) -> str:
    return f"{n / MiB:.3g} MiB" if n < 1024 * MiB else f"{n / 1024 / MiB:.3g} GiB"


def too_slow(results: dict, figure: str, key: str, sizes: dict) -> str | None:
    """For a large variant: why this approach is not run, from its small run's throughput."""
    small = results["figures"].get(figure.replace("_large", ""), {}).get("runs", {}).get(key)
    speeds = sorted(r["mib_s"] for r in small or [] if isinstance(r, dict) and r.get("mib_s"))
    if not speeds:
        return None
    speed = speeds[len(speeds) // 2]
    projected = sizes["large"] / MiB / speed
    if projected <= sizes["budget_s"]:
        return None
    took = f"{projected / 60:.0f} min" if projected >= 120 else f"{projected:.0f} s"
    return (f"not run: at {speed:.2g} MiB/s (its {mib(sizes['small'])} run, fixed start included) one "
            f"{mib(sizes['large'])} run would take up to {took}, over the {sizes['budget_s']} s budget")


def run_all(sim, observer, wl, active, workdir: str, sizes: dict, reps: int, progress, user: str,
            parallel: int = 1, left_out: dict | None = None) -> dict:
    """Every figure, `reps` times per approach, as `user`. With `parallel` > 1 (quick mode) the runs of one
    repetition go side by side (figures are independent: own local files, own remote dump names); the full run
    measures one at a time, so that no figure shares the machine with another. `left_out` (quick mode) names
    the approaches a figure does not run: {figure: (approach key, ...)}."""
    collections = next((a.collections_path for a in active if a.key == "collection"), None)
    # A client of its own: kubernetes.stream swaps the call_api of the client it execs through while it runs,
    # which would turn the other sections' requests on a shared client into websocket handshakes.
    target = Target(api_client(sim.observer_kubeconfig), workdir, sizes, sim.kubeconfig_of(user), collections)
    target.create(wl)
    logdir = os.path.join(workdir, "logs")
    results = {"sizes": sizes, "log_lines": target.log_lines, "log_bytes": target.log_bytes, "figures": {}}
    names = {"small": mib(sizes["small"]), "large": mib(sizes["large"]), "log": mib(target.log_bytes)}
    figures = figures_for(sizes)
    for figure, (title, variant, throughput, measures, module) in figures.items():
        results["figures"][figure] = {"title": title.format(**names), "throughput": throughput, "module": module,
                                      "runs": {key: {"skipped": "not run in quick mode"}
                                               for key in (left_out or {}).get(figure, ())}}

    def one(figure, a, i):
        per = results["figures"][figure]
        variant, throughput, measures = figures[figure][1], figures[figure][2], figures[figure][3]
        if isinstance(per["runs"].get(a.key), dict):
            progress.step(f"{figure} {a.title}: {next(iter(per['runs'][a.key].values()))}")
            return
        r = measures[a.key](target, sim, logdir, f"{figure}-{a.key}-{i}", variant)
        per["runs"].setdefault(a.key, []).append(r)
        speed = f", {r['mib_s']:.1f} MiB/s" if r["mib_s"] and throughput else ""
        progress.step(f"{figure} {a.title} #{i + 1}: rc={r['rc']} {r['wall']:.2f} s{speed}, peak RSS "
                      f"{r['maxrss_kib'] / 1024:.0f} MiB, {r['state']}")

    for figure, (_title, variant, _throughput, _measures, _module) in figures.items():
        if parallel > 1:
            continue
        per = results["figures"][figure]
        for a in active:
            why = too_slow(results, figure, a.key, sizes) if variant == "large" else None
            if why:
                per["runs"][a.key] = {"skipped": why}
        for i in range(reps):
            for a in active:
                one(figure, a, i)
    if parallel > 1:
        # The slowest first (kubernetes.core's playbooks, heap dumps), so that they do not start last.
        order = sorted(((figure, a, i) for i in range(reps) for figure in figures for a in active
                        if not isinstance(results["figures"][figure]["runs"].get(a.key), dict)),
                       key=lambda job: (job[1].key != "k8s_core", "dump" not in job[0]))
        with ThreadPoolExecutor(parallel) as ex:
            jobs = [ex.submit(one, *job) for job in order]
            for job in jobs:
                job.result()
    return results
