"""ServiceAccount tokens: signed JWTs as kube-apiserver and the token controller issue them, and their validation.

Two kinds, as on a real cluster (pkg/serviceaccount/claims.go, legacy.go):
- legacy tokens, written by the token controller into Secrets of type `kubernetes.io/service-account-token`. They
  do not expire; they stay valid while that Secret (with that token) and the ServiceAccount (same uid) exist.
- bound tokens, returned by the TokenRequest subresource (`serviceaccounts/NAME/token`): an audience, an expiry
  (default 1 h, at least 10 min) and optionally an object (Pod or Secret) they die with.
Both authenticate as `system:serviceaccount:NS:NAME` with the groups `system:serviceaccounts`,
`system:serviceaccounts:NS` and the ServiceAccount's uid, so RBAC bindings to the ServiceAccount apply.
Tokens are RS256-signed with a key made at start; anything not signed by it is not a token kubesim issued.
"""
from __future__ import annotations

import base64
import json
import time
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kubesim.rbac import UserInfo

LEGACY_ISSUER = "kubernetes/serviceaccount"
# The apiserver's --service-account-issuer and its default --api-audiences.
ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 1 << 32
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


class ServiceAccountTokens:
    def __init__(self, store):
        self.store = store
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = _b64(uuid.uuid4().bytes)

    # ----------------------------------------------------------------------------------------------- issue
    def _sign(self, claims: dict) -> str:
        header = _b64(json.dumps({"alg": "RS256", "kid": self._kid}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = self._key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(signature)}"

    def legacy_token(self, sa: dict, secret_name: str) -> str:
        """The token the token controller writes into a service-account-token Secret (legacy.Claims)."""
        m = sa["metadata"]
        return self._sign({
            "iss": LEGACY_ISSUER, "kubernetes.io/serviceaccount/namespace": m["namespace"],
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": m["name"],
            "kubernetes.io/serviceaccount/service-account.uid": m["uid"],
            "sub": service_account_user(m["namespace"], m["name"])})

    def bound_token(self, sa: dict, audiences: list, expiration: int, bound: dict | None) -> tuple[str, int]:
        """(token, expiry as a Unix time) for a TokenRequest (serviceaccount.Claims)."""
        m = sa["metadata"]
        now = int(time.time())
        exp = now + expiration
        private = {"namespace": m["namespace"], "serviceaccount": {"name": m["name"], "uid": m["uid"]}}
        if bound:
            private[bound["kind"].lower()] = {"name": bound["name"], "uid": bound["uid"]}
        token = self._sign({"aud": list(audiences), "exp": exp, "iat": now, "iss": ISSUER, "jti": str(uuid.uuid4()),
                            "kubernetes.io": private, "nbf": now, "sub": service_account_user(m["namespace"],
                                                                                               m["name"])})
        return token, exp

    # -------------------------------------------------------------------------------------------- validate
    def _claims(self, token: str) -> dict | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_unb64(parts[0]))
            if header.get("alg") != "RS256" or header.get("kid") != self._kid:
                return None
            self._key.public_key().verify(_unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(),
                                          hashes.SHA256())
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, InvalidSignature, TypeError):
            return None
        return claims if isinstance(claims, dict) else None

    def _live_sa(self, namespace, name, uid) -> dict | None:
        sa = self.store.get("serviceaccounts", namespace or "", name or "")
        if sa is None or sa["metadata"].get("uid") != uid or sa["metadata"].get("deletionTimestamp"):
            return None
        return sa

    def authenticate(self, token: str) -> UserInfo | None:
        """The user a token kubesim issued stands for, or None (expired, revoked, not ours)."""
        claims = self._claims(token)
        if claims is None:
            return None
        if claims.get("iss") == LEGACY_ISSUER:
            ns = claims.get("kubernetes.io/serviceaccount/namespace")
            name = claims.get("kubernetes.io/serviceaccount/service-account.name")
            if self._live_sa(ns, name, claims.get("kubernetes.io/serviceaccount/service-account.uid")) is None:
                return None
            secret = self.store.get("secrets", ns, claims.get("kubernetes.io/serviceaccount/secret.name") or "")
            stored = ((secret or {}).get("data") or {}).get("token", "")
            if secret is None or secret["metadata"].get("deletionTimestamp") or \
                    base64.b64decode(stored or "").decode("utf-8", "replace") != token:
                return None  # legacy.Validator: the Secret must still hold this very token
            return self._user(ns, name, claims["kubernetes.io/serviceaccount/service-account.uid"], {})
        if claims.get("iss") != ISSUER:
            return None
        now = time.time()
        if not isinstance(claims.get("exp"), int) or now >= claims["exp"] or now < claims.get("nbf", 0) - 60:
            return None
        if not set(claims.get("aud") or []) & set(API_AUDIENCES):
            return None
        private = claims.get("kubernetes.io") or {}
        ns, sa = private.get("namespace"), private.get("serviceaccount") or {}
        if self._live_sa(ns, sa.get("name"), sa.get("uid")) is None:
            return None
        extra = {CREDENTIAL_ID: ["JTI=" + str(claims.get("jti", ""))]}
        for kind, resource in (("pod", "pods"), ("secret", "secrets")):
            ref = private.get(kind)
            if ref:
                obj = self.store.get(resource, ns, ref.get("name", ""))
                if obj is None or obj["metadata"].get("uid") != ref.get("uid") or \
                        obj["metadata"].get("deletionTimestamp"):
                    return None  # the object the token was bound to is gone
                if kind == "pod":
                    extra["authentication.kubernetes.io/pod-name"] = [ref["name"]]
                    extra["authentication.kubernetes.io/pod-uid"] = [ref["uid"]]
        return self._user(ns, sa["name"], sa["uid"], extra)

    @staticmethod
    def _user(namespace: str, name: str, uid: str, extra: dict) -> UserInfo:
        return UserInfo(service_account_user(namespace, name),
                        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
                        uid, extra)
