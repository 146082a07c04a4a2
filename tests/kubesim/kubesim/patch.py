"""Patch application (spec §6): RFC 6902 json-patch, RFC 7386 merge-patch, strategic merge patch with the list
merge keys of core/v1 and apps/v1 types (§5.1), and a simplified server-side apply.

Errors are raised as ApiError with the bodies the real server sends: a json-patch that cannot be applied gives the
generic 422; an undecodable patch gives 400.
"""
from __future__ import annotations

import json

import jsonpatch

from kubesim import errors

PATCH_CONTENT_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
ACCEPTED_PATCH_TYPES = list(PATCH_CONTENT_TYPES)


def clone(o):
    """A fast deep copy for JSON data."""
    if isinstance(o, dict):
        return {k: clone(v) for k, v in o.items()}
    if isinstance(o, list):
        return [clone(v) for v in o]
    return o


# ------------------------------------------------------------------------------------------------- json-patch

def apply_json_patch(doc: dict, ops) -> dict:
    if not isinstance(ops, list):
        raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if len(ops) > 10000:
        raise errors.request_entity_too_large(
            f"The allowed maximum operations in a JSON patch is 10000, got {len(ops)}")
    for op in ops:
        if not isinstance(op, dict):
            raise errors.bad_request("json: cannot unmarshal into Go value of type jsonpatch.Operation")
    try:
        return jsonpatch.JsonPatch(ops).apply(doc, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, IndexError, TypeError,
            ValueError):
        # The real server drops the json-patch error text (§6).
        raise errors.generic_invalid() from None


# ------------------------------------------------------------------------------------------------ merge-patch

def apply_merge_patch(doc, patch):
    if not isinstance(patch, dict):
        return clone(patch)
    out = clone(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = apply_merge_patch(out.get(k), v)
        else:
            out[k] = clone(v)
    return out


# ------------------------------------------------------------------------------------------- strategic merge

# Lists of objects merged by key: field name -> merge key. `ports` depends on the parent (see _merge_key).
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "volumes": "name",
    "imagePullSecrets": "name", "schedulingGates": "name", "conditions": "type", "ownerReferences": "uid",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey", "resourceClaims": "name",
    "addresses": "type", "containerStatuses": None, "podIPs": "ip", "hostIPs": "ip",
    "resizePolicy": "resourceName", "ephemeralContainerStatuses": None,
}
# Primitive lists merged as sets (patchStrategy: merge).
_PRIMITIVE_MERGE = {"finalizers"}
_CONTAINER_LISTS = {"containers", "initContainers", "ephemeralContainers"}


def _merge_key(field: str, parent: str | None) -> str | None:
    if field == "ports":
        # Container ports merge by containerPort; ServiceSpec.ports by port.
        return "containerPort" if parent in _CONTAINER_LISTS else "port"
    return _MERGE_KEYS.get(field)


def apply_strategic_merge_patch(doc: dict, patch: dict) -> dict:
    if not isinstance(patch, dict):
        raise errors.bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
    try:
        return _smp_map(clone(doc) if isinstance(doc, dict) else {}, patch, None)
    except _SmpError as e:
        raise errors.generic(422, "Invalid", str(e), {}) from None


class _SmpError(Exception):
    pass


def _smp_map(orig: dict, patch: dict, parent_field: str | None) -> dict:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None  # the caller removes the key
    if directive not in (None, "merge"):
        raise _SmpError(f"Unknown patch type: {directive}")
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise _SmpError("$retainKeys must be a list")
        for k in list(orig):
            if k not in retain:
                del orig[k]
    # $deleteFromPrimitiveList/<field> first, then the regular keys.
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(orig.get(field), list) and isinstance(v, list):
                orig[field] = [x for x in orig[field] if x not in v]
    for k, v in patch.items():
        if k.startswith("$"):
            continue  # $patch, $retainKeys, $setElementOrder/..., $deleteFromPrimitiveList/... handled/ignored
        if v is None:
            orig.pop(k, None)
            continue
        cur = orig.get(k)
        if isinstance(v, dict):
            merged = _smp_map(cur if isinstance(cur, dict) else {}, v, k)
            if merged is None:
                orig.pop(k, None)
            else:
                orig[k] = merged
        elif isinstance(v, list):
            orig[k] = _smp_list(cur if isinstance(cur, list) else [], v, k, parent_field)
        else:
            orig[k] = v
    return orig


def _smp_list(orig: list, patch: list, field: str, parent_field: str | None) -> list:
    # A `{"$patch": "replace"}` element replaces the whole list with the other elements.
    if any(isinstance(x, dict) and x.get("$patch") == "replace" and len(x) == 1 for x in patch):
        return [clone(x) for x in patch if not (isinstance(x, dict) and x.get("$patch") == "replace")]
    if field in _PRIMITIVE_MERGE:
        out = list(orig)
        for x in patch:
            if x not in out:
                out.append(clone(x))
        return out
    key = _merge_key(field, parent_field)
    if key is None or not all(isinstance(x, dict) for x in patch):
        return [clone(x) for x in patch]
    out = [clone(x) for x in orig]
    for item in patch:
        if key not in item:
            if item.get("$patch") == "delete":
                raise _SmpError(f"map: {item} does not contain declared merge key: {key}")
            raise _SmpError(f"map: {item} does not contain declared merge key: {key}")
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_smp_map({}, item, field))
        else:
            merged = _smp_map(out[idx], item, field)
            if merged is None:
                out.pop(idx)
            else:
                out[idx] = merged
    return out


# ---------------------------------------------------------------------------------------------------- apply

def apply_apply_patch(doc: dict | None, applied: dict, previous: dict | None = None,
                      others: list[dict] | None = None) -> dict:
    """Server-side apply, simplified: fields this manager applied last time and no longer applies are removed
    (unless another applier's configuration still sets them), then the configuration is merged in with the
    strategic-merge rules. kubesim keeps each manager's last applied configuration instead of managedFields, so
    ownership taken over by plain updates is not tracked (documented in README.md)."""
    live = clone(doc) if isinstance(doc, dict) else {}
    if previous:
        _prune(live, previous, applied, others or [], None)
    return apply_strategic_merge_patch(live, applied)


def _prune(live: dict, prev: dict, new: dict, others: list, parent: str | None):
    for k, pv in prev.items():
        if k.startswith("$") or k not in live:
            continue
        other_vals = [o[k] for o in others if isinstance(o, dict) and k in o]
        lv = live[k]
        if not isinstance(new, dict) or k not in new:
            # No longer applied: remove what only this manager set, descending into maps and keyed lists so
            # that entries set by other appliers or by plain updates stay.
            if isinstance(pv, dict) and isinstance(lv, dict):
                _prune(lv, pv, {}, [o for o in other_vals if isinstance(o, dict)], k)
                if not lv and not other_vals:
                    del live[k]
            elif isinstance(pv, list) and isinstance(lv, list) and _merge_key(k, parent):
                _prune(live, {k: pv}, {k: []}, [{k: o} for o in other_vals], parent)
                if not live[k] and not other_vals:
                    del live[k]
            elif not other_vals:
                del live[k]
            continue
        nv = new[k]
        if isinstance(pv, dict) and isinstance(nv, dict) and isinstance(lv, dict):
            _prune(lv, pv, nv, [o for o in other_vals if isinstance(o, dict)], k)
        elif isinstance(pv, list) and isinstance(nv, list) and isinstance(lv, list):
            if k in _PRIMITIVE_MERGE:
                keep = set(map(str, nv)) | {str(x) for o in other_vals if isinstance(o, list) for x in o}
                live[k] = [x for x in lv if str(x) in keep or x not in pv]
                continue
            key = _merge_key(k, parent)
            if not key or not all(isinstance(x, dict) for x in pv + nv):
                continue  # atomic lists are replaced by the merge
            new_by_key = {x.get(key): x for x in nv}
            other_keys = {x.get(key) for o in other_vals if isinstance(o, list) for x in o if isinstance(x, dict)}
            for item in pv:
                kv = item.get(key)
                if kv in new_by_key:
                    for li in lv:
                        if isinstance(li, dict) and li.get(key) == kv:
                            others_items = [x for o in other_vals if isinstance(o, list) for x in o
                                            if isinstance(x, dict) and x.get(key) == kv]
                            _prune(li, item, new_by_key[kv], others_items, k)
                elif kv not in other_keys:
                    live[k] = lv = [x for x in lv if not (isinstance(x, dict) and x.get(key) == kv)]


def decode_patch_body(raw: bytes, patch_type: str):
    """Decode the body of a PATCH; 400 when it is not JSON (YAML for apply)."""
    if patch_type == "apply":
        import yaml
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise errors.bad_request(f"error decoding YAML: {e}") from None
        if not isinstance(data, dict):
            raise errors.bad_request("error decoding YAML: the apply configuration must be an object")
        return data
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.bad_request(f"error decoding patch: {e}") from None
