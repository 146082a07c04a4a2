"""The tables (terminal and docs/benchmarks.md) and the plot, from the results of one run."""
from __future__ import annotations

import re
import statistics

from triage_bench.isolation import faults_met
from triage_bench.stats import cell, median, ratio, values

ORDER = ("collection", "k8s_core", "kubectl")
HALF_ISOLATED = "the pod's IP is still in the Service's endpoints"   # isolation.right_state's wording
BASELINES = ("k8s_core", "kubectl")


def _titles(results):
    return {k: results["approaches"][k]["title"] for k in ORDER}


def _runs(group: dict, key: str):
    runs = group.get(key) if group else None
    if runs is None:
        return None
    return runs


def _row(label: str, group: dict, metric: str, unit: str, digits: int = 2, scale: float = 1.0,
         results=None) -> list[str]:
    cells = [label]
    for key in ORDER:
        runs = _runs(group, key)
        if runs is None:
            skipped = results["approaches"][key]["skipped"] if results else None
            cells.append(f"skipped: {skipped}" if skipped else "not run (quick)" if results and results.get("quick")
                         else "n/a")
        else:
            cells.append(cell(runs, metric, unit, digits, scale))
    mine = median(group.get("collection") or [], metric)
    for base in BASELINES:
        cells.append(ratio(mine, median(group.get(base) or [], metric)))
    return cells


def _per_approach(group: dict, text) -> list[str]:
    """One cell per approach: text(runs), or n/a when the approach has no runs."""
    return [text(group[key]) if group.get(key) else "n/a" for key in ORDER]


def _verbs(group: dict) -> list[str]:
    def text(runs):
        verbs = sorted({v for r in runs for v in r["requests"]})
        return ", ".join(f"{v} {median([r['requests'] for r in runs], v) or 0:g}" for v in verbs) or "none"
    return _per_approach(group, text)


def _lost(group: dict) -> list[str]:
    def text(runs):
        lost = sum(r["load"]["lost"] for r in runs)
        sent = sum(r["load"]["sent"] for r in runs)
        return f"{cell(runs, 'load.lost', '', 0)} (total {lost} of {sent})"
    return _per_approach(group, text)


def isolation_rows(results) -> list[list[str]]:
    rows = []
    names = {"three_replicas": "1 of 3 replicas", "last_ready": "last ready pod (1 replica)"}
    for scenario, group in results["isolation"].items():
        n = names[scenario]
        rows.append(_row(f"{n}: wall time", group, "wall", "s", results=results))
        rows.append(_row(f"{n}: API requests", group, "requests_total", "", 0, results=results))
        rows.append([f"{n}: requests by verb (median)"] + _verbs(group) + ["", ""])
        rows.append(_row(f"{n}: IP left every Endpoints/EndpointSlice", group, "ip_gone", "s", results=results))
        rows.append(_row(f"{n}: drain detection", group, "drain_detect", "ms", 0, 1000, results=results))
        rows.append(_row(f"{n}: requests lost through the Service proxy", group, "load.lost", "", 0,
                         results=results)[:1] + _lost(group) + ["", ""])
    return rows


def scale_rows(results) -> list[list[str]]:
    rows = []
    sizes = sorted(results["scale"], key=int)
    for size in sizes:
        group = results["scale"][size]
        rows.append(_row(f"{size} pods, {group['services']} Services: wall time", group, "wall", "s",
                         results=results))
        rows.append(_row(f"{size} pods, {group['services']} Services: API requests", group, "requests_total", "",
                         0, results=results))
    if len(sizes) > 1:
        small, big = results["scale"][sizes[0]], results["scale"][sizes[-1]]
        cells = [f"wall time {sizes[-1]} pods ÷ {sizes[0]} pods (same approach)"]
        for key in ORDER:
            cells.append(ratio(median(big.get(key) or [], "wall"), median(small.get(key) or [], "wall")))
        rows.append(cells + ["", ""])
    return rows


def _size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def breakdown_rows(results, key: str = "collection") -> tuple[list[str], list[list[str]]]:
    """One row per distinct read the approach sent in its scale run, at every size: how often, the server time of
    one (replayed by the harness), its parse time in Python, and its size."""
    sizes = sorted(results["scale"], key=int)
    per = {size: {r["request"]: r for r in ((results["scale"][size].get("breakdown") or {}).get(key) or {})
                  .get("reads", [])} for size in sizes}
    labels = []
    for size in sizes:
        labels += [label for label in per[size] if label not in labels]
    head = ["request (as sent by " + results["approaches"][key]["title"] + ")"] + [
        f"{size} pods: count × (server + parse), size" for size in sizes]
    rows = []
    for label in labels:
        cells = [label]
        for size in sizes:
            r = per[size].get(label)
            if not r or r["seconds"] is None:
                cells.append("—")
                continue
            items = f", {r['items']} items" if r.get("items") is not None else ""
            cells.append(f"{r['count']} × ({r['seconds'] * 1000:.0f} + {(r['parse_seconds'] or 0) * 1000:.0f} ms), "
                         f"{_size(r['bytes'])}{items}")
        rows.append(cells)
    totals = ["all reads: server + parse, bytes; watches opened"]
    for size in sizes:
        b = (results["scale"][size].get("breakdown") or {}).get(key) or {}
        reads = b.get("reads") or []
        parse = sum((r["parse_seconds"] or 0) * r["count"] for r in reads)
        totals.append(f"{b.get('read_seconds', 0) * 1000:.0f} + {parse * 1000:.0f} ms, "
                      f"{_size(b.get('read_bytes', 0))}; {b.get('watches', 0)} watches" if b else "—")
    rows.append(totals)
    return head, rows


def _faults(run: dict) -> tuple[int, int]:
    """(faults met, sent again at once), from the run's own requests where the results keep them."""
    if run.get("calls") is not None:
        return faults_met(run["calls"])
    return run.get("faults_met", 0), run.get("faults_sent_again", 0)


def _call_label(c: dict) -> str:
    q = c.get("query") or {}
    what = c["resource"] + (f"/{c['subresource']}" if c.get("subresource") else "")
    if c["verb"] in ("list", "watch"):
        sel = [k for k in ("labelSelector", "fieldSelector") if q.get(k)]
        return f"{c['verb']} {what}" + (f" ({', '.join(sel)})" if sel else " (all)")
    return f"{c['verb']} {what}"


def timeline(runs: list[dict]) -> list[tuple[str, float]] | None:
    """The approach's requests in order, each with the median (over the runs) of the seconds between the previous
    response and its own: the server's time for it plus what the client did before sending it (parsing and
    matching the previous answer, or waiting in a watch). From the audit log of the runs themselves."""
    seqs = [[(_call_label(c), c["t"]) for c in r.get("calls") or []] for r in runs if r.get("rc") == 0]
    seqs = [q for q in seqs if q]
    if not seqs:
        return None
    labels = [label for label, _t in seqs[-1]]
    same = [q for q in seqs if [label for label, _t in q] == labels]
    out = []
    for i, label in enumerate(labels):
        out.append((label, statistics.median(q[i][1] - q[i - 1][1] for q in same) if i else 0.0))
    return out


def timeline_rows(results, key: str = "collection") -> tuple[list[str], list[list[str]]]:
    sizes = sorted(results["scale"], key=int)
    lines = {size: timeline(results["scale"][size].get(key) or []) for size in sizes}
    base = next((v for v in lines.values() if v), None) or []
    head = ["request, in the order sent"] + [f"{size} pods" for size in sizes]
    rows = []
    for i, (label, _gap) in enumerate(base):
        cells = [label]
        for size in sizes:
            line = lines[size]
            cells.append(f"{line[i][1] * 1000:.0f} ms" if line and len(line) == len(base) and line[i][0] == label
                         else "—")
        rows.append(cells)
    rows.append(["first request to last response"] + [f"{sum(g for _l, g in lines[size]):.2f} s" if lines[size]
                                                     else "—" for size in sizes])
    return head, rows


def fault_rows(results) -> list[list[str]]:
    runs = results["faults"].get("runs", {})
    rows = [["isolations ending in the right state"], ["... of which the command reported success"],
            ["wrong state but the command reported success"], ["failed runs: command exited non-zero"],
            ["left half-isolated: released by its ReplicaSet, still in the Service's endpoints"],
            ["requests that met a fault (all runs) / of them sent again"]]
    for key in ORDER:
        r = runs.get(key)
        if not r:
            for row in rows:
                row.append("n/a")
            continue
        n = len(r)
        right = [x for x in r if x["right_state"]]
        rows[0].append(f"{len(right)}/{n} ({100 * len(right) / n:.0f} %)")
        rows[1].append(f"{sum(1 for x in right if x['rc'] == 0)}/{len(right)}")
        rows[2].append(f"{sum(1 for x in r if not x['right_state'] and x['rc'] == 0)}/{n}")
        rows[3].append(f"{sum(1 for x in r if x['rc'] != 0)}/{n}")
        rows[4].append(f"{sum(1 for x in r if x['state'] == HALF_ISOLATED)}/{n}")
        rows[5].append(f"{sum(_faults(x)[0] for x in r)} / {sum(_faults(x)[1] for x in r)}")
    for row in rows:
        row += ["", ""]
    return rows


def evidence_rows(results) -> list[list[str]]:
    rows = []
    ev = results.get("evidence") or {}
    for figure, data in (ev.get("figures") or {}).items():
        group = data["runs"]
        metrics = [("wall", "wall time", "s", 2, 1.0), ("mib_s", "throughput", "MiB/s", 2, 1.0),
                   ("maxrss_kib", "peak RSS", "MiB", 0, 1 / 1024)]
        if not data.get("throughput", True):
            metrics.pop(1)
        for metric, label, unit, digits, scale in metrics:
            cells = [f"{figure.replace('_large', '')} ({data['title']}): {label}"]
            for key in ORDER:
                runs = group.get(key)
                if isinstance(runs, dict):
                    cells.append(next(iter(runs.values())))
                elif runs is None:
                    cells.append("n/a")
                else:
                    cells.append(cell(runs, metric, unit, digits, scale))
            mine = group.get("collection")
            for base in BASELINES:
                if isinstance(mine, list):
                    cells.append(ratio(median(mine, metric), median(group.get(base) or [], metric)))
                else:
                    cells.append("n/a")
            rows.append(cells)
        cells = [f"{figure.replace('_large', '')} ({data['title']}): verified"]
        for key in ORDER:
            runs = group.get(key)
            if isinstance(runs, list):
                cells.append(f"{sum(1 for r in runs if r['verified'])}/{len(runs)} ({runs[-1]['state']})")
            else:
                cells.append("n/a")
        rows.append(cells + ["", ""])
    return rows


def header(results) -> list[str]:
    t = _titles(results)
    return ["figure"] + [t[k] for k in ORDER] + [f"{t['collection']} ÷ {t[b]}" for b in BASELINES]


def sections(results):
    return [("Isolation (namespace of 10 pods, load through the Service proxy)", isolation_rows(results)),
            ("Scale (the same isolation, 3 replicas, no load)", scale_rows(results)),
            (f"Under faults: 20 % of the approach's requests get 503, 429 or a reset "
             f"({results['fault_runs']} isolations each)", fault_rows(results)),
            ("Evidence", evidence_rows(results))]


def terminal(results) -> str:
    out = []
    head = header(results)
    for title, rows in sections(results):
        widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
        widths[0] = min(widths[0], 58)
        out.append(f"== {title}")
        for r in [head] + rows:
            out.append("  ".join(str(c)[:widths[i]].ljust(widths[i]) for i, c in enumerate(r)))
        out.append("")
    return "\n".join(out)


def md_table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(lines)


def missing_figures(results) -> list[str]:
    """Every figure of every active approach must have been produced (quick mode asserts this, never a timing)."""
    problems = []
    active = [k for k in ORDER if not results["approaches"][k]["skipped"]]
    left_out = results.get("left_out") or {}

    def expected(section):
        return [k for k in active if k not in left_out.get(section, ())]
    for scenario in ("three_replicas", "last_ready"):
        if scenario not in results["isolation"]:
            problems.append(f"isolation {scenario}: not run")
    if len(results["scale"]) < 2:
        problems.append("scale: fewer than two namespace sizes")
    for size, group in results["scale"].items():
        if not ((group.get("breakdown") or {}).get("collection") or {}).get("reads"):
            problems.append(f"scale {size}: no replayed reads of the collection ({group.get('breakdown_error')})")
    if not results["faults"].get("runs"):
        problems.append("faults: not run")
    figures = (results.get("evidence") or {}).get("figures") or {}
    for figure in ("pod_fetch", "pod_logs", "pod_dump", "thread_dump"):
        if figure not in figures:
            problems.append(f"evidence {figure}: not run")
    for scenario, group in results["isolation"].items():
        for key in expected(scenario):
            runs = group.get(key) or []
            if not runs:
                problems.append(f"isolation {scenario} {key}: no run")
            for metric in ("wall", "requests_total", "ip_gone", "drain_detect", "load.lost"):
                if len(values(runs, metric)) != len(runs):
                    problems.append(f"isolation {scenario} {key}: {metric} missing")
            if any(r["rc"] != 0 or not r["right_state"] for r in runs):
                problems.append(f"isolation {scenario} {key}: a run failed without faults ({runs[-1]['log']})")
    for size, group in results["scale"].items():
        for key in expected("scale"):
            runs = group.get(key) or []
            if not runs or len(values(runs, "wall")) != len(runs) or any(r["rc"] != 0 for r in runs):
                problems.append(f"scale {size} {key}: no successful run")
    for key in expected("faults"):
        runs = results["faults"].get("runs", {}).get(key) or []
        if not runs:
            problems.append(f"faults {key}: no run")
    for figure, data in ((results.get("evidence") or {}).get("figures") or {}).items():
        for key in active:
            runs = data["runs"].get(key)
            if isinstance(runs, dict):
                continue   # a large variant not run (projected over the budget): shown as such
            if not runs or not all(r["verified"] for r in runs):
                problems.append(f"evidence {figure} {key}: no verified result")
    if (results.get("kubesim_bench") or {}).get("rc") != 0:
        problems.append("bench/kubesim_bench.py failed")
    return problems


def plot(results, path: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no plot")
        return
    sizes = sorted(results["scale"], key=int)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key, marker in zip(ORDER, "os^"):
        xs, ys, lo, hi = [], [], [], []
        for size in sizes:
            vals = values(results["scale"][size].get(key) or [], "wall")
            if vals:
                xs.append(int(size))
                m = statistics.median(vals)
                ys.append(m)
                lo.append(m - min(vals))
                hi.append(max(vals) - m)
        if xs:
            ax.errorbar(xs, ys, yerr=[lo, hi], marker=marker, capsize=4,
                        label=results["approaches"][key]["title"])
    ax.set_xscale("log")
    ax.set_xlabel("pods in the namespace (Services: one per 5 pods)")
    ax.set_ylabel("wall time of one isolation (s)")
    ax.set_title("Isolating one pod of 3 replicas on kubesim (median, min–max)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _m(group, key, metric):
    return median((group or {}).get(key) or [], metric)


def findings(results) -> list[str]:
    """Sentences computed from this run's figures (so they stay true when the figures change)."""
    out = []
    iso = results["isolation"]
    three, last = iso.get("three_replicas"), iso.get("last_ready")
    t = _titles(results)
    if three:
        walls = {k: _m(three, k, "wall") for k in ORDER}
        if all(walls.values()):
            out.append(f"Wall time of one isolation (1 of 3 replicas): {t['collection']} {walls['collection']:.1f} s, "
                       f"{t['k8s_core']} {walls['k8s_core']:.1f} s, {t['kubectl']} {walls['kubectl']:.1f} s. "
                       f"{t['collection']} is {walls['collection'] / walls['kubectl']:.1f}× the kubectl runbook: it "
                       "pays ansible-playbook's start (a few seconds on this machine) and, with strategy "
                       "replace-first, waits until the replacement pod is Ready before it cuts the Service labels, "
                       "then until the IP left every Endpoints and EndpointSlice; the runbook returns as soon as "
                       "one Endpoints object no longer lists the IP.")
        gone = {k: _m(three, k, "ip_gone") for k in ORDER}
        if all(gone.values()):
            out.append(f"The IP leaves the endpoints later with {t['collection']} ({gone['collection']:.1f} s against "
                       f"{gone['kubectl']:.1f} s for kubectl) for the same reason: replace-first keeps the pod serving "
                       "until its replacement is Ready, so capacity never dips.")
    if last:
        lost = {k: sum(r["load"]["lost"] for r in last.get(k) or []) for k in ORDER}
        sent = {k: sum(r["load"]["sent"] for r in last.get(k) or []) for k in ORDER}
        out.append("Last ready pod of a 1-replica Deployment, requests lost through the Service proxy (all "
                   "repetitions): " + ", ".join(f"{t[k]} {lost[k]} of {sent[k]}" for k in ORDER if sent[k])
                   + ". A plain relabel empties the Service until the replacement is Ready; replace-first "
                   "relabels only pod-template-hash first, so the old pod serves until the new one is Ready.")
    if three:
        reqs = {k: _m(three, k, "requests_total") for k in ORDER}
        if all(v is not None for v in reqs.values()):
            out.append(f"API requests: {t['collection']} {reqs['collection']:g}, {t['k8s_core']} {reqs['k8s_core']:g}, "
                       f"{t['kubectl']} {reqs['kubectl']:g} (medians). {t['collection']} reads more (the owner chain, "
                       "PodDisruptionBudgets, HPAs, NetworkPolicies, every Service and pod of the namespace, then a "
                       "watch) and writes more (two patches for replace-first and an Event); the baselines check "
                       "none of the guards.")
        drains = {k: _m(three, k, "drain_detect") for k in ORDER}
        if all(v is not None for v in drains.values()):
            out.append(f"Drain detection: {t['collection']} {drains['collection'] * 1000:.0f} ms (a watch), "
                       f"{t['k8s_core']} {drains['k8s_core'] * 1000:.0f} ms and {t['kubectl']} "
                       f"{drains['kubectl'] * 1000:.0f} ms (polls once a second, plus a process or a module start "
                       "per poll).")
    sizes = sorted(results["scale"], key=int)
    if len(sizes) > 1:
        small, big = results["scale"][sizes[0]], results["scale"][sizes[-1]]
        parts = []
        for k in ORDER:
            a, b = _m(big, k, "wall"), _m(small, k, "wall")
            if a and b:
                parts.append(f"{t[k]} {a / b:.2f}×")
        mine = (_m(big, "collection", "wall") or 0) / (_m(small, "collection", "wall") or 1)
        out.append(f"Scale, wall time at {sizes[-1]} pods and {big['services']} Services over {sizes[0]} pods: "
                   + ", ".join(parts) + f". The target for {t['collection']} is under 2× (it lists the pods and "
                   f"Services once and matches locally): {'met' if mine < 2 else 'missed'} in this run.")
    runs = results["faults"].get("runs") or {}
    if any(runs.values()):
        parts = []
        for k in ORDER:
            r = runs.get(k) or []
            if r:
                parts.append(f"{t[k]} {sum(1 for x in r if x['right_state'])}/{len(r)}")
        half = sum(1 for x in runs.get("collection") or [] if x["state"] == HALF_ISOLATED)
        mine = runs.get("collection") or []
        met = sum(_faults(x)[0] for x in mine)
        again = sum(_faults(x)[1] for x in mine)
        if mine and met and not again:
            retry = (f"{t['collection']} sent none of the {met} requests that met a fault again: the collection on "
                     "this main does not retry transient errors (issue 10), so a 503, 429 or reset on any of its "
                     "requests fails the task; it also sends the most requests, so it meets the most faults.")
        elif mine and met:
            retry = (f"{t['collection']} sent {again} of the {met} requests that met a fault again at once (a "
                     "retry of a transient error, or a watch opened again); every other fault failed its run.")
        else:
            retry = f"{t['collection']}'s requests met no fault in these runs."
        out.append("Under 20 % faults, isolations ending in the right state: " + ", ".join(parts) + ". " + retry
                   + (f" {half} of its runs failed between replace-first's two patches and left the pod released "
                      "but still serving (its log says where it stopped)." if half else "")
                   + " The baselines' endpoint loops read again after a failed read; their single reads, the "
                   "patch and the label fail their run the same way (kubectl's client-go may retry some errors by "
                   "itself).")
    out += scale_findings(results) + evidence_findings(results)
    return out


def scale_findings(results) -> list[str]:
    """Where the collection's time goes at the largest size, from the audit log of its runs."""
    sizes = sorted(results["scale"], key=int)
    if len(sizes) < 2:
        return []
    small = timeline(results["scale"][sizes[0]].get("collection") or [])
    big = timeline(results["scale"][sizes[-1]].get("collection") or [])
    if not small or not big or [l for l, _g in small] != [l for l, _g in big]:
        return []
    growth = sorted(((b[1] - a[1], i, b[0]) for i, (a, b) in enumerate(zip(small, big))), reverse=True)[:4]
    reads = ((results["scale"][sizes[-1]].get("breakdown") or {}).get("collection") or {}).get("reads") or []
    size_of = {r["request"]: r for r in reads}
    parts = []
    for extra, i, label in growth:
        r = size_of.get(label)
        parts.append(f"#{i + 1} {label} +{extra:.2f} s" + (f" ({_size(r['bytes'])}, {r['items']} items)"
                                                           if r and r.get("items") is not None else ""))
    return [f"Where the collection's extra time at {sizes[-1]} pods goes (its own runs' audit log, median time "
            "from one response to the next): from its first request to its last response "
            f"{sum(g for _l, g in big):.2f} s against {sum(g for _l, g in small):.2f} s at {sizes[0]} pods; the "
            "steps that grew most: " + "; ".join(parts) + ". A step's time is the server's answer plus the "
            "module parsing and matching the answer before it (a LIST of every pod is parsed in Python whole)."]


def evidence_findings(results) -> list[str]:
    """The collection against the faster baseline, per evidence figure, from the medians."""
    out = []
    t = _titles(results)
    for figure, data in ((results.get("evidence") or {}).get("figures") or {}).items():
        group = data["runs"]
        mine = group.get("collection")
        if not isinstance(mine, list) or not mine:
            continue
        metric = "mib_s" if data.get("throughput", True) else "wall"
        bits = []
        for base in BASELINES:
            theirs = group.get(base)
            if isinstance(theirs, list) and theirs:
                a, b = median(mine, metric), median(theirs, metric)
                if a and b:
                    bits.append(f"{a / b:.2f}× {t[base]}'s " + ("throughput" if metric == "mib_s" else "wall time"))
        rss = median(mine, "maxrss_kib")
        out.append(f"{data.get('module', 'triage.k8s')} ({data['title']}): " + ", ".join(bits)
                   + (f"; peak RSS {rss / 1024:.0f} MiB" if rss else "") + ".")
    if out:
        out = ["Evidence, this collection against each baseline (medians; throughput includes the command's "
               "start, so a playbook's few seconds of start weigh on small files): " + " ".join(out)]
    return out


def identities(results) -> str:
    ids = results.get("identities")
    if not ids:   # a run from before the sections had identities of their own
        return ("The approaches talk as the kubeconfig's administrator; the harness uses a second token, so the "
                "audit log's entries of `kubesim-admin` are exactly the approach's requests.")
    return ("The approaches talk as " + ", ".join(f"`{user}` ({section})" for section, user in ids.items())
            + " (each in system:masters); the harness uses yet another token, so the audit log's entries of one "
            "identity are exactly the approach's requests, and the fault rules, which match the fault section's "
            "identity only, touch nothing else.")


def markdown(results, plot_name: str) -> str:
    m = results["machine"]
    head = header(results)
    lines = ["# Benchmarks", "",
             "Generated by `make bench` (`bench/run.py`); do not edit by hand. "
             + ("**Quick mode** (`make bench QUICK=1`): one repetition at small sizes; these figures only show "
                "that every benchmark runs." if results["quick"] else
                f"Each figure is the median of {results['reps']} repetitions, with the spread (min–max) in "
                "brackets; the ratios divide this collection's median by the baseline's, measured in the same run "
                "on the same kubesim."), "",
             "## What the bench needs", "",
             "`make bench` creates `.venv-bench` on first use from `bench/requirements.txt` (the `ansible` package "
             "12.x, which bundles kubernetes.core on ansible-core 2.19; the kubernetes client; matplotlib; kubesim "
             "from `tests/kubesim`), so the baselines never enter the project's `.venv`. kubectl (1.32 here) is "
             "taken from PATH or `/usr/bin/kubectl`. A baseline that is missing is skipped with a message on the "
             "terminal and in its column. `make bench QUICK=1` runs every benchmark once at small sizes and fails "
             "only when a figure was not produced, never on a timing.", "",
             "## The run", "",
             f"- Date: {m['date']}; the run took {results['duration'] / 60:.1f} min.",
             f"- Machine: {m['cores']} cores, {m['memory']} memory, Python {m['python']}, {m['platform']}; "
             f"load average at the end {', '.join(f'{x:.2f}' for x in m['loadavg'])}.",
             f"- Clients: ansible {m['versions'].get('ansible', '?')} (ansible-core "
             f"{m['versions'].get('ansible-core', '?')}, kubernetes.core bundled), kubernetes client "
             f"{m['versions'].get('kubernetes', '?')}, {m['kubectl']}.",
             f"- kubesim: `{re.sub(r'/[^ ]*/triage-bench-[A-Za-z0-9_]+', '$WORKDIR', m['kubesim'])}` (defaults otherwise: readiness delay 0.2 s, termination delay 0.05 s, "
             "HTTPS). " + identities(results),
             "", "What each approach did:", ""]
    for key in ORDER:
        a = results["approaches"][key]
        lines.append(f"- **{a['title']}**: {a['does']}" + (f" *Skipped: {a['skipped']}*" if a["skipped"] else ""))
    lines += ["",
              "Every approach is run as its user runs it: a whole command (`ansible-playbook ...`, or the shell "
              "script of kubectl calls), so the wall time includes process starts. "
              + ("Quick mode runs the sections side by side (its timings mean nothing); "
                 if results["quick"] else "One uncounted warm-up run per approach comes first; the sections "
                 "run one after another and one command at a time; ")
              + "the order of the approaches rotates between repetitions.", ""]
    lines += ["## What the figures say", ""] + [f"- {f}" for f in findings(results)] + [""]
    for title, rows in sections(results):
        lines += [f"## {title}", "", md_table(head, rows), ""]
        if title.startswith("Scale") and len(results["scale"]) > 1:
            thead, trows = timeline_rows(results)
            lines += ["Where this collection's time went at each size, request by request: the median, over its "
                      "scale runs, of the time from the previous response to this one in kubesim's audit log "
                      "(the server's time for the request plus what the module did before sending it: parsing "
                      "and matching the previous answer, or waiting in a watch for the replacement).", "",
                      md_table(thead, trows), ""]
            bhead, brows = breakdown_rows(results)
            lines += ["What its reads cost at each size: every get/list of its last scale run, sent "
                      "again by the harness right after it on the same namespace (3 times, median; server time "
                      "is request to last byte; parse is `json.loads` of the answer in Python, which the module "
                      "does too). Watches are not replayed.", "", md_table(bhead, brows), ""]
    ev = results.get("evidence") or {}
    sizes = ev.get("sizes") or {}
    lines += [f"![wall time against namespace size]({plot_name})", "",
              "## How the figures are measured", "",
              "- **API requests**: the kubesim audit log's entries of the approach's identity during its run, by "
              "Kubernetes verb (kubectl's discovery GETs count: its discovery cache is warm after the warm-up).",
              "- **IP left every Endpoints/EndpointSlice**: from the command's start until a watch of the harness "
              "on all Endpoints and EndpointSlices of the namespace saw the pod's IP in none of them.",
              "- **Drain detection**: from the controller's write that removed the IP (the last internal "
              "Endpoints/EndpointSlice audit entry before the harness saw it gone) to the end of the approach's "
              "first request on endpoints or endpointslices that completed after it: a poll's GET, or the watch "
              "the approach closes once it has seen the event.",
              "- **Requests lost**: a bounded loop (one request every 20 ms, at most 20,000 or 180 s) of GETs "
              "through `services/web:80/proxy/json` on loopback, from 0.3 s before the command until 0.5 s after "
              "the Deployment serves all its replicas again; a request is lost when it gets no 200.",
              "- **Right state**: the pod still exists, no ReplicaSet owns it, its IP is in no Endpoints or "
              "EndpointSlice of the Service, and the Deployment has all its replicas ready again (checked for up "
              "to 15 s after the command, 10 s under faults). Faults match only the approach's identity: "
              "controllers, the kubelet and the harness are not faulted.",
              "- **Evidence**: pod_fetch copies a file of random bytes out of a kubesim/web pod (sha256 checked); "
              f"pod_logs saves the log of a kubesim/web pod filled with {ev.get('log_lines', 0)} request lines of "
              f"about 2 KiB ({ev.get('log_bytes', 0)} bytes; checked line by line); pod_dump takes a heap dump of a "
              "kubesim/java pod whose heap is the dump's size (`jcmd 1 GC.heap_dump`), copies it out, checks the "
              "HPROF header and size and removes it from the pod; thread_dump saves `jcmd 1 Thread.print`. "
              "triage.k8s runs `bench/playbooks/triage_*.yml` (pod_fetch, pod_logs with timestamps off, pod_dump "
              "kind=heap with compress false so that every approach moves the same raw bytes, pod_dump "
              "kind=threads) into a fresh directory, and the one file it wrote there is checked the same way. "
              "A figure counts only a verified file: a failed or short transfer shows in the verified row and "
              "fails the run. Each file figure runs "
              "at a small size for every approach, and at the large size (issue 14's 1 GiB) for each approach whose "
              f"small run projects one large run to under {sizes.get('budget_s', 0)} s. Throughput "
              "is bytes written locally over the command's wall time; peak RSS is the largest resident set of the "
              "command's process tree (`ru_maxrss` from wait4, which covers ansible-playbook's workers and module "
              "processes).",
              "", "## Notes", "",
              "- The machine is shared with other engineers' test suites running at the same time: absolute "
              "times are noisy, which is why every figure is a median with its spread, and the comparisons are "
              "ratios within one run.",
              "- The container log: issue 14 asks for 200 MiB, but a kubelet rotates a container's log file once "
              "it passes `containerLogMaxSize` (default 10Mi) and the logs API (`kubectl logs`, k8s_log, pod_logs) "
              "serves only the newest file, so about 10 MiB is the most one request returns from a kubelet with "
              "default settings; 200 MiB needs `containerLogMaxSize` raised on the node. kubesim keeps the same "
              f"10 MiB per container, and the log figure measures {ev.get('log_bytes', 0)} bytes, just under it.",
              "- A large-size cell marked *not run* is a projection: the large size divided by the approach's "
              "throughput at the small size. That throughput includes the command's fixed start (for a playbook, "
              "several seconds per task on this machine), so the projection is an upper bound; where the same "
              "client moved the 1 GiB file (pod_fetch), that row shows its streaming rate.",
              "- Each evidence figure has one measure function per approach in `bench/triage_bench/evidence.py` "
              "(`triage_fetch`, `k8s_core_fetch`, `kubectl_fetch`, ...).",
              "- Under faults, *requests that met a fault* are the approach's requests answered 503 or 429 or cut "
              "(the audit log's code 0); *sent again* counts those whose very next request of the approach was the "
              "same verb on the same path (a retry, a poll loop's next turn, a watch opened again). Whether the collection retries is read "
              "from these figures, not assumed.",
              "", "## kubesim's own figures", "",
              f"`{results['kubesim_bench']['argv']}` (its own kubesim, {results['kubesim_bench']['seconds']:.0f} s):",
              "", "```", results["kubesim_bench"]["output"].rstrip(), "```", ""]
    return "\n".join(lines)
