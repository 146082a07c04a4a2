#!/usr/bin/env python3
"""`make bench`: this collection against a kubernetes.core playbook and the seeds' kubectl runbook, side by side on
one kubesim in one run; then kubesim's own figures (bench/kubesim_bench.py). Writes docs/benchmarks.md and
docs/benchmarks-wall-time.png.

    python bench/run.py [--quick] [--out docs/benchmarks.md] [--reps N]

--quick runs every benchmark once at small sizes and asserts that each figure was produced (never a timing):
`make test` runs it so that the benchmarks cannot rot.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from triage_bench import evidence, report, scale  # noqa: E402
from triage_bench.approaches import REPO_ROOT, Collection, KubernetesCore, Kubectl  # noqa: E402
from triage_bench.cluster import PODS_PER_NODE, Kubesim, Workloads, api_client  # noqa: E402
from triage_bench.isolation import isolate_once  # noqa: E402

FAULT_CODES = ("503", "429", "reset")


class Progress:
    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.monotonic()

    def step(self, text: str) -> None:
        self.done += 1
        print(f"[{self.done:3d}/{self.total} {time.monotonic() - self.start:6.0f}s] {text}", flush=True)


def describe(r: dict) -> str:
    parts = [f"rc={r['rc']}", f"{r['wall']:.2f} s", f"{r['requests_total']} requests"]
    if r.get("ip_gone") is not None:
        parts.append(f"IP gone after {r['ip_gone']:.2f} s")
    if r.get("drain_detect") is not None:
        parts.append(f"drain seen after {r['drain_detect'] * 1000:.0f} ms")
    if "load" in r:
        parts.append(f"lost {r['load']['lost']}/{r['load']['sent']}")
    parts.append(r["state"])
    return ", ".join(parts)


def fault_rules(share: float) -> list[dict]:
    """Three rules on the approach's identity only, each firing on p of the requests, so that one request in
    `share` gets one of 503, 429 (Retry-After: 1) or a reset connection: 1 - (1 - p)^3 = share."""
    p = 1 - (1 - share) ** (1 / 3)
    base = {"user": "kubesim-admin", "fraction": round(p, 4)}
    return [dict(base, action="error", code=503), dict(base, action="error", code=429, retry_after=1),
            dict(base, action="reset")]


def kubesim_request(api, method: str, path: str, body: dict | None = None) -> None:
    """A request to kubesim's own endpoints (/kubesim/...) as the harness identity."""
    headers = {"Content-Type": "application/json"}
    for auth in api.configuration.auth_settings().values():
        if auth.get("in") == "header" and auth.get("value"):
            headers[auth["key"]] = auth["value"]
    resp = api.call_api(method, api.configuration.host + path, header_params=headers,
                        body=body)
    resp.read()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {resp.status} {resp.data!r}")


def post_faults(api, rules: list[dict] | None) -> None:
    if rules is None:
        kubesim_request(api, "DELETE", "/kubesim/faults")
        return
    for rule in rules:
        kubesim_request(api, "POST", "/kubesim/faults", rule)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every benchmark once, at small sizes (make test)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of each measured run (default 5; quick 1)")
    ap.add_argument("--fault-runs", type=int, default=None, help="isolations per approach under faults (default 10)")
    ap.add_argument("--collections", default=os.environ.get("TRIAGE_COLLECTION_ROOT",
                                                            os.path.join(REPO_ROOT, ".tmp", "bench", "collections")))
    ap.add_argument("--only", default="isolation,scale,faults,evidence,kubesim",
                    help="comma-separated sections to run (for working on one; a partial run fails its check)")
    ap.add_argument("--report-from", metavar="RESULTS_JSON", default=None,
                    help="write the report again from a run's results.json (its path is printed at the end)")
    ap.add_argument("--out", default=None, help="the Markdown report (default docs/benchmarks.md; quick: in .tmp)")
    args = ap.parse_args()
    quick = args.quick
    only = set(args.only.split(","))
    reps = args.reps or (1 if quick else 5)
    fault_runs = args.fault_runs or (1 if quick else 10)
    sizes = [(10, 2), (100, 20)] if quick else [(10, 2), (1000, 200), (5000, 1000)]
    evidence_sizes = evidence.QUICK_SIZES if quick else evidence.FULL_SIZES
    evidence_reps = min(reps, 3)   # a GiB copy takes a while: three repetitions at most
    bench_tmp = os.path.join(REPO_ROOT, ".tmp", "bench")
    os.makedirs(bench_tmp, exist_ok=True)
    out = args.out or (os.path.join(bench_tmp, "benchmarks-quick.md") if quick
                       else os.path.join(REPO_ROOT, "docs", "benchmarks.md"))
    if args.report_from:
        with open(args.report_from, encoding="utf-8") as f:
            results = json.load(f)
        out = args.out or (os.path.join(bench_tmp, "benchmarks-quick.md") if results["quick"]
                           else os.path.join(REPO_ROOT, "docs", "benchmarks.md"))
        return write_report(results, out, os.path.dirname(args.report_from))
    workdir = tempfile.mkdtemp(prefix="triage-bench-", dir=bench_tmp)
    logdir = os.path.join(workdir, "logs")
    os.makedirs(logdir)

    approaches = [Collection(workdir, args.collections), KubernetesCore(workdir), Kubectl(workdir)]
    skipped = {a.key: a.missing() for a in approaches}
    for a in approaches:
        if skipped[a.key]:
            print(f"SKIPPED baseline {a.title}: {skipped[a.key]}")
    active = [a for a in approaches if not skipped[a.key]]

    total_pods = sum(s for s, _ in sizes) + 4
    nodes = max(3, -(-total_pods // PODS_PER_NODE) + 1)
    sim = Kubesim(workdir, nodes)
    started = time.time()
    results: dict = {"quick": quick, "reps": reps, "fault_runs": fault_runs, "sizes": sizes,
                     "approaches": {a.key: {"title": a.title, "does": a.does, "skipped": skipped[a.key]}
                                    for a in approaches},
                     "isolation": {}, "scale": {}, "faults": {}, "evidence": {}}
    print(f"kubesim: {nodes} nodes; work directory {workdir}", flush=True)
    sim.start()
    clean = False
    try:
        observer = api_client(sim.observer_kubeconfig)
        wl = Workloads(observer)
        # One namespace per size; the smallest also holds the 1-replica Deployment and hosts the isolation runs.
        for size, services in sizes:
            ns = f"size-{size}"
            wl.namespace(ns)
            wl.deployment(ns, "web", 3)
            extra = 3
            if size == sizes[0][0]:
                wl.deployment(ns, "solo", 1)
                extra += 1
            wl.filler(ns, size - extra, services - (2 if size == sizes[0][0] else 1))
            print(f"namespace {ns}: creating {size} pods and {services} Services ...", flush=True)
            wl.wait_pods_running(ns, size)
        small = f"size-{sizes[0][0]}"
        wl.namespace("faults")
        wl.deployment("faults", "web", 3)
        wl.wait_pods_running("faults", 3)

        steps = (len(active) * (int(not quick) + reps * (2 + len(sizes)) + fault_runs)
                 + evidence.count_steps(active, evidence_reps, evidence_sizes))
        progress = Progress(steps)
        for a in active if not quick else ():   # warm-up: first process start, discovery cache; not counted
            r = isolate_once(sim, observer, wl, a, small, "web", 3, logdir, f"warmup-{a.key}", load=False)
            progress.step(f"warm-up {a.title}: {describe(r)}")

        def rotated(i):
            return active[i % len(active):] + active[:i % len(active)]

        for scenario, deployment, replicas in (("three_replicas", "web", 3), ("last_ready", "solo", 1)) * (
                "isolation" in only):
            runs = results["isolation"].setdefault(scenario, {a.key: [] for a in active})
            for i in range(reps):
                for a in rotated(i):   # the order rotates, so drift on the shared machine hits each alike
                    r = isolate_once(sim, observer, wl, a, small, deployment, replicas, logdir,
                                     f"{scenario}-{a.key}-{i}")
                    runs[a.key].append(r)
                    progress.step(f"{scenario} {a.title} #{i + 1}: {describe(r)}")

        for size, services in sizes * ("scale" in only):
            runs = results["scale"].setdefault(str(size), {a.key: [] for a in active})
            results["scale"][str(size)]["services"] = services
            for i in range(reps):
                for a in rotated(i):
                    r = isolate_once(sim, observer, wl, a, f"size-{size}", "web", 3, logdir,
                                     f"scale-{size}-{a.key}-{i}", load=False)
                    runs[a.key].append(r)
                    progress.step(f"scale {size} pods/{services} Services {a.title} #{i + 1}: {describe(r)}")
            # Which requests cost what at this size: the reads of each approach's last run, sent again.
            try:
                results["scale"][str(size)]["breakdown"] = {a.key: scale.breakdown(observer, runs[a.key])
                                                            for a in active}
            except Exception as err:  # noqa: BLE001 (the figures above stand without it; the report says so)
                results["scale"][str(size)]["breakdown_error"] = repr(err)
                print(f"scale {size}: the replay of the reads failed: {err!r}", flush=True)

        rules = fault_rules(0.2)
        results["faults"]["rules"] = rules
        post_faults(observer, rules)
        try:
            runs = results["faults"].setdefault("runs", {a.key: [] for a in active})
            for i in range(fault_runs * ("faults" in only)):
                for a in rotated(i):
                    r = isolate_once(sim, observer, wl, a, "faults", "web", 3, logdir, f"faults-{a.key}-{i}",
                                     load=False, check_timeout=10)
                    runs[a.key].append(r)
                    progress.step(f"faults 20% {a.title} #{i + 1}: {describe(r)}")
        finally:
            post_faults(observer, None)

        if "evidence" in only:
            results["evidence"] = evidence.run_all(sim, observer, wl, active, workdir, evidence_sizes,
                                                   evidence_reps, progress)
    finally:
        clean = sim.stop()
        # What was measured survives a failure later in the run (bench/run.py --report-from it).
        with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, default=str)
    results["kubesim_clean"] = clean
    results["duration"] = time.time() - started
    results["machine"] = machine(sim)
    results["kubesim_bench"] = run_kubesim_bench(quick) if "kubesim" in only else {"argv": "", "rc": None,
                                                                                     "output": "", "seconds": 0}
    with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, default=str)

    code = write_report(results, out, workdir)
    if code == 0:
        # A quick run that passed leaves nothing behind; a full one keeps its logs and results.json, not the
        # copied GiB files.
        shutil.rmtree(workdir if quick else os.path.join(workdir, "evidence"), ignore_errors=True)
    return code


def write_report(results: dict, out: str, workdir: str) -> int:
    plot = os.path.join(os.path.dirname(out), "benchmarks-wall-time.png")
    report.plot(results, plot)
    text = report.markdown(results, os.path.basename(plot))
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print()
    print(report.terminal(results))
    print(f"\nwrote {out} and {plot}; raw results and logs in {workdir}")
    problems = report.missing_figures(results)
    if not results.get("kubesim_clean", True):
        problems.append("kubesim wrote a traceback (see kubesim.out in the work directory)")
    if problems:
        print("\nFAILED: figures not produced:\n  " + "\n  ".join(problems))
        return 1
    return 0


def machine(sim: Kubesim) -> dict:
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = int(f.readline().split()[1])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    kubectl = shutil.which("kubectl") or "/usr/bin/kubectl"
    try:
        kv = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True,
                            timeout=30).stdout.splitlines()[0]
    except Exception:  # noqa: BLE001
        kv = "missing"
    try:
        import importlib.metadata as md
        versions = {p: md.version(p) for p in ("ansible", "ansible-core", "kubernetes")}
    except Exception:  # noqa: BLE001
        versions = {}
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": os.cpu_count(), "memory": mem,
            "python": platform.python_version(), "platform": platform.platform(), "loadavg": load,
            "kubectl": kv, "versions": versions,
            "kubesim": " ".join("python" if i == 0 else a.replace(sim.workdir, "$WORKDIR")
                                for i, a in enumerate(sim.argv))}


def run_kubesim_bench(quick: bool) -> dict:
    """bench/kubesim_bench.py, the emulator's own figures, in its own kubesim (its section of the report)."""
    argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "kubesim_bench.py")]
    if quick:
        argv += ["--pods", "100", "--services", "20", "--seconds", "0.5"]
    print(f"\nkubesim's own figures: {' '.join(os.path.basename(a) for a in argv[1:])}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    print(proc.stdout, end="", flush=True)
    return {"argv": " ".join(["python", "bench/kubesim_bench.py"] + argv[2:]), "rc": proc.returncode,
            "output": proc.stdout + proc.stderr, "seconds": time.monotonic() - t0}


if __name__ == "__main__":
    sys.exit(main())
