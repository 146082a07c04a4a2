"""kubesim controllers: one module per controller of kube-controller-manager that the spec covers (§1-§4).

`register(cluster)` builds every controller as a cluster component and exposes the disruption controller as
`cluster.disruption` for the eviction subresource (`cluster.disruption.check_eviction(pod)`).
Imports happen inside register() so the pure modules (pod_ranking, hashing) load without the rest of kubesim.
"""
from __future__ import annotations


def register(cluster) -> list:
    from kubesim.controllers.daemonset import DaemonSetController
    from kubesim.controllers.deployment import DeploymentController
    from kubesim.controllers.disruption import DisruptionController
    from kubesim.controllers.endpoints import EndpointsController
    from kubesim.controllers.endpointslice import EndpointSliceController
    from kubesim.controllers.garbagecollector import GarbageCollector
    from kubesim.controllers.job import JobController
    from kubesim.controllers.persistentvolume import PersistentVolumeController
    from kubesim.controllers.replicaset import ReplicaSetController
    from kubesim.controllers.serviceaccount_tokens import TokensController
    from kubesim.controllers.statefulset import StatefulSetController
    from kubesim.controllers.taint_eviction import TaintEvictionController

    controllers = [
        GarbageCollector(cluster),
        DeploymentController(cluster),
        ReplicaSetController(cluster),
        StatefulSetController(cluster),
        DaemonSetController(cluster),
        JobController(cluster),
        EndpointsController(cluster),
        EndpointSliceController(cluster),
        TokensController(cluster),
        PersistentVolumeController(cluster),
        TaintEvictionController(cluster),
        DisruptionController(cluster),
    ]
    for controller in controllers:
        cluster.add_component(controller)
    cluster.disruption = controllers[-1]
    # The API server adds the `orphan` / `foregroundDeletion` finalizers only when a GC will remove them.
    cluster.gc_finalizers = True
    return controllers
