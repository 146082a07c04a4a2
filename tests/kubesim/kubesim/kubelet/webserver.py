"""The HTTP server of the kubesim/web and kubesim/java images (see images.py).

One aiohttp low-level server per (container instance, containerPort), listening on 127.0.0.1 with an ephemeral
port. It is opened lazily, on the first port-forward or proxy connection, so idle pods hold no socket.
"""
from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web


# kubesim/java's path that makes the simulated JVM run out of memory (see images.py): what a leak does to a real
# service after hours, on demand, so that the seed-004 story can be told in a test or a demo.
OOM_PATH = "/kubesim/oom"


class ContainerHttpServer:
    def __init__(self, container_port: int, describe, log, on_oom=None):
        """`describe()` returns the dict the server reports (pod, namespace, image, ...); `log(line)` appends to
        the container log; `on_oom()` (kubesim/java only) is called after answering a request for OOM_PATH."""
        self.container_port = container_port
        self._describe = describe
        self._log = log
        self._on_oom = on_oom
        self._server: asyncio.base_events.Server | None = None
        self._lock = asyncio.Lock()
        self.local_port: int | None = None
        self.closed = False

    async def listen(self) -> int:
        async with self._lock:
            if self.closed:
                raise ConnectionRefusedError("container stopped")
            if self._server is None:
                handler = web.Server(self._handle)
                loop = asyncio.get_running_loop()
                self._server = await loop.create_server(handler, "127.0.0.1", 0)
                self.local_port = self._server.sockets[0].getsockname()[1]
            return self.local_port

    async def close(self) -> None:
        self.closed = True
        if self._server is not None:
            self._server.close()
            server, self._server = self._server, None
            try:
                await asyncio.wait_for(server.wait_closed(), 1)
            except (asyncio.TimeoutError, Exception):
                pass

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        info = dict(self._describe())
        path = request.path
        if request.body_exists:
            await request.read()
        status = 200
        if path == OOM_PATH and self._on_oom is not None:
            body, ctype, status = "java.lang.OutOfMemoryError: unable to create native thread\n", "text/plain", 500
            # After the answer went out: the JVM's end must not take the request that caused it down with it.
            asyncio.get_running_loop().call_later(0.05, self._on_oom)
        elif path == "/healthz":
            body, ctype = "ok\n", "text/plain"
        elif path == "/json" or "application/json" in request.headers.get("Accept", ""):
            info.update(path=request.path_qs, method=request.method)
            body, ctype = json.dumps(info) + "\n", "application/json"
        else:
            body = (f"pod={info['pod']} namespace={info['namespace']} image={info['image']} tag={info['tag']}\n")
            ctype = "text/plain"
        response = web.Response(text=body, content_type=ctype, status=status)
        response.headers["X-Kubesim-Pod"] = info["pod"]
        peer = request.transport.get_extra_info("peername") if request.transport else None
        client = peer[0] if peer else "-"
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        agent = request.headers.get("User-Agent", "-")
        self._log(f'{client} - - [{stamp}] "{request.method} {request.path_qs} HTTP/{request.version.major}.'
                  f'{request.version.minor}" {status} {len(body.encode())} "-" "{agent}"\n')
        return response
