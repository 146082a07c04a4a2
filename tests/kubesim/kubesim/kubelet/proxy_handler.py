"""`pods/proxy` and `services/proxy`: HTTP to the container servers (the real apiserver's proxy REST).

- pods: `[scheme:]name[:port]`; the port is a number or a container port name, default the first declared
  container port (80 when none).
- services: `[scheme:]name[:port]`; the port is a Service port name or number (default: the only/first port).
  Each request goes to the next ready endpoint, round-robin, from the Endpoints object the endpoints controller
  maintains (the EndpointSlices when there is no Endpoints object, else the selector and ready pods), as the
  apiserver does. No ready endpoint: 503 `no endpoints available for service "<name>"`.
- NetworkPolicy: the proxy is a client outside the cluster (network.OUTSIDE_CLIENT_IP); a pod whose ingress
  rules do not admit it answers nothing: after the drop timeout, 503 `error trying to reach service: dial tcp
  <ip>:<port>: i/o timeout`.
- A pod whose container has no server (any image but kubesim/web and kubesim/java): 503
  `error trying to reach service: dial tcp <ip>:<port>: connect: connection refused`.
"""
from __future__ import annotations

import itertools

import aiohttp
from aiohttp import web

from kubesim import errors
from kubesim.kubelet.lookup import get_pod

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "authorization", "host", "content-length"}


def split_target(raw: str) -> tuple[str, str, str]:
    """`https:name:port` / `name:port` / `name` -> (scheme, name, port)."""
    parts = raw.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", raw, ""


def resolve_pod_port(pod: dict, port: str) -> int:
    containers = pod["spec"].get("containers") or []
    if not port:
        for c in containers:
            for p in c.get("ports") or []:
                return int(p["containerPort"])
        return 80
    if port.isdigit():
        return int(port)
    for c in containers:
        for p in c.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
    raise errors.bad_request(f'no port named "{port}" in pod {pod["metadata"]["name"]}')


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def service_port(service: dict, port: str) -> dict | None:
    """The Service port named or numbered `port` (default: the first)."""
    ports = service["spec"].get("ports") or []
    if not port:
        return ports[0] if ports else None
    for p in ports:
        if p.get("name") == port or str(p.get("port")) == port:
            return p
    return None


def ready_endpoints(store, service: dict, port: str) -> list[tuple[str, int, str]]:
    """[(ip, target port, pod name)] of the ready endpoints, in a stable order."""
    namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
    svc_port = service_port(service, port)
    if svc_port is None:
        return []
    port_name = svc_port.get("name", "")
    out: list[tuple[str, int, str]] = []
    endpoints = store.get("endpoints", namespace, name)
    if endpoints is not None:
        for subset in endpoints.get("subsets") or []:
            match = [p for p in subset.get("ports") or [] if p.get("name", "") == port_name]
            if not match:
                continue
            for addr in subset.get("addresses") or []:
                out.append((addr["ip"], int(match[0]["port"]), (addr.get("targetRef") or {}).get("name", "")))
        return sorted(set(out))
    slices = [s for s in store.list("endpointslices.discovery.k8s.io", namespace)
              if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == name]
    if slices:
        for s in slices:
            match = [p for p in s.get("ports") or [] if (p.get("name") or "") == port_name]
            if not match:
                continue
            for ep in s.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                for ip in ep.get("addresses") or []:
                    out.append((ip, int(match[0]["port"]), (ep.get("targetRef") or {}).get("name", "")))
        return sorted(set(out))
    selector = service["spec"].get("selector")
    if not selector:
        return []
    for pod in store.list("pods", namespace):
        labels = pod["metadata"].get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pod["metadata"].get("deletionTimestamp") or not _ready(pod):
            continue
        target = svc_port.get("targetPort", svc_port.get("port"))
        try:
            number = int(target) if not isinstance(target, str) or target.isdigit() else \
                resolve_pod_port(pod, target)
        except errors.ApiError:
            continue
        out.append((ip, number, pod["metadata"]["name"]))
    return sorted(set(out))


class ProxyHandler:
    def __init__(self, cluster, kubelet):
        self.cluster = cluster
        self.kubelet = kubelet
        self._round_robin: dict[tuple, itertools.count] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=False,
                                                  timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        return self._session

    # ---------------------------------------------------------------------------------------------- pods
    async def pod_proxy(self, request: web.BaseRequest, ctx) -> web.StreamResponse:
        _scheme, name, port = split_target(ctx.name)
        pod = get_pod(self.cluster.store, ctx.namespace, name)
        number = resolve_pod_port(pod, port)
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise errors.service_unavailable(f"address not allowed")
        return await self._forward(request, ctx, pod, ip, number)

    # ---------------------------------------------------------------------------------------------- services
    async def service_proxy(self, request: web.BaseRequest, ctx) -> web.StreamResponse:
        _scheme, name, port = split_target(ctx.name)
        store = self.cluster.store
        service = store.get("services", ctx.namespace, name)
        if service is None:
            raise errors.not_found("services", name)
        endpoints = ready_endpoints(store, service, port)
        if not endpoints:
            raise errors.service_unavailable(f'no endpoints available for service "{name}"')
        counter = self._round_robin.setdefault((ctx.namespace, name, port), itertools.count())
        ip, target_port, pod_ref = endpoints[next(counter) % len(endpoints)]
        pod = store.get("pods", ctx.namespace, pod_ref) if pod_ref else None
        return await self._forward(request, ctx, pod, ip, target_port)

    # ---------------------------------------------------------------------------------------------- forwarding
    async def _forward(self, request: web.BaseRequest, ctx, pod: dict | None, ip: str, port: int):
        if self.kubelet.network is not None:   # the API server is a client outside the cluster: ingress applies
            await self.kubelet.network.admit_from_outside(ip, port)
        sandbox = self.kubelet.sandbox_by_ip(ip)
        server = sandbox.server_for_port(port) if sandbox else None
        try:
            if server is None:
                raise ConnectionRefusedError
            local = await server.listen()
        except OSError:
            raise errors.service_unavailable(
                f"error trying to reach service: dial tcp {ip}:{port}: connect: connection refused") from None
        path = ctx.path_rest or "/"
        if not path.startswith("/"):
            path = "/" + path
        url = f"http://127.0.0.1:{local}{path}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = f"{ip}:{port}"
        body = await request.read() if request.body_exists else None
        try:
            async with self._client().request(request.method, url, params=request.query, headers=headers,
                                              data=body, allow_redirects=False) as upstream:
                payload = await upstream.read()
                out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=upstream.status, body=payload, headers=out_headers)
        except aiohttp.ClientError as exc:
            raise errors.service_unavailable(f"error trying to reach service: {exc}") from None
