"""How many pods a node takes: the kubelet's `--max-pods` (default 110), advertised as the Node's
`status.capacity.pods` / `status.allocatable.pods` and enforced by the scheduler's NodeResourcesFit filter
("Too many pods")."""
from __future__ import annotations

import logging

log = logging.getLogger("kubesim.kubelet")

DEFAULT_MAX_PODS = 110   # kubelet --max-pods default (KubeletConfiguration.maxPods)


def configured_max_pods(options) -> int:
    """`max_pods_per_node` from the ClusterOptions field if it exists, else from `options.extra`, else 110.
    A bad value is reported on stderr and replaced by the default."""
    value = getattr(options, "max_pods_per_node", None)
    if value is None:
        value = (getattr(options, "extra", None) or {}).get("max_pods_per_node")
    if value is None:
        return DEFAULT_MAX_PODS
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        log.warning("max_pods_per_node must be a positive integer, not %r; using %d", value, DEFAULT_MAX_PODS)
        return DEFAULT_MAX_PODS
    return number


def allocatable_pods(node: dict) -> int:
    """The pod count the node offers to the scheduler (`status.allocatable.pods`, a plain integer quantity)."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    try:
        return int(str(allocatable.get("pods")))
    except ValueError:
        return DEFAULT_MAX_PODS
