"""`pods/portforward` over websocket (spec §7; kubelet `cri/streaming/portforward/websocket.go`).

For port index i, channel 2i carries data and 2i+1 errors; the first frame on each is the port number as 2 bytes
little-endian. The data channel is connected to the container's real server (its 127.0.0.1 listener). When
nothing listens on the port, the error channel gets the kubelet's text. The websocket closes when every port's
connection has ended. kubectl's SPDY port-forward is not supported.
"""
from __future__ import annotations

import asyncio
import struct

from aiohttp import web

from kubesim import errors
from kubesim.kubelet import channels
from kubesim.kubelet.exec_handler import drop_later, should_drop
from kubesim.kubelet.pod_handler import PodHandler


def parse_ports(query) -> list[int]:
    ports: list[int] = []
    for key in ("ports", "port"):
        for value in query.getall(key, []):
            for part in value.split(","):
                part = part.strip()
                if not part:
                    continue
                try:
                    port = int(part)
                except ValueError:
                    raise errors.bad_request(f'unable to parse "{part}" as a port: invalid syntax') from None
                if not 0 < port < 65536:
                    raise errors.bad_request(f"port {port} must be > 0 and < 65536")
                ports.append(port)
    return ports


class PortForwardHandler(PodHandler):
    async def __call__(self, request: web.BaseRequest, ctx) -> web.StreamResponse:
        pod = self.scheduled_pod(ctx)
        phase = (pod.get("status") or {}).get("phase")
        if phase != "Running":
            raise errors.bad_request(f"unable to upgrade connection: pod not running (phase {phase})")
        ports = parse_ports(ctx.query)
        if not ports:
            raise errors.bad_request("at least 1 port must be specified")
        if not channels.is_websocket_request(request):
            raise errors.bad_request("Upgrade request required")
        sandbox = self.kubelet.sandbox_for(ctx.namespace, ctx.name, pod["metadata"].get("uid"))
        sock = await channels.upgrade(request, channels.PORTFORWARD_PROTOCOLS)
        writers: dict[int, asyncio.StreamWriter | None] = {}
        tasks = []
        try:
            for index, port in enumerate(ports):
                prefix = struct.pack("<H", port)
                await sock.send(2 * index, prefix)
                await sock.send(2 * index + 1, prefix)
            for index, port in enumerate(ports):
                writer = None
                server = sandbox.server_for_port(port) if sandbox else None
                try:
                    if server is None:
                        raise ConnectionRefusedError
                    local = await server.listen()
                    reader, writer = await asyncio.open_connection("127.0.0.1", local)
                except OSError:
                    sandbox_id = sandbox.sandbox_id if sandbox else ""
                    message = (f"error forwarding port {port} to pod {sandbox_id}, uid : failed to execute "
                               f"portforward in network namespace \"/var/run/netns/cni-{sandbox_id[:8]}\": "
                               f"failed to connect to localhost:{port} inside namespace \"{sandbox_id}\", IPv4: "
                               f"dial tcp4 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 "
                               f"[::1]:{port}: connect: connection refused ")
                    await sock.send(2 * index + 1, message.encode())
                    continue
                writers[index] = writer
                tasks.append(asyncio.ensure_future(self._pump_from_server(sock, index, reader)))
            client = asyncio.ensure_future(self._pump_from_client(sock, writers))
            decision = should_drop(self.cluster, ctx)
            if decision:
                tasks.append(asyncio.ensure_future(drop_later(request, decision, lambda: None)))
            if tasks:
                servers_done = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
                await asyncio.wait({client, servers_done}, return_when=asyncio.FIRST_COMPLETED)
                servers_done.cancel()
            else:
                await asyncio.wait({client}, timeout=1)
            client.cancel()
        finally:
            for task in tasks:
                task.cancel()
            for writer in writers.values():
                if writer is not None:
                    writer.close()
            await sock.close()
        return sock.ws

    @staticmethod
    async def _pump_from_server(sock: channels.ChannelSocket, index: int, reader: asyncio.StreamReader) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            await sock.send(2 * index, data)

    @staticmethod
    async def _pump_from_client(sock: channels.ChannelSocket, writers: dict) -> None:
        while True:
            frame = await sock.receive()
            if frame is None:
                return
            channel, data = frame
            if channel % 2 == 0 and data:
                writer = writers.get(channel // 2)
                if writer is not None:
                    writer.write(data)
                    try:
                        await writer.drain()
                    except ConnectionError:
                        pass
