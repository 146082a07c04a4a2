"""User impersonation headers, as the apiserver's WithImpersonation filter handles them
(staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go).

`Impersonate-User`, `Impersonate-Group` (repeatable), `Impersonate-Uid` and `Impersonate-Extra-<key>`: the
requester needs the verb `impersonate` on each thing it asks for, in the core group:
- `users` named after the user, or, for `system:serviceaccount:NS:NAME`, `serviceaccounts` NAME in namespace NS;
- `groups` named after each group; `uids` named after the uid; `userextras/<key>` named after each extra value.
Groups, uid or extras without a user are a 400. A denial is the real 403 (`users "x" is forbidden: User "y" cannot
impersonate resource "users" in API group "" at the cluster scope`). The request then runs as the impersonated
user: a service account gets its `system:serviceaccounts` groups, and `system:authenticated` is added unless
`system:authenticated` or `system:unauthenticated` was asked for.
"""
from __future__ import annotations

from kubesim import errors
from kubesim.rbac import Attributes, UserInfo

USER_HEADER = "Impersonate-User"
GROUP_HEADER = "Impersonate-Group"
UID_HEADER = "Impersonate-Uid"
EXTRA_PREFIX = "Impersonate-Extra-"
ANONYMOUS = "system:anonymous"


def _service_account(username: str) -> tuple[str, str] | None:
    """serviceaccount.SplitUsername: `system:serviceaccount:NS:NAME` -> (NS, NAME)."""
    parts = username.split(":")
    if len(parts) == 4 and parts[0] == "system" and parts[1] == "serviceaccount" and parts[2] and parts[3]:
        return parts[2], parts[3]
    return None


def requested(headers) -> bool:
    return any(k.lower().startswith("impersonate-") for k in headers.keys())


def impersonate(requester: UserInfo, headers, authorizer) -> UserInfo:
    """The UserInfo the request runs as; raises the 400/403 ApiError of the real filter."""
    username = headers.get(USER_HEADER, "")
    groups = [g for g in headers.getall(GROUP_HEADER, [])]
    uid = headers.get(UID_HEADER, "")
    extra: dict[str, list[str]] = {}
    for key, value in headers.items():
        if key.lower().startswith(EXTRA_PREFIX.lower()):
            extra.setdefault(key[len(EXTRA_PREFIX):].lower(), []).append(value)
    if not username:
        asked = [name for name, present in (("groups", groups), ("extra", extra), ("uid", uid)) if present]
        raise errors.bad_request(f"requested [{' '.join(asked)}] without impersonating a user")

    def check(resource: str, name: str, namespace: str = "", subresource: str = ""):
        a = Attributes(verb="impersonate", group="", resource=resource, subresource=subresource,
                       namespace=namespace, name=name)
        allowed, reason = authorizer.authorize(requester, a)
        if not allowed:
            raise errors.forbidden(requester.name, "impersonate", resource, "", namespace or None, name,
                                   subresource or None, reason)

    sa = _service_account(username)
    if sa:
        check("serviceaccounts", sa[1], namespace=sa[0])
        for g in ("system:serviceaccounts", f"system:serviceaccounts:{sa[0]}"):
            if g not in groups:
                groups.append(g)
    else:
        check("users", username)
    for group in headers.getall(GROUP_HEADER, []):
        check("groups", group)
    for key, values in extra.items():
        for value in values:
            check("userextras", value, subresource=key)
    if uid:
        check("uids", uid)
    if username != ANONYMOUS:
        if not any(g in ("system:authenticated", "system:unauthenticated") for g in groups):
            groups.append("system:authenticated")
    elif "system:unauthenticated" not in groups:
        groups.append("system:unauthenticated")
    return UserInfo(username, tuple(groups), uid, extra)


def audit_user(user: UserInfo) -> dict:
    """authentication/v1 UserInfo as the audit Event's `impersonatedUser` carries it."""
    out: dict = {"username": user.name}
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out
