"""The pod network: connections from a pod to another pod, a Service or an address outside the cluster, and from
outside the cluster into a pod, allowed or dropped as the cluster's NetworkPolicies say (netpol.py decides).

kubesim has no network namespaces: a container process shares the machine's network, and a pod IP
(10.244.<node>.x) is not an address of this machine. So pod traffic goes through kubesim:

- ``kubesim-curl`` (every simulated image carries it, images.py) connects to this module's Unix socket (an
  abstract name, unique to this kubesim) and asks for ``host:port``. The source pod is the one whose process asked:
  the peer's pid (SO_PEERCRED), its session (every container and exec process is a session leader, process.py)
  and the pod the kubelet started that session for. A process cannot claim another pod's address.
- The destination: a pod IP; a Service ClusterIP or DNS name (``svc``, ``svc.ns``, ``svc.ns.svc``,
  ``svc.ns.svc.cluster.local``), translated to one ready endpoint round-robin as kube-proxy does before the
  CNI's policy sees the packet; any other address is outside the cluster. A name lookup is a UDP 53 packet to
  the cluster DNS (DNS_POD): the source's egress must allow it, or the lookup times out (unresolved).
- Allowed, to a pod: the bytes go to the container's server on that port (kubesim/web, kubesim/java); nothing
  listening there is "connection refused". Allowed, outside the cluster: kubesim plays the outside host (an HTTP
  answer ``outside host=<ip> port=<port>``). A pod-network or Service address nobody has: dropped.
- Dropped (NetworkPolicy, or nobody at that address): the client sees nothing for the drop timeout
  (``network_drop_timeout``, default 1 s, bounded by the client's own timeout), then a timeout, as with a CNI
  that drops packets. Each drop is logged with the policy decision.
- From outside the cluster: the API server's pod and Service proxy (proxy_handler.py) reach a pod as a client
  at OUTSIDE_CLIENT_IP, subject to the destination pod's ingress rules (ipBlock sees that address). Port-forward
  is not subject to NetworkPolicy: it enters the pod's network namespace through the kubelet, as on most CNIs.
"""
from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import os
import socket
import struct
import uuid

from kubesim import errors, netpol
from kubesim.kubelet.kubelet import _option
from kubesim.kubelet.proxy_handler import ready_endpoints

log = logging.getLogger("kubesim.network")

OUTSIDE_CLIENT_IP = "203.0.113.10"   # TEST-NET-3: the address the API server proxy's traffic comes from
POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")
SERVICE_NETWORK = ipaddress.ip_network("10.96.0.0/12")
DEFAULT_DROP_TIMEOUT = 1.0
CLUSTER_DOMAIN = "cluster.local"
# The cluster DNS server a pod's name lookups go to (UDP 53), as kubeadm and kind deploy CoreDNS. It is not a
# pod of the store (kubesim answers the lookups itself), but a lookup needs the source pod's egress to allow it,
# as a real lookup does: a pod whose egress is denied cannot resolve names.
DNS_POD_IP = "10.244.0.10"
DNS_POD = {"metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
           "spec": {"containers": [{"name": "coredns", "ports": [
               {"name": "dns", "containerPort": 53, "protocol": "UDP"},
               {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
               {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}]}]}}


class Unresolved(Exception):
    pass


class Refused(Exception):
    pass


class Dropped(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _is_ip(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        return False


class PodNetwork:
    """A cluster component: the Unix socket kubesim-curl talks to, and the decisions."""

    def __init__(self, cluster, kubelet):
        self.cluster = cluster
        self.store = cluster.store
        self.kubelet = kubelet
        self.socket_name = "kubesim-network-" + uuid.uuid4().hex   # abstract (Linux): no file, gone with kubesim
        self.drop_timeout = float(_option(cluster.options, "network_drop_timeout", DEFAULT_DROP_TIMEOUT))
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._round_robin: dict[tuple, itertools.count] = {}
        kubelet.network = self

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path="\0" + self.socket_name)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=2)

    # ---------------------------------------------------------------------------------------------- addresses
    def endpoint(self, ip: str) -> netpol.Endpoint:
        """The pod that has `ip` (running here), or an address without a pod."""
        sandbox = self.kubelet.sandbox_by_ip(ip)
        if sandbox is not None:
            pod = self.store.get("pods", sandbox.namespace, sandbox.name)
            if pod is not None and pod["metadata"].get("uid") == sandbox.uid:
                return netpol.Endpoint(ip, pod)
        return netpol.Endpoint(ip)

    def resolve(self, host: str, namespace: str) -> str:
        """An IPv4 literal as is; a Service name as CoreDNS answers it (ClusterIP; headless: a ready endpoint)."""
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            pass
        parts = host.rstrip(".").lower().split(".")
        suffix = ["svc"] + CLUSTER_DOMAIN.split(".")
        if len(parts) == 1:
            name, ns = parts[0], namespace
        elif len(parts) >= 2 and parts[2:] in ([], suffix[:1], suffix):
            name, ns = parts[0], parts[1]
        else:
            raise Unresolved(host)
        service = self.store.get("services", ns, name)
        if service is None:
            raise Unresolved(host)
        cluster_ip = (service.get("spec") or {}).get("clusterIP")
        if cluster_ip and cluster_ip != "None":
            return cluster_ip
        endpoints = ready_endpoints(self.store, service, "")
        if not endpoints:
            raise Unresolved(host)
        return endpoints[0][0]

    def _service_by_ip(self, ip: str) -> dict | None:
        for service in self.store.list("services"):
            if (service.get("spec") or {}).get("clusterIP") == ip:
                return service
        return None

    def _translate(self, ip: str, port: int, protocol: str) -> tuple[str, int, str | None]:
        """kube-proxy's DNAT: a ClusterIP:port becomes one ready endpoint's ip:targetPort (round-robin). Raises
        Refused when the Service has no such port or no ready endpoint (kube-proxy rejects those)."""
        if ipaddress.ip_address(ip) not in SERVICE_NETWORK:
            return ip, port, None
        service = self._service_by_ip(ip)
        if service is None:
            return ip, port, None
        meta = service["metadata"]
        name = f"{meta['namespace']}/{meta['name']}"
        ports = [p for p in (service.get("spec") or {}).get("ports") or []
                 if p.get("port") == port and (p.get("protocol") or "TCP") == protocol]
        if not ports:
            raise Refused(f"service {name} has no port {port}/{protocol}")
        endpoints = ready_endpoints(self.store, service, str(port))
        if not endpoints:
            raise Refused(f"service {name} has no ready endpoints")
        counter = self._round_robin.setdefault((meta["namespace"], meta["name"], port), itertools.count())
        target_ip, target_port, _pod = endpoints[next(counter) % len(endpoints)]
        return target_ip, target_port, name

    # ---------------------------------------------------------------------------------------------- decisions
    def verdict(self, source: netpol.Endpoint, destination: netpol.Endpoint, port: int,
                protocol: str = "TCP") -> netpol.Verdict:
        policies = self.store.list("networkpolicies.networking.k8s.io")
        if not policies:
            return netpol.Verdict(True, "no NetworkPolicy in the cluster")
        labels = {ns["metadata"]["name"]: ns["metadata"].get("labels") or {} for ns in self.store.list("namespaces")}
        labels.setdefault("kube-system", {"kubernetes.io/metadata.name": "kube-system"})
        return netpol.connection_allowed(policies, labels, source, destination, port, protocol)

    async def _drop(self, timeout: float | None, what: str, reason: str) -> None:
        log.info("network: dropped %s: %s", what, reason)
        wait = self.drop_timeout if timeout is None else max(0.0, min(timeout, self.drop_timeout))
        await asyncio.sleep(wait)
        raise Dropped(reason)

    async def admit_from_outside(self, ip: str, port: int) -> None:
        """The API server proxy's connection to a pod: raises 503 (after the drop timeout) when the pod's
        ingress rules do not admit OUTSIDE_CLIENT_IP on that port."""
        verdict = self.verdict(netpol.Endpoint(OUTSIDE_CLIENT_IP), self.endpoint(ip), port)
        if not verdict.allowed:
            try:
                await self._drop(None, f"{OUTSIDE_CLIENT_IP} -> {ip}:{port}/TCP", verdict.reason)
            except Dropped:
                raise errors.service_unavailable(
                    f"error trying to reach service: dial tcp {ip}:{port}: i/o timeout") from None

    async def dial(self, source: netpol.Endpoint, host: str, port: int, protocol: str = "TCP",
                   timeout: float | None = None):
        """Open a connection from `source` (a pod) to host:port. Returns (ip, reader, writer) for a pod's
        server, or (ip, None, None) for an outside host; raises Unresolved, Refused or Dropped."""
        if not _is_ip(host):
            lookup = self.verdict(source, netpol.Endpoint(DNS_POD_IP, DNS_POD), 53, "UDP")
            if not lookup.allowed:
                try:
                    await self._drop(timeout, f"{source.ip} -> {DNS_POD_IP}:53/UDP (lookup of {host})",
                                     lookup.reason)
                except Dropped:
                    raise Unresolved(host) from None
        ip = self.resolve(host, source.namespace or "default")
        what = f"{source.ip} -> {ip}:{port}/{protocol}"
        target_ip, target_port, service = self._translate(ip, port, protocol)
        if service:
            what += f" (service {service}: {target_ip}:{target_port})"
        destination = self.endpoint(target_ip)
        address = ipaddress.ip_address(target_ip)
        if destination.pod is None and (address in POD_NETWORK or address in SERVICE_NETWORK):
            await self._drop(timeout, what, "no pod or Service has this address")
        verdict = self.verdict(source, destination, target_port, protocol)
        if not verdict.allowed:
            await self._drop(timeout, what, verdict.reason)
        if destination.pod is None:
            return target_ip, None, None
        sandbox = self.kubelet.sandbox_by_ip(target_ip)
        server = sandbox.server_for_port(target_port) if sandbox else None
        if server is None or protocol != "TCP":
            raise Refused(f"nothing listens on {target_ip}:{target_port}")
        try:
            local = await server.listen()
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
        except OSError:
            raise Refused(f"nothing listens on {target_ip}:{target_port}") from None
        return target_ip, reader, writer

    # ---------------------------------------------------------------------------------------------- the socket
    def _source_of(self, writer: asyncio.StreamWriter) -> netpol.Endpoint | None:
        """The pod whose container or exec process is the peer of this connection."""
        sock = writer.get_extra_info("socket")
        try:
            pid, _uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                   struct.calcsize("3i")))
            session = os.getsid(pid)
        except (OSError, AttributeError):
            return None
        owner = getattr(self.kubelet.process_pids.get(session), "kubesim_owner", None)
        if owner is None:
            return None
        namespace, name, uid = owner
        sandbox = self.kubelet.sandbox_for(namespace, name, uid)
        pod = self.store.get("pods", namespace, name)
        if sandbox is None or pod is None or pod["metadata"].get("uid") != uid:
            return None
        return netpol.Endpoint(sandbox.ip, pod)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            await self._handle(reader, writer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("network: connection handler failed")
        finally:
            self._connections.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def reply(result: str, **extra) -> None:
            writer.write(json.dumps(dict(result=result, **extra)).encode() + b"\n")

        source = self._source_of(writer)
        line = await asyncio.wait_for(reader.readline(), 10)
        try:
            request = json.loads(line)
            host, port = str(request["host"]), int(request["port"])
            protocol = str(request.get("protocol") or "TCP").upper()
            timeout = float(request["timeout"]) if request.get("timeout") is not None else None
        except (ValueError, KeyError, TypeError):
            reply("error", message="bad request")
            return
        if source is None:
            reply("unreachable", message="this process is not a pod's: no pod network")
            await writer.drain()
            return
        try:
            ip, upstream_reader, upstream_writer = await self.dial(source, host, port, protocol, timeout)
        except Unresolved:
            reply("unresolved")
        except Refused as exc:
            reply("refused", message=str(exc))
        except Dropped as exc:
            reply("timeout", reason=exc.reason)
        else:
            reply("connected", ip=ip)
            await writer.drain()
            if upstream_writer is None:
                await self._outside_host(reader, writer, ip, port)
            else:
                await _splice(reader, writer, upstream_reader, upstream_writer)
            return
        await writer.drain()

    @staticmethod
    async def _outside_host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ip: str, port: int) -> None:
        """The host outside the cluster: answers one HTTP request; a plain TCP client just gets the connection."""
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = await asyncio.wait_for(reader.read(4096), 10)
                if not chunk:
                    return
                head += chunk
        except asyncio.TimeoutError:
            return
        body = f"outside host={ip} port={port}\n".encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()


async def _splice(client_reader, client_writer, upstream_reader, upstream_writer) -> None:
    async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while True:
                chunk = await src.read(65536)
                if not chunk:
                    break
                dst.write(chunk)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
        except (ConnectionError, OSError):
            pass

    try:
        await asyncio.gather(copy(client_reader, upstream_writer), copy(upstream_reader, client_writer))
    finally:
        upstream_writer.close()
