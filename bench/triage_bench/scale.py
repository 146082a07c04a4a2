"""What an isolation's requests cost as the namespace grows: each read (get/list) an approach sent during a scale
run is sent again by the harness, on the same kubesim and the same namespace, right after the run; its server
time and response size say which requests make a big namespace slow. Watches are not replayed: their time is
spent waiting for the controllers, not in the server."""
from __future__ import annotations

import json
import statistics
import time
import urllib.parse

READS = ("get", "list")
REPLAYS = 3


def _headers(api) -> dict:
    headers = {"Accept": "application/json"}
    for auth in api.configuration.auth_settings().values():
        if auth.get("in") == "header" and auth.get("value"):
            headers[auth["key"]] = auth["value"]
    return headers


def _label(call: dict) -> str:
    query = call["query"]
    what = call["resource"] + (f"/{call['subresource']}" if call["subresource"] else "")
    if call["verb"] == "get":
        return f"get {what}"
    selectors = [k for k in ("labelSelector", "fieldSelector") if query.get(k)]
    return f"list {what}" + (f" ({', '.join(selectors)})" if selectors else " (all)")


def replay(api, calls: list[dict]) -> list[dict]:
    """Send each read of `calls` again REPLAYS times as the harness; one row per distinct request (label), in the
    order first sent: count in the run, median seconds of one (request to last byte), median seconds of parsing its
JSON in Python (what a module does with it), response bytes and items."""
    rows: dict[str, dict] = {}
    headers = _headers(api)
    for call in calls:
        if call["verb"] not in READS or not call["path"].startswith(("/api/", "/apis/")):
            continue
        label = _label(call)
        row = rows.setdefault(label, {"request": label, "count": 0, "seconds": [], "parse_seconds": [],
                                      "bytes": 0, "items": None})
        row["count"] += 1
        if row["seconds"]:
            continue   # the same request again (a poll, a re-read): measured once
        query = {k: v for k, v in call["query"].items() if k not in ("watch", "timeoutSeconds")}
        url = api.configuration.host + call["path"] + ("?" + urllib.parse.urlencode(query) if query else "")
        for _ in range(REPLAYS):
            t0 = time.perf_counter()
            resp = api.call_api("GET", url, header_params=headers)
            data = resp.read()
            row["seconds"].append(time.perf_counter() - t0)
            row["bytes"] = len(data)
            t0 = time.perf_counter()
            body = json.loads(data)
            row["parse_seconds"].append(time.perf_counter() - t0)
            if isinstance(body.get("items"), list):
                row["items"] = len(body["items"])
    out = []
    for row in rows.values():
        for k in ("seconds", "parse_seconds"):
            row[k] = statistics.median(row[k]) if row[k] else None
        out.append(row)
    return out


def breakdown(api, runs: list[dict]) -> dict:
    """The replay of one approach's last successful scale run, with the audit's count of watches."""
    ok = [r for r in runs if r.get("rc") == 0 and r.get("calls")]
    if not ok:
        return {}
    calls = ok[-1]["calls"]
    rows = replay(api, calls)
    watches = [c for c in calls if c["verb"] == "watch"]
    return {"reads": rows, "watches": len(watches),
            "read_seconds": sum((r["seconds"] or 0) * r["count"] for r in rows),
            "read_bytes": sum(r["bytes"] * r["count"] for r in rows)}
