# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""JSON patch operations on a pod's labels and annotations, what they produce, and the --diff of a change.

Pure: kube/writes.py sends the ops (behind a resourceVersion test); check mode and diffs apply them locally.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import find_container


def escape_pointer(key):
    """A label/annotation key as a JSON-pointer segment (RFC 6901): "~" -> "~0", "/" -> "~1"."""
    return key.replace("~", "~0").replace("/", "~1")


def set_metadata_ops(pod, field, values):
    """Ops that set each key of metadata.<field> (labels/annotations), creating the map when absent."""
    existing = (pod.get("metadata") or {}).get(field)
    if existing is None:
        return [{"op": "add", "path": "/metadata/" + field, "value": dict(values)}] if values else []
    return [{"op": "add", "path": "/metadata/%s/%s" % (field, escape_pointer(k)), "value": v}
            for k, v in sorted(values.items())]


def remove_metadata_ops(pod, field, keys):
    """Ops that remove those keys of metadata.<field> that the pod has."""
    existing = (pod.get("metadata") or {}).get(field) or {}
    return [{"op": "remove", "path": "/metadata/%s/%s" % (field, escape_pointer(k))}
            for k in sorted(keys) if k in existing]


def apply_ops_locally(pod, ops):
    """The metadata the patch would produce (used for check mode and diffs; only add/replace/remove)."""
    labels = dict((pod.get("metadata") or {}).get("labels") or {})
    annotations = dict((pod.get("metadata") or {}).get("annotations") or {})
    maps = {"labels": labels, "annotations": annotations}
    for op in ops:
        parts = op["path"].split("/")
        if len(parts) < 3 or parts[1] != "metadata" or parts[2] not in maps:
            continue
        if len(parts) == 3:
            if op["op"] in ("add", "replace"):
                maps[parts[2]].clear()
                maps[parts[2]].update(op["value"])
            continue
        key = parts[3].replace("~1", "/").replace("~0", "~")
        if op["op"] in ("add", "replace"):
            maps[parts[2]][key] = op["value"]
        elif op["op"] == "remove":
            maps[parts[2]].pop(key, None)
    return labels, annotations


def metadata_diff(before, after, name):
    """before/after of the labels and annotations of pod ``name``, as Ansible's --diff shows them."""
    def view(pod):
        metadata = (pod or {}).get("metadata") or {}
        return {"labels": dict(metadata.get("labels") or {}), "annotations": dict(metadata.get("annotations") or {})}
    return {"before": view(before), "after": view(after), "before_header": "pod %s" % name,
            "after_header": "pod %s" % name}


def with_metadata(pod, labels, annotations):
    """A copy of ``pod`` with these labels and annotations (what check mode shows as the result)."""
    return dict(pod, metadata=dict(pod.get("metadata") or {}, labels=labels, annotations=annotations))


def build_image_revert_patch(pod, containers=None):
    """Put every recorded original image back and drop that part of the record (pod_restore, pod_hijack).

    Returns None when nothing needs reverting. ``containers`` limits the revert to some containers;
    the record keeps the others.
    """
    originals = record.original_images(pod)
    if containers is not None:
        originals = dict((k, v) for k, v in originals.items() if k in containers)
    changes = []
    for name in sorted(originals):
        spec = find_container(pod, name)
        if spec is not None and spec.get("image") != originals[name]:
            changes.append({"name": name, "image": originals[name]})
    remaining = dict((k, v) for k, v in record.original_images(pod).items() if k not in originals)
    annotations = {}
    if remaining:
        annotations[record.ORIGINAL_IMAGES] = record.dump_images(remaining)
    elif record.ORIGINAL_IMAGES in ((pod.get("metadata") or {}).get("annotations") or {}):
        annotations[record.ORIGINAL_IMAGES] = None
    if not changes and not annotations:
        return None
    body = {"metadata": {"resourceVersion": pod["metadata"]["resourceVersion"]}}
    if annotations:
        body["metadata"]["annotations"] = annotations
    if changes:
        body["spec"] = {"containers": changes}
    return body
