"""A minimal OpenAPI v3 surface, enough for `kubectl apply/create` with default flags.

kubectl (1.27+) asks /openapi/v3 whether a group/version's PATCH operations accept the `fieldValidation` query
parameter. When they do, it leaves validation to the server (kubesim accepts unknown fields instead of failing
strictly; documented) instead of downloading /openapi/v2 for client-side validation, which kubesim does not serve.
The PATCH operations list no `application/strategic-merge-patch+json` body, so `kubectl apply` computes its
strategic merge patches from its built-in Go types (which carry the real merge keys), not from these documents.
"""
from __future__ import annotations

import hashlib
import json

from kubesim import KUBE_VERSION
from kubesim.resources import all_types


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _group_versions() -> list[tuple[str, str]]:
    out = []
    for r in all_types():
        gv = (r.group, r.version)
        if gv not in out:
            out.append(gv)
    return out


def gv_document(group: str, version: str) -> dict | None:
    types = [r for r in all_types() if r.group == group and r.version == version]
    if not types:
        return None
    paths = {}
    for r in types:
        if "patch" not in r.verbs:
            continue
        prefix = "/" + _gv_path(group, version)
        if r.namespaced:
            path = f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}"
        else:
            path = f"{prefix}/{r.plural}/{{name}}"
        gvk = {"group": r.group, "kind": r.kind, "version": r.version}
        body = {"schema": {"type": "object"}}
        paths[path] = {"patch": {
            "operationId": f"patch{r.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}},
            ],
            "requestBody": {"content": {"application/json-patch+json": body,
                                        "application/merge-patch+json": body,
                                        "application/apply-patch+yaml": body}, "required": True},
            "responses": {"200": {"description": "OK"}},
        }}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBE_VERSION}, "paths": paths,
            "components": {"schemas": {}}}


def _hash(doc: dict) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


def index_document() -> dict:
    paths = {}
    for group, version in _group_versions():
        doc = gv_document(group, version)
        p = _gv_path(group, version)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(doc)}"}
    return {"paths": paths}
