"""`pods/attach`: the container's output from now on, over the exec channel protocol (spec §7).

stdin frames go to the container's stdin when it runs its command with `stdin: true`; the simulated processes
do not read stdin, so there they are accepted and dropped. The stream ends, with the Success status on channel
3, when the container stops; a client that goes away just detaches.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from kubesim import errors
from kubesim.kubelet import channels
from kubesim.kubelet.channels import ERROR, STDERR, STDOUT
from kubesim.kubelet.exec_handler import drop_later, should_drop
from kubesim.kubelet.lookup import query_bool, resolve_container
from kubesim.kubelet.pod_handler import PodHandler


class AttachHandler(PodHandler):
    async def __call__(self, request: web.BaseRequest, ctx) -> web.StreamResponse:
        pod = self.scheduled_pod(ctx)
        container = resolve_container(pod, ctx.query.get("container"))
        stdin = query_bool(ctx.query, "stdin")
        stdout = query_bool(ctx.query, "stdout", True)
        stderr = query_bool(ctx.query, "stderr", True)
        if not (stdin or stdout or stderr):
            raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
        sandbox = self.kubelet.sandbox_for(ctx.namespace, ctx.name, pod["metadata"].get("uid"))
        slot = sandbox.slots.get(container) if sandbox else None
        if slot is None or slot.current is None or not slot.current.running:
            raise errors.bad_request(f'unable to upgrade connection: container not found ("{container}")')
        if not channels.is_websocket_request(request):
            raise errors.bad_request("Upgrade request required")
        log = slot.current.log
        sock = await channels.upgrade(request, channels.EXEC_PROTOCOLS)
        await sock.send(STDOUT if stdout else STDERR if stderr else ERROR, b"")
        decision = should_drop(self.cluster, ctx)
        dropper = asyncio.ensure_future(drop_later(request, decision, lambda: None)) if decision else None
        process = slot.current.process
        target = process.proc.stdin if stdin and process is not None else None
        client = asyncio.ensure_future(self._drain_client(sock, target))
        try:
            cursor = log.end
            while not client.done():
                for _, line in log.lines_from(cursor):
                    if stdout:
                        await sock.send(STDOUT, line)
                cursor = log.end
                if log.closed:
                    await sock.send_status({"metadata": {}, "status": "Success"})
                    break
                waiter = asyncio.ensure_future(log.wait_for_change(1.0))
                await asyncio.wait({waiter, client}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
        finally:
            for task in (client, dropper):
                if task is not None and not task.done():
                    task.cancel()
            await sock.close()
        return sock.ws

    @staticmethod
    async def _drain_client(sock: channels.ChannelSocket, stdin) -> None:
        while (frame := await sock.receive()) is not None:
            channel, data = frame
            if channel == channels.STDIN and stdin is not None and data and not stdin.is_closing():
                try:
                    stdin.write(data)
                    await stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    stdin = None
