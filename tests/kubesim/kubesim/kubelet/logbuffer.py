"""The log of one container instance: timestamped lines, bounded, with waiters for `follow`."""
from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import datetime, timezone

# Bounded like the kubelet's log rotation (containerLogMaxSize 10Mi): the oldest lines are dropped.
MAX_BYTES = 10 * 1024 * 1024


def rfc3339nano(ts: float) -> str:
    """The timestamp format of `kubectl logs --timestamps` (RFC3339Nano, UTC)."""
    whole = int(ts)
    nanos = int(round((ts - whole) * 1e9))
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    base = datetime.fromtimestamp(whole, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


class LogBuffer:
    def __init__(self):
        self.lines: deque[tuple[float, bytes]] = deque()
        self.size = 0
        self.dropped = 0          # lines trimmed from the front: absolute index of lines[0]
        self.closed = False
        self._changed = asyncio.Event()

    def write(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        now = time.time()
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                line += b"\n"
            self.lines.append((now, line))
            self.size += len(line)
        while self.size > MAX_BYTES and self.lines:
            self.size -= len(self.lines.popleft()[1])
            self.dropped += 1
        self._wake()

    def close(self) -> None:
        """The container instance stopped: followers end after the last line."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_change(self, timeout: float | None = None) -> None:
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def select(self, *, since: float | None = None, tail: int | None = None) -> list[tuple[float, bytes]]:
        lines = [entry for entry in self.lines if since is None or entry[0] >= since]
        if tail is not None:
            lines = lines[len(lines) - tail:] if tail < len(lines) else lines
            if tail == 0:
                lines = []
        return lines

    @property
    def end(self) -> int:
        """Absolute index after the last line (for followers)."""
        return self.dropped + len(self.lines)

    def lines_from(self, index: int) -> list[tuple[float, bytes]]:
        start = max(index - self.dropped, 0)
        return [self.lines[i] for i in range(start, len(self.lines))]
