"""Label selectors (string syntax and LabelSelector objects) and field selectors (spec §8).

Grammar and semantics follow apimachinery/pkg/labels/selector.go: `!=` and `notin` match when the key is absent,
`KEY` means exists, `!KEY` means does not exist, `>`/`<` need an integer value.
"""
from __future__ import annotations

from kubesim import errors

_SPECIAL = "!=(),<>"


class Requirement:
    __slots__ = ("key", "op", "values")

    def __init__(self, key: str, op: str, values: tuple = ()):
        self.key, self.op, self.values = key, op, values

    def matches(self, labels: dict) -> bool:
        op = self.op
        if op in ("in", "=", "=="):
            return self.key in labels and labels[self.key] in self.values
        if op in ("notin", "!="):
            return self.key not in labels or labels[self.key] not in self.values
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in (">", "<"):
            if self.key not in labels:
                return False
            try:
                have = int(labels[self.key])
            except ValueError:
                return False
            want = int(self.values[0])
            return have > want if op == ">" else have < want
        return False

    def __repr__(self):
        return f"Requirement({self.key!r}, {self.op!r}, {self.values!r})"


class LabelSelector:
    """A parsed selector: the AND of its requirements. `None` selector (nothing) is `LabelSelector(None)`."""

    def __init__(self, requirements: list[Requirement] | None):
        self.requirements = requirements

    def matches(self, labels: dict | None) -> bool:
        if self.requirements is None:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return self.requirements == []


EVERYTHING = LabelSelector([])
NOTHING = LabelSelector(None)


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, value): kind is 'id', 'op', '(' , ')' or ','."""
    tokens = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            tokens.append((c, c))
            i += 1
            continue
        if c in "!=<>":
            two = text[i:i + 2]
            if two in ("!=", "=="):
                tokens.append(("op", two))
                i += 2
            else:
                tokens.append(("op", c))
                i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
            j += 1
        word = text[i:j]
        tokens.append(("kw", word) if word in ("in", "notin") else ("id", word))
        i = j
    return tokens


def _bad(msg: str):
    return errors.bad_request(f"unable to parse requirement: {msg}")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the string form; raises ApiError 400 on a syntax error."""
    if text is None or not text.strip():
        return EVERYTHING
    toks = _lex(text)
    pos = 0
    reqs: list[Requirement] = []

    def peek():
        return toks[pos] if pos < len(toks) else ("eof", "")

    while True:
        kind, val = peek()
        negate = False
        if kind == "op" and val == "!":
            negate = True
            pos += 1
            kind, val = peek()
        if kind != "id":
            raise _bad(f"found '{val}', expected: !, identifier, or 'end of string'")
        key = val
        pos += 1
        kind, val = peek()
        if negate:
            if kind not in (",", "eof"):
                raise _bad(f"found '{val}', expected: ',' or 'end of string'")
            reqs.append(Requirement(key, "!"))
        elif kind in (",", "eof"):
            reqs.append(Requirement(key, "exists"))
        elif kind == "kw":
            pos += 1
            if peek()[0] != "(":
                raise _bad(f"found '{peek()[1]}', expected: '('")
            pos += 1
            values = []
            while True:
                k2, v2 = peek()
                if k2 == "id":
                    values.append(v2)
                    pos += 1
                    k2, v2 = peek()
                elif k2 in (",", ")"):
                    values.append("")  # an empty value, e.g. "in (a,)"
                else:
                    raise _bad(f"found '{v2}', expected: ',', ')' or identifier")
                if k2 == ",":
                    pos += 1
                    continue
                if k2 == ")":
                    pos += 1
                    break
                raise _bad(f"found '{v2}', expected: ',' or ')'")
            if val == "in" and values == [""]:
                values = [""]
            reqs.append(Requirement(key, val, tuple(values)))
        elif kind == "op" and val in ("=", "==", "!=", ">", "<"):
            pos += 1
            k2, v2 = peek()
            if k2 == "id":
                pos += 1
                value = v2
            elif k2 in (",", "eof") and val not in (">", "<"):
                value = ""
            else:
                raise _bad(f"found '{v2}', expected: identifier")
            if val in (">", "<"):
                try:
                    int(value)
                except ValueError:
                    raise _bad(f'for \'Gt\', \'Lt\' operators, the value must be an integer: "{value}"') from None
            reqs.append(Requirement(key, val, (value,)))
        else:
            raise _bad(f"found '{val}', expected: in, notin, =, ==, !=, gt, lt")
        kind, val = peek()
        if kind == "eof":
            break
        if kind != ",":
            raise _bad(f"found '{val}', expected: ',' or 'end of string'")
        pos += 1
    return LabelSelector(reqs)


def from_label_selector_object(sel: dict | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: nil selects nothing, {} selects everything."""
    if sel is None:
        return NOTHING
    reqs = [Requirement(k, "=", (v,)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        op = expr.get("operator")
        key = expr.get("key", "")
        values = tuple(expr.get("values") or ())
        if op == "In":
            reqs.append(Requirement(key, "in", values))
        elif op == "NotIn":
            reqs.append(Requirement(key, "notin", values))
        elif op == "Exists":
            reqs.append(Requirement(key, "exists"))
        elif op == "DoesNotExist":
            reqs.append(Requirement(key, "!"))
        else:
            raise ValueError(f'"{op}" is not a valid label selector operator')
    return LabelSelector(reqs)


def matches_label_selector_object(sel: dict | None, labels: dict | None) -> bool:
    return from_label_selector_object(sel).matches(labels)


def label_selector_object_to_string(sel: dict | None) -> str:
    """The string form, as `kubectl` and the scale subresource's status.selector show it."""
    if not sel:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        op, key = expr.get("operator"), expr.get("key")
        vals = ",".join(sorted(expr.get("values") or []))
        parts.append({"In": f"{key} in ({vals})", "NotIn": f"{key} notin ({vals})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(parts)


# --------------------------------------------------------------------------------------------- field selectors

def _pod_fields(o: dict) -> dict:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    return {
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.host": spec.get("nodeName", ""),
        "spec.restartPolicy": spec.get("restartPolicy", ""),
        "spec.schedulerName": spec.get("schedulerName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
        "status.phase": status.get("phase", ""),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": [ip.get("ip", "") for ip in status.get("podIPs") or []] or "",
        "status.nominatedNodeName": status.get("nominatedNodeName", ""),
    }


def _event_fields(o: dict) -> dict:
    inv = o.get("involvedObject") or {}
    src = o.get("source") or {}
    return {f"involvedObject.{k}": inv.get(k, "") for k in
            ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")} | {
        "reason": o.get("reason", ""), "reportingComponent": o.get("reportingComponent", ""),
        "source": src.get("component", ""), "type": o.get("type", "")}


# Extra selectable fields per resource key (besides metadata.name and metadata.namespace).
FIELD_GETTERS = {
    "pods": _pod_fields,
    "events": _event_fields,
    "secrets": lambda o: {"type": o.get("type", "")},
    "namespaces": lambda o: {"status.phase": (o.get("status") or {}).get("phase", "")},
    "nodes": lambda o: {"spec.unschedulable": "true" if (o.get("spec") or {}).get("unschedulable") else "false"},
    "replicasets.apps": lambda o: {"status.replicas": str((o.get("status") or {}).get("replicas", 0))},
    "jobs.batch": lambda o: {"status.successful": str((o.get("status") or {}).get("successful", 0))},
    "services": lambda o: {"spec.clusterIP": (o.get("spec") or {}).get("clusterIP", ""),
                           "spec.type": (o.get("spec") or {}).get("type", "")},
}


class FieldSelector:
    def __init__(self, terms: list[tuple[str, str, str]], getter):
        self.terms, self.getter = terms, getter

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: dict) -> bool:
        if not self.terms:
            return True
        meta = obj.get("metadata") or {}
        fields = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}
        if self.getter:
            fields.update(self.getter(obj))
        for field, op, value in self.terms:
            have = fields.get(field, "")
            equal = value in have if isinstance(have, list) else have == value
            if (op == "!=") == equal:
                return False
        return True

    def exact_value(self, field: str) -> str | None:
        for f, op, v in self.terms:
            if f == field and op != "!=":
                return v
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_field_selector(text: str | None, rtype_key: str) -> FieldSelector:
    """Parse `a=b,c!=d`; raise 400 `field label not supported: x` for fields the resource does not index."""
    getter = FIELD_GETTERS.get(rtype_key)
    if text is None or not text.strip():
        return FieldSelector([], getter)
    terms = []
    for part in _split_unescaped(text, ","):
        if not part:
            continue
        for op in ("!=", "==", "="):
            idx = _find_unescaped(part, op)
            if idx >= 0:
                field, value = part[:idx].strip(), _unescape(part[idx + len(op):])
                terms.append((field, "!=" if op == "!=" else "=", value))
                break
        else:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
    supported = {"metadata.name", "metadata.namespace"}
    if getter:
        supported |= set(getter({}).keys())
    for field, _, _ in terms:
        if field not in supported:
            raise errors.bad_request(f"field label not supported: {field}")
    return FieldSelector(terms, getter)


def _find_unescaped(text: str, op: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(op, i):
            return i
        i += 1
    return -1
