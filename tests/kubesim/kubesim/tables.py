"""Server-side Table output (meta.k8s.io/v1 Table), which `kubectl get` asks for with `Accept: ...;as=Table`.

Pods, Services, Deployments, ReplicaSets, Nodes, Namespaces and Endpoints get the columns real printers use;
everything else gets the generic Name/Age table.
"""
from __future__ import annotations

import datetime

from kubesim.resources import ResourceType


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<unknown>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 120:
        return f"{max(s, 0)}s"
    if s < 3600 * 2:
        return f"{s // 60}m"
    if s < 86400 * 2:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _col(name, typ="string", fmt="", desc="", priority=0):
    return {"name": name, "type": typ, "format": fmt, "description": desc or name, "priority": priority}


def _pod_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    statuses = st.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for c in statuses:
        state = c.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return [o["metadata"]["name"], f"{ready}/{total}", reason, restarts, _age(o["metadata"].get("creationTimestamp")),
            st.get("podIP") or "<none>", spec.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>",
            "<none>"]


_POD_COLS = [_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age"),
             _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
             _col("Readiness Gates", priority=1)]


def _svc_row(o):
    spec = o.get("spec") or {}
    ports = ",".join(f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
                     for p in spec.get("ports") or []) or "<none>"
    sel = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [o["metadata"]["name"], spec.get("type", ""), spec.get("clusterIP", ""), "<none>", ports,
            _age(o["metadata"].get("creationTimestamp")), sel]


_SVC_COLS = [_col("Name", fmt="name"), _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"),
             _col("Age"), _col("Selector", priority=1)]


def _deploy_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0), _age(o["metadata"].get("creationTimestamp"))]


_DEPLOY_COLS = [_col("Name", fmt="name"), _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"),
                _col("Age")]


def _rs_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [o["metadata"]["name"], spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
            _age(o["metadata"].get("creationTimestamp"))]


_RS_COLS = [_col("Name", fmt="name"), _col("Desired", "integer"), _col("Current", "integer"),
            _col("Ready", "integer"), _col("Age")]


def _ep_row(o):
    addrs = []
    for s in o.get("subsets") or []:
        for a in s.get("addresses") or []:
            for p in s.get("ports") or [{"port": None}]:
                addrs.append(f"{a.get('ip')}:{p.get('port')}" if p.get("port") else a.get("ip"))
    shown = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [o["metadata"]["name"], shown or "<none>", _age(o["metadata"].get("creationTimestamp"))]


_EP_COLS = [_col("Name", fmt="name"), _col("Endpoints"), _col("Age")]


def _node_row(o):
    conds = {c.get("type"): c.get("status") for c in (o.get("status") or {}).get("conditions") or []}
    status = "Ready" if conds.get("Ready") == "True" else "NotReady"
    return [o["metadata"]["name"], status, "<none>", _age(o["metadata"].get("creationTimestamp")),
            ((o.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")]


_NODE_COLS = [_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version")]


def _ns_row(o):
    return [o["metadata"]["name"], (o.get("status") or {}).get("phase", ""), _age(o["metadata"].get("creationTimestamp"))]


_NS_COLS = [_col("Name", fmt="name"), _col("Status"), _col("Age")]


def _created(o):
    return _age(o["metadata"].get("creationTimestamp"))


def _event_row(o):
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
    return [_age(last if isinstance(last, str) else None), o.get("type", ""), o.get("reason", ""),
            f"{(inv.get('kind') or '').lower()}/{inv.get('name', '')}", o.get("message", "")]


_EVENT_COLS = [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")]


def _sts_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}", _created(o)]


def _ds_row(o):
    st = o.get("status") or {}
    sel = ",".join(f"{k}={v}" for k, v in sorted(((o.get("spec") or {}).get("template", {}).get("spec", {})
                                                  .get("nodeSelector") or {}).items())) or "<none>"
    return [o["metadata"]["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0), sel,
            _created(o)]


_DS_COLS = [_col("Name", fmt="name"), _col("Desired", "integer"), _col("Current", "integer"),
            _col("Ready", "integer"), _col("Up-to-date", "integer"), _col("Available", "integer"),
            _col("Node Selector"), _col("Age")]


def _job_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    status = "Complete" if conds.get("Complete") == "True" else "Failed" if conds.get("Failed") == "True" \
        else "Running"
    return [o["metadata"]["name"], status, f"{st.get('succeeded', 0)}/{spec.get('completions', 1)}", "", _created(o)]


_JOB_COLS = [_col("Name", fmt="name"), _col("Status"), _col("Completions"), _col("Duration"), _col("Age")]


def _pdb_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [o["metadata"]["name"], str(spec.get("minAvailable", "N/A")), str(spec.get("maxUnavailable", "N/A")),
            st.get("disruptionsAllowed", 0), _created(o)]


_PDB_COLS = [_col("Name", fmt="name"), _col("Min Available"), _col("Max Unavailable"),
             _col("Allowed Disruptions", "integer"), _col("Age")]

def _pvc_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    capacity = (st.get("capacity") or {}).get("storage", "")
    modes = ",".join({"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                      "ReadWriteOncePod": "RWOP"}.get(m, m) for m in (st.get("accessModes") or []))
    return [o["metadata"]["name"], st.get("phase", ""), spec.get("volumeName", ""), capacity, modes,
            spec.get("storageClassName", ""), spec.get("volumeAttributesClassName") or "<unset>", _created(o)]


# pkg/printers/internalversion: the claim's capacity and access modes come from its status (empty while Pending).
_PVC_COLS = [_col("Name", fmt="name"), _col("Status"), _col("Volume"), _col("Capacity"), _col("Access Modes"),
             _col("StorageClass"), _col("VolumeAttributesClass"), _col("Age")]


def _crd_row(o):
    return [o["metadata"]["name"], o["metadata"].get("creationTimestamp", "")]


PRINTERS = {
    "pods": (_POD_COLS, _pod_row),
    "services": (_SVC_COLS, _svc_row),
    "deployments.apps": (_DEPLOY_COLS, _deploy_row),
    "replicasets.apps": (_RS_COLS, _rs_row),
    "endpoints": (_EP_COLS, _ep_row),
    "nodes": (_NODE_COLS, _node_row),
    "namespaces": (_NS_COLS, _ns_row),
    "events": (_EVENT_COLS, _event_row),
    "configmaps": ([_col("Name", fmt="name"), _col("Data", "integer"), _col("Age")],
                   lambda o: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                              _created(o)]),
    "secrets": ([_col("Name", fmt="name"), _col("Type"), _col("Data", "integer"), _col("Age")],
                lambda o: [o["metadata"]["name"], o.get("type", ""), len(o.get("data") or {}), _created(o)]),
    "serviceaccounts": ([_col("Name", fmt="name"), _col("Secrets", "integer"), _col("Age")],
                        lambda o: [o["metadata"]["name"], len(o.get("secrets") or []), _created(o)]),
    "statefulsets.apps": ([_col("Name", fmt="name"), _col("Ready"), _col("Age")], _sts_row),
    "daemonsets.apps": (_DS_COLS, _ds_row),
    "jobs.batch": (_JOB_COLS, _job_row),
    "poddisruptionbudgets.policy": (_PDB_COLS, _pdb_row),
    "persistentvolumeclaims": (_PVC_COLS, _pvc_row),
    "customresourcedefinitions.apiextensions.k8s.io": ([_col("Name", fmt="name"), _col("Created At", "date")],
                                                       _crd_row),
}


def table_for(r: ResourceType, items: list[dict], list_meta: dict, include_object: str = "") -> dict:
    cols, row = PRINTERS.get(r.key, ([_col("Name", fmt="name"), _col("Age")],
                                     lambda o: [o["metadata"]["name"], _age(o["metadata"].get("creationTimestamp"))]))
    rows = []
    for o in items:
        if include_object == "Object":
            obj = o
        elif include_object == "None":
            obj = None
        else:
            obj = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
        entry = {"cells": row(o)}
        if obj is not None:
            entry["object"] = obj
        rows.append(entry)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": cols,
            "rows": rows}
