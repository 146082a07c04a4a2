"""Just enough of the Kubernetes protobuf encoding to read what kubectl sends as protobuf to the review APIs
(`kubectl auth can-i`, `kubectl auth whoami`). Other protobuf bodies get the real 415.

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
