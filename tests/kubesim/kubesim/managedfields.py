"""metadata.managedFields, maintained as the apiserver's field manager does (k8s.io/apiserver/pkg/endpoints/
handlers/fieldmanager, sigs.k8s.io/structured-merge-diff).

Each write records who changed which fields: one entry per manager and operation (`Update`, or `Apply` for
server-side apply) and subresource, with the API version, the time and the field set as `FieldsV1`:
`f:<field>` for a field, `k:{"name":"web"}` for an item of a keyed list (containers by name, container ports by
containerPort+protocol, ...), `v:"x"` for an item of a set (finalizers), and `.` for a node that the manager
created itself (a map, a struct behind a pointer, a list item) and so owns along with its children.
- Update: the manager gains the fields its write added or changed (compared with the object before, a create
  with the empty object of the type); other managers lose them; fields the write removed leave every manager.
- Apply: the manager's set becomes the fields of its applied configuration; fields whose value it changed leave the
  others (kubesim applies as if `force` were set: it does not answer apply conflicts with 409).
- The server's own fields (name, namespace, uid, resourceVersion, generation, creationTimestamp, managedFields)
  are never in a set; an entry left with no fields is removed; entries are ordered as the apiserver sorts them.
- Writing `managedFields: [{}]` clears them (the documented way to strip managedFields).
Not modelled: managedFields a client writes itself (the apiserver takes valid ones; kubesim keeps its own), the 10-Update-entries limit ("ancient-changes"), and ownership of status fields written through the
main resource (ignored there, as on the server).
"""
from __future__ import annotations

import json

# x-kubernetes-list-map-keys of the keyed lists kubesim's kinds carry; `ports` depends on its parent.
LIST_KEYS = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",), "env": ("name",),
    "volumeMounts": ("mountPath",), "volumeDevices": ("devicePath",), "volumes": ("name",),
    "imagePullSecrets": ("name",), "ownerReferences": ("uid",), "conditions": ("type",),
    "hostAliases": ("ip",), "resourceClaims": ("name",), "schedulingGates": ("name",),
    "resizePolicy": ("resourceName",), "podIPs": ("ip",), "hostIPs": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"), "readinessGates": ("conditionType",),
}
CONTAINER_LISTS = {"containers", "initContainers", "ephemeralContainers"}
SET_LISTS = {"finalizers"}
# Structs with x-kubernetes-map-type: atomic: owned as a whole.
ATOMIC_FIELDS = {"selector"}
ATOMIC_EXCEPT = {"services", "persistentvolumeclaims"}  # their spec.selector is not a LabelSelector's atomic one
# Fields the field manager strips from every set (fieldmanager/internal/stripmeta.go).
SERVER_META = ("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
               "managedFields", "resourceVersion")
# The Go zero value of each kind, as structured-merge-diff compares a create against it: non-pointer structs exist.
_ZERO_TEMPLATE = {"metadata": {}, "spec": {"containers": None}}
_ZERO_SPEC = {
    "pods": {"containers": None},
    "deployments.apps": {"template": _ZERO_TEMPLATE, "strategy": {}},
    "replicasets.apps": {"template": _ZERO_TEMPLATE},
    "statefulsets.apps": {"template": _ZERO_TEMPLATE, "updateStrategy": {}},
    "daemonsets.apps": {"template": _ZERO_TEMPLATE, "updateStrategy": {}},
    "jobs.batch": {"template": _ZERO_TEMPLATE},
}


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, _Leaf) and self.value == other.value


def _key(item: dict, keys: tuple) -> str:
    return "k:" + json.dumps({k: item.get(k) for k in sorted(keys) if k in item}, separators=(",", ":"))


def _list_keys(field: str, parent: str | None) -> tuple | None:
    if field == "ports":
        return ("containerPort", "protocol") if parent in CONTAINER_LISTS else ("port", "protocol")
    return LIST_KEYS.get(field)


def tree(value, field: str | None = None, parent: str | None = None, atomic_selector: bool = True):
    """The typed view of a value: dict node (path element -> subtree) or _Leaf."""
    if isinstance(value, dict):
        if atomic_selector and field in ATOMIC_FIELDS:
            return _Leaf(value)
        # A list item has no field name of its own: its fields see the list's name as their parent.
        return {"f:" + k: tree(v, k, field or parent, atomic_selector) for k, v in value.items()}
    if isinstance(value, list):
        if field in SET_LISTS and all(isinstance(v, (str, int, bool)) for v in value):
            return {"v:" + json.dumps(v): _Leaf(v) for v in value}
        keys = _list_keys(field, parent) if field else None
        if keys and all(isinstance(v, dict) for v in value):
            return {_key(v, keys): tree(v, None, field, atomic_selector) for v in value}
        return _Leaf(value)  # atomic list
    return _Leaf(value)


def _all(node) -> dict:
    """The field set of a subtree a manager created: every node with children carries '.'."""
    if isinstance(node, _Leaf) or not node:
        return {}
    out: dict = {}
    for pe, child in node.items():
        out[pe] = {".": {}, **_all(child)} if isinstance(child, dict) and child else {}
    return out


def diff(old, new) -> tuple[dict, dict]:
    """(fields added or changed, fields removed) between two typed trees, as field sets."""
    changed: dict = {}
    removed: dict = {}
    for pe, n in new.items():
        o = old.get(pe) if isinstance(old, dict) else None
        if o is None:
            changed[pe] = {".": {}, **_all(n)} if isinstance(n, dict) and n else {}
        elif isinstance(o, _Leaf) and o.value is None and isinstance(n, dict):
            # A field the zero object has as null (no omitempty, e.g. PodSpec.containers) existed already.
            changed[pe] = _all(n)
        elif isinstance(n, dict) and isinstance(o, dict):
            c, r = diff(o, n)
            if c:
                changed[pe] = c
            if r:
                removed[pe] = r
        elif n != o:
            changed[pe] = {".": {}, **_all(n)} if isinstance(n, dict) and n else {}
    if isinstance(old, dict):
        for pe in old:
            if pe not in new:
                removed[pe] = {}
    return changed, removed


def to_set(node) -> dict:
    """ToFieldSet of an applied configuration: leaves, list items with '.', no '.' on declared struct fields."""
    out: dict = {}
    if not isinstance(node, dict):
        return out
    for pe, child in node.items():
        if isinstance(child, dict) and child:
            sub = to_set(child)
            out[pe] = {".": {}, **sub} if pe.startswith(("k:", "v:")) else sub
        else:
            out[pe] = {}
    return out


def union(a: dict, b: dict) -> dict:
    out = {k: (union(v, {}) if v else {}) for k, v in a.items()}
    for k, v in b.items():
        out[k] = union(out.get(k) or {}, v) if v or out.get(k) else {}
    return out


def subtract(owned: dict, paths: dict, whole: bool) -> dict:
    """`owned` without `paths`. A leaf of `paths` removes that field; with `whole` (removed fields) it removes the
    field's whole subtree, else (changed fields) only the field itself when `owned` has it as a leaf."""
    out: dict = {}
    for pe, sub in owned.items():
        if pe not in paths:
            out[pe] = sub
            continue
        p = paths[pe]
        if not p:
            if whole or not sub:
                continue  # that field leaves this manager
            out[pe] = sub
            continue
        rest = subtract(sub, p, whole)
        if rest:
            out[pe] = rest
    return out


def _strip(fields: dict) -> dict:
    fields.pop("f:apiVersion", None)
    fields.pop("f:kind", None)
    meta = fields.get("f:metadata")
    if isinstance(meta, dict):
        meta.pop(".", None)
        for k in SERVER_META:
            meta.pop("f:" + k, None)
        if not meta:
            del fields["f:metadata"]
    return fields


def _view(obj: dict | None, subresource: str | None, rtype_key: str) -> dict:
    """The typed tree of the part of the object a write through this endpoint may change."""
    obj = obj or {}
    if subresource == "status":
        part = {"status": obj.get("status")} if "status" in obj else {}
    else:
        part = {k: v for k, v in obj.items() if k not in ("status", "apiVersion", "kind")}
    return tree(part, atomic_selector=rtype_key not in ATOMIC_EXCEPT)


def zero_object(rtype_key: str) -> dict:
    return {"metadata": {}, "spec": json.loads(json.dumps(_ZERO_SPEC.get(rtype_key, {})))}


def manager_for_user(user: str) -> str:
    """The field manager of kubesim's own components, named as the real ones' user agents are."""
    if user.startswith("system:serviceaccount:kube-system:") or user == "system:kube-controller-manager":
        return "kube-controller-manager"
    if user.startswith("system:node:"):
        return "kubelet"
    if user == "system:kube-scheduler":
        return "kube-scheduler"
    if user == "system:apiserver":
        return "kube-apiserver"
    return user


def manager_from_user_agent(user_agent: str | None) -> str:
    """prefixFromUserAgent: the User-Agent up to its first '/', at most 128 characters."""
    return (user_agent or "").split("/", 1)[0][:128]


def _sort_key(entry: dict):
    return (entry.get("operation", ""), entry.get("time", ""), entry.get("manager", ""),
            entry.get("apiVersion", ""), entry.get("subresource", ""))


def _same_entry(entry: dict, manager: str, operation: str, api_version: str, subresource: str) -> bool:
    return entry.get("manager") == manager and entry.get("operation") == operation and \
        entry.get("subresource", "") == subresource and \
        (operation == "Apply" or entry.get("apiVersion") == api_version)


def same_ownership(a: list | None, b: list | None) -> bool:
    """Equal entries apart from their times."""
    def strip(entries):
        return [{k: v for k, v in e.items() if k != "time"} for e in entries or []]
    return strip(a) == strip(b)


def update(rtype_key: str, old: dict | None, new: dict, *, manager: str, operation: str, api_version: str,
           subresource: str | None, time: str, applied: dict | None = None) -> list[dict]:
    """The managedFields of `new` after a write by `manager` (old is None on create)."""
    entries = [dict(e) for e in ((old or {}).get("metadata") or {}).get("managedFields") or [] if e]
    before = _view(old if old is not None else zero_object(rtype_key), subresource, rtype_key)
    after = _view(new, subresource, rtype_key)
    changed, removed = diff(before, after)
    changed, removed = _strip(changed), _strip(removed)
    sub = subresource or ""
    own: dict = {}
    others = []
    for e in entries:
        if _same_entry(e, manager, operation, api_version, sub):
            own = e.get("fieldsV1") or {}
            continue
        fields = subtract(subtract(e.get("fieldsV1") or {}, changed, whole=False), removed, whole=True)
        if fields:
            others.append({**e, "fieldsV1": fields})
    if operation == "Apply":
        mine = _strip(to_set(tree(applied or {}, atomic_selector=rtype_key not in ATOMIC_EXCEPT)))
    else:
        mine = subtract(union(own, changed), removed, whole=True)
    if mine:
        entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": time,
                 "fieldsType": "FieldsV1", "fieldsV1": mine}
        if sub:
            entry["subresource"] = sub
        others.append(entry)
    return sorted(others, key=_sort_key)
