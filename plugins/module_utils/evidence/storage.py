# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which ephemeral-storage limits a file written in a container counts against, read from the pod spec (pure).

The kubelet's eviction manager (localStorageEviction) evicts a pod when, on the node's own disk:
- an emptyDir (not medium Memory) holds more than its sizeLimit;
- a container's writable layer plus its logs pass that container's limits.ephemeral-storage;
- the pod's writable layers, logs and disk emptyDirs together pass the sum of its containers' limits.
A file on a memory emptyDir counts against memory instead (its tmpfs size, which df shows); a file on any other
volume (a PVC, hostPath, NFS...) counts against no ephemeral-storage limit.

df inside the container shows the node's filesystem, not these limits, so pod_dump reads them here and compares
them with what the container can tell cheaply: `du` of the emptyDir, or of the dump directory on the writable
layer. That usage is a lower bound (the rest of the writable layer and the logs are not seen from inside).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

_SUFFIXES = {"": 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
             "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60, "m": None}
_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?)$")
# Volume sources that live on the node's disk and count as the pod's ephemeral storage when written to.
_EPHEMERAL_SOURCES = ("emptyDir",)


class StorageError(Exception):
    """A limit in the pod spec that cannot be read."""


def quantity_bytes(value):
    """A Kubernetes quantity ("300Mi", "1G", "5e8", "1500m") as whole bytes (rounded up), None when empty."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise StorageError("%r is not a Kubernetes quantity" % (value,))
    number, exponent, suffix = match.groups()
    amount = float(number)
    if exponent:
        amount *= 10 ** int(exponent[1:])
    elif suffix == "m":
        amount /= 1000.0
    elif suffix:
        amount *= _SUFFIXES[suffix]
    whole = int(amount)
    return whole + 1 if amount > whole else whole


def _limit(container):
    return ((container.get("resources") or {}).get("limits") or {}).get("ephemeral-storage")


def _under(path, mount_path):
    mount = mount_path.rstrip("/") or "/"
    return mount == "/" or path == mount or path.startswith(mount + "/")


def placement(pod, container_name, directory):
    """Where `directory` of the container lives, and the limits a file written there counts against.

    {"on": "writable-layer" | "emptyDir" | "memory" | "volume", "volume": name or None, "mount": mount path or None,
     "du_path": what `du` measures for the usage figure (None when nothing to measure),
     "limits": [{"bytes", "source"}], tightest first}.
    """
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    container = next((c for c in containers if c.get("name") == container_name), None)
    if container is None:
        container = next((c for c in spec.get("ephemeralContainers") or [] if c.get("name") == container_name), {})
    directory = posixpath.normpath(directory)
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("mountPath")
              and _under(directory, posixpath.normpath(m["mountPath"]))]
    mount = max(mounts, key=lambda m: len(posixpath.normpath(m["mountPath"]))) if mounts else None
    pod_total = 0
    with_limit = 0
    for other in containers:
        size = quantity_bytes(_limit(other))
        if size is not None:
            pod_total += size
            with_limit += 1
    pod_limit = {"bytes": pod_total, "source": "the sum of the pod's containers' limits.ephemeral-storage"} \
        if with_limit else None
    limits = []
    if mount is None:
        own = quantity_bytes(_limit(container))
        if own is not None:
            limits.append({"bytes": own, "source": "limits.ephemeral-storage of container %s" % container_name})
        if pod_limit and (own is None or with_limit > 1):
            limits.append(pod_limit)
        where = {"on": "writable-layer", "volume": None, "mount": None, "du_path": directory}
    else:
        volume = next((v for v in spec.get("volumes") or [] if v.get("name") == mount.get("name")), {})
        source = next((key for key in volume if key != "name"), None)
        mount_path = posixpath.normpath(mount["mountPath"])
        where = {"volume": mount.get("name"), "mount": mount_path}
        if source not in _EPHEMERAL_SOURCES:
            where.update(on="volume", du_path=None)
        elif (volume.get("emptyDir") or {}).get("medium") == "Memory":
            where.update(on="memory", du_path=None)
        else:
            where.update(on="emptyDir", du_path=mount_path)
            size_limit = quantity_bytes((volume.get("emptyDir") or {}).get("sizeLimit"))
            if size_limit is not None:
                limits.append({"bytes": size_limit, "source": "sizeLimit of emptyDir %s" % mount.get("name")})
            if pod_limit:
                limits.append(pod_limit)
    where["limits"] = sorted(limits, key=lambda item: item["bytes"])
    return where


def parse_du(text):
    """`du -s -k PATH` -> bytes used (the first field, in KiB)."""
    fields = (text or "").strip().split()
    if not fields or not fields[0].isdigit():
        raise StorageError("not a du -s -k output: %r" % ((text or "")[:80],))
    return int(fields[0]) * 1024
