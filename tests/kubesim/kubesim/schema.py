"""Type checking of request bodies, as the real server's JSON decoding into Go structs does.

A body whose fields have the wrong JSON type (a list where the PodSpec object belongs, a string for a port number)
is rejected with 400 BadRequest `<Kind> in version "<v>" cannot be handled as a <Kind>: json: cannot unmarshal
<json type> into Go struct field <Kind>.<path> of type <Go type>`, before defaulting or validation sees it.
Only the fields kubesim's own logic reads are described; everything else passes through untouched.
"""
from __future__ import annotations

from kubesim import errors

# Leaf types: (python types accepted, Go type name for the message)
STR = ((str,), "string")
INT = ((int,), "int32")
INT64 = ((int,), "int64")
BOOL = ((bool,), "bool")
INT_OR_STR = ((int, str), "intstr.IntOrString")
STR_MAP = ("map", "map[string]string")
STR_LIST = ("list", STR, "[]string")


def obj(go: str, fields: dict):
    return ("obj", go, fields)


def lst(item, go: str):
    return ("list", item, go)


OWNER_REF = obj("v1.OwnerReference", {"apiVersion": STR, "kind": STR, "name": STR, "uid": STR,
                                      "controller": BOOL, "blockOwnerDeletion": BOOL})
OBJECT_META = obj("v1.ObjectMeta", {
    "name": STR, "generateName": STR, "namespace": STR, "uid": STR, "resourceVersion": STR, "generation": INT64,
    "labels": STR_MAP, "annotations": STR_MAP, "finalizers": STR_LIST,
    "ownerReferences": lst(OWNER_REF, "[]v1.OwnerReference")})
CONTAINER_PORT = obj("v1.ContainerPort", {"containerPort": INT, "hostPort": INT, "name": STR, "protocol": STR})
ENV_VAR = obj("v1.EnvVar", {"name": STR, "value": STR, "valueFrom": obj("v1.EnvVarSource", {})})
RESOURCES = obj("v1.ResourceRequirements", {"limits": ("map", "v1.ResourceList"),
                                            "requests": ("map", "v1.ResourceList")})
PROBE = obj("v1.Probe", {"httpGet": obj("v1.HTTPGetAction", {"path": STR, "port": INT_OR_STR, "scheme": STR}),
                         "timeoutSeconds": INT, "periodSeconds": INT, "successThreshold": INT,
                         "failureThreshold": INT, "initialDelaySeconds": INT})
CONTAINER_FIELDS = {
    "name": STR, "image": STR, "imagePullPolicy": STR, "command": STR_LIST, "args": STR_LIST, "workingDir": STR,
    "ports": lst(CONTAINER_PORT, "[]v1.ContainerPort"), "env": lst(ENV_VAR, "[]v1.EnvVar"),
    "resources": RESOURCES, "volumeMounts": lst(obj("v1.VolumeMount", {"name": STR, "mountPath": STR}),
                                                "[]v1.VolumeMount"),
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE, "stdin": BOOL, "tty": BOOL,
    "terminationMessagePath": STR, "terminationMessagePolicy": STR, "targetContainerName": STR}
CONTAINER = obj("v1.Container", CONTAINER_FIELDS)
EPHEMERAL = obj("v1.EphemeralContainer", CONTAINER_FIELDS)
TOLERATION = obj("v1.Toleration", {"key": STR, "operator": STR, "value": STR, "effect": STR,
                                   "tolerationSeconds": INT64})
POD_SPEC = obj("v1.PodSpec", {
    "containers": lst(CONTAINER, "[]v1.Container"), "initContainers": lst(CONTAINER, "[]v1.Container"),
    "ephemeralContainers": lst(EPHEMERAL, "[]v1.EphemeralContainer"),
    "volumes": lst(obj("v1.Volume", {"name": STR}), "[]v1.Volume"),
    "tolerations": lst(TOLERATION, "[]v1.Toleration"), "nodeSelector": STR_MAP, "nodeName": STR,
    "restartPolicy": STR, "terminationGracePeriodSeconds": INT64, "activeDeadlineSeconds": INT64,
    "dnsPolicy": STR, "serviceAccountName": STR, "serviceAccount": STR, "schedulerName": STR,
    "hostNetwork": BOOL, "priority": INT, "securityContext": obj("v1.PodSecurityContext", {}),
    "schedulingGates": lst(obj("v1.PodSchedulingGate", {"name": STR}), "[]v1.PodSchedulingGate")})
LABEL_SELECTOR = obj("v1.LabelSelector", {
    "matchLabels": STR_MAP,
    "matchExpressions": lst(obj("v1.LabelSelectorRequirement",
                                {"key": STR, "operator": STR, "values": STR_LIST}),
                            "[]v1.LabelSelectorRequirement")})
TEMPLATE = obj("v1.PodTemplateSpec", {"metadata": OBJECT_META, "spec": POD_SPEC})
WORKLOAD_SPEC = {"replicas": INT, "selector": LABEL_SELECTOR, "template": TEMPLATE, "minReadySeconds": INT,
                 "revisionHistoryLimit": INT, "paused": BOOL, "serviceName": STR}
SERVICE_PORT = obj("v1.ServicePort", {"name": STR, "protocol": STR, "port": INT, "targetPort": INT_OR_STR,
                                      "nodePort": INT})
SERVICE_SPEC = obj("v1.ServiceSpec", {"ports": lst(SERVICE_PORT, "[]v1.ServicePort"), "selector": STR_MAP,
                                      "clusterIP": STR, "clusterIPs": STR_LIST, "type": STR,
                                      "publishNotReadyAddresses": BOOL, "sessionAffinity": STR})

_SPEC_BY_KEY = {
    "pods": POD_SPEC,
    "services": SERVICE_SPEC,
    "deployments.apps": obj("v1.DeploymentSpec", WORKLOAD_SPEC | {"strategy": obj("v1.DeploymentStrategy", {
        "type": STR})}),
    "replicasets.apps": obj("v1.ReplicaSetSpec", WORKLOAD_SPEC),
    "statefulsets.apps": obj("v1.StatefulSetSpec", WORKLOAD_SPEC),
    "daemonsets.apps": obj("v1.DaemonSetSpec", WORKLOAD_SPEC),
    "jobs.batch": obj("v1.JobSpec", {"template": TEMPLATE, "selector": LABEL_SELECTOR, "parallelism": INT,
                                     "completions": INT, "backoffLimit": INT, "suspend": BOOL,
                                     "manualSelector": BOOL}),
    "poddisruptionbudgets.policy": obj("v1.PodDisruptionBudgetSpec", {"selector": LABEL_SELECTOR,
                                                                      "minAvailable": INT_OR_STR,
                                                                      "maxUnavailable": INT_OR_STR}),
    "namespaces": obj("v1.NamespaceSpec", {"finalizers": STR_LIST}),
}
_DATA_MAPS = {"configmaps": ("data", "binaryData"), "secrets": ("data", "stringData")}


def _json_type(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


class _Mismatch(Exception):
    def __init__(self, path, value, go):
        super().__init__(path)
        self.path, self.value, self.go = path, value, go


def _check(value, schema, path: str):
    if value is None:
        return  # null is the zero value
    kind = schema[0]
    if kind == "obj":
        if not isinstance(value, dict):
            raise _Mismatch(path, value, schema[1])
        for k, sub in schema[2].items():
            if k in value:
                _check(value[k], sub, f"{path}.{k}")
    elif kind == "list":
        if not isinstance(value, list):
            raise _Mismatch(path, value, schema[2])
        for i, item in enumerate(value):
            _check(item, schema[1], path)
    elif kind == "map":
        if not isinstance(value, dict):
            raise _Mismatch(path, value, schema[1])
        if schema is STR_MAP:
            for k, v in value.items():
                if v is not None and not isinstance(v, str):
                    raise _Mismatch(f"{path}", v, "string")
    else:
        types, go = schema
        if isinstance(value, bool) and bool not in types:
            raise _Mismatch(path, value, go)
        if not isinstance(value, types):
            raise _Mismatch(path, value, go)


def check_body(rtype, body: dict):
    """Raise 400 like the real decoder when a known field has the wrong JSON type."""
    r = rtype
    fields = {"metadata": OBJECT_META}
    if r.key in _SPEC_BY_KEY:
        fields["spec"] = _SPEC_BY_KEY[r.key]
    for k in _DATA_MAPS.get(r.key, ()):
        fields[k] = STR_MAP
    if r.has_status:
        fields["status"] = obj(f"v1.{r.kind}Status", {})
    try:
        _check(body, obj(r.kind, fields), r.kind)
    except _Mismatch as m:
        where = f" into Go struct field {m.path} of type {m.go}" if "." in m.path else f" into Go value of type {m.go}"
        raise errors.bad_request(f'{r.kind} in version "{r.version}" cannot be handled as a {r.kind}: json: cannot '
                                 f"unmarshal {_json_type(m.value)}{where}") from None
