"""Defaults the real API server applies (pkg/apis/*/v1/defaults.go and the default admission plugins), §5.1.

Defaulting runs on every decode, so it is applied on create *and* on update/patch (it only fills missing fields).
Admission defaults (service account, priority, default tolerations) run on create only.
"""
from __future__ import annotations

import base64
import uuid


def _image_pull_policy(image: str) -> str:
    # Always when the tag is `latest` or missing (a digest counts as a tag), else IfNotPresent.
    ref = image.rsplit("/", 1)[-1]
    if "@" in ref:
        return "IfNotPresent"
    if ":" not in ref:
        return "Always"
    return "Always" if ref.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _probe(p: dict | None):
    if not isinstance(p, dict):
        return
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    if isinstance(p.get("httpGet"), dict):
        p["httpGet"].setdefault("path", "/")
        p["httpGet"].setdefault("scheme", "HTTP")


def default_container(c: dict):
    if not isinstance(c, dict):
        return
    if "imagePullPolicy" not in c and isinstance(c.get("image"), str) and c.get("image"):
        c["imagePullPolicy"] = _image_pull_policy(c["image"])
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    res = c["resources"]
    if isinstance(res, dict) and isinstance(res.get("limits"), dict):
        # requests default to limits (SetDefaults_Container / defaultResources)
        req = res.setdefault("requests", {})
        if isinstance(req, dict):
            for k, v in res["limits"].items():
                req.setdefault(k, v)
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        if isinstance(env, dict) and isinstance(env.get("valueFrom"), dict):
            fr = env["valueFrom"].get("fieldRef")
            if isinstance(fr, dict):
                fr.setdefault("apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))


def default_pod_spec(spec: dict):
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            default_container(c)
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        sources = [k for k in v if k != "name"]
        if not sources:
            v["emptyDir"] = {}
        for k in ("configMap", "secret"):
            if isinstance(v.get(k), dict):
                v[k].setdefault("defaultMode", 420)
        if isinstance(v.get("projected"), dict):
            v["projected"].setdefault("defaultMode", 420)


def _qos_class(spec: dict) -> str:
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = (c or {}).get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim.get(r)) != lim.get(r):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod: dict, *, create: bool):
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    if create:
        # Admission plugins: ServiceAccount, Priority, DefaultTolerationSeconds.
        sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = sa
        spec["serviceAccount"] = sa
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tolerations = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(isinstance(t, dict) and t.get("key") == key for t in tolerations):
                tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": 300})
        pod["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}


def default_template(obj: dict):
    tmpl = (obj.get("spec") or {}).get("template")
    if isinstance(tmpl, dict):
        tmpl.setdefault("metadata", {})
        default_pod_spec(tmpl.setdefault("spec", {}))


def default_deployment(d: dict):
    spec = d.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    default_template(d)


def default_replicaset(rs: dict):
    rs.setdefault("spec", {}).setdefault("replicas", 1)
    default_template(rs)


def default_statefulset(s: dict):
    spec = s.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    us = spec.setdefault("updateStrategy", {})
    us.setdefault("type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        us.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    default_template(s)


def default_daemonset(ds: dict):
    spec = ds.setdefault("spec", {})
    us = spec.setdefault("updateStrategy", {})
    us.setdefault("type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        ru = us.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    default_template(ds)


def default_job(job: dict, *, create: bool):
    spec = job.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    if spec.get("completionMode", "NonIndexed") == "NonIndexed" or "completions" not in spec:
        spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    default_template(job)
    tmpl = spec.get("template") or {}
    if create and not spec.get("manualSelector"):
        # The job strategy generates the selector from the uid (batch strategy generateSelector).
        uid = job["metadata"]["uid"]
        name = job["metadata"]["name"]
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = tmpl.setdefault("metadata", {}).setdefault("labels", {})
        labels.setdefault("batch.kubernetes.io/controller-uid", uid)
        labels.setdefault("batch.kubernetes.io/job-name", name)
        labels.setdefault("controller-uid", uid)
        labels.setdefault("job-name", name)


def default_service(svc: dict):
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
    svc.setdefault("status", {"loadBalancer": {}})


def default_namespace(ns: dict):
    name = ns["metadata"]["name"]
    ns["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    ns.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    ns.setdefault("status", {}).setdefault("phase", "Active")


def default_secret(s: dict):
    s.setdefault("type", "Opaque")
    # Convert_v1_Secret_To_core_Secret: stringData is write-only; its keys are merged into data (base64),
    # overriding data's, and the field itself is never stored or served.
    string_data = s.pop("stringData", None)
    if string_data:
        data = s.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def default_pvc(pvc: dict):
    """SetDefaults_PersistentVolumeClaimSpec; PrepareForCreate starts the claim Pending (the PV controller binds it,
    and kubesim has neither that controller's binding nor a provisioner, so it stays Pending)."""
    spec = pvc.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")


def default_pv(pv: dict):
    spec = pv.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")


def default_storageclass(sc: dict):
    sc.setdefault("reclaimPolicy", "Delete")
    sc.setdefault("volumeBindingMode", "Immediate")


def default_crd(crd: dict):
    """apiextensions v1 SetDefaults_CustomResourceDefinitionSpec."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})


def default_pdb(p: dict):
    p.setdefault("status", {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                            "expectedPods": 0})


def default_networkpolicy(np: dict):
    """pkg/apis/networking/v1/defaults.go: every port's protocol is TCP unless given; policyTypes, when empty, is
    Ingress plus Egress when there are egress rules. podSelector is a struct (never null): {}."""
    spec = np.setdefault("spec", {})
    if spec.get("podSelector") is None:
        spec["podSelector"] = {}
    for rules in (spec.get("ingress") or [], spec.get("egress") or []):
        for rule in rules:
            for port in (rule or {}).get("ports") or []:
                if isinstance(port, dict) and not port.get("protocol"):
                    port["protocol"] = "TCP"
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def new_uid() -> str:
    return str(uuid.uuid4())


DEFAULTERS = {
    "deployments.apps": default_deployment,
    "replicasets.apps": default_replicaset,
    "statefulsets.apps": default_statefulset,
    "daemonsets.apps": default_daemonset,
    "services": default_service,
    "secrets": default_secret,
    "persistentvolumeclaims": default_pvc,
    "persistentvolumes": default_pv,
    "storageclasses.storage.k8s.io": default_storageclass,
    "customresourcedefinitions.apiextensions.k8s.io": default_crd,
    "networkpolicies.networking.k8s.io": default_networkpolicy,
}


def apply_defaults(rtype_key: str, obj: dict, *, create: bool):
    if rtype_key == "pods":
        default_pod(obj, create=create)
    elif rtype_key == "jobs.batch":
        default_job(obj, create=create)
    elif rtype_key == "namespaces":
        default_namespace(obj)
    elif rtype_key == "poddisruptionbudgets.policy":
        if create:
            default_pdb(obj)
    elif rtype_key in DEFAULTERS:
        DEFAULTERS[rtype_key](obj)
