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
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from triage_bench import evidence, report, scale  # noqa: E402
from triage_bench.approaches import REPO_ROOT, Collection, KubernetesCore, Kubectl  # noqa: E402
from triage_bench.cluster import ADMIN_USER, PODS_PER_NODE, Kubesim, Workloads, api_client  # noqa: E402

# cluster.LANE_USERS: one identity per section, so that sections side by side (quick mode) never mix in the audit
LAST_READY_USER, SCALE_USER, FAULTS_USER, EVIDENCE_USER = ("bench-last-ready", "bench-scale", "bench-faults",
                                                           "bench-evidence")
from triage_bench.isolation import isolate_once  # noqa: E402



class Progress:
    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.monotonic()
        self.lock = threading.Lock()   # quick mode's sections report from their own threads

    def step(self, text: str) -> None:
        with self.lock:
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


def fault_rules(share: float, user: str) -> list[dict]:
    """Three rules on the approach's identity only, each firing on p of the requests, so that one request in
    `share` gets one of 503, 429 (Retry-After: 1) or a reset connection: 1 - (1 - p)^3 = share."""
    p = 1 - (1 - share) ** (1 / 3)
    base = {"user": user, "fraction": round(p, 4)}
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

    total_pods = sum(s for s, _ in sizes) + 23
    nodes = max(3, -(-total_pods // PODS_PER_NODE) + 1)
    sim = Kubesim(workdir, nodes)
    started = time.time()
    results: dict = {"quick": quick, "reps": reps, "fault_runs": fault_runs, "sizes": sizes,
                     "approaches": {a.key: {"title": a.title, "does": a.does, "skipped": skipped[a.key]}
                                    for a in approaches},
                     "isolation": {}, "scale": {}, "faults": {}, "evidence": {}}
    # Quick mode runs kubernetes.core (whose every module start costs tens of seconds here) once per module it
    # uses: its isolation playbook in the 1-of-3 figure, k8s_cp, k8s_log and k8s_exec in the fetch, log and
    # thread-dump figures. The figures that only repeat those (last ready pod, scale, faults; the heap dump is
    # k8s_exec + k8s_cp + k8s_exec) run the collection and kubectl only.
    left_out = {"last_ready": ("k8s_core",), "scale": ("k8s_core",), "faults": ("k8s_core",),
                "pod_dump": ("k8s_core",)} if quick else {}
    results["left_out"] = {k: list(v) for k, v in left_out.items()}
    results["identities"] = {"isolation, 1 of 3 replicas": ADMIN_USER, "isolation, last ready pod": LAST_READY_USER,
                             "scale": SCALE_USER, "faults": FAULTS_USER, "evidence": EVIDENCE_USER}
    print(f"kubesim: {nodes} nodes; work directory {workdir}", flush=True)
    sim.start()
    clean = False
    try:
        observer = api_client(sim.observer_kubeconfig, pool=16)
        wl = Workloads(observer)
        # Each isolation scenario has a namespace of its own (10 pods: its Deployment and fillers), the scale
        # figures one namespace per size, the fault figures one more: so that quick mode can run them side by side.
        layouts = ([("isolation", 10, 2, "web", 3), ("isolation-solo", 10, 2, "solo", 1)]
                   + [(f"size-{size}", size, services, "web", 3) for size, services in sizes]
                   + [("faults", 3, 1, "web", 3)])
        for ns, size, services, deployment, replicas in layouts:
            wl.namespace(ns)
            wl.deployment(ns, deployment, replicas)
            wl.filler(ns, size - replicas, services - 1)
            print(f"namespace {ns}: creating {size} pods and {services} Services ...", flush=True)
        pods_of = {ns: size for ns, size, _services, _deployment, _replicas in layouts}
        if not quick:
            for ns, size in pods_of.items():
                wl.wait_pods_running(ns, size)

        def lanes(section):
            return sum(1 for a in active if a.key not in left_out.get(section, ()))
        steps = (len(active) * int(not quick) + reps * (lanes("three_replicas") + lanes("last_ready")
                                                        + len(sizes) * lanes("scale"))
                 + fault_runs * lanes("faults") + evidence.count_steps(active, evidence_reps, evidence_sizes, left_out))
        progress = Progress(steps)
        for a in active if not quick else ():   # warm-up: first process start, discovery cache; not counted
            r = isolate_once(sim, observer, wl, a, "isolation", "web", 3, logdir, f"warmup-{a.key}", load=False)
            progress.step(f"warm-up {a.title}: {describe(r)}")

        def rotated(i, section=""):
            lanes = [a for a in active if a.key not in left_out.get(section, ())]
            return lanes[i % len(lanes):] + lanes[:i % len(lanes)]

        def isolation_figures(scenario, ns, deployment, replicas, user):
            wl.wait_pods_running(ns, pods_of[ns])   # at once in a full run; quick: per section
            runs = results["isolation"].setdefault(scenario, {a.key: [] for a in rotated(0, scenario)})
            for i in range(reps):
                for a in rotated(i, scenario):   # the order rotates, so drift on the shared machine hits each alike
                    r = isolate_once(sim, observer, wl, a, ns, deployment, replicas, logdir,
                                     f"{scenario}-{a.key}-{i}", user=user)
                    runs[a.key].append(r)
                    progress.step(f"{scenario} {a.title} #{i + 1}: {describe(r)}")

        def scale_figures():
            for size, services in sizes:
                wl.wait_pods_running(f"size-{size}", size)
                runs = results["scale"].setdefault(str(size), {a.key: [] for a in rotated(0, "scale")})
                results["scale"][str(size)]["services"] = services
                for i in range(reps):
                    for a in rotated(i, "scale"):
                        r = isolate_once(sim, observer, wl, a, f"size-{size}", "web", 3, logdir,
                                         f"scale-{size}-{a.key}-{i}", load=False, user=SCALE_USER)
                        runs[a.key].append(r)
                        progress.step(f"scale {size} pods/{services} Services {a.title} #{i + 1}: {describe(r)}")
                # Which requests cost what at this size: the reads of each approach's last run, sent again.
                try:
                    results["scale"][str(size)]["breakdown"] = {a.key: scale.breakdown(observer, runs[a.key])
                                                                for a in rotated(0, "scale")}
                except Exception as err:  # noqa: BLE001 (the figures above stand without it; the report says so)
                    results["scale"][str(size)]["breakdown_error"] = repr(err)
                    print(f"scale {size}: the replay of the reads failed: {err!r}", flush=True)

        def fault_figures():
            wl.wait_pods_running("faults", pods_of["faults"])
            rules = fault_rules(0.2, FAULTS_USER)
            results["faults"]["rules"] = rules
            post_faults(observer, rules)
            try:
                runs = results["faults"].setdefault("runs", {a.key: [] for a in rotated(0, "faults")})
                for i in range(fault_runs):
                    for a in rotated(i, "faults"):
                        r = isolate_once(sim, observer, wl, a, "faults", "web", 3, logdir, f"faults-{a.key}-{i}",
                                         load=False, check_timeout=5 if quick else 10, user=FAULTS_USER)
                        runs[a.key].append(r)
                        progress.step(f"faults 20% {a.title} #{i + 1}: {describe(r)}")
            finally:
                post_faults(observer, None)

        def evidence_figures():
            results["evidence"] = evidence.run_all(sim, observer, wl, active, workdir, evidence_sizes, evidence_reps,
                                                   progress, EVIDENCE_USER, parallel=6 if quick else 1,
                                                   left_out=left_out)

        def kubesim_figures():
            results["kubesim_bench"] = run_kubesim_bench(quick)

        for scenario in ("three_replicas", "last_ready") if "isolation" in only else ():   # the table's order
            results["isolation"][scenario] = {a.key: [] for a in rotated(0, scenario)}

        def three_replicas():
            isolation_figures("three_replicas", "isolation", "web", 3, ADMIN_USER)

        def last_ready():
            isolation_figures("last_ready", "isolation-solo", "solo", 1, LAST_READY_USER)

        sections = [(name, fn) for name, fn in (("isolation", three_replicas), ("isolation", last_ready),
                                                ("scale", scale_figures),
                                                ("faults", fault_figures), ("evidence", evidence_figures),
                                                ("kubesim", kubesim_figures))
                    if name in only and (quick or name != "kubesim")]
        if quick:
            # Quick mode only shows that every figure is produced (its timings mean nothing): the sections run
            # side by side, each in its own namespace and as its own identity, so that `make test` stays short.
            with ThreadPoolExecutor(len(sections) or 1) as ex:
                for job in [ex.submit(fn) for _name, fn in sections]:
                    job.result()
        else:
            for _name, fn in sections:
                fn()
    finally:
        clean = sim.stop()
        # What was measured survives a failure later in the run (bench/run.py --report-from it).
        with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, default=str)
    results["kubesim_clean"] = clean
    results["duration"] = time.time() - started
    results["machine"] = machine(sim)
    if not quick and "kubesim" in only:   # the full run measures the emulator alone, after its own kubesim stopped
        results["kubesim_bench"] = run_kubesim_bench(quick)
    results.setdefault("kubesim_bench", {"argv": "", "rc": None, "output": "", "seconds": 0})
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
