"""The environment of a container, resolved as the kubelet does (`makeEnvironmentVariables`).

Order: envFrom sources, then env entries (later ones win); `$(VAR)` references to earlier variables are expanded;
`$$` escapes a dollar. valueFrom supports fieldRef, configMapKeyRef and secretKeyRef.
"""
from __future__ import annotations

import base64
import re

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    def repl(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))
    return _REF.sub(repl, value)


def _field_ref(pod: dict, path: str) -> str:
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"), "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or []),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or []),
    }
    if path in simple:
        return simple[path] or ""
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    return ""


def secret_data(secret: dict) -> dict[str, bytes]:
    """A Secret's values: `data` (base64, as the apiserver stores and serves them), falling back to `stringData`
    for keys `data` lacks (an object stored before stringData was merged on write)."""
    out = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    for k, v in (secret.get("stringData") or {}).items():
        out.setdefault(k, str(v).encode())
    return out


def _data(store, kind: str, namespace: str, name: str) -> dict[str, str]:
    obj = store.get(kind, namespace, name) or {}
    if kind == "secrets":
        return {k: v.decode("utf-8", "replace") for k, v in secret_data(obj).items()}
    return dict(obj.get("data") or {})


def container_environment(store, pod: dict, container: dict) -> dict[str, str]:
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = _data(store, "configmaps", namespace, source["configMapRef"].get("name", ""))
        elif "secretRef" in source:
            data = _data(store, "secrets", namespace, source["secretRef"].get("name", ""))
        else:
            continue
        env.update({prefix + k: v for k, v in data.items()})
    for entry in container.get("env") or []:
        name = entry.get("name")
        if not name:
            continue
        if "valueFrom" in entry:
            source = entry["valueFrom"] or {}
            if "fieldRef" in source:
                value = _field_ref(pod, source["fieldRef"].get("fieldPath", ""))
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                value = _data(store, "configmaps", namespace, ref.get("name", "")).get(ref.get("key", ""), "")
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                value = _data(store, "secrets", namespace, ref.get("name", "")).get(ref.get("key", ""), "")
            else:
                value = ""
        else:
            value = expand(str(entry.get("value", "")), env)
        env[name] = value
    return env
