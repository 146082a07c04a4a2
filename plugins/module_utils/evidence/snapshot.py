# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What triage.k8s.pod_snapshot does: the pod and what surrounds it, as JSON files, redacted by default.

Sections (one file each under snapshot/, each read independently: one that fails is recorded and the others are
still written):

pod         the pod without managedFields
owners      the owner chain (ReplicaSet then Deployment, Job then CronJob, StatefulSet, DaemonSet); for an
            isolated pod, which its controller released, the owners its isolation record names
services    the Services that select the pod, or selected it before isolation (the record's original labels and
            Service list), with their Endpoints and EndpointSlices
policies    the PodDisruptionBudgets that select the pod and the HorizontalPodAutoscalers of its workload
node        the Node's conditions, allocatable, capacity and info (needs a ClusterRole; optional)
events      core/v1 Events of the pod and of each owner, sorted by time, with counts
references  the ConfigMaps and Secrets the pod references, by name only: Secrets are never read

The manifest counts what was redacted, per rule. No hash of the unredacted document is kept: with the
marker's length and the rest of the document known, the hash of a short password could be brute-forced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import KubeError
from ansible_collections.triage.k8s.plugins.module_utils.evidence import cluster_reads, report
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_node
from ansible_collections.triage.k8s.plugins.module_utils.evidence.redaction import redact_document
from ansible_collections.triage.k8s.plugins.module_utils.model.names import (
    label_selector_matches,
    service_selector_matches,
)

MODULE = "pod_snapshot"
SECTIONS = ("pod", "owners", "services", "policies", "node", "events", "references")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def strip(obj):
    """A copy without managedFields (noise, and the size of the object again)."""
    obj = dict(obj)
    metadata = dict(obj.get("metadata") or {})
    metadata.pop("managedFields", None)
    obj["metadata"] = metadata
    return obj


def selecting_labels(pod):
    """The labels Services and PDBs selected the pod by: the original labels of an isolated pod, else its own."""
    try:
        record = undo_record.parse_record(pod) or {}
    except undo_record.UndoRecordError:
        record = {}
    return record.get("original_labels") or (pod.get("metadata") or {}).get("labels") or {}, record


def references(pod):
    """{configmaps: [...], secrets: [...]} the pod names (volumes, env, envFrom, projected, imagePullSecrets)."""
    spec = pod.get("spec") or {}
    configmaps, secrets = set(), set()
    for volume in spec.get("volumes") or []:
        if (volume.get("configMap") or {}).get("name"):
            configmaps.add(volume["configMap"]["name"])
        if (volume.get("secret") or {}).get("secretName"):
            secrets.add(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("configMap") or {}).get("name"):
                configmaps.add(source["configMap"]["name"])
            if (source.get("secret") or {}).get("name"):
                secrets.add(source["secret"]["name"])
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            for env in container.get("env") or []:
                value_from = env.get("valueFrom") or {}
                if (value_from.get("configMapKeyRef") or {}).get("name"):
                    configmaps.add(value_from["configMapKeyRef"]["name"])
                if (value_from.get("secretKeyRef") or {}).get("name"):
                    secrets.add(value_from["secretKeyRef"]["name"])
            for source in container.get("envFrom") or []:
                if (source.get("configMapRef") or {}).get("name"):
                    configmaps.add(source["configMapRef"]["name"])
                if (source.get("secretRef") or {}).get("name"):
                    secrets.add(source["secretRef"]["name"])
    for ref in spec.get("imagePullSecrets") or []:
        if ref.get("name"):
            secrets.add(ref["name"])
    return {"configmaps": sorted(configmaps), "secrets": sorted(secrets),
            "note": "listed by name from the pod spec; Secrets are never read"}


def _services(api_client, namespace, labels, record):
    services = cluster_reads.list_namespaced(api_client, "api/v1", "services", namespace, "Service")
    recorded = set(record.get("services") or [])
    chosen = [s for s in services if (s.get("metadata") or {}).get("name") in recorded
              or service_selector_matches((s.get("spec") or {}).get("selector"), labels)]
    names = set(s["metadata"]["name"] for s in chosen)
    endpoints = [e for e in cluster_reads.list_namespaced(api_client, "api/v1", "endpoints", namespace, "Endpoints")
                 if e["metadata"]["name"] in names]
    slices = [e for e in cluster_reads.list_namespaced(api_client, "apis/discovery.k8s.io/v1", "endpointslices",
                                                       namespace, "EndpointSlice")
              if ((e.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) in names]
    return {"services": [strip(s) for s in chosen], "endpoints": [strip(e) for e in endpoints],
            "endpointslices": [strip(e) for e in slices],
            "selected_by": "original labels (the pod is isolated)" if record.get("original_labels") else "labels"}


def _policies(api_client, namespace, labels, owners, failures):
    """PDBs and HPAs; each list is optional (a 403 is recorded in failures as (what, error) and the other kept)."""
    result = {"poddisruptionbudgets": [], "horizontalpodautoscalers": []}
    try:
        pdbs = cluster_reads.list_namespaced(api_client, "apis/policy/v1", "poddisruptionbudgets", namespace,
                                             "PodDisruptionBudget")
        result["poddisruptionbudgets"] = [strip(p) for p in pdbs
                                          if label_selector_matches((p.get("spec") or {}).get("selector"), labels)]
    except KubeError as exc:
        failures.append(("PodDisruptionBudgets", str(exc)))
    try:
        hpas = cluster_reads.list_namespaced(api_client, "apis/autoscaling/v2", "horizontalpodautoscalers",
                                             namespace, "HorizontalPodAutoscaler")
        targets = set((o.get("kind"), (o.get("metadata") or {}).get("name")) for o in owners)
        result["horizontalpodautoscalers"] = [
            strip(h) for h in hpas
            if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") and (
                h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"].get("name")) in targets]
    except KubeError as exc:
        failures.append(("HorizontalPodAutoscalers", str(exc)))
    return result


def _node(api_client, name):
    node = read_node(api_client, name)
    status = node.get("status") or {}
    return {"name": name, "labels": (node.get("metadata") or {}).get("labels") or {},
            "taints": (node.get("spec") or {}).get("taints") or [],
            "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
            "conditions": status.get("conditions") or [], "allocatable": status.get("allocatable") or {},
            "capacity": status.get("capacity") or {}, "nodeInfo": status.get("nodeInfo") or {}}


def _events(api_client, namespace, pod, owners):
    events = []
    for obj in [pod] + owners:
        events.extend(cluster_reads.events_of(api_client, namespace, obj))
    events = sorted((strip(e) for e in events), key=report.event_time)
    return {"events": events, "count": len(events)}


def file_name(section, redact):
    return "snapshot/%s.json" % section if redact else "snapshot/%s.unredacted.json" % section


def collect(api_client, target, pod, redact=True, check_mode=False):
    """{files: [...], failures: [...], redacted: count}."""
    namespace = pod["metadata"]["namespace"]
    labels, record = selecting_labels(pod)
    result = {"files": [], "failures": [], "redacted": 0}
    if check_mode:
        result["files"] = [{"path": file_name(s, redact), "would_collect": True} for s in SECTIONS
                           if s != "node" or (pod.get("spec") or {}).get("nodeName")]
        return result
    owners = []
    sections = [("pod", lambda: strip(pod))]

    def read_owners():
        owners.extend(cluster_reads.owner_chain(api_client, pod, record))
        released = bool(owners) and not any(r.get("controller") for r in pod["metadata"].get("ownerReferences") or [])
        return {"owners": [strip(o) for o in owners],
                "from_record": released}

    policy_failures = []
    sections += [
        ("owners", read_owners),
        ("services", lambda: _services(api_client, namespace, labels, record)),
        ("policies", lambda: _policies(api_client, namespace, labels, owners, policy_failures)),
    ]
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        sections.append(("node", lambda: _node(api_client, node_name)))
    sections += [("events", lambda: _events(api_client, namespace, pod, owners)),
                 ("references", lambda: references(pod))]
    for section, read in sections:
        try:
            document = read()
        except KubeError as exc:
            result["failures"].append(target.record_failure(MODULE, "snapshot %s" % section, str(exc)))
            continue
        result["files"].append(_write(target, section, document, redact, result))
    for what, error in policy_failures:
        result["failures"].append(target.record_failure(MODULE, "snapshot %s" % what, error))
    return result


def _write(target, section, document, redact, result):
    meta = {"section": section}
    if redact:
        redacted, counts = redact_document(document)
        data = (json.dumps(redacted, indent=2, sort_keys=True) + "\n").encode("utf-8")
        meta["redacted"] = {"count": sum(counts.values()), "rules": counts} if counts else None
        result["redacted"] += sum(counts.values())
    else:
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
        meta["redacted"] = False
    with target.artifact(file_name(section, redact), MODULE, {"redact": redact}, **meta) as art:
        art.write(data)
    entry = art.entry
    return dict((k, entry.get(k)) for k in ("path", "size", "sha256", "redacted"))
