"""Just enough of the Kubernetes protobuf encoding to read what kubectl sends as protobuf: the review APIs
(`kubectl auth can-i`, `kubectl auth whoami`) and the objects of the `kubectl create` commands an admin runs to
set up access (namespace, serviceaccount, role, rolebinding, clusterrole(binding), secret generic, configmap,
token). Other protobuf bodies get the real 415. Field numbers are those of k8s.io/api's generated.proto (checked
against kubectl 1.32's request bodies).

Wire format: the magic prefix `k8s\\x00`, then a runtime.Unknown message {1: typeMeta {1: apiVersion, 2: kind},
2: raw (the object's own protobuf), 3: contentEncoding, 4: contentType}.
"""
from __future__ import annotations

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(buf: bytes) -> dict[int, list]:
    """Field number -> list of values (bytes for length-delimited, int for varints)."""
    out: dict[int, list] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.setdefault(num, []).append(val)
    return out


def _str(f: dict, num: int) -> str:
    vals = f.get(num)
    return vals[-1].decode("utf-8") if vals else ""


def _msg(f: dict, num: int) -> dict | None:
    vals = f.get(num)
    return fields(vals[-1]) if vals else None


def _strs(f: dict, num: int) -> list[str]:
    return [v.decode("utf-8") for v in f.get(num) or []]


def _map(f: dict, num: int, as_base64: bool = False) -> dict:
    """map<string, string|bytes>: repeated {1: key, 2: value}; bytes values as base64 (their JSON form)."""
    import base64
    out = {}
    for entry in f.get(num) or []:
        e = fields(entry)
        key = _str(e, 1)
        raw = (e.get(2) or [b""])[-1]
        out[key] = base64.b64encode(raw).decode() if as_base64 else raw.decode("utf-8")
    return out


def _meta(raw: dict) -> dict:
    """ObjectMeta: 1 name, 2 generateName, 3 namespace, 11 labels, 12 annotations, 14 finalizers (what a create
    sets; the server-owned fields are ignored)."""
    m = _msg(raw, 1) or {}
    out: dict = {}
    for num, key in ((1, "name"), (2, "generateName"), (3, "namespace")):
        if _str(m, num):
            out[key] = _str(m, num)
    for num, key in ((11, "labels"), (12, "annotations")):
        if m.get(num):
            out[key] = _map(m, num)
    if m.get(14):
        out["finalizers"] = _strs(m, 14)
    return out


def _objects(f: dict, num: int, names: tuple) -> list[dict]:
    """Repeated messages of string fields numbered 1.. in the order of `names`; empty strings left out."""
    out = []
    for raw in f.get(num) or []:
        m = fields(raw)
        out.append({k: _str(m, i) for i, k in enumerate(names, start=1) if _str(m, i)})
    return out


def _rules(raw: dict) -> list[dict]:
    """PolicyRule: 1 verbs, 2 apiGroups, 3 resources, 4 resourceNames, 5 nonResourceURLs (empty strings kept:
    apiGroups [""] is the core group)."""
    out = []
    for entry in raw.get(2) or []:
        m = fields(entry)
        rule = {k: _strs(m, i) for i, k in enumerate(
            ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"), start=1) if m.get(i)}
        out.append(rule)
    return out


def _binding(raw: dict) -> dict:
    out = {"metadata": _meta(raw), "subjects": _objects(raw, 2, ("kind", "apiGroup", "name", "namespace"))}
    ref = _objects(raw, 3, ("apiGroup", "kind", "name"))
    if ref:
        out["roleRef"] = {"apiGroup": "", **ref[-1]}
    return out


def _secret(raw: dict) -> dict:
    out = {"metadata": _meta(raw)}
    if raw.get(2):
        out["data"] = _map(raw, 2, as_base64=True)
    if raw.get(4):
        out["stringData"] = _map(raw, 4)
    if _str(raw, 3):
        out["type"] = _str(raw, 3)
    return out


def _configmap(raw: dict) -> dict:
    out = {"metadata": _meta(raw)}
    if raw.get(2):
        out["data"] = _map(raw, 2)
    if raw.get(3):
        out["binaryData"] = _map(raw, 3, as_base64=True)
    return out


def _token_request(raw: dict) -> dict:
    """TokenRequestSpec: 1 audiences, 3 boundObjectRef {1 kind, 2 apiVersion, 3 name, 4 uid}, 4 expirationSeconds."""
    spec = _msg(raw, 2) or {}
    out: dict = {}
    if spec.get(1):
        out["audiences"] = _strs(spec, 1)
    ref = _objects(spec, 3, ("kind", "apiVersion", "name", "uid"))
    if ref:
        out["boundObjectRef"] = ref[-1]
    if spec.get(4):
        out["expirationSeconds"] = spec[4][-1]
    return {"metadata": _meta(raw), "spec": out}


# Per (apiVersion, kind): how to turn the raw object into the JSON form kubesim handles.
def _ssar(raw: dict) -> dict:
    spec = _msg(raw, 2) or {}
    out: dict = {}
    ra = _msg(spec, 1)
    if ra is not None:
        out["resourceAttributes"] = {k: _str(ra, n) for n, k in enumerate(
            ("namespace", "verb", "group", "version", "resource", "subresource", "name"), start=1)}
    nra = _msg(spec, 2)
    if nra is not None:
        out["nonResourceAttributes"] = {"path": _str(nra, 1), "verb": _str(nra, 2)}
    return {"spec": out}


def _ssrr(raw: dict) -> dict:
    spec = _msg(raw, 2) or {}
    return {"spec": {"namespace": _str(spec, 1)}}


DECODERS = {
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): _ssar,
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): _ssrr,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): lambda raw: {},
    ("authentication.k8s.io/v1", "TokenRequest"): _token_request,
    ("v1", "Namespace"): lambda raw: {"metadata": _meta(raw)},
    ("v1", "ServiceAccount"): lambda raw: {"metadata": _meta(raw)},
    ("v1", "Secret"): _secret,
    ("v1", "ConfigMap"): _configmap,
    ("rbac.authorization.k8s.io/v1", "Role"): lambda raw: {"metadata": _meta(raw), "rules": _rules(raw)},
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): lambda raw: {"metadata": _meta(raw), "rules": _rules(raw)},
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _binding,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _binding,
}


def decode(body: bytes) -> dict | None:
    """The JSON form of a supported protobuf body, or None when the type is not supported."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf prefix")
    unknown = fields(body[len(MAGIC):])
    type_meta = _msg(unknown, 1) or {}
    api_version, kind = _str(type_meta, 1), _str(type_meta, 2)
    decoder = DECODERS.get((api_version, kind))
    if decoder is None:
        return None
    raw = (unknown.get(2) or [b""])[-1]
    obj = decoder(fields(raw))
    return {"apiVersion": api_version, "kind": kind, **obj}
