"""The persistentvolume-controller's visible part without any storage behind it
(pkg/controller/volume/persistentvolume/pv_controller.go): an unclaimed PersistentVolume becomes Available; a
claim that nothing will satisfy stays Pending with the event a real controller records for it (no class:
FailedBinding; a class that does not exist: ProvisioningFailed; WaitForFirstConsumer; otherwise
ExternalProvisioning, waiting for a provisioner that kubesim does not have). Binding a claim to an existing volume
(static provisioning) is not emulated: claims never become Bound.
"""
from __future__ import annotations

import copy

from kubesim.controllers.base import Controller, is_not_found, meta
from kubesim.errors import ApiError

PV, PVC, SC = "persistentvolumes", "persistentvolumeclaims", "storageclasses.storage.k8s.io"


class PersistentVolumeController(Controller):
    name = "persistent-volume-binder"

    def __init__(self, cluster):
        super().__init__(cluster)
        self._reported: dict[tuple, str] = {}  # claim (ns, name, uid) -> the reason last recorded

    @property
    def event_component(self) -> str:
        return "persistentvolume-controller"

    def initial_keys(self):
        return [("pv", "", meta(v)["name"]) for v in self.store.list(PV)] + \
            [("pvc", meta(c)["namespace"], meta(c)["name"]) for c in self.store.list(PVC)]

    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == PV and ev.type != "DELETED":
            self.enqueue(("pv", "", meta(ev.obj)["name"]))
        elif key == PVC:
            if ev.type == "DELETED":
                self._reported.pop((meta(ev.obj)["namespace"], meta(ev.obj)["name"], meta(ev.obj)["uid"]), None)
            else:
                self.enqueue(("pvc", meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif key == SC:
            for claim in self.store.list(PVC):
                self.enqueue(("pvc", meta(claim)["namespace"], meta(claim)["name"]))

    def sync(self, key):
        kind, ns, name = key
        if kind == "pv":
            self._sync_volume(name)
        else:
            self._sync_claim(ns, name)
        return None

    def _sync_volume(self, name: str) -> None:
        volume = self.store.get(PV, "", name)
        if volume is None or (volume.get("spec") or {}).get("claimRef"):
            return
        if (volume.get("status") or {}).get("phase") in ("Available", "Released", "Failed"):
            return
        body = copy.deepcopy(volume)
        body["status"] = {**(body.get("status") or {}), "phase": "Available"}
        try:
            self.api.update(PV, "", name, body, subresource="status", user=self.user)
        except ApiError as err:
            if not is_not_found(err) and err.code != 409:
                raise

    def _sync_claim(self, ns: str, name: str) -> None:
        claim = self.store.get(PVC, ns, name)
        if claim is None or meta(claim).get("deletionTimestamp") or \
                (claim.get("status") or {}).get("phase", "Pending") != "Pending":
            return
        class_name = (claim.get("spec") or {}).get("storageClassName") or ""
        if not class_name:
            event = ("Normal", "FailedBinding", "no persistent volumes available for this claim and no storage "
                                                "class is set")
        else:
            sc = self.store.get(SC, "", class_name)
            if sc is None:
                event = ("Warning", "ProvisioningFailed", f'storageclass.storage.k8s.io "{class_name}" not found')
            elif sc.get("volumeBindingMode") == "WaitForFirstConsumer":
                event = ("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
            else:
                event = ("Normal", "ExternalProvisioning",
                         f"Waiting for a volume to be created either by the external provisioner "
                         f"'{sc.get('provisioner', '')}' or manually by the system administrator. If volume creation "
                         "is delayed, please verify that the provisioner is running and correctly registered.")
        ident = (ns, name, meta(claim)["uid"])
        if self._reported.get(ident) == event[1]:
            return  # the real controller repeats it every resync; the Event's count would grow, nothing else
        self._reported[ident] = event[1]
        self.record(claim, event[1], event[2], type=event[0])
