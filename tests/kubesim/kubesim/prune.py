"""What the Go types drop: a written object is stored and served as the apiserver would encode its typed form.

encoding/json omits a field tagged `omitempty` when it holds its zero value: "" for a string, false for a bool,
0 for a number, and a nil or empty slice or map. Pointer fields (`*bool`, `*int32`, `*string`) are omitted only
when nil, so their false/0/"" stay, and structs are never omitted. So after `PATCH {"spec":{"unschedulable":
false}}` a Node is served without `unschedulable` (`Unschedulable bool json:"unschedulable,omitempty"`), while a
Deployment keeps `replicas: 0` (`*int32`) and a claim keeps `storageClassName: ""` (`*string`).

The tables name the non-pointer omitempty fields (OMIT) of the kinds kubesim serves, from k8s.io/api
(core/v1, apps/v1, batch/v1 types.go) and apimachinery's ObjectMeta; a nested dict is a struct field (recursed into,
never dropped), EACH(struct) a list of structs (omitempty: dropped when empty, each item recursed into), and
ITEMS(struct) a list of structs without omitempty. Fields not named are kept as written.
"""
from __future__ import annotations

OMIT = "omit"


class EACH:
    def __init__(self, item: dict, omit: bool = True):
        self.item, self.omit = item, omit


def ITEMS(item: dict) -> EACH:  # noqa: N802 - reads as the table's vocabulary
    return EACH(item, omit=False)


OBJECT_META = {k: OMIT for k in ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
                                 "generation", "labels", "annotations", "ownerReferences", "finalizers")}
LABEL_SELECTOR = {"matchLabels": OMIT, "matchExpressions": OMIT}
CONTAINER_PORT = {"name": OMIT, "hostPort": OMIT, "protocol": OMIT, "hostIP": OMIT}
ENV_VAR = {"value": OMIT}
VOLUME_MOUNT = {"readOnly": OMIT, "subPath": OMIT, "subPathExpr": OMIT}
CONTAINER = {k: OMIT for k in ("image", "command", "args", "workingDir", "envFrom", "volumeDevices",
                               "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "stdin",
                               "stdinOnce", "tty", "resizePolicy", "targetContainerName")}
CONTAINER.update({"ports": EACH(CONTAINER_PORT), "env": EACH(ENV_VAR), "volumeMounts": EACH(VOLUME_MOUNT)})
TOLERATION = {"key": OMIT, "operator": OMIT, "value": OMIT, "effect": OMIT}
POD_SPEC = {k: OMIT for k in ("volumes", "restartPolicy", "dnsPolicy", "nodeSelector", "serviceAccountName",
                              "serviceAccount", "nodeName", "hostNetwork", "hostPID", "hostIPC", "imagePullSecrets",
                              "hostname", "subdomain", "schedulerName", "hostAliases", "priorityClassName",
                              "readinessGates", "topologySpreadConstraints", "schedulingGates", "resourceClaims")}
POD_SPEC.update({"containers": ITEMS(CONTAINER), "initContainers": EACH(CONTAINER),
                 "ephemeralContainers": EACH(CONTAINER), "tolerations": EACH(TOLERATION)})
POD_TEMPLATE = {"metadata": OBJECT_META, "spec": POD_SPEC}
TAINT = {"value": OMIT}
NODE_SPEC = {"podCIDR": OMIT, "podCIDRs": OMIT, "providerID": OMIT, "unschedulable": OMIT, "externalID": OMIT,
             "taints": EACH(TAINT)}
SERVICE_PORT = {"name": OMIT, "protocol": OMIT, "nodePort": OMIT}
SERVICE_SPEC = {k: OMIT for k in ("selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
                                  "loadBalancerIP", "loadBalancerSourceRanges", "externalName",
                                  "externalTrafficPolicy", "healthCheckNodePort", "publishNotReadyAddresses",
                                  "ipFamilies")}
SERVICE_SPEC["ports"] = EACH(SERVICE_PORT)
WORKLOAD_SPEC = {"selector": LABEL_SELECTOR, "template": POD_TEMPLATE, "minReadySeconds": OMIT}
PVC_SPEC = {"accessModes": OMIT, "volumeName": OMIT, "selector": LABEL_SELECTOR}

SPEC = {
    "pods": POD_SPEC,
    "nodes": NODE_SPEC,
    "services": SERVICE_SPEC,
    "deployments.apps": WORKLOAD_SPEC | {"strategy": {"type": OMIT}, "paused": OMIT},
    "replicasets.apps": WORKLOAD_SPEC,
    "statefulsets.apps": WORKLOAD_SPEC | {"serviceName": OMIT, "podManagementPolicy": OMIT,
                                          "volumeClaimTemplates": OMIT},
    "daemonsets.apps": WORKLOAD_SPEC,
    "jobs.batch": {"selector": LABEL_SELECTOR, "template": POD_TEMPLATE},
    "persistentvolumeclaims": PVC_SPEC,
}
TOP_LEVEL = {
    "secrets": {"data": OMIT, "stringData": OMIT, "type": OMIT},
    "configmaps": {"data": OMIT, "binaryData": OMIT},
}


def _zero(value) -> bool:
    return value is None or value is False or value == "" or (value == 0 and not isinstance(value, bool)) or \
        (isinstance(value, (list, dict)) and not value)


def _prune(obj: dict, table: dict) -> None:
    for field, rule in table.items():
        if field not in obj:
            continue
        value = obj[field]
        if rule == OMIT:
            if _zero(value):
                del obj[field]
        elif isinstance(rule, EACH):
            if rule.omit and _zero(value):
                del obj[field]
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        _prune(item, rule.item)
        elif isinstance(value, dict):
            _prune(value, rule)


def prune(rtype_key: str, obj: dict) -> dict:
    """Drop the zero values of omitempty fields in place (metadata, spec, and the top-level data maps)."""
    if isinstance(obj.get("metadata"), dict):
        _prune(obj["metadata"], OBJECT_META)
    spec = SPEC.get(rtype_key)
    if spec is not None and isinstance(obj.get("spec"), dict):
        _prune(obj["spec"], spec)
    top = TOP_LEVEL.get(rtype_key)
    if top is not None:
        _prune(obj, top)
    return obj
