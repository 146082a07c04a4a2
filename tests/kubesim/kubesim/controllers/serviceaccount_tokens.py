"""Token controller (pkg/controller/serviceaccount/tokens_controller.go): a Secret of type
`kubernetes.io/service-account-token` annotated `kubernetes.io/service-account.name: SA` is filled with `token`
(a legacy ServiceAccount token, see kubesim/tokens.py), `ca.crt` and `namespace`, and annotated with the SA's uid.
A token Secret whose ServiceAccount does not exist (or has another uid) is deleted, and deleting a ServiceAccount
deletes its token Secrets, so the token stops working with it.
"""
from __future__ import annotations

import base64

from kubesim.controllers.base import Controller, is_not_found, meta
from kubesim.errors import ApiError

TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME = "kubernetes.io/service-account.name"
SA_UID = "kubernetes.io/service-account.uid"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _is_token_secret(obj: dict) -> bool:
    return obj.get("type") == TOKEN_TYPE


class TokensController(Controller):
    name = "tokens-controller"

    def __init__(self, cluster):
        super().__init__(cluster)
        # The token controller runs with kube-controller-manager's own credentials.
        self.user = "system:kube-controller-manager"

    def initial_keys(self):
        return [("secret", meta(s)["namespace"], meta(s)["name"]) for s in self.store.list("secrets")
                if _is_token_secret(s)]

    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == "secrets" and ev.type != "DELETED" and _is_token_secret(ev.obj):
            self.enqueue(("secret", meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif key == "serviceaccounts":
            ns, name = meta(ev.obj)["namespace"], meta(ev.obj)["name"]
            for secret in self.store.list("secrets", ns):
                if _is_token_secret(secret) and (meta(secret).get("annotations") or {}).get(SA_NAME) == name:
                    self.enqueue(("secret", ns, meta(secret)["name"]))

    def sync(self, key):
        _, ns, name = key
        secret = self.store.get("secrets", ns, name)
        if secret is None or meta(secret).get("deletionTimestamp"):
            return None
        annotations = meta(secret).get("annotations") or {}
        sa = self.store.get("serviceaccounts", ns, annotations.get(SA_NAME, ""))
        if sa is None or meta(sa).get("deletionTimestamp") or \
                annotations.get(SA_UID, meta(sa)["uid"]) != meta(sa)["uid"]:
            # syncSecret: the referenced ServiceAccount is gone (or replaced): the token Secret goes with it.
            try:
                self.api.delete("secrets", ns, name, preconditions={"uid": meta(secret)["uid"]}, user=self.user)
            except ApiError as err:
                if not is_not_found(err) and err.code != 409:
                    raise
            return None
        data = secret.get("data") or {}
        if data.get("token") and data.get("ca.crt") is not None and data.get("namespace") and SA_UID in annotations:
            return None
        ca = getattr(self.cluster.options, "ca_pem", "") or ""
        patch = {"metadata": {"annotations": {SA_UID: meta(sa)["uid"]}},
                 "data": {"token": data.get("token") or _b64(self.cluster.tokens.legacy_token(sa, name)),
                          "ca.crt": _b64(ca), "namespace": _b64(ns)}}
        try:
            self.api.patch("secrets", ns, name, patch, "strategic", user=self.user)
        except ApiError as err:
            if not is_not_found(err):
                raise
        return None
