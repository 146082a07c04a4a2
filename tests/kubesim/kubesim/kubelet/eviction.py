"""The kubelet's local-storage eviction (eviction_manager.go localStorageEviction), every `eviction_interval`
seconds (ClusterOptions extra, default 2 s; the kubelet's housekeeping is 10 s).

For each pod that has something to check, in the kubelet's order, the first limit passed evicts it:

1. an emptyDir (on disk) with a `sizeLimit`, whose directory holds more than that:
   ``Usage of EmptyDir volume "NAME" exceeds the limit "SIZE". ``;
2. the pod's ephemeral-storage limit (the sum of its containers' `limits.ephemeral-storage`, when any sets one)
   against its containers' writable layers plus its emptyDirs on disk:
   ``Pod ephemeral local storage usage exceeds the total limit of containers SIZE. ``;
3. a container's `limits.ephemeral-storage` against its writable layer:
   ``Container NAME exceeded its local ephemeral storage limit "SIZE". ``.

Usage is what `du` counts (allocated blocks), walked in a thread, never across a mount point (the image's
directories, volumes, /proc are mounts in the root: only the container's own files count). Container logs are
kept in kubesim's memory and not counted. Evicting is evictPod: the containers are killed at once (grace 0),
the pod becomes `Failed` with reason `Evicted` and that message, a DisruptionTarget condition (reason
TerminationByKubelet) and a Warning event `Evicted`; it is never restarted, and it stays until deleted.
"""
from __future__ import annotations

import asyncio
import logging
import os

from kubesim.kubelet.isolation import mounts_under
from kubesim.kubelet.volumes import quantity_bytes

log = logging.getLogger("kubesim.kubelet.eviction")

DEFAULT_INTERVAL = 2.0


def used_bytes(path: str, skip: set[str]) -> int:
    """Allocated bytes of the files under `path`, not descending into the directories in `skip`."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.path not in skip:
                            stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
    return total


def writable_layer_bytes(directory: str) -> int:
    """A container instance's own files: its root and its /etc overlay's upper layer, without what is mounted."""
    directory = os.path.realpath(directory)
    rootfs = os.path.join(directory, "rootfs")
    return used_bytes(directory, {p for p in mounts_under(directory) if p != rootfs})


def disk_empty_dirs(pod: dict) -> dict[str, str]:
    """{name: sizeLimit or ""} of the pod's emptyDir volumes on disk (a memory one is a tmpfs of its size)."""
    found = {}
    for volume in pod["spec"].get("volumes") or []:
        if "emptyDir" in volume and (volume.get("emptyDir") or {}).get("medium") != "Memory":
            found[volume.get("name", "")] = str((volume.get("emptyDir") or {}).get("sizeLimit") or "")
    return found


def container_limits(pod: dict) -> dict[str, str]:
    return {c["name"]: str(((c.get("resources") or {}).get("limits") or {}).get("ephemeral-storage"))
            for c in pod["spec"].get("containers") or []
            if ((c.get("resources") or {}).get("limits") or {}).get("ephemeral-storage") is not None}


def watched(pod: dict) -> bool:
    return bool(container_limits(pod)) or any(disk_empty_dirs(pod).values())


def format_quantity(total: int) -> str:
    """resource.Quantity's String() of a sum of binary quantities: the largest exact binary suffix."""
    for suffix, size in (("Ei", 1 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20),
                         ("Ki", 1 << 10)):
        if total and total % size == 0:
            return f"{total // size}{suffix}"
    return str(total)


def verdict(pod: dict, layers: dict[str, int], volumes: dict[str, int]) -> str | None:
    """The eviction message for this pod's measured usage, or None."""
    empty_dirs = disk_empty_dirs(pod)
    for name, limit in empty_dirs.items():
        size = quantity_bytes(limit) if limit else None
        if size and volumes.get(name, 0) > size:
            return f'Usage of EmptyDir volume "{name}" exceeds the limit "{limit}". '
    limits = container_limits(pod)
    if limits:
        total_limit = sum(quantity_bytes(v) or 0 for v in limits.values())
        usage = sum(layers.values()) + sum(volumes.get(name, 0) for name in empty_dirs)
        if usage > total_limit:
            shown = next(iter(limits.values())) if len(limits) == 1 else format_quantity(total_limit)
            return f"Pod ephemeral local storage usage exceeds the total limit of containers {shown}. "
    for name, limit in limits.items():
        size = quantity_bytes(limit)
        if size is not None and layers.get(name, 0) > size:
            return f'Container {name} exceeded its local ephemeral storage limit "{limit}". '
    return None


class StorageEviction:
    """The periodic check, run by the Kubelet (start/stop)."""

    def __init__(self, kubelet, interval: float):
        self.kubelet = kubelet
        self.interval = interval
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:   # one bad measurement must not end the manager
                log.exception("kubelet: local storage eviction check failed")

    async def check(self) -> None:
        kubelet = self.kubelet
        for sandbox in list(kubelet.sandboxes.values()):
            if sandbox.terminating or sandbox.evicted:
                continue
            pod = kubelet.store.get("pods", sandbox.namespace, sandbox.name)
            if pod is None or pod["metadata"].get("uid") != sandbox.uid or not watched(pod):
                continue
            layers_dirs = {slot.name: slot.current.directory for slot in sandbox.slots.values()
                           if slot.kind == "container" and slot.current is not None and slot.current.running
                           and slot.current.directory}
            volume_dirs = {name: path for name, (path, _ro) in (sandbox.volume_paths or {}).items()
                           if name in disk_empty_dirs(pod)}
            layers, volumes = await asyncio.to_thread(self._measure, layers_dirs, volume_dirs)
            message = verdict(pod, layers, volumes)
            if message and not sandbox.evicted and sandbox.uid == pod["metadata"].get("uid"):
                kubelet.evict(pod, sandbox, message)

    @staticmethod
    def _measure(layers_dirs: dict[str, str], volume_dirs: dict[str, str]) -> tuple[dict, dict]:
        return ({name: writable_layer_bytes(d) for name, d in layers_dirs.items()},
                {name: used_bytes(os.path.realpath(d), set(mounts_under(d)) - {os.path.realpath(d)})
                 for name, d in volume_dirs.items()})
