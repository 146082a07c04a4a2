"""The common start of the kubelet's streaming handlers (exec, attach, port-forward, logs)."""
from __future__ import annotations

from kubesim import errors
from kubesim.kubelet.lookup import get_pod


class PodHandler:
    """A connect handler for one pod subresource: it needs the cluster (store, faults) and the kubelet (the
    sandboxes that run the containers)."""

    def __init__(self, cluster, kubelet):
        self.cluster = cluster
        self.kubelet = kubelet

    def scheduled_pod(self, ctx) -> dict:
        """The pod, or the apiserver's errors: 404 when it does not exist, 400 when no node runs it yet."""
        pod = get_pod(self.cluster.store, ctx.namespace, ctx.name)
        if not pod["spec"].get("nodeName"):
            raise errors.bad_request(f"pod {ctx.name} does not have a host assigned")
        return pod
