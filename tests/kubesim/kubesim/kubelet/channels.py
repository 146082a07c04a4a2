"""The websocket channel protocols of exec/attach/port-forward (spec §7).

Every frame is `[channel byte] + payload`. Versions:

- ``v5.channel.k8s.io``: v4 plus the CLOSE signal `[255, channel]` (stdin EOF from the client);
- ``v4.channel.k8s.io`` / ``channel.k8s.io``: binary frames. v4 writes the exit Status as JSON on channel 3; the
  unversioned protocol writes only the error message text there;
- ``v4.base64.channel.k8s.io`` / ``base64.channel.k8s.io``: text frames, the channel as an ASCII digit and the
  payload base64-encoded.
"""
from __future__ import annotations

import base64
import json

from aiohttp import WSMsgType, web

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"

EXEC_PROTOCOLS = (V5, V4, V4_BASE64, V1, V1_BASE64)
# The kubelet's port-forward speaks only v4 (and the unversioned one); a client offering v5 first gets v4 (§7).
PORTFORWARD_PROTOCOLS = (V4, V4_BASE64, V1, V1_BASE64)


def is_websocket_request(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket" and \
        "upgrade" in request.headers.get("Connection", "").lower()


class ChannelSocket:
    """A negotiated channel websocket."""

    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.protocol = ws.ws_protocol or ""
        self.base64 = self.protocol.endswith("base64.channel.k8s.io") or self.protocol == V1_BASE64
        self.closed = False

    @property
    def version(self) -> int:
        if self.protocol == V5:
            return 5
        if self.protocol.startswith("v4."):
            return 4
        return 1

    async def send(self, channel: int, data: bytes) -> None:
        if self.closed or self.ws.closed:
            return
        try:
            if self.base64:
                await self.ws.send_str(str(channel) + base64.b64encode(data).decode())
            else:
                await self.ws.send_bytes(bytes([channel]) + data)
        except (ConnectionError, RuntimeError):
            self.closed = True

    async def send_close_signal(self, channel: int) -> None:
        if self.version == 5:
            await self.send(CLOSE, bytes([channel]))

    async def send_status(self, status: dict) -> None:
        """The exit status on channel 3 (v4/v5: JSON without kind/apiVersion; v1: the message text only)."""
        if self.version >= 4:
            await self.send(ERROR, json.dumps(status, separators=(",", ":")).encode())
        elif status.get("status") != "Success":
            await self.send(ERROR, status.get("message", "").encode())

    async def receive(self):
        """The next (channel, payload) from the client, or None when the socket closed."""
        while True:
            msg = await self.ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return None
            if msg.type == WSMsgType.BINARY:
                data = msg.data
            elif msg.type == WSMsgType.TEXT:
                text = msg.data
                if self.base64:
                    if not text:
                        continue
                    try:
                        data = bytes([int(text[0])]) + base64.b64decode(text[1:])
                    except ValueError:
                        continue
                else:
                    data = text.encode("utf-8", "surrogateescape")
            else:
                continue
            if not data:
                continue
            return data[0], data[1:]

    async def close(self) -> None:
        self.closed = True
        if not self.ws.closed:
            try:
                await self.ws.close()
            except (ConnectionError, RuntimeError):
                pass


async def upgrade(request: web.BaseRequest, protocols) -> ChannelSocket:
    ws = web.WebSocketResponse(protocols=protocols, autoping=True, max_msg_size=0)
    await ws.prepare(request)
    return ChannelSocket(ws)
