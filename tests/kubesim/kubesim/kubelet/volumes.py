"""A pod's volumes on the node, as the kubelet's volume manager sets them up (one directory per volume under the
pod's directory, mounted into every container that names it).

- ``emptyDir``: a directory shared by the pod's containers for the pod's lifetime. ``medium: Memory`` is a tmpfs,
  sized by ``sizeLimit`` (else by the sum of the containers' memory limits, else tmpfs' default), so ``df`` in the
  container shows that size, as with the kubelet's memory-backed emptyDir (SizeMemoryBackedVolumes).
- ``configMap`` / ``secret``: the keys as files (``items`` with ``path``/``mode``, ``defaultMode``, default
  0644), read once when the pod's first container needs them; ``optional`` is honoured.
- anything else (hostPath, persistentVolumeClaim, projected, ...): an empty directory (not emulated; see
  docs/kubesim.md). A hostPath is never the machine's path.
"""
from __future__ import annotations

import base64
import os
import re

from kubesim.kubelet import sandbox_exec as sys_mount
from kubesim.kubelet.env import secret_data
from kubesim.kubelet.sandbox_exec import MS_NODEV, MS_NOSUID

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E|m)?$")
_FACTORS = {None: 1, "m": 0.001, "k": 10 ** 3, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12,
            "P": 10 ** 15, "E": 10 ** 18, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40,
            "Pi": 2 ** 50, "Ei": 2 ** 60}


def quantity_bytes(value) -> int | None:
    """A resource.Quantity as bytes (rounded up), or None when it does not parse."""
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return None
    amount = float(m.group(1)) * _FACTORS[m.group(2)]
    return int(-(-amount // 1))


class VolumeError(ValueError):
    """A volume cannot be set up (a missing ConfigMap or Secret that is not optional): the message is the
    kubelet's FailedMount event text."""


def _memory_limit_total(pod: dict) -> int | None:
    total = 0
    for c in pod["spec"].get("containers") or []:
        limit = quantity_bytes(((c.get("resources") or {}).get("limits") or {}).get("memory", ""))
        if limit is None:
            return None
        total += limit
    return total or None


def _project(store, pod: dict, kind: str, source: dict, target: str) -> None:
    namespace = pod["metadata"]["namespace"]
    name = source.get("name" if kind == "configmaps" else "secretName", "")
    obj = store.get(kind, namespace, name)
    if obj is None:
        if source.get("optional"):
            return
        what = "configmap" if kind == "configmaps" else "secret"
        raise VolumeError(f'{what} "{name}" not found')
    if kind == "secrets":
        data = secret_data(obj)
    else:
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    default_mode = source.get("defaultMode", 0o644)
    items = source.get("items")
    files = [(i.get("key"), i.get("path") or i.get("key"), i.get("mode", default_mode)) for i in items] if items \
        else [(k, k, default_mode) for k in data]
    for key, path, mode in files:
        if key not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f'configmap references non-existent config key: {key}' if kind == "configmaps"
                              else f'references non-existent secret key: {key}')
        parts = [p for p in str(path).split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            raise VolumeError(f"invalid path {path!r} for key {key}")
        file_path = os.path.join(target, *parts)
        os.makedirs(os.path.dirname(file_path), exist_ok=True)
        with open(file_path, "wb") as f:
            f.write(data[key])
        os.chmod(file_path, int(mode) & 0o7777)


def prepare_volumes(store, pod: dict, directory: str, isolated: bool) -> dict[str, tuple[str, bool]]:
    """Create every volume of the pod under `directory`; returns {volume name: (path on the machine, whether it
    is always mounted read-only)}."""
    paths: dict[str, tuple[str, bool]] = {}
    for volume in pod["spec"].get("volumes") or []:
        name = volume.get("name", "")
        target = os.path.join(directory, name)
        os.makedirs(target, exist_ok=True)
        paths[name] = (target, "configMap" in volume or "secret" in volume)
        if "emptyDir" in volume:
            empty = volume.get("emptyDir") or {}
            os.chmod(target, 0o777)
            if isolated and empty.get("medium") == "Memory":
                size = quantity_bytes(empty.get("sizeLimit", "")) or _memory_limit_total(pod)
                options = "mode=1777" + (f",size={size}" if size else "")
                sys_mount.mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)
        elif "configMap" in volume:
            _project(store, pod, "configmaps", volume.get("configMap") or {}, target)
        elif "secret" in volume:
            _project(store, pod, "secrets", volume.get("secret") or {}, target)
    return paths


def container_mounts(spec: dict, volume_paths: dict[str, tuple[str, bool]]) -> list[tuple[str, str, bool]]:
    """(source on the machine, mountPath, readOnly) for a container's volumeMounts; subPath selects below the
    volume. configMap and secret volumes are always read-only, as the kubelet mounts them."""
    mounts = []
    for m in spec.get("volumeMounts") or []:
        if m.get("name") not in volume_paths or not m.get("mountPath"):
            continue
        source, always_read_only = volume_paths[m["name"]]
        sub = m.get("subPath") or ""
        parts = [p for p in sub.split("/") if p not in ("", ".")]
        if ".." in parts or sub.startswith("/"):
            continue
        if parts:
            source = os.path.join(source, *parts)
            if not os.path.exists(source):
                os.makedirs(source, exist_ok=True)
        mounts.append((source, m["mountPath"], always_read_only or bool(m.get("readOnly"))))
    return mounts
