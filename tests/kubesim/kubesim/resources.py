"""The resource types kubesim serves, and the discovery documents built from them.

One ResourceType per (group, resource). Subresources are listed by name; their discovery entries (kind, verbs)
come from SUBRESOURCE_INFO so `kubectl api-resources` and the dynamic client see what a real server shows.
"""
from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for core
    version: str  # "v1"
    kind: str  # "Pod"
    plural: str  # "pods"
    namespaced: bool
    singular: str
    short_names: tuple = ()
    verbs: tuple = ALL_VERBS
    subresources: tuple = ()  # ("status", "log", "exec", ...)
    categories: tuple = ()
    # True when metadata.generation is tracked (bumped on spec changes).
    has_generation: bool = False
    # True when the main resource ignores status changes (a status subresource exists).
    has_status: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def group_resource(self) -> str:
        """`pods` or `deployments.apps`: how errors name the resource (§6)."""
        return self.key


# Discovery information for subresources: name -> (kind, group, version, verbs).
# group/version None means the parent's group/version.
SUBRESOURCE_INFO = {
    "status": (None, None, None, ("get", "patch", "update")),
    "scale": ("Scale", "autoscaling", "v1", ("get", "patch", "update")),
    "log": ("Pod", None, None, ("get",)),
    "exec": ("PodExecOptions", None, None, ("create", "get")),
    "attach": ("PodAttachOptions", None, None, ("create", "get")),
    "portforward": ("PodPortForwardOptions", None, None, ("create", "get")),
    "proxy": (None, None, None, ("create", "delete", "get", "patch", "update")),
    "ephemeralcontainers": ("Pod", None, None, ("get", "patch", "update")),
    "eviction": ("Eviction", "policy", "v1", ("create",)),
    "binding": ("Binding", None, None, ("create",)),
    "token": ("TokenRequest", "authentication.k8s.io", "v1", ("create",)),
}
PROXY_KINDS = {"pods": "PodProxyOptions", "services": "ServiceProxyOptions", "nodes": "NodeProxyOptions"}

_WORKLOAD = ("all",)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    # core/v1
    ResourceType("", "v1", "Namespace", "namespaces", False, "namespace", ("ns",),
                 ("create", "delete", "get", "list", "patch", "update", "watch"), ("status", "finalize"),
                 has_status=True),
    ResourceType("", "v1", "Pod", "pods", True, "pod", ("po",), ALL_VERBS,
                 ("attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward", "proxy",
                  "status"), _WORKLOAD, has_generation=True, has_status=True),
    ResourceType("", "v1", "Service", "services", True, "service", ("svc",),
                 ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
                 ("proxy", "status"), _WORKLOAD, has_status=True),
    ResourceType("", "v1", "Binding", "bindings", True, "binding", (), ("create",)),
    ResourceType("", "v1", "Endpoints", "endpoints", True, "endpoints", ("ep",)),
    ResourceType("", "v1", "Event", "events", True, "event", ("ev",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, "configmap", ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", True, "secret"),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, "serviceaccount", ("sa",), ALL_VERBS,
                 ("token",)),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, "persistentvolumeclaim",
                 ("pvc",), ALL_VERBS, ("status",), has_status=True),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", False, "persistentvolume", ("pv",), ALL_VERBS,
                 ("status",), has_status=True),
    ResourceType("", "v1", "Node", "nodes", False, "node", ("no",), ALL_VERBS, ("proxy", "status"),
                 has_status=True),
    # apps/v1
    ResourceType("apps", "v1", "Deployment", "deployments", True, "deployment", ("deploy",), ALL_VERBS,
                 ("scale", "status"), _WORKLOAD, has_generation=True, has_status=True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, "replicaset", ("rs",), ALL_VERBS,
                 ("scale", "status"), _WORKLOAD, has_generation=True, has_status=True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, "statefulset", ("sts",), ALL_VERBS,
                 ("scale", "status"), _WORKLOAD, has_generation=True, has_status=True),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, "daemonset", ("ds",), ALL_VERBS,
                 ("status",), _WORKLOAD, has_generation=True, has_status=True),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", True, "controllerrevision"),
    # batch/v1
    ResourceType("batch", "v1", "Job", "jobs", True, "job", (), ALL_VERBS, ("status",), _WORKLOAD,
                 has_generation=True, has_status=True),
    # discovery.k8s.io/v1
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, "endpointslice"),
    # policy/v1
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "poddisruptionbudget",
                 ("pdb",), ALL_VERBS, ("status",), has_generation=True, has_status=True),
    # networking.k8s.io/v1
    ResourceType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, "networkpolicy",
                 ("netpol",), has_generation=True),
    # autoscaling/v2
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True,
                 "horizontalpodautoscaler", ("hpa",), ALL_VERBS, ("status",), ("all",), has_status=True),
    # coordination.k8s.io/v1: leases (leader election of tools that run against the cluster)
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True, "lease"),
    # storage.k8s.io/v1: stored and served; no provisioner acts on them
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, "storageclass", ("sc",)),
    # apiextensions.k8s.io/v1: the CRD objects themselves (custom resources are not served)
    ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
                 "customresourcedefinition", ("crd", "crds"), ALL_VERBS, ("status",), ("api-extensions",),
                 has_generation=True, has_status=True),
    # rbac.authorization.k8s.io/v1: stored so manifests apply; authorization itself comes from --rbac
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True, "role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, "rolebinding"),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, "clusterrole"),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False,
                 "clusterrolebinding"),
    # review APIs (create only, answered from the authenticator/authorizer, never stored)
    ResourceType("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False,
                 "selfsubjectreview", (), ("create",)),
    ResourceType("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
                 "selfsubjectaccessreview", (), ("create",)),
    ResourceType("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", True,
                 "selfsubjectrulesreview", (), ("create",)),
)

# Review resources are answered, not stored.
VIRTUAL_RESOURCES = {"selfsubjectreviews.authentication.k8s.io", "selfsubjectaccessreviews.authorization.k8s.io",
                     "selfsubjectrulesreviews.authorization.k8s.io"}

_BY_KEY = {r.key: r for r in RESOURCE_TYPES}
_BY_GVR = {(r.group, r.version, r.plural): r for r in RESOURCE_TYPES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCE_TYPES}


def rt(key) -> ResourceType:
    """Resolve "pods", "replicasets.apps" (or a ResourceType, returned as is)."""
    if isinstance(key, ResourceType):
        return key
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown resource {key!r}") from None


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_GVR.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType:
    return _BY_KIND[(api_version, kind)]


def all_types() -> tuple[ResourceType, ...]:
    return RESOURCE_TYPES


def group_versions() -> dict[str, list[str]]:
    """group -> versions served, in registration order (core excluded)."""
    out: dict[str, list[str]] = {}
    for r in RESOURCE_TYPES:
        if r.group:
            versions = out.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
    return out


# ---------------------------------------------------------------------------------------------- discovery docs

def api_versions_doc(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list_doc() -> dict:
    groups = []
    for group, versions in group_versions().items():
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": vs, "preferredVersion": vs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group_doc(group: str) -> dict | None:
    versions = group_versions().get(group)
    if not versions:
        return None
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": vs, "preferredVersion": vs[0]}


def resource_list_doc(group: str, version: str) -> dict | None:
    types = [r for r in RESOURCE_TYPES if r.group == group and r.version == version]
    if not types:
        return None
    resources = []
    for r in types:
        entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for sub in r.subresources:
            kind, sgroup, sversion, verbs = SUBRESOURCE_INFO.get(sub, (None, None, None, ("get",)))
            if sub == "proxy":
                kind = PROXY_KINDS.get(r.plural, "ProxyOptions")
            entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                     "kind": kind or r.kind, "verbs": list(verbs)}
            if sgroup:
                entry["group"] = sgroup
                entry["version"] = sversion
            resources.append(entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
