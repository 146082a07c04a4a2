"""Template hashes: controller.ComputeHash (FNV-32a over the pod template plus the collision count, then
rand.SafeEncodeString of the decimal digits), as used for `pod-template-hash` (§2) and the StatefulSet /
DaemonSet `controller-revision-hash`.

Go hashes the template with a spew dump of its Go struct, which a Python emulator cannot reproduce byte for
byte; kubesim hashes a canonical JSON form instead. The properties that matter hold: a stable value for the same
template, a different value when the template changes, the collision count perturbs it, and the alphabet and
shape are the real ones (e.g. "5d4b8f7c9").
"""
from __future__ import annotations

import json
import struct

# apimachinery pkg/util/rand: consonants and digits that cannot form bad words.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def fnv32a(data: bytes, h: int = _FNV32_OFFSET) -> int:
    for byte in data:
        h ^= byte
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(s: str) -> str:
    """rand.SafeEncodeString: each byte mapped into the safe alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in s.encode())


def compute_hash(template: dict, collision_count: int | None = None) -> str:
    canonical = json.dumps(template or {}, sort_keys=True, separators=(",", ":")).encode()
    h = fnv32a(canonical)
    if collision_count is not None:
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF), h)
    return safe_encode_string(str(h))


def template_without_label(template: dict, label: str) -> dict:
    """A copy of a pod template without one label (EqualIgnoreHash compares templates this way)."""
    t = json.loads(json.dumps(template or {}))
    labels = (t.get("metadata") or {}).get("labels")
    if labels and label in labels:
        del labels[label]
    return t
