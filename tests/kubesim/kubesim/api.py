"""Api: the one semantic layer every writer uses (HTTP handlers, controllers, the kubelet).

It applies what the real apiserver's registry does around storage: metadata (uid, resourceVersion, generation,
creationTimestamp, generateName), defaults, validation, optimistic concurrency, dryRun, graceful deletion and
finalizers, and the subresources status/scale/ephemeralcontainers/binding/eviction. Spec sections §5, §6, §8.
"""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import random

from kubesim import defaults, errors, managedfields, patch as patchmod, prune, schema, tokens as tokens_mod, validation
from kubesim.errors import FieldError
from kubesim.patch import clone
from kubesim.resources import ResourceType, rt as _rt, VIRTUAL_RESOURCES
from kubesim.selectors import (FieldSelector, LabelSelector, label_selector_object_to_string,
                               parse_field_selector, parse_label_selector)
from kubesim.store import Store

ADMIN = "kubesim-admin"
# The alphabet of generateName suffixes (k8s.io/apimachinery/pkg/util/rand), 5 characters (§10).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Storages with ReturnDeletedObject: DELETE answers with the object, not a Status (the Python client's
# delete_namespaced_pod/service/service_account are typed V1Pod/V1Service/V1ServiceAccount accordingly).
RETURN_DELETED_OBJECT = {"pods", "services", "serviceaccounts", "persistentvolumeclaims", "persistentvolumes",
                         "storageclasses.storage.k8s.io"}
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


def now_rfc3339(offset_seconds: float = 0) -> str:
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _scale_workloads() -> set:
    return {"deployments.apps", "replicasets.apps", "statefulsets.apps"}


class Api:
    def __init__(self, store: Store, cluster=None):
        self.store = store
        self.cluster = cluster
        self._next_ip = 10  # 10.96.0.10 is kube-dns on real clusters; start allocating after it
        self._used_ips: set[str] = set()
        self._used_node_ports: set[int] = set()
        self._rng = random.Random()
        # (resource key, namespace, name, subresource) -> field manager -> last applied configuration
        self._applied: dict[tuple, dict[str, dict]] = {}

    # ------------------------------------------------------------------------------------------------ helpers
    @staticmethod
    def _r(rtype) -> ResourceType:
        return _rt(rtype)

    def _audit_internal(self, verb, r: ResourceType, namespace, name, subresource, user, code, dry_run=False):
        audit = getattr(self.cluster, "audit", None) if self.cluster is not None else None
        if audit is not None:
            audit.internal(verb=verb, rtype=r, namespace=namespace, name=name, subresource=subresource,
                           user=user, code=code, dry_run=dry_run)

    def _ns(self, r: ResourceType, namespace):
        return (namespace or "") if r.namespaced else ""

    def _require_namespace(self, r: ResourceType, namespace: str, name: str, creating: bool):
        if not r.namespaced:
            return
        if not namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        ns = self.store.get("namespaces", "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", namespace)
        if creating and (ns.get("status") or {}).get("phase") == "Terminating":
            raise errors.forbidden_message(r, name, f"unable to create new content in namespace {namespace} "
                                                    "because it is being terminated")

    def _check_kind(self, r: ResourceType, body, kind: str | None = None, api_version: str | None = None):
        if not isinstance(body, dict):
            raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind or r.kind})")
        if kind is None:
            schema.check_body(r, body)
        kind = kind or r.kind
        api_version = api_version or r.api_version
        bk, bav = body.get("kind"), body.get("apiVersion")
        if bav and bav != api_version:
            raise errors.bad_request(f"the API version in the data ({bav}) does not match the expected API "
                                     f"version ({api_version})")
        if bk and bk != kind:
            raise errors.bad_request(f'{bk} in version "{bav or api_version}" cannot be handled as a {kind}: no '
                                     f'kind "{bk}" is registered for version "{bav or api_version}" in scheme '
                                     f'"k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:30"')
        if not isinstance(body.get("metadata", {}), dict):
            raise errors.bad_request(f"{kind} in version \"{api_version}\" cannot be handled as a {kind}: "
                                     "metadata must be an object")

    def _generate_name(self, r: ResourceType, namespace: str, prefix: str) -> str:
        for _ in range(20):
            name = prefix + "".join(self._rng.choice(NAME_ALPHABET) for _ in range(5))
            if self.store.get(r, namespace, name) is None:
                return name
        raise errors.already_exists(r, name)

    # ------------------------------------------------------------------------------------------------- reads
    def get(self, rtype, namespace, name, subresource=None) -> dict:
        r = self._r(rtype)
        obj = self.store.get(r, self._ns(r, namespace), name)
        if obj is None:
            raise errors.not_found(r, name)
        if subresource == "scale":
            if r.key not in _scale_workloads():
                raise errors.subresource_not_found(r, subresource)
            return self._scale_view(r, obj)
        if subresource not in (None, "status", "ephemeralcontainers") or (
                subresource and subresource not in r.subresources):
            raise errors.subresource_not_found(r, subresource)
        return clone(obj)

    def select(self, rtype, namespace=None, label_selector=None, field_selector=None) -> list[dict]:
        """Matching objects, *not* copied (for serialisation by the server). Selectors: strings or parsed."""
        r = self._r(rtype)
        ls = label_selector if isinstance(label_selector, LabelSelector) else parse_label_selector(label_selector)
        fs = field_selector if isinstance(field_selector, FieldSelector) else parse_field_selector(field_selector,
                                                                                                   r.key)
        ns = self._ns(r, namespace)
        name = fs.exact_value("metadata.name")
        equal = {q.key: q.values[0] for q in ls.requirements or [] if q.op in ("=", "==")}
        if name is not None and ns:
            one = self.store.get(r, ns, name)
            objs = [one] if one is not None else []
        elif equal and (ns or not r.namespaced):
            objs = self.store.with_labels(r, ns, equal)  # the label index narrows the candidates
        else:
            objs = self.store.list(r, ns or None)
        if ls.empty and fs.empty:
            return objs
        return [o for o in objs if ls.matches((o.get("metadata") or {}).get("labels")) and fs.matches(o)]

    def list(self, rtype, namespace=None, label_selector=None, field_selector=None) -> tuple[list[dict], str]:
        """Copies in namespace/name order, the order etcd returns keys in (a real list is always sorted)."""
        items = sorted(self.select(rtype, namespace, label_selector, field_selector), key=storage_order)
        return [clone(o) for o in items], str(self.store.resource_version)

    # ---------------------------------------------------------------------------------------------- create
    def create(self, rtype, namespace, body, *, subresource=None, dry_run=False, user=ADMIN,
               internal=True, name=None, field_manager=None, applied=None) -> dict:
        """`field_manager` names the writer in managedFields (default: kubesim's component of `user`); with
        `applied` (a server-side apply creating the object) the entry is an Apply of that configuration."""
        r = self._r(rtype)
        if subresource:
            return self._create_subresource(r, namespace, name, subresource, body, dry_run, user, internal)
        if r.key in VIRTUAL_RESOURCES:
            raise errors.method_not_allowed()
        if r.key == "bindings":  # POST .../bindings is the pods/binding subresource named by the body
            self._check_kind(r, body)
            return self._create_subresource(self._r("pods"), namespace, (body.get("metadata") or {}).get("name"),
                                            "binding", body, dry_run, user, internal)
        self._check_kind(r, body)
        obj = _without_nulls(body)
        obj["apiVersion"], obj["kind"] = r.api_version, r.kind
        # Keep kind/apiVersion first, as the real server serialises them.
        rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        obj = {"kind": r.kind, "apiVersion": r.api_version, **rest}
        meta = obj.setdefault("metadata", {})
        ns = self._ns(r, namespace)
        if r.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(r, ns, meta["generateName"])
        if meta.get("resourceVersion"):
            raise errors.internal("resourceVersion should not be set on objects to be created")
        errs = validation.validate_metadata(r.key, obj)
        if errs:
            raise errors.invalid(r, meta.get("name") or meta.get("generateName") or "", errs)
        name = meta["name"]
        self._require_namespace(r, ns, name, creating=True)
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"):
            meta.pop(k, None)
        meta["uid"] = defaults.new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        if r.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if r.has_status and r.key not in ("nodes", "namespaces", "pods", "services"):
            # PrepareForCreate resets status; Go serialises the non-omitempty zero fields (the Python client
            # requires them, e.g. V1DaemonSetStatus.currentNumberScheduled).
            obj["status"] = clone(_INITIAL_STATUS.get(r.key, {}))
        defaults.apply_defaults(r.key, obj, create=True)
        if r.key == "pods":
            self._admit_service_account(obj)
        elif r.key == "persistentvolumeclaims":
            self._admit_default_storage_class(obj)
        elif r.key == "customresourcedefinitions.apiextensions.k8s.io":
            obj["status"] = _crd_status(obj)
        prune.prune(r.key, obj)
        errs = self._validate(r, obj, None)
        if errs:
            raise errors.invalid(r, name, errs)
        current = self.store.get(r, ns, name)
        if current is not None:
            err = errors.already_exists(r, name)
            if current["metadata"].get("deletionTimestamp"):
                err.status["message"] = "object is being deleted: " + err.status["message"]
            raise err
        if r.key == "services":
            self._allocate_service(obj, dry_run)
        managed = managedfields.update(
            r.key, None, obj, manager=field_manager or managedfields.manager_for_user(user),
            operation="Apply" if applied is not None else "Update", api_version=r.api_version, subresource=None,
            time=now_rfc3339(), applied=applied)
        if managed and not _resets_managed_fields(body):
            meta["managedFields"] = managed
        # Keep metadata fields in the order the real server shows them.
        obj["metadata"] = _order_meta(meta)
        if dry_run:
            return obj
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        obj["metadata"] = _order_meta(obj["metadata"])
        self.store.put(r, obj, None)
        if internal:
            self._audit_internal("create", r, ns, name, None, user, 201)
        if r.key == "namespaces":
            self._populate_namespace(name)
        return clone(obj)

    def _admit_service_account(self, pod: dict):
        """The ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount): a pod (not a mirror pod)
        runs as an existing ServiceAccount of its namespace; defaults.default_pod has set `default` already."""
        meta = pod["metadata"]
        if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            return
        ns, sa = meta["namespace"], pod["spec"]["serviceAccountName"]
        if self.store.get("serviceaccounts", ns, sa) is None:
            raise errors.forbidden_message("pods", meta.get("name"), f"error looking up service account {ns}/{sa}: "
                                                                     f'serviceaccount "{sa}" not found')

    def _admit_default_storage_class(self, pvc: dict):
        """The DefaultStorageClass admission plugin: a claim without storageClassName (not even "") gets the
        StorageClass annotated as the default (the newest one when several are)."""
        spec = pvc.setdefault("spec", {})
        if "storageClassName" in spec:
            return
        marked = [sc for sc in self.store.list("storageclasses.storage.k8s.io")
                  if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
        if marked:
            newest = max(marked, key=lambda sc: (sc["metadata"]["creationTimestamp"], sc["metadata"]["name"]))
            spec["storageClassName"] = newest["metadata"]["name"]

    def _validate(self, r: ResourceType, obj: dict, old: dict | None) -> list[FieldError]:
        if r.key == "pods":
            return validation.validate_pod_create(obj) if old is None else validation.validate_pod_update(obj, old)
        return validation.validate_workload(r.key, obj, old)

    def _allocate_service(self, svc: dict, dry_run: bool):
        spec = svc["spec"]
        if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            ip = spec.get("clusterIP")
            if not ip:
                while True:
                    self._next_ip += 1
                    ip = str(SERVICE_CIDR.network_address + self._next_ip)
                    if ip not in self._used_ips:
                        break
            elif ip in self._used_ips:
                raise errors.invalid("services", svc["metadata"]["name"], [FieldError.invalid(
                    "spec.clusterIPs", [ip], "failed to allocate IP " + ip + ": provided IP is already allocated")])
            if not dry_run:
                self._used_ips.add(ip)
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    candidates = [p for p in range(30000, 32768) if p not in self._used_node_ports]
                    port["nodePort"] = self._rng.choice(candidates)
                if not dry_run:
                    self._used_node_ports.add(port["nodePort"])

    def _populate_namespace(self, ns: str):
        """What the serviceaccount and root-ca-cert-publisher controllers add to every new namespace."""
        if self.store.get("serviceaccounts", ns, "default") is None:
            self.create("serviceaccounts", ns, {"metadata": {"name": "default"}},
                        user="system:serviceaccount:kube-system:service-account-controller")
        if self.store.get("configmaps", ns, "kube-root-ca.crt") is None:
            ca = getattr(getattr(self.cluster, "options", None), "ca_pem", "") or ""
            self.create("configmaps", ns, {"metadata": {"name": "kube-root-ca.crt", "annotations": {
                "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver "
                                             "when using internal endpoints such as the internal service IP or "
                                             "kubernetes.default.svc. No other usage is guaranteed across "
                                             "distributions of Kubernetes clusters."}}, "data": {"ca.crt": ca}},
                        user="system:serviceaccount:kube-system:root-ca-cert-publisher")

    # -------------------------------------------------------------------------------------------- update
    def update(self, rtype, namespace, name, body, *, subresource=None, dry_run=False, user=ADMIN,
               internal=True, field_manager=None) -> dict:
        r = self._r(rtype)
        ns = self._ns(r, namespace)
        existing = self.store.get(r, ns, name)
        if existing is None:
            raise errors.not_found(r, name)
        new = self._prepare_update(r, ns, name, existing, body, subresource)
        return self._commit_update(r, ns, name, existing, new, subresource, dry_run, user, internal,
                                   field_manager, reset_managed=_resets_managed_fields(body))

    def _prepare_update(self, r: ResourceType, ns: str, name: str, existing: dict, body, subresource):
        """Return the object to store, following each strategy's PrepareForUpdate + validation."""
        if subresource == "scale":
            if r.key not in _scale_workloads():
                raise errors.subresource_not_found(r, subresource)
            self._check_kind(r, body, "Scale", "autoscaling/v1")
            bmeta = body.get("metadata") or {}
            if bmeta.get("resourceVersion") and bmeta["resourceVersion"] != existing["metadata"]["resourceVersion"]:
                raise errors.conflict(r, name)
            replicas = (body.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or replicas < 0:
                raise errors.invalid_kind("Scale", name, [FieldError.invalid("spec.replicas", replicas,
                                                                             "must be greater than or equal to 0")],
                                          "autoscaling")
            new = clone(existing)
            new.setdefault("spec", {})["replicas"] = replicas
            return prune.prune(r.key, new)
        if subresource and subresource not in ("status", "ephemeralcontainers"):
            raise errors.subresource_not_found(r, subresource)
        if subresource and subresource not in r.subresources:
            raise errors.subresource_not_found(r, subresource)
        self._check_kind(r, body)
        bmeta = body.get("metadata") or {}
        if bmeta.get("name", name) != name:
            raise errors.bad_request(f"the name of the object ({bmeta.get('name')}) does not match the name on the "
                                     f"URL ({name})")
        if r.namespaced and bmeta.get("namespace") and bmeta["namespace"] != ns:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        rv = bmeta.get("resourceVersion")
        if rv and rv != existing["metadata"]["resourceVersion"]:
            raise errors.conflict(r, name)
        if bmeta.get("uid") and bmeta["uid"] != existing["metadata"]["uid"]:
            raise errors.invalid(r, name, [FieldError.invalid("metadata.uid", bmeta["uid"], "field is immutable")])
        if subresource == "status":
            # ResetObjectMetaForStatus: only the status changes.
            new = clone(existing)
            if "status" in body:
                new["status"] = clone(body["status"])
            return prune.prune(r.key, new)
        if subresource == "ephemeralcontainers":
            new = clone(existing)
            ecs = clone((body.get("spec") or {}).get("ephemeralContainers") or [])
            for c in ecs:
                defaults.default_container(c)
            new.setdefault("spec", {})["ephemeralContainers"] = ecs
            if not ecs:
                new["spec"].pop("ephemeralContainers", None)
            # Every write path stores the typed encoding, or a later update would see a "change" it did not make.
            prune.prune(r.key, new)
            errs = validation.validate_ephemeral_containers_update(new, existing)
            if errs:
                raise errors.invalid(r, name, errs)
            return new
        new = {"kind": r.kind, "apiVersion": r.api_version,
               **{k: v for k, v in _without_nulls(body).items() if k not in ("kind", "apiVersion")}}
        meta = new.setdefault("metadata", {})
        ometa = existing["metadata"]
        meta["name"] = name
        if r.namespaced:
            meta["namespace"] = ns
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in ometa:
                meta[k] = ometa[k]
            else:
                meta.pop(k, None)
        meta["resourceVersion"] = ometa["resourceVersion"]
        meta.pop("managedFields", None)
        if ometa.get("deletionTimestamp"):
            added = [f for f in meta.get("finalizers") or [] if f not in (ometa.get("finalizers") or [])]
            if added:
                raise errors.invalid(r, name, [FieldError.forbidden(
                    "metadata.finalizers", "no new finalizers can be added if the object is being deleted, found "
                                           "new finalizers []string{" + ", ".join(f'"{f}"' for f in added) + "}")])
        if r.has_status:
            if "status" in existing:
                new["status"] = clone(existing["status"])
            else:
                new.pop("status", None)
        if r.key == "services":
            self._keep_service_allocations(new, existing)
        defaults.apply_defaults(r.key, new, create=False)
        prune.prune(r.key, new)
        errs = validation.validate_metadata(r.key, new) + self._validate(r, new, existing)
        if errs:
            raise errors.invalid(r, name, errs)
        if r.key == "namespaces":
            new["spec"] = clone(existing.get("spec") or {})
        return new

    @staticmethod
    def _keep_service_allocations(new: dict, old: dict):
        nspec, ospec = new.setdefault("spec", {}), old.get("spec") or {}
        for k in ("clusterIP", "clusterIPs"):
            if k not in nspec and k in ospec:
                nspec[k] = ospec[k]
        if nspec.get("clusterIP") != ospec.get("clusterIP") and ospec.get("clusterIP") and \
                nspec.get("type", "ClusterIP") == ospec.get("type"):
            raise errors.invalid("services", new["metadata"]["name"], [FieldError.invalid(
                "spec.clusterIPs[0]", nspec.get("clusterIP"), "may not change once set")])
        oports = {(p.get("port"), p.get("protocol", "TCP")): p for p in ospec.get("ports") or []}
        for p in nspec.get("ports") or []:
            op = oports.get((p.get("port"), p.get("protocol", "TCP")))
            if op and "nodePort" in op and "nodePort" not in p and \
                    nspec.get("type") in ("NodePort", "LoadBalancer"):
                p["nodePort"] = op["nodePort"]

    def _commit_update(self, r, ns, name, existing, new, subresource, dry_run, user, internal, field_manager=None,
                       applied=None, reset_managed=False):
        meta = new["metadata"]
        # managedFields are the server's: what the body said is ignored (but `[{}]` clears them).
        if existing["metadata"].get("managedFields"):
            meta["managedFields"] = existing["metadata"]["managedFields"]
        else:
            meta.pop("managedFields", None)
        if r.has_generation and subresource != "status":
            ospec, nspec = existing.get("spec"), new.get("spec")
            if validation._normalize(ospec) != validation._normalize(nspec):
                meta["generation"] = (existing["metadata"].get("generation") or 0) + 1
        new["metadata"] = _order_meta(meta)
        result_view = subresource == "scale"
        before = existing["metadata"].get("managedFields")
        managed = [] if reset_managed else managedfields.update(
            r.key, existing, new, manager=field_manager or managedfields.manager_for_user(user),
            operation="Apply" if applied is not None else "Update", api_version=r.api_version,
            subresource=subresource, time=now_rfc3339(), applied=applied)
        if new == existing and managedfields.same_ownership(before, managed):
            # A no-op write stores nothing: no resourceVersion bump, no watch event (a changed timestamp alone
            # does not count, as the apiserver's IgnoreManagedFieldsTimestampsTransformer).
            return self._scale_view(r, existing) if result_view else clone(existing)
        if managed:
            meta["managedFields"] = managed
        else:
            meta.pop("managedFields", None)
        new["metadata"] = _order_meta(meta)
        if dry_run:
            return self._scale_view(r, new) if result_view else new
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.put(r, new, existing)
        if internal:
            self._audit_internal("update", r, ns, name, subresource, user, 200)
        if self._should_finalize(new):
            # The last finalizer is gone from a deleted object: it goes now.
            self._remove(r, new, {"propagationPolicy": "Background", "user": user})
        return self._scale_view(r, new) if result_view else clone(new)

    @staticmethod
    def _should_finalize(obj: dict) -> bool:
        meta = obj["metadata"]
        return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") and \
            not meta.get("deletionGracePeriodSeconds") and obj.get("kind") != "Namespace"

    def _remove(self, r: ResourceType, obj: dict, info: dict) -> dict:
        ns, name = obj["metadata"].get("namespace", "") if r.namespaced else "", obj["metadata"]["name"]
        for sub in ("", "status", "scale"):
            self._applied.pop((r.key, ns, name, sub), None)
        final = clone(obj)
        final["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.remove(r, final, obj, info)
        if r.key == "services":
            ip = (final.get("spec") or {}).get("clusterIP")
            self._used_ips.discard(ip)
            for p in (final.get("spec") or {}).get("ports") or []:
                self._used_node_ports.discard(p.get("nodePort"))
        return final

    # ----------------------------------------------------------------------------------------------- patch
    def patch(self, rtype, namespace, name, patch, patch_type, *, subresource=None, dry_run=False, user=ADMIN,
              field_manager=None, force=False, internal=True) -> dict:
        r = self._r(rtype)
        ns = self._ns(r, namespace)
        if patch_type not in ("json", "merge", "strategic", "apply"):
            raise errors.unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: " +
                ", ".join(patchmod.ACCEPTED_PATCH_TYPES))
        if patch_type == "apply" and not field_manager:
            raise errors.invalid_kind("PatchOptions", "", [FieldError.required(
                "fieldManager", "is required for apply patch")], "meta.k8s.io")
        if force and patch_type != "apply":
            raise errors.invalid_kind("PatchOptions", "", [FieldError.forbidden(
                "force", "may not be specified for non-apply patch")], "meta.k8s.io")
        existing = self.store.get(r, ns, name)
        if existing is None:
            if patch_type == "apply" and not subresource:
                body = clone(patch)
                body.setdefault("metadata", {})["name"] = name
                out = self.create(r, ns, body, dry_run=dry_run, user=user, internal=internal,
                                  field_manager=field_manager, applied=patch)
                if not dry_run:
                    self._remember_applied(r, ns, name, None, field_manager, patch)
                return out
            if isinstance(patch, dict) and (patch.get("metadata") or {}).get("uid"):
                raise errors.conflict(r, name, f"uid mismatch: the provided object specified uid "
                                               f"{patch['metadata']['uid']}, and no existing object was found")
            raise errors.not_found(r, name)
        view = self._scale_view(r, existing) if subresource == "scale" else existing
        if subresource and subresource not in r.subresources:
            raise errors.subresource_not_found(r, subresource)
        if patch_type == "json":
            result = patchmod.apply_json_patch(view, patch)
        elif patch_type == "merge":
            if not isinstance(patch, dict):
                raise errors.bad_request("json: cannot unmarshal array into Go value of type "
                                         "map[string]interface {}")
            result = patchmod.apply_merge_patch(view, patch)
        elif patch_type == "strategic":
            result = patchmod.apply_strategic_merge_patch(view, patch)
            if isinstance(result, dict):
                # The patched map is converted into the typed object being patched (FromUnstructured), so the
                # kind/apiVersion the body names do not matter: `kind: Deployment` on deployments/x/scale works.
                result["kind"], result["apiVersion"] = view["kind"], view["apiVersion"]
        else:
            configs = self._applied.get((r.key, ns, name, subresource or ""), {})
            others = [c for m, c in configs.items() if m != field_manager]
            result = patchmod.apply_apply_patch(view, patch, configs.get(field_manager), others)
        if not isinstance(result, dict):
            raise errors.bad_request("the patch result is not an object")
        rmeta = result.get("metadata") if isinstance(result.get("metadata"), dict) else {}
        if rmeta.get("name", name) != name:
            raise errors.bad_request(f"the name of the object ({rmeta.get('name')}) does not match the name on "
                                     f"the URL ({name})")
        if rmeta.get("uid") and rmeta["uid"] != existing["metadata"]["uid"]:
            raise errors.invalid(r, name, [FieldError.invalid("metadata.uid", rmeta["uid"], "field is immutable")])
        new = self._prepare_update(r, ns, name, existing, result, subresource)
        out = self._commit_update(r, ns, name, existing, new, subresource, dry_run, user, internal, field_manager,
                                  applied=patch if patch_type == "apply" else None,
                                  reset_managed=_resets_managed_fields(patch))
        if patch_type == "apply" and not dry_run:
            self._remember_applied(r, ns, name, subresource, field_manager, patch)
        return out

    def _remember_applied(self, r, ns, name, subresource, manager, config):
        """Server-side apply bookkeeping: the last configuration each manager applied (see patch.apply_apply_patch)."""
        self._applied.setdefault((r.key, ns, name, subresource or ""), {})[manager] = clone(config)

    # ---------------------------------------------------------------------------------------------- delete
    def delete(self, rtype, namespace, name, *, grace_period_seconds=None, propagation_policy=None,
               preconditions=None, dry_run=False, user=ADMIN, internal=True) -> dict:
        r = self._r(rtype)
        ns = self._ns(r, namespace)
        existing = self.store.get(r, ns, name)
        if existing is None:
            raise errors.not_found(r, name)
        meta = existing["metadata"]
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise errors.conflict(r, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in "
                                           f"object meta: {meta.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise errors.conflict(r, name, f"Precondition failed: ResourceVersion in precondition: "
                                           f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                           f"{meta.get('resourceVersion')}")
        if propagation_policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.invalid_kind("DeleteOptions", "", [FieldError.not_supported(
                "propagationPolicy", propagation_policy, ["Foreground", "Background", "Orphan", "nil"])],
                "meta.k8s.io")
        info = {"propagationPolicy": propagation_policy or "Background", "user": user}
        if r.key == "namespaces":
            return self._delete_namespace(existing, dry_run, user)
        grace = 0
        if r.key == "pods":
            grace = self._pod_grace(existing, grace_period_seconds)
        new = clone(existing)
        nmeta = new["metadata"]
        finalizers = list(nmeta.get("finalizers") or [])
        if getattr(self.cluster, "gc_finalizers", False):
            # The garbage collector handles these two (as the real one does).
            extra = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(propagation_policy or "")
            if extra and extra not in finalizers and not nmeta.get("deletionTimestamp"):
                finalizers.append(extra)
                nmeta["finalizers"] = finalizers
        if nmeta.get("deletionTimestamp"):
            # Already terminating: only a shorter grace period changes anything.
            current = nmeta.get("deletionGracePeriodSeconds") or 0
            if r.key == "pods" and grace < current:
                nmeta["deletionTimestamp"] = now_rfc3339(grace)
                nmeta["deletionGracePeriodSeconds"] = grace
                if grace == 0 and not finalizers:
                    return self._finish_delete(r, ns, name, new, existing, info, dry_run, user, internal)
                return self._store_terminating(r, ns, name, new, existing, dry_run, user, internal, grace)
            return clone(existing)
        if grace > 0 or finalizers:
            nmeta["deletionTimestamp"] = now_rfc3339(grace)
            nmeta["deletionGracePeriodSeconds"] = grace
            if nmeta.get("generation"):
                nmeta["generation"] += 1
            return self._store_terminating(r, ns, name, new, existing, dry_run, user, internal, grace)
        return self._finish_delete(r, ns, name, new, existing, info, dry_run, user, internal)

    def _pod_grace(self, pod: dict, requested) -> int:
        """CheckGracefulDelete (§5.1)."""
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if requested is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace is None:
                grace = 30
        else:
            grace = int(requested)
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            grace = 0
        if grace < 0:
            grace = 1
        return grace

    def _store_terminating(self, r, ns, name, new, existing, dry_run, user, internal, grace):
        if dry_run:
            return new
        new["metadata"] = _order_meta(new["metadata"])
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.put(r, new, existing)
        if internal:
            self._audit_internal("delete", r, ns, name, None, user, 200)
        if r.key == "pods" and grace > 0 and not self._has_kubelet():
            # Without a kubelet component nobody would finish the deletion: do it after the grace period.
            self._later(grace, self._finalize_pod, ns, name, new["metadata"]["uid"])
        return clone(new)

    def _finish_delete(self, r, ns, name, new, existing, info, dry_run, user, internal):
        if dry_run:
            final = new
        else:
            final = self._remove(r, new, info)
            if internal:
                self._audit_internal("delete", r, ns, name, None, user, 200)
        if r.key in RETURN_DELETED_OBJECT:
            return clone(final)
        return errors.success_status(r, name, final["metadata"].get("uid", ""))

    def _has_kubelet(self) -> bool:
        if self.cluster is None:
            return False
        return any(getattr(c, "finalizes_pods", False) for c in getattr(self.cluster, "components", []))

    def _finalize_pod(self, ns, name, uid):
        pod = self.store.get("pods", ns, name)
        if pod is not None and pod["metadata"].get("uid") == uid:
            try:
                self.delete("pods", ns, name, grace_period_seconds=0, user="system:node:kubesim")
            except errors.ApiError:
                pass

    def _later(self, delay: float, fn, *args):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_later(delay, fn, *args)

    # ----------------------------------------------------------------------------------------- namespaces
    def _delete_namespace(self, existing: dict, dry_run: bool, user: str) -> dict:
        name = existing["metadata"]["name"]
        if (existing.get("status") or {}).get("phase") == "Terminating":
            return clone(existing)
        new = clone(existing)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new["status"] = {"phase": "Terminating"}
        if dry_run:
            return new
        new["metadata"] = _order_meta(new["metadata"])
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.put("namespaces", new, existing)
        self._later(0, self._namespace_cleanup, name, new["metadata"]["uid"], 0)
        return clone(new)

    def _namespace_cleanup(self, name: str, uid: str, round_: int):
        """The namespace controller: delete everything inside, then remove the namespace."""
        ns = self.store.get("namespaces", "", name)
        if ns is None or ns["metadata"]["uid"] != uid:
            return
        user = "system:serviceaccount:kube-system:namespace-controller"
        remaining = False
        for r in self.store.namespaces_with_objects(name):
            for obj in list(self.store.list(r, name)):
                remaining = True
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self.delete(r, name, obj["metadata"]["name"], user=user)
                except errors.ApiError:
                    pass
        if remaining and round_ < 600:
            self._later(0.05 if round_ < 40 else 0.5, self._namespace_cleanup, name, uid, round_ + 1)
            return
        final = clone(ns)
        final["spec"] = {}
        self._remove(self._r("namespaces"), final, {"propagationPolicy": "Background", "user": user})

    # ------------------------------------------------------------------------------------------ subresources
    def _token_request(self, namespace, name, body, user, internal) -> dict:
        """serviceaccounts/NAME/token (pkg/registry/core/serviceaccount/storage/token.go): a bound token for the
        ServiceAccount, optionally bound to a Pod or Secret of its namespace."""
        self._check_kind(self._r("serviceaccounts"), body, "TokenRequest", "authentication.k8s.io/v1")
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.invalid_kind("TokenRequest", name, [FieldError.invalid(
                "metadata.name", meta["name"], "must match the service account name if specified")],
                "authentication.k8s.io")
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.invalid_kind("TokenRequest", name, [FieldError.invalid(
                "metadata.namespace", meta["namespace"], "must match the service account namespace if specified")],
                "authentication.k8s.io")
        sa = self.get("serviceaccounts", namespace, name)
        spec = clone(body.get("spec") or {})
        spec["audiences"] = list(spec.get("audiences") or tokens_mod.API_AUDIENCES)
        expiration = spec.get("expirationSeconds")
        if expiration is None:
            expiration = tokens_mod.DEFAULT_EXPIRATION
        spec["expirationSeconds"] = expiration
        errs = []
        if not isinstance(expiration, int) or expiration < tokens_mod.MIN_EXPIRATION:
            errs.append(FieldError.invalid("spec.expirationSeconds", expiration,
                                           "may not specify a duration less than 10 minutes"))
        elif expiration > tokens_mod.MAX_EXPIRATION:
            errs.append(FieldError.invalid("spec.expirationSeconds", expiration,
                                           "may not specify a duration larger than 2^32 seconds"))
        if errs:
            raise errors.invalid_kind("TokenRequest", "", errs, "authentication.k8s.io")
        bound = None
        ref = spec.get("boundObjectRef")
        if ref:
            kind = ref.get("kind")
            if ref.get("apiVersion", "v1") not in ("v1", "") or kind not in ("Pod", "Secret"):
                raise errors.bad_request(f"cannot bind token to object of type {ref.get('apiVersion', '')}, "
                                         f"Kind={kind}")
            obj = self.get("pods" if kind == "Pod" else "secrets", namespace, ref.get("name") or "")
            if kind == "Pod" and (obj.get("spec") or {}).get("serviceAccountName") != name:
                raise errors.bad_request(f'cannot bind token for serviceaccount "{name}" to pod running with '
                                         "different serviceaccount name.")
            if ref.get("uid") and ref["uid"] != obj["metadata"]["uid"]:
                raise errors.generic(409, "Conflict", f'Operation cannot be fulfilled on {kind} "{ref["name"]}": the '
                                     f"UID in the bound object reference ({ref['uid']}) does not match the UID in "
                                     "record. The object might have been deleted and then recreated",
                                     {"name": ref["name"], "kind": kind})
            bound = {"kind": kind, "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}
        token, exp = self.cluster.tokens.bound_token(sa, spec["audiences"], expiration, bound)
        if internal:
            self._audit_internal("create", self._r("serviceaccounts"), namespace, name, "token", user, 201)
        stamp = now_rfc3339()
        out_meta = {"name": name, "namespace": namespace, "uid": sa["metadata"]["uid"], "creationTimestamp": stamp}
        expiry = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": out_meta,
                "spec": spec, "status": {"token": token, "expirationTimestamp": expiry}}

    def _scale_view(self, r: ResourceType, obj: dict) -> dict:
        meta = obj["metadata"]
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                  "creationTimestamp") if k in meta},
                "spec": {"replicas": spec.get("replicas", 0)},
                "status": {"replicas": status.get("replicas", 0),
                           "selector": label_selector_object_to_string(spec.get("selector"))}}

    def _create_subresource(self, r, namespace, name, subresource, body, dry_run, user, internal):
        if r.key == "serviceaccounts" and subresource == "token":
            return self._token_request(namespace, name, body, user, internal)
        if r.key != "pods" or subresource not in ("eviction", "binding"):
            raise errors.method_not_allowed()
        ns = self._ns(r, namespace)
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is unrecognized")
        name = name or (body.get("metadata") or {}).get("name")
        pod = self.store.get(r, ns, name)
        if pod is None:
            raise errors.not_found(r, name)
        if subresource == "binding":
            self._check_kind(r, body, "Binding", "v1")
            target = (body.get("target") or {}).get("name")
            if not target:
                raise errors.invalid_kind("Binding", name, [FieldError.required("target.name")])
            if (pod.get("spec") or {}).get("nodeName"):
                raise errors.conflict("pods/binding", name,
                                      f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"')
            if dry_run:
                return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
            new = clone(pod)
            new["spec"]["nodeName"] = target
            conds = [c for c in (new.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": now_rfc3339()})
            new.setdefault("status", {})["conditions"] = conds
            new["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self.store.put(r, new, pod)
            if internal:
                self._audit_internal("create", r, ns, name, "binding", user, 201)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        # eviction
        if body.get("apiVersion") not in (None, "policy/v1", "policy/v1beta1") or body.get("kind") not in (
                None, "Eviction"):
            raise errors.bad_request("the object provided is unrecognized (must be of type Eviction)")
        disruption = getattr(self.cluster, "disruption", None) if self.cluster is not None else None
        terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if disruption is not None and not terminal and not pod["metadata"].get("deletionTimestamp"):
            disruption.check_eviction(pod, dry_run=dry_run)  # raises ApiError 429 when a PDB forbids it
        opts = body.get("deleteOptions") or {}
        self.delete(r, ns, name, grace_period_seconds=opts.get("gracePeriodSeconds"),
                    preconditions=opts.get("preconditions"), dry_run=dry_run, user=user, internal=internal)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def _crd_status(crd: dict) -> dict:
    """What the CRD strategy (storedVersions) and, within milliseconds, the naming and establishing controllers
    write: the names accepted, the CRD Established."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    stamp = now_rfc3339()
    storage = [v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("storage")]
    return {"conditions": [
        {"type": "NamesAccepted", "status": "True", "lastTransitionTime": stamp, "reason": "NoConflicts",
         "message": "no conflicts found"},
        {"type": "Established", "status": "True", "lastTransitionTime": stamp, "reason": "InitialNamesAccepted",
         "message": "the initial names have been accepted"}],
        "acceptedNames": {k: names[k] for k in ("plural", "singular", "shortNames", "kind", "listKind", "categories")
                          if k in names},
        "storedVersions": storage[:1]}


_INITIAL_STATUS = {
    "persistentvolumeclaims": {"phase": "Pending"},
    "persistentvolumes": {"phase": "Pending"},
    "replicasets.apps": {"replicas": 0},
    "statefulsets.apps": {"replicas": 0, "availableReplicas": 0},
    "daemonsets.apps": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                        "numberReady": 0},
    "horizontalpodautoscalers.autoscaling": {"currentReplicas": 0, "desiredReplicas": 0},
    "poddisruptionbudgets.policy": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                    "expectedPods": 0},
}


def _resets_managed_fields(body) -> bool:
    """`metadata.managedFields: [{}]` in a write clears the managed fields (fieldmanager's reset rule)."""
    mf = ((body or {}).get("metadata") or {}).get("managedFields") if isinstance(body, dict) else None
    return isinstance(mf, list) and len(mf) > 0 and all(e == {} for e in mf)


def storage_order(obj: dict) -> tuple:
    """The etcd key order of an object: /registry/<resource>/<namespace>/<name>."""
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def _without_nulls(body: dict) -> dict:
    """A copy without null fields in metadata and spec: Go decodes null as the zero value, which is omitted."""
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if v is not None}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o
    out = {}
    for k, v in body.items():
        if v is None:
            continue
        out[k] = strip(v) if k in ("metadata", "spec") else clone(v)
    return out


_META_ORDER = ("name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
               "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
               "finalizers", "managedFields")


def _order_meta(meta: dict) -> dict:
    out = {k: meta[k] for k in _META_ORDER if k in meta}
    for k, v in meta.items():
        if k not in out:
            out[k] = v
    return out
