"""Create/update validation, with the field errors of pkg/apis/core/validation (spec §5.1, §5.3).

Each function returns a list of errors.FieldError; Api turns a non-empty list into 422 Invalid.
"""
from __future__ import annotations

import ipaddress
import json
import re

from kubesim.errors import FieldError
from kubesim.selectors import from_label_selector_object

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                      "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
                      "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")

UPDATABLE_POD_SPEC_FIELDS = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
]

# Resources whose names are DNS-1123 labels (namespaces) or DNS-1035 labels (services); others are subdomains.
_NAME_RULES = {"namespaces": (_DNS1123_LABEL, LABEL_MSG, 63), "services": (_DNS1035_LABEL, DNS1035_MSG, 63)}


def validate_name(rtype_key: str, name) -> list[FieldError]:
    if not isinstance(name, str) or not name:
        return [FieldError.required("metadata.name", "name or generateName is required")]
    rx, msg, max_len = _NAME_RULES.get(rtype_key, (_DNS1123_SUBDOMAIN, SUBDOMAIN_MSG, 253))
    if len(name) > max_len:
        return [FieldError.invalid("metadata.name", name, f"must be no more than {max_len} characters")]
    if not rx.match(name):
        return [FieldError.invalid("metadata.name", name, msg)]
    return []


def validate_labels(labels, path: str = "metadata.labels") -> list[FieldError]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [FieldError.invalid(path, labels, "must be a map of string keys to string values")]
    errs = []
    for k, v in labels.items():
        errs += _validate_qualified_key(k, path)
        if not isinstance(v, str):
            errs.append(FieldError.invalid(path, v, "must be a string"))
        elif len(v) > 63:
            errs.append(FieldError.invalid(path, v, "must be no more than 63 characters"))
        elif not _LABEL_VALUE.match(v):
            errs.append(FieldError.invalid(path, v, LABEL_VALUE_MSG))
    return errs


def _validate_qualified_key(k: str, path: str) -> list[FieldError]:
    prefix, _, name = k.rpartition("/")
    errs = []
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        errs.append(FieldError.invalid(path, k, "prefix part " + SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        errs.append(FieldError.invalid(path, k, QUALIFIED_NAME_MSG))
    return errs


def validate_metadata(rtype_key: str, obj: dict) -> list[FieldError]:
    meta = obj.get("metadata") or {}
    errs = validate_name(rtype_key, meta.get("name"))
    errs += validate_labels(meta.get("labels"))
    ann = meta.get("annotations")
    if ann is not None and (not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values())):
        errs.append(FieldError.invalid("metadata.annotations", ann, "must be a map of string keys to string values"))
    return errs


# ----------------------------------------------------------------------------------------------------- pods

def _validate_containers(containers, path: str, required: bool, seen: set) -> list[FieldError]:
    errs = []
    if not containers:
        if required:
            errs.append(FieldError.required(path))
        return errs
    if not isinstance(containers, list):
        return [FieldError.invalid(path, containers, "must be a list")]
    for i, c in enumerate(containers):
        p = f"{path}[{i}]"
        if not isinstance(c, dict):
            errs.append(FieldError.invalid(p, c, "must be an object"))
            continue
        name = c.get("name")
        if not name:
            errs.append(FieldError.required(f"{p}.name"))
        elif not isinstance(name, str) or not _DNS1123_LABEL.match(name):
            errs.append(FieldError.invalid(f"{p}.name", name, LABEL_MSG))
        elif name in seen:
            errs.append(FieldError.duplicate(f"{p}.name", name))
        else:
            seen.add(name)
        image = c.get("image")
        if not image:
            errs.append(FieldError.required(f"{p}.image"))
        elif not isinstance(image, str) or image != image.strip():
            errs.append(FieldError.invalid(f"{p}.image", image, "must not have leading or trailing whitespace"))
        ipp = c.get("imagePullPolicy")
        if ipp not in (None, "Always", "IfNotPresent", "Never"):
            errs.append(FieldError.not_supported(f"{p}.imagePullPolicy", ipp, ["Always", "IfNotPresent", "Never"]))
        for j, port in enumerate(c.get("ports") or []):
            cp = (port or {}).get("containerPort")
            if not isinstance(cp, int) or not 0 < cp < 65536:
                errs.append(FieldError.invalid(f"{p}.ports[{j}].containerPort", cp,
                                               "must be between 1 and 65535, inclusive"))
    return errs


def validate_pod_spec(spec, path: str = "spec") -> list[FieldError]:
    if not isinstance(spec, dict):
        return [FieldError.required(path)]
    seen: set = set()
    errs = _validate_containers(spec.get("containers"), f"{path}.containers", True, seen)
    errs += _validate_containers(spec.get("initContainers"), f"{path}.initContainers", False, seen)
    rp = spec.get("restartPolicy")
    if rp not in (None, "Always", "OnFailure", "Never"):
        errs.append(FieldError.not_supported(f"{path}.restartPolicy", rp, ["Always", "OnFailure", "Never"]))
    dp = spec.get("dnsPolicy")
    if dp not in (None, "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        errs.append(FieldError.not_supported(f"{path}.dnsPolicy", dp,
                                             ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]))
    vnames = set()
    for i, v in enumerate(spec.get("volumes") or []):
        n = (v or {}).get("name")
        if not n:
            errs.append(FieldError.required(f"{path}.volumes[{i}].name"))
        elif n in vnames:
            errs.append(FieldError.duplicate(f"{path}.volumes[{i}].name", n))
        vnames.add(n)
    return errs


def validate_pod_create(pod: dict) -> list[FieldError]:
    spec = pod.get("spec")
    errs = validate_pod_spec(spec)
    if isinstance(spec, dict) and spec.get("ephemeralContainers"):
        errs.append(FieldError.forbidden("spec.ephemeralContainers", "cannot be set on create"))
    return errs


def _normalize(o):
    """Semantic equality treats nil and empty slices/maps alike: drop None and empty lists."""
    if isinstance(o, dict):
        return {k: _normalize(v) for k, v in o.items() if v is not None and v != []}
    if isinstance(o, list):
        return [_normalize(v) for v in o]
    return o


def spec_diff(old, new, path: str = "") -> list[str]:
    """A readable diff in place of Go's cmp.Diff (the first line of the message is what clients match)."""
    out: list[str] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            if old.get(k) != new.get(k):
                out += spec_diff(old.get(k), new.get(k), f"{path}.{k}" if path else k)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            if a != b:
                out += spec_diff(a, b, f"{path}[{i}]")
    else:
        out.append(f"- \t{path}: {json.dumps(old)}")
        out.append(f"+ \t{path}: {json.dumps(new)}")
    return out


def validate_pod_update(new: dict, old: dict) -> list[FieldError]:
    """ValidatePodUpdate (§5.1): only the updatable fields may change."""
    errs: list[FieldError] = []
    nspec, ospec = new.get("spec") or {}, old.get("spec") or {}
    ncs, ocs = nspec.get("containers") or [], ospec.get("containers") or []
    nics, oics = nspec.get("initContainers") or [], ospec.get("initContainers") or []
    if len(ncs) != len(ocs):
        errs.append(FieldError.forbidden("spec.containers", "pod updates may not add or remove containers"))
        return errs
    if len(nics) != len(oics):
        errs.append(FieldError.forbidden("spec.initContainers", "pod updates may not add or remove containers"))
        return errs
    for key, lst in (("containers", ncs), ("initContainers", nics)):
        for i, c in enumerate(lst):
            image = (c or {}).get("image")
            if not image:
                errs.append(FieldError.required(f"spec.{key}[{i}].image"))
            elif not isinstance(image, str) or image != image.strip():
                errs.append(FieldError.invalid(f"spec.{key}[{i}].image", image,
                                               "must not have leading or trailing whitespace"))
    # activeDeadlineSeconds: nil -> positive, positive -> smaller.
    nads, oads = nspec.get("activeDeadlineSeconds"), ospec.get("activeDeadlineSeconds")
    if nads is not None and (not isinstance(nads, int) or nads < 0 or nads > 2147483647):
        errs.append(FieldError.invalid("spec.activeDeadlineSeconds", nads,
                                       "must be between 0 and 2147483647, inclusive"))
    elif oads is not None and nads is None:
        errs.append(FieldError.invalid("spec.activeDeadlineSeconds", None,
                                       "must not update from a positive integer to nil value"))
    elif oads is not None and nads is not None and nads > oads:
        errs.append(FieldError.invalid("spec.activeDeadlineSeconds", nads,
                                       "must be less than or equal to previous value"))
    # tolerations: additions only; existing ones may only change tolerationSeconds.
    nts, ots = nspec.get("tolerations") or [], ospec.get("tolerations") or []

    def _tkey(t):
        t = dict(t or {})
        t.pop("tolerationSeconds", None)
        return json.dumps(t, sort_keys=True)

    new_keys = [_tkey(t) for t in nts]
    for t in ots:
        if _tkey(t) not in new_keys:
            errs.append(FieldError.forbidden("spec.tolerations",
                                             "existing toleration can not be modified except its tolerationSeconds"))
            break
    if errs:
        return errs
    # Munge the updatable fields and compare the rest.
    munged = json.loads(json.dumps(nspec))
    for key, olds in (("containers", ocs), ("initContainers", oics)):
        for c, oc in zip(munged.get(key) or [], olds):
            if isinstance(c, dict) and isinstance(oc, dict) and "image" in oc:
                c["image"] = oc["image"]
    for k in ("activeDeadlineSeconds", "tolerations"):
        if k in ospec:
            munged[k] = ospec[k]
        else:
            munged.pop(k, None)
    otg, ntg = ospec.get("terminationGracePeriodSeconds"), nspec.get("terminationGracePeriodSeconds")
    if isinstance(otg, int) and otg < 0 and ntg == 1:
        munged["terminationGracePeriodSeconds"] = otg
    ogates, ngates = ospec.get("schedulingGates") or [], nspec.get("schedulingGates") or []
    if all(g in ogates for g in ngates):  # deletions only
        if "schedulingGates" in ospec:
            munged["schedulingGates"] = ospec["schedulingGates"]
        else:
            munged.pop("schedulingGates", None)
    if _normalize(munged) != _normalize(ospec):
        diff = "\n".join(["  core.PodSpec{"] + spec_diff(_normalize(ospec), _normalize(munged)) + ["  }"])
        errs.append(FieldError.forbidden(
            "spec", "pod updates may not change fields other than " + ",".join(UPDATABLE_POD_SPEC_FIELDS) +
            "\n" + diff + "\n"))
    return errs


_EC_FORBIDDEN_FIELDS = {"ports": "cannot be set for an Ephemeral Container",
                        "livenessProbe": "cannot be set for an Ephemeral Container",
                        "readinessProbe": "cannot be set for an Ephemeral Container",
                        "startupProbe": "cannot be set for an Ephemeral Container",
                        "lifecycle": "cannot be set for an Ephemeral Container"}


def validate_ephemeral_containers_update(new: dict, old: dict) -> list[FieldError]:
    """ValidatePodEphemeralContainersUpdate (§5.3)."""
    errs: list[FieldError] = []
    path = "spec.ephemeralContainers"
    nspec, ospec = new.get("spec") or {}, old.get("spec") or {}
    necs = nspec.get("ephemeralContainers") or []
    if not isinstance(necs, list):
        return [FieldError.invalid(path, necs, "must be a list")]
    names = {c.get("name") for c in (ospec.get("containers") or []) + (ospec.get("initContainers") or [])}
    target_names = {c.get("name") for c in ospec.get("containers") or []} | {
        c.get("name") for c in ospec.get("initContainers") or []}
    seen: set = set()
    for i, c in enumerate(necs):
        p = f"{path}[{i}]"
        if not isinstance(c, dict):
            errs.append(FieldError.invalid(p, c, "must be an object"))
            continue
        name = c.get("name")
        if not name:
            errs.append(FieldError.required(f"{p}.name"))
        elif not _DNS1123_LABEL.match(str(name)):
            errs.append(FieldError.invalid(f"{p}.name", name, LABEL_MSG))
        elif name in names or name in seen:
            errs.append(FieldError.duplicate(f"{p}.name", name))
        seen.add(name)
        if not c.get("image"):
            errs.append(FieldError.required(f"{p}.image"))
        for f, msg in _EC_FORBIDDEN_FIELDS.items():
            if c.get(f):
                errs.append(FieldError.forbidden(f"{p}.{f}", msg))
        res = c.get("resources")
        if res and (res.get("limits") or res.get("requests")):
            errs.append(FieldError.forbidden(f"{p}.resources", "cannot be set for an Ephemeral Container"))
        tgt = c.get("targetContainerName")
        if tgt and tgt not in target_names:
            errs.append(FieldError.not_found(f"{p}.targetContainerName", tgt))
    new_by_name = {c.get("name"): c for c in necs if isinstance(c, dict)}
    for oc in ospec.get("ephemeralContainers") or []:
        nc = new_by_name.get(oc.get("name"))
        if nc is None:
            errs.append(FieldError.forbidden(path, f'existing ephemeral containers "{oc.get("name")}" may not be '
                                                   "removed\n"))
        elif _normalize(nc) != _normalize(oc):
            diff = "\n".join(spec_diff(_normalize(oc), _normalize(nc)))
            errs.append(FieldError.forbidden(path, f'existing ephemeral containers "{oc.get("name")}" may not be '
                                                   f"changed\n{diff}\n"))
    return errs


# ------------------------------------------------------------------------------------------------- workloads

def _validate_selector_and_template(obj: dict, require_restart_always: bool) -> list[FieldError]:
    errs = []
    spec = obj.get("spec") or {}
    sel = spec.get("selector")
    if sel is None:
        errs.append(FieldError.required("spec.selector"))
    elif not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        errs.append(FieldError.invalid("spec.selector", sel, "empty selector is invalid for deployment"))
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        errs.append(FieldError.required("spec.template"))
        return errs
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    errs += validate_labels(labels, "spec.template.metadata.labels")
    if isinstance(sel, dict) and not errs:
        try:
            ok = from_label_selector_object(sel).matches(labels)
        except ValueError as e:
            return [FieldError.invalid("spec.selector", sel, str(e))]
        if not ok:
            errs.append(FieldError.invalid("spec.template.metadata.labels", labels,
                                           "`selector` does not match template `labels`"))
    errs += validate_pod_spec(tmpl.get("spec"), "spec.template.spec")
    rp = (tmpl.get("spec") or {}).get("restartPolicy")
    if require_restart_always and rp not in (None, "Always"):
        errs.append(FieldError.not_supported("spec.template.spec.restartPolicy", rp, ["Always"]))
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        errs.append(FieldError.invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    return errs


def validate_workload(rtype_key: str, obj: dict, old: dict | None) -> list[FieldError]:
    errs = []
    if rtype_key in ("deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"):
        errs += _validate_selector_and_template(obj, True)
        if old is not None and (obj.get("spec") or {}).get("selector") != (old.get("spec") or {}).get("selector"):
            errs.append(FieldError.invalid("spec.selector", (obj.get("spec") or {}).get("selector"),
                                           "field is immutable"))
    elif rtype_key == "jobs.batch":
        spec = obj.get("spec") or {}
        tmpl = spec.get("template") or {}
        rp = (tmpl.get("spec") or {}).get("restartPolicy")
        errs += validate_pod_spec(tmpl.get("spec"), "spec.template.spec")
        if rp not in ("OnFailure", "Never"):
            errs.append(FieldError.not_supported("spec.template.spec.restartPolicy", rp, ["OnFailure", "Never"])
                        if rp else FieldError.required("spec.template.spec.restartPolicy",
                                                       'valid values: "OnFailure", "Never"'))
    elif rtype_key == "secrets" and obj.get("type") == "kubernetes.io/service-account-token":
        if not ((obj.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/service-account.name"):
            errs.append(FieldError.required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif rtype_key == "persistentvolumeclaims":
        errs += _validate_pvc(obj, old)
    elif rtype_key == "customresourcedefinitions.apiextensions.k8s.io":
        errs += _validate_crd(obj, old)
    elif rtype_key == "storageclasses.storage.k8s.io" and not obj.get("provisioner"):
        errs.append(FieldError.required("provisioner"))
    elif rtype_key == "networkpolicies.networking.k8s.io":
        errs += validate_networkpolicy_spec(obj.get("spec") or {})
    elif rtype_key == "services":
        spec = obj.get("spec") or {}
        stype = spec.get("type")
        if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            errs.append(FieldError.not_supported("spec.type", stype,
                                                 ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
        if not spec.get("ports") and spec.get("clusterIP") != "None" and stype != "ExternalName":
            errs.append(FieldError.required("spec.ports"))
        seen = set()
        for i, port in enumerate(spec.get("ports") or []):
            p = (port or {}).get("port")
            if not isinstance(p, int) or not 0 < p < 65536:
                errs.append(FieldError.invalid(f"spec.ports[{i}].port", p, "must be between 1 and 65535, inclusive"))
            if len(spec.get("ports") or []) > 1 and not (port or {}).get("name"):
                errs.append(FieldError.required(f"spec.ports[{i}].name"))
            key = ((port or {}).get("port"), (port or {}).get("protocol"))
            if key in seen:
                errs.append(FieldError.duplicate(f"spec.ports[{i}]", {"port": key[0], "protocol": key[1]}))
            seen.add(key)
    return errs


_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def _validate_pvc(obj: dict, old: dict | None) -> list[FieldError]:
    """ValidatePersistentVolumeClaim(Update) in pkg/apis/core/validation, the parts a manifest meets."""
    spec = obj.get("spec") or {}
    errs = []
    modes = spec.get("accessModes") or []
    if not modes:
        errs.append(FieldError.required("spec.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in _ACCESS_MODES:
            errs.append(FieldError.not_supported("spec.accessModes", mode, _ACCESS_MODES))
    if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
        errs.append(FieldError.required("spec.resources[storage]"))
    if old is not None:
        ospec = old.get("spec") or {}
        mutable = ("resources", "volumeAttributesClassName")
        if {k: v for k, v in spec.items() if k not in mutable} != {k: v for k, v in ospec.items() if k not in mutable}:
            errs.append(FieldError.forbidden("spec", "spec is immutable after creation except resources.requests and "
                                                     "volumeAttributesClassName for bound claims"))
    return errs


def _validate_crd(obj: dict, old: dict | None) -> list[FieldError]:
    """ValidateCustomResourceDefinition: the name is <plural>.<group>; at least one version, one of them storage."""
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    errs = []
    name = (obj.get("metadata") or {}).get("name", "")
    if name != f"{names.get('plural', '')}.{spec.get('group', '')}":
        errs.append(FieldError.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not spec.get("group"):
        errs.append(FieldError.required("spec.group"))
    if not names.get("plural"):
        errs.append(FieldError.required("spec.names.plural"))
    if not names.get("kind"):
        errs.append(FieldError.required("spec.names.kind"))
    if spec.get("scope") not in ("Cluster", "Namespaced"):
        errs.append(FieldError.not_supported("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"])
                    if spec.get("scope") else FieldError.required("spec.scope"))
    versions = spec.get("versions") or []
    if not versions:
        errs.append(FieldError.invalid("spec.versions", versions, "must have exactly one version marked as storage "
                                                                  "version"))
    elif sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        errs.append(FieldError.invalid("spec.versions", versions, "must have exactly one version marked as storage "
                                                                  "version"))
    if old is not None:
        if spec.get("group") != (old.get("spec") or {}).get("group"):
            errs.append(FieldError.invalid("spec.group", spec.get("group"), "field is immutable"))
    return errs


# ------------------------------------------------------------------------------------------- network policies
# pkg/apis/networking/validation: ValidateNetworkPolicySpec, ValidateNetworkPolicyPort, ValidateNetworkPolicyPeer,
# ValidateIPBlock; the parts a manifest meets. Runs after defaulting (policyTypes and protocols are set).

_PROTOCOLS = ["TCP", "UDP", "SCTP"]
_POLICY_TYPES = ["Ingress", "Egress"]
_PORT_NAME_MSG = "must contain at least one letter (a-z)"


def _validate_selector(sel, path: str) -> list[FieldError]:
    if sel is None:
        return []
    if not isinstance(sel, dict):
        return [FieldError.invalid(path, sel, "must be a label selector")]
    errs = validate_labels(sel.get("matchLabels"), path + ".matchLabels")
    try:
        from_label_selector_object(sel)
    except ValueError as e:
        errs.append(FieldError.invalid(path + ".matchExpressions", sel.get("matchExpressions"), str(e)))
    return errs


def _parse_cidr(text):
    if not isinstance(text, str) or "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _validate_ip_block(block, path: str) -> list[FieldError]:
    if not isinstance(block, dict) or not block.get("cidr"):
        return [FieldError.required(path + ".cidr")]
    cidr = _parse_cidr(block["cidr"])
    if cidr is None:
        return [FieldError.invalid(path + ".cidr", block["cidr"], "must be a valid CIDR value, (e.g. 10.9.8.0/24 "
                                                                   "or 2001:db8::/64)")]
    errs = []
    for i, text in enumerate(block.get("except") or []):
        sub = _parse_cidr(text)
        if sub is None:
            errs.append(FieldError.invalid(f"{path}.except[{i}]", text, "must be a valid CIDR value, (e.g. "
                                                                        "10.9.8.0/24 or 2001:db8::/64)"))
        elif sub.version != cidr.version or not sub.subnet_of(cidr) or sub.prefixlen <= cidr.prefixlen:
            errs.append(FieldError.invalid(f"{path}.except[{i}]", text, "must be a strict subset of `cidr`"))
    return errs


def _validate_peer(peer, path: str) -> list[FieldError]:
    if not isinstance(peer, dict):
        return [FieldError.required(path, "must specify a peer")]
    present = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
    if not present:
        return [FieldError.required(path, "must specify a peer")]
    if "ipBlock" in present and len(present) > 1:
        return [FieldError.forbidden(path, "may not specify both ipBlock and another peer")]
    errs = _validate_selector(peer.get("podSelector"), path + ".podSelector")
    errs += _validate_selector(peer.get("namespaceSelector"), path + ".namespaceSelector")
    if peer.get("ipBlock") is not None:
        errs += _validate_ip_block(peer["ipBlock"], path + ".ipBlock")
    return errs


def _validate_np_port(port, path: str) -> list[FieldError]:
    if not isinstance(port, dict):
        return [FieldError.invalid(path, port, "must be an object")]
    errs = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in _PROTOCOLS:
        errs.append(FieldError.not_supported(path + ".protocol", protocol, _PROTOCOLS))
    value, end = port.get("port"), port.get("endPort")
    numeric = isinstance(value, int) and not isinstance(value, bool)
    if value is not None:
        if numeric:
            if not 1 <= value <= 65535:
                errs.append(FieldError.invalid(path + ".port", value, "must be between 1 and 65535, inclusive"))
        elif not isinstance(value, str) or len(value) > 15 or not _DNS1123_LABEL.match(value) or "--" in value:
            errs.append(FieldError.invalid(path + ".port", value, "must be no more than 15 characters and an IANA "
                                                                  "service name"))
        elif not any(c.isalpha() for c in value):
            errs.append(FieldError.invalid(path + ".port", value, _PORT_NAME_MSG))
    if end is not None:
        if value is None:
            errs.append(FieldError.required(path + ".port", "must be specified when endPort is specified"))
        elif not numeric:
            errs.append(FieldError.invalid(path + ".endPort", end, "may not be specified when `port` is non-numeric"))
        elif not isinstance(end, int) or isinstance(end, bool) or not 1 <= end <= 65535:
            errs.append(FieldError.invalid(path + ".endPort", end, "must be between 1 and 65535, inclusive"))
        elif end < value:
            errs.append(FieldError.invalid(path + ".endPort", end, "must be greater than or equal to `port`"))
    return errs


def validate_networkpolicy_spec(spec: dict) -> list[FieldError]:
    errs = _validate_selector(spec.get("podSelector"), "spec.podSelector")
    for key, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(key) or []):
            rule = rule if isinstance(rule, dict) else {}
            for j, port in enumerate(rule.get("ports") or []):
                errs += _validate_np_port(port, f"spec.{key}[{i}].ports[{j}]")
            for j, peer in enumerate(rule.get(peers_key) or []):
                errs += _validate_peer(peer, f"spec.{key}[{i}].{peers_key}[{j}]")
    types = spec.get("policyTypes") or []
    if len(types) > 2:
        errs.append(FieldError.invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
    else:
        for i, ptype in enumerate(types):
            if ptype not in _POLICY_TYPES:
                errs.append(FieldError.not_supported(f"spec.policyTypes[{i}]", ptype, _POLICY_TYPES))
    return errs
