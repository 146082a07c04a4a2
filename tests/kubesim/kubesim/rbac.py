"""Authentication (bearer tokens) and an RBAC authorizer that evaluates like the real one
(plugin/pkg/auth/authorizer/rbac): verbs, API groups, resources incl. `resource/subresource` and `*/subresource`,
resourceNames, namespaces, non-resource URLs, `system:masters` as superuser, and the default discovery roles for
authenticated users.

Roles and bindings come from the `--rbac FILE` and from RBAC objects created through the API, as on a cluster.

The `--rbac FILE` is a YAML stream. Each document is one of:
- an RBAC object (Role, ClusterRole, RoleBinding, ClusterRoleBinding) or a `kind: List` of them;
- `{tokens: [{token, user, groups}]}` (extra credentials), optionally with `objects: [...]`;
- a list whose items are RBAC objects or `{token, user, groups}` entries.
A service account user is `system:serviceaccount:NS:NAME` and gets the groups `system:serviceaccounts`,
`system:serviceaccounts:NS` automatically.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

ADMIN_USER = "kubesim-admin"
ADMIN_GROUPS = ("system:masters", "system:authenticated")
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

# What system:discovery, system:basic-user and system:public-info-viewer give every authenticated user.
_DISCOVERY_PATHS = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version",
                    "/version/", "/openapi", "/openapi/*")
_SELF_REVIEWS = {("authentication.k8s.io", "selfsubjectreviews"), ("authorization.k8s.io", "selfsubjectaccessreviews"),
                 ("authorization.k8s.io", "selfsubjectrulesreviews")}


@dataclass
class UserInfo:
    name: str
    groups: tuple = ()
    uid: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


@dataclass
class Attributes:
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True


class RbacConfigError(ValueError):
    pass


def load_rbac_file(path: str) -> tuple[list[dict], list[dict]]:
    """Returns (rbac objects, token entries)."""
    try:
        with open(path, encoding="utf-8") as f:
            docs = list(yaml.safe_load_all(f))
    except OSError as e:
        raise RbacConfigError(f"cannot read RBAC file {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise RbacConfigError(f"RBAC file {path} is not valid YAML: {e}") from None
    objects, tokens = [], []

    def take(item, where):
        if not isinstance(item, dict):
            raise RbacConfigError(f"{where}: expected a mapping, got {type(item).__name__}")
        if "token" in item:
            if not item.get("token") or not item.get("user"):
                raise RbacConfigError(f"{where}: a token entry needs `token` and `user`")
            groups = item.get("groups") or []
            if not isinstance(groups, list):
                raise RbacConfigError(f"{where}: `groups` must be a list")
            tokens.append({"token": str(item["token"]), "user": str(item["user"]), "groups": [str(g) for g in groups]})
        elif item.get("kind") == "List":
            for i, sub in enumerate(item.get("items") or []):
                take(sub, f"{where}.items[{i}]")
        elif item.get("kind") in RBAC_KINDS:
            if not (item.get("metadata") or {}).get("name"):
                raise RbacConfigError(f"{where}: {item['kind']} without metadata.name")
            objects.append(item)
        elif "tokens" in item or "objects" in item:
            for i, sub in enumerate(item.get("tokens") or []):
                take(sub, f"{where}.tokens[{i}]")
            for i, sub in enumerate(item.get("objects") or []):
                take(sub, f"{where}.objects[{i}]")
        else:
            raise RbacConfigError(f"{where}: not an RBAC object or token entry (kind={item.get('kind')!r})")

    for d, doc in enumerate(docs):
        if doc is None:
            continue
        if isinstance(doc, list):
            for i, item in enumerate(doc):
                take(item, f"document {d + 1}[{i}]")
        else:
            take(doc, f"document {d + 1}")
    return objects, tokens


class Authenticator:
    def __init__(self, admin_token: str, extra_tokens: list[dict] | None = None):
        self.tokens: dict[str, UserInfo] = {admin_token: UserInfo(ADMIN_USER, ADMIN_GROUPS)}
        # More bearer-token checks (token -> UserInfo or None), e.g. the cluster's ServiceAccount tokens.
        self.token_authenticators: list = []
        for t in extra_tokens or []:
            self.add_token(t["token"], t["user"], t.get("groups") or [])

    def add_token(self, token: str, user: str, groups):
        groups = list(groups)
        if user.startswith("system:serviceaccount:"):
            ns = user.split(":")[2]
            for g in ("system:serviceaccounts", f"system:serviceaccounts:{ns}"):
                if g not in groups:
                    groups.append(g)
        if "system:authenticated" not in groups:
            groups.append("system:authenticated")
        self.tokens[token] = UserInfo(user, tuple(groups))

    def authenticate(self, authorization_header: str | None, peercert: dict | None = None) -> UserInfo | None:
        """The union authenticator's order: a verified client certificate (x509), then bearer tokens (the static
        ones, then ServiceAccount tokens through `token_authenticators`)."""
        from kubesim.tls import user_from_peercert
        from_cert = user_from_peercert(peercert)
        if from_cert is not None:
            user, groups = from_cert
            return UserInfo(user, tuple(groups) + tuple(g for g in ("system:authenticated",) if g not in groups))
        if not authorization_header:
            return None
        scheme, _, token = authorization_header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        found = self.tokens.get(token)
        if found is not None:
            return found
        for check in self.token_authenticators:
            found = check(token)
            if found is not None:
                return found
        return None


def _subject_matches(subject: dict, user: UserInfo, binding_ns: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{subject.get('name')}"
    return False


def _rule_allows(rule: dict, a: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and a.verb not in verbs:
        return False
    if not a.resource_request:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == a.path or (url.endswith("*") and a.path.startswith(url[:-1])):
                return True
        return False
    groups = rule.get("apiGroups")
    if groups is None or ("*" not in groups and a.group not in groups):
        return False
    combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    ok = False
    for res in rule.get("resources") or []:
        if res == "*" or res == combined or (a.subresource and res == "*/" + a.subresource):
            ok = True
            break
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


class Authorizer:
    def __init__(self, file_objects: list[dict] | None = None, store=None):
        self.file_objects = file_objects or []
        self.store = store

    def _objects(self, kind: str, namespace: str | None = None) -> list[dict]:
        out = [o for o in self.file_objects if o.get("kind") == kind and
               (namespace is None or (o.get("metadata") or {}).get("namespace", "") == namespace)]
        if self.store is not None:
            key = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
                   "ClusterRoleBinding": "clusterrolebindings"}[kind] + ".rbac.authorization.k8s.io"
            out += self.store.list(key, namespace)
        return out

    def _role_rules(self, role_ref: dict, binding_ns: str) -> list[dict]:
        kind, name = role_ref.get("kind"), role_ref.get("name")
        ns = binding_ns if kind == "Role" else ""
        for o in self._objects(kind, ns if kind == "Role" else None):
            if (o.get("metadata") or {}).get("name") == name:
                return o.get("rules") or []
        return []

    def authorize(self, user: UserInfo, a: Attributes) -> tuple[bool, str]:
        if user.is_admin:
            return True, ""
        if not a.resource_request and any(p == a.path or (p.endswith("*") and a.path.startswith(p[:-1]))
                                          for p in _DISCOVERY_PATHS):
            return True, ""
        if a.resource_request and a.verb == "create" and (a.group, a.resource) in _SELF_REVIEWS:
            return True, ""
        for crb in self._objects("ClusterRoleBinding"):
            if any(_subject_matches(s, user, "") for s in crb.get("subjects") or []):
                if any(_rule_allows(r, a) for r in self._role_rules(crb.get("roleRef") or {}, "")):
                    return True, ""
        if a.namespace:
            for rb in self._objects("RoleBinding", a.namespace):
                if any(_subject_matches(s, user, a.namespace) for s in rb.get("subjects") or []):
                    if any(_rule_allows(r, a) for r in self._role_rules(rb.get("roleRef") or {}, a.namespace)):
                        return True, ""
        return False, ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[dict]]:
        """(resourceRules, nonResourceRules) for SelfSubjectRulesReview."""
        if user.is_admin:
            return ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                    [{"verbs": ["*"], "nonResourceURLs": ["*"]}])
        res = [{"verbs": ["create"], "apiGroups": [g], "resources": [r]} for g, r in sorted(_SELF_REVIEWS)]
        nonres = [{"verbs": ["get"], "nonResourceURLs": list(_DISCOVERY_PATHS)}]
        bindings = [(b, "") for b in self._objects("ClusterRoleBinding")]
        bindings += [(b, namespace) for b in self._objects("RoleBinding", namespace)] if namespace else []
        for b, ns in bindings:
            if any(_subject_matches(s, user, ns) for s in b.get("subjects") or []):
                for r in self._role_rules(b.get("roleRef") or {}, ns):
                    if r.get("nonResourceURLs"):
                        nonres.append({"verbs": r.get("verbs") or [], "nonResourceURLs": r["nonResourceURLs"]})
                    else:
                        entry = {"verbs": r.get("verbs") or [], "apiGroups": r.get("apiGroups") or [],
                                 "resources": r.get("resources") or []}
                        if r.get("resourceNames"):
                            entry["resourceNames"] = r["resourceNames"]
                        res.append(entry)
        return res, nonres
