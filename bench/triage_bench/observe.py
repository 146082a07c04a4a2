"""What the harness watches while an approach runs: the pod's IP in the Endpoints and EndpointSlices (a watch, so
the moment it left is known to the millisecond), and the Service proxy under a bounded loop of requests."""
from __future__ import annotations

import json
import threading
import time

from kubernetes import client


class AddressWatch:
    """Watches every Endpoints and EndpointSlice object of a namespace; `gone_at` is the time (time.time()) from
    which the IP was in none of them, both kinds together."""

    KINDS = ("endpoints", "endpointslices")

    def __init__(self, api: client.ApiClient, namespace: str, ip: str):
        self.api, self.namespace, self.ip = api, namespace, ip
        self.core = client.CoreV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)
        self.objects: dict[str, dict[str, set[str]]] = {k: {} for k in self.KINDS}
        self.lock = threading.Lock()
        self.synced = {k: threading.Event() for k in self.KINDS}
        self.gone = threading.Event()
        self.gone_at: float | None = None
        self._stop = threading.Event()
        self._responses = []
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in self.KINDS]

    @staticmethod
    def _addresses(kind: str, obj: dict) -> set[str]:
        if kind == "endpoints":
            return {a["ip"] for s in obj.get("subsets") or [] for key in ("addresses", "notReadyAddresses")
                    for a in s.get(key) or []}
        return {ip for e in obj.get("endpoints") or [] for ip in e.get("addresses") or []}

    def _lister(self, kind: str):
        if kind == "endpoints":
            return self.core.list_namespaced_endpoints
        return self.discovery.list_namespaced_endpoint_slice

    def _present(self) -> bool:
        return any(self.ip in ips for k in self.KINDS for ips in self.objects[k].values())

    def _update(self, kind: str, name: str, ips: set[str] | None) -> None:
        with self.lock:
            if ips is None:
                self.objects[kind].pop(name, None)
            else:
                self.objects[kind][name] = ips
            if all(e.is_set() for e in self.synced.values()) and not self.gone.is_set() and not self._present():
                self.gone_at = time.time()
                self.gone.set()

    def _run(self, kind: str) -> None:
        lister = self._lister(kind)
        listed = json.loads(lister(self.namespace, _preload_content=False).data)
        with self.lock:
            for obj in listed["items"]:
                self.objects[kind][obj["metadata"]["name"]] = self._addresses(kind, obj)
        self.synced[kind].set()
        resp = lister(self.namespace, watch=True, resource_version=listed["metadata"]["resourceVersion"],
                      timeout_seconds=300, _preload_content=False)
        self._responses.append(resp)
        buf = b""
        try:
            for chunk in resp.stream(4096, decode_content=False):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR" or "metadata" not in obj:
                        continue
                    name = obj["metadata"]["name"]
                    self._update(kind, name, None if event["type"] == "DELETED" else self._addresses(kind, obj))
                if self._stop.is_set():
                    return
        except Exception:  # noqa: BLE001 (the stream is cut on purpose by stop())
            return

    def start(self, timeout: float = 30) -> None:
        for t in self._threads:
            t.start()
        for e in self.synced.values():
            if not e.wait(timeout):
                raise RuntimeError("the Endpoints/EndpointSlice watch did not sync")
        with self.lock:
            if not self._present():
                raise RuntimeError(f"IP {self.ip} is in no Endpoints/EndpointSlice before the isolation")

    def stop(self) -> None:
        self._stop.set()
        for resp in self._responses:
            try:
                resp.shutdown() if hasattr(resp, "shutdown") else resp.close()
                resp.release_conn()
            except Exception:  # noqa: BLE001
                pass


class ProxyLoad:
    """A bounded loop of GETs through the Service proxy (loopback only): at most `max_requests`, for at most
    `max_seconds`, `interval` seconds apart. Counts what failed (any answer but 200, or no answer)."""

    def __init__(self, api: client.ApiClient, namespace: str, service: str, interval: float = 0.02,
                 max_requests: int = 20000, max_seconds: float = 180):
        self.core = client.CoreV1Api(api)
        self.namespace, self.service = namespace, service
        self.interval, self.max_requests, self.max_seconds = interval, max_requests, max_seconds
        self.results: list[tuple[float, bool, str]] = []   # (time, ok, pod or error)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        for _ in range(self.max_requests):
            if self._stop.is_set() or time.monotonic() > end:
                return
            started = time.time()
            try:
                resp = self.core.connect_get_namespaced_service_proxy_with_path(
                    f"{self.service}:80", self.namespace, "json", _preload_content=False, _request_timeout=5)
                body = json.loads(resp.data)
                self.results.append((started, True, body.get("pod", "")))
            except Exception as err:  # noqa: BLE001 (a lost request, whatever the reason)
                self.results.append((started, False, getattr(err, "reason", None) or type(err).__name__))
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def summary(self, start: float, end: float, isolated_pod: str, cut: float | None) -> dict:
        """Requests sent in [start, end]: total, lost, and answered by the isolated pod after its IP left."""
        window = [r for r in self.results if start <= r[0] <= end]
        lost = sum(1 for r in window if not r[1])
        leaked = sum(1 for r in window if r[1] and r[2] == isolated_pod and cut is not None and r[0] > cut + 0.5)
        return {"sent": len(window), "lost": lost, "leaked": leaked}
