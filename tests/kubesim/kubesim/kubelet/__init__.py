"""kubesim's nodes: the default scheduler, the kubelets (one component for every Node) and the streaming
subresources (exec, attach, log, port-forward, pod and service proxy), and the pod network NetworkPolicy governs
(network.py). See images.py for the simulated images."""
from __future__ import annotations

from kubesim.kubelet.attach_handler import AttachHandler
from kubesim.kubelet.exec_handler import ExecHandler
from kubesim.kubelet.kubelet import Kubelet
from kubesim.kubelet.logs_handler import LogsHandler
from kubesim.kubelet.network import PodNetwork
from kubesim.kubelet.portforward_handler import PortForwardHandler
from kubesim.kubelet.proxy_handler import ProxyHandler
from kubesim.kubelet.scheduler import Scheduler


class _ProxyComponent:
    """Closes the proxy's HTTP client session when the cluster stops."""

    def __init__(self, proxy: ProxyHandler):
        self.proxy = proxy

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await self.proxy.close()


def register(cluster) -> Kubelet:
    """Add the scheduler and the kubelet to `cluster` and fill `cluster.connect_handlers`."""
    scheduler = Scheduler(cluster)
    kubelet = Kubelet(cluster)
    network = PodNetwork(cluster, kubelet)
    proxy = ProxyHandler(cluster, kubelet)
    cluster.add_component(scheduler)
    cluster.add_component(network)
    cluster.add_component(kubelet)
    cluster.add_component(_ProxyComponent(proxy))
    handlers = cluster.connect_handlers
    handlers[("pods", "exec")] = ExecHandler(cluster, kubelet)
    handlers[("pods", "attach")] = AttachHandler(cluster, kubelet)
    handlers[("pods", "log")] = LogsHandler(cluster, kubelet)
    handlers[("pods", "portforward")] = PortForwardHandler(cluster, kubelet)
    handlers[("pods", "proxy")] = proxy.pod_proxy
    handlers[("services", "proxy")] = proxy.service_proxy
    return kubelet
