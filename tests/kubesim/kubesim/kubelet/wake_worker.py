"""The shape the scheduler and the kubelet share: store callbacks must not write (DESIGN.md), so they only note
what changed and wake one worker task, which does the writes."""
from __future__ import annotations

import asyncio


class WakeWorker:
    """One task that sleeps until `wake()` and then runs `work()`; wakes that arrive during `work()` are kept,
    so nothing noted meanwhile is missed."""

    def __init__(self):
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task | None = None

    def wake(self) -> None:
        self._wakeup.set()

    async def work(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def start_worker(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._loop())
        self._wakeup.set()   # a first pass over what was noted before the loop ran

    async def stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
            self._worker = None

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self.work()
