"""Resolving the pod and container of a connect request, with the API server's error messages (§6)."""
from __future__ import annotations

from kubesim import errors


def query_bool(query, name: str, default: bool = False) -> bool:
    """runtime.Convert_Slice_string_To_bool: only "0" and case-insensitive "false" are false; a present empty
    value is true (spec §7). Both `true` and `True` spellings work."""
    if name not in query:
        return default
    value = query.getall(name)[0]
    return not (value == "0" or value.lower() == "false")


def query_int(query, name: str) -> int | None:
    if name not in query:
        return None
    raw = query.getall(name)[0]
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def get_pod(store, namespace: str, name: str) -> dict:
    pod = store.get("pods", namespace, name)
    if pod is None:
        raise errors.not_found("pods", name)
    return pod


def all_container_names(pod: dict) -> tuple[list[str], list[str], list[str]]:
    spec = pod["spec"]
    return ([c["name"] for c in spec.get("containers") or []],
            [c["name"] for c in spec.get("initContainers") or []],
            [c["name"] for c in spec.get("ephemeralContainers") or []])


def container_spec(pod: dict, name: str) -> dict | None:
    spec = pod["spec"]
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            if c["name"] == name:
                return c
    return None


def resolve_container(pod: dict, requested: str | None) -> str:
    """validateContainer / the default-container rule of the pod log, exec and attach REST storage."""
    name = pod["metadata"]["name"]
    containers, inits, ephemerals = all_container_names(pod)
    if not requested:
        default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        if len(containers) == 1:
            return containers[0]
        if default and default in containers:
            return default
        message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if inits:
            message += f" or one of the init containers: [{' '.join(inits)}]"
        if ephemerals:
            message += f" or one of the ephemeral containers: [{' '.join(ephemerals)}]"
        raise errors.bad_request(message)
    if requested not in containers + inits + ephemerals:
        raise errors.bad_request(f"container {requested} is not valid for pod {name}")
    return requested
