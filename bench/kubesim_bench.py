#!/usr/bin/env python3
"""kubesim benchmark (figures, not a timed test).

Starts `python -m kubesim serve` (with every component it finds: controllers, kubelet) with enough nodes for the
pods (a node takes 110 pods, the kubelet's default --max-pods; 50 nodes for 5,000 pods), creates 5,000 pods
(image registry.example/app:1) and 1,000 Services in one namespace through the official kubernetes client, then
reports:
- creation rate;
- time to list the pods with a label selector (matching 1% of them), against listing all of them;
- GET and PATCH requests per second on single pods, against GET /version in the same run.

Usage: python bench/kubesim_bench.py [--pods 5000] [--services 1000] [--threads 4] [--seconds 5] [--nodes N]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from kubernetes import client, config
except ImportError:
    sys.exit("kubesim_bench needs the kubernetes client: pip install kubernetes")

NAMESPACE = "bench"
PODS_PER_NODE = 100   # stay under the kubelet's 110 (--max-pods), so every pod is scheduled


def start_kubesim(workdir: str, nodes: int) -> tuple[subprocess.Popen, str]:
    kubeconfig = os.path.join(workdir, "kubeconfig")
    proc = subprocess.Popen([sys.executable, "-m", "kubesim", "serve", "--port", "0", "--kubeconfig", kubeconfig,
                             "--nodes", str(nodes)],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "stderr.log"), "wb"))
    deadline = time.monotonic() + 30
    while not os.path.exists(kubeconfig):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"kubesim did not start; see {workdir}/stderr.log")
        time.sleep(0.05)
    return proc, kubeconfig


def make_client(kubeconfig: str, pool: int) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    cfg.connection_pool_maxsize = pool
    return client.ApiClient(cfg)


def parallel(fn, items, threads: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        for _ in ex.map(fn, items):
            pass
    return time.perf_counter() - start


def rate(fn, seconds: float, threads: int) -> float:
    """Requests per second of fn() called in a loop by `threads` threads for `seconds`."""
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def worker(i):
        n = 0
        while time.perf_counter() < stop:
            fn(i, n)
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def timed(fn, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each request-rate measurement")
    ap.add_argument("--nodes", type=int, default=None,
                    help=f"Node objects (default: one per {PODS_PER_NODE} pods, at least 3)")
    args = ap.parse_args()
    nodes = args.nodes or max(3, -(-args.pods // PODS_PER_NODE))
    if nodes * 110 < args.pods:
        print(f"note: {nodes} nodes take at most {nodes * 110} pods; the rest stay Pending (Too many pods)")
    workdir = tempfile.mkdtemp(prefix="kubesim-bench-")
    proc, kubeconfig = start_kubesim(workdir, nodes)
    print(f"kubesim with {nodes} nodes (110 pods each)")
    try:
        api = make_client(kubeconfig, args.threads * 2)
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": NAMESPACE}})

        def create_pod(i):
            core.create_namespaced_pod(NAMESPACE, {
                "metadata": {"name": f"pod-{i:05d}", "labels": {"app": "bench", "group": f"g{i % 100}"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}})

        def create_service(i):
            core.create_namespaced_service(NAMESPACE, {
                "metadata": {"name": f"svc-{i:04d}"},
                "spec": {"selector": {"group": f"g{i % 100}"}, "ports": [{"port": 80, "targetPort": 8080}]}})

        t_pods = parallel(create_pod, range(args.pods), args.threads)
        t_svcs = parallel(create_service, range(args.services), args.threads)
        print(f"created {args.pods} pods in {t_pods:.1f} s ({args.pods / t_pods:.0f}/s), "
              f"{args.services} services in {t_svcs:.1f} s ({args.services / t_svcs:.0f}/s)")

        placed, deadline = {}, time.monotonic() + 120
        while time.monotonic() < deadline:
            pods = core.list_namespaced_pod(NAMESPACE).items
            placed = {p.metadata.name: p.spec.node_name for p in pods if p.status.pod_ip}
            if len(placed) == args.pods:
                break
            time.sleep(1)
        print(f"{len(placed)} of {args.pods} pods have a node and a pod IP, on {len(set(placed.values()))} nodes")

        selected = len(core.list_namespaced_pod(NAMESPACE, label_selector="group=g7").items)
        t_sel = timed(lambda: core.list_namespaced_pod(NAMESPACE, label_selector="group=g7",
                                                       _preload_content=False).read())
        t_set = timed(lambda: core.list_namespaced_pod(NAMESPACE, label_selector="group in (g7,g8),app!=x",
                                                       _preload_content=False).read())
        t_all = timed(lambda: core.list_namespaced_pod(NAMESPACE, _preload_content=False).read(), 3)
        t_svc = timed(lambda: core.list_namespaced_service(NAMESPACE, _preload_content=False).read())
        print(f"list pods with label selector group=g7 ({selected} of {args.pods}): {t_sel * 1000:.1f} ms; "
              f"set-based selector: {t_set * 1000:.1f} ms")
        print(f"baseline: list all {args.pods} pods: {t_all * 1000:.1f} ms (selector list = "
              f"{t_sel / t_all:.2f} x of it); list {args.services} services: {t_svc * 1000:.1f} ms")

        version_api = client.VersionApi(api)
        r_version = rate(lambda i, n: version_api.get_code(), args.seconds, args.threads)
        r_get = rate(lambda i, n: core.read_namespaced_pod(f"pod-{(i * 997 + n) % args.pods:05d}", NAMESPACE),
                     args.seconds, args.threads)
        r_patch = rate(lambda i, n: core.patch_namespaced_pod(
            f"pod-{(i * 997 + n) % args.pods:05d}", NAMESPACE, {"metadata": {"labels": {"bench": str(n)}}}),
            args.seconds, args.threads)
        print(f"GET /version (baseline): {r_version:.0f} req/s")
        print(f"GET pod:   {r_get:.0f} req/s ({r_get / r_version:.2f} x baseline)")
        print(f"PATCH pod: {r_patch:.0f} req/s ({r_patch / r_version:.2f} x baseline)")
        api.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        print(f"kubesim exited with {code}")
        with open(os.path.join(workdir, "stderr.log"), encoding="utf-8", errors="replace") as f:
            if "Traceback" in f.read():
                print(f"kubesim wrote a traceback: see {workdir}/stderr.log")
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
