"""ApiError and builders for the exact Status bodies of the real API server (spec §6).

Field order follows Go's serialisation of metav1.Status: kind, apiVersion, metadata, status, message, reason,
details, code. `details.kind` is the *resource* (plural) for NotFound/AlreadyExists/Conflict/Forbidden and the
*Kind* for Invalid, as in apimachinery/pkg/api/errors.
"""
from __future__ import annotations

import json

from kubesim.resources import ResourceType, rt as _rt


class ApiError(Exception):
    def __init__(self, status: dict, headers: dict | None = None):
        super().__init__(status.get("message", status.get("reason", "error")))
        self.status = status
        self.code = status.get("code", 500)
        self.headers = headers or {}


def _status(code: int, reason: str, message: str, details: dict | None = None, status: str = "Failure") -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status}
    if message:
        body["message"] = message
    if reason:
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _details(rtype, name: str | None) -> dict:
    d: dict = {}
    if name:
        d["name"] = name
    if isinstance(rtype, str) and "/" in rtype:  # "pods/exec": a subresource in the core group
        d["kind"] = rtype
    elif rtype is not None:
        r = _rt(rtype)
        if r.group:
            d["group"] = r.group
        d["kind"] = r.plural
    return d


def _qualified(rtype) -> str:
    if isinstance(rtype, str) and "/" in rtype:
        return rtype
    return _rt(rtype).key


def not_found(rtype, name: str) -> ApiError:
    return ApiError(_status(404, "NotFound", f'{_qualified(rtype)} "{name}" not found', _details(rtype, name)))


def subresource_not_found(rtype, subresource: str) -> ApiError:
    """A 404 whose details.name is empty: the subresource does not exist (kubectl debug checks for this, §5.3)."""
    r = _rt(rtype)
    d = {"group": r.group, "kind": r.plural} if r.group else {"kind": r.plural}
    return ApiError(_status(404, "NotFound", "the server could not find the requested resource", d))


def path_not_found() -> ApiError:
    return ApiError(_status(404, "NotFound", "the server could not find the requested resource", {}))


def already_exists(rtype, name: str) -> ApiError:
    return ApiError(_status(409, "AlreadyExists", f'{_qualified(rtype)} "{name}" already exists',
                            _details(rtype, name)))


def conflict(rtype, name: str, detail: str | None = None) -> ApiError:
    detail = detail or ("the object has been modified; please apply your changes to the latest version and "
                        "try again")
    return ApiError(_status(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(rtype)} "{name}": {detail}',
                            _details(rtype, name)))


# ------------------------------------------------------------------------------------------- field errors (422)

def _go_quote(value) -> str:
    """How field.Error prints a value: strings quoted, numbers and bools bare, others as %#v-ish JSON."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"))


class FieldError:
    """One field.Error: reason (CauseType), field path, and the ErrorBody() message."""

    def __init__(self, reason: str, field: str, body: str):
        self.reason, self.field, self.body = reason, field, body

    def __str__(self) -> str:
        return f"{self.field}: {self.body}" if self.field else self.body

    def cause(self) -> dict:
        return {"reason": self.reason, "message": self.body, "field": self.field}

    @classmethod
    def forbidden(cls, field, detail):
        return cls("FieldValueForbidden", field, f"Forbidden: {detail}")

    @classmethod
    def required(cls, field, detail=""):
        return cls("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))

    @classmethod
    def invalid(cls, field, value, detail=""):
        return cls("FieldValueInvalid", field, f"Invalid value: {_go_quote(value)}" + (f": {detail}" if detail else ""))

    @classmethod
    def not_supported(cls, field, value, supported):
        sv = ", ".join(json.dumps(s) for s in supported)
        return cls("FieldValueNotSupported", field, f"Unsupported value: {_go_quote(value)}: supported values: {sv}")

    @classmethod
    def duplicate(cls, field, value):
        return cls("FieldValueDuplicate", field, f"Duplicate value: {_go_quote(value)}")

    @classmethod
    def not_found(cls, field, value):
        return cls("FieldValueNotFound", field, f"Not found: {_go_quote(value)}")


def invalid(rtype, name: str, causes: list) -> ApiError:
    """NewInvalid(GroupKind, name, errs). `causes` are FieldError objects or cause dicts."""
    r = _rt(rtype)
    errs = [c if isinstance(c, FieldError) else FieldError(c["reason"], c.get("field", ""), c["message"])
            for c in causes]
    qualified_kind = f"{r.kind}.{r.group}" if r.group else r.kind
    if len(errs) == 1:
        agg = str(errs[0])
    else:
        agg = "[" + ", ".join(str(e) for e in errs) + "]"
    details = {"name": name}
    if r.group:
        details["group"] = r.group
    details["kind"] = r.kind
    details["causes"] = [e.cause() for e in errs]
    return ApiError(_status(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {agg}', details))


def invalid_kind(kind: str, name: str, errs: list[FieldError], group: str = "") -> ApiError:
    """NewInvalid for non-stored kinds such as PatchOptions or DeleteOptions."""
    agg = str(errs[0]) if len(errs) == 1 else "[" + ", ".join(str(e) for e in errs) + "]"
    details = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [e.cause() for e in errs]
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(_status(422, "Invalid", f'{qualified} "{name}" is invalid: {agg}', details))


def generic_invalid() -> ApiError:
    """422 with the generic message: what a failed json-patch operation gives (§6)."""
    return generic(422, "Invalid", "the server rejected our request due to an error in our request", {})


# ------------------------------------------------------------------------------------------------- the others

def bad_request(msg: str) -> ApiError:
    return ApiError(_status(400, "BadRequest", msg))


def unauthorized() -> ApiError:
    return ApiError(_status(401, "Unauthorized", "Unauthorized"))


def forbidden(user: str, verb: str, resource: str, group: str, namespace: str | None, name: str | None,
              subresource: str | None = None, reason: str = "") -> ApiError:
    """RBAC denial (responsewriters.ForbiddenStatusError). `resource` is the plural; subresources as `pods/exec`."""
    # The message names `pods/exec`; the head and details name the resource (as real 403s read:
    # `pods "x" is forbidden: User "u" cannot create resource "pods/exec" ...`).
    res = f"{resource}/{subresource}" if subresource else resource
    qualified = f"{resource}.{group}" if group else resource  # schema.GroupResource.String()
    if namespace:
        scope = f'in the namespace "{namespace}"'
    else:
        scope = "at the cluster scope"
    msg = f'User "{user}" cannot {verb} resource "{res}" in API group "{group}" {scope}'
    if reason:
        msg += f": {reason}"
    if resource == "":  # a non-resource URL
        return ApiError(_status(403, "Forbidden", f'forbidden: User "{user}" cannot {verb} path "{name}"', {}))
    head = f'{qualified} "{name}" is forbidden' if name else f"{qualified} is forbidden"
    details: dict = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    return ApiError(_status(403, "Forbidden", f"{head}: {msg}", details))


def forbidden_message(rtype, name: str | None, message: str) -> ApiError:
    """A 403 not from RBAC (e.g. creating in a terminating namespace)."""
    r = _rt(rtype)
    head = f'{r.key} "{name}" is forbidden' if name else f"{r.key} is forbidden"
    return ApiError(_status(403, "Forbidden", f"{head}: {message}", _details(r, name)))


def gone(msg: str) -> ApiError:
    return ApiError(_status(410, "Expired", msg))


def method_not_allowed(msg: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(_status(405, "MethodNotAllowed", msg, {}))


def unsupported_media_type(msg: str) -> ApiError:
    return ApiError(_status(415, "UnsupportedMediaType", msg))


def not_acceptable(msg: str) -> ApiError:
    return ApiError(_status(406, "NotAcceptable", msg))


def too_many_requests(msg: str = "Too many requests, please try again later.", retry_after: int = 1,
                      causes: list | None = None) -> ApiError:
    details: dict = {}
    if causes:
        details["causes"] = causes
    if retry_after:
        details["retryAfterSeconds"] = retry_after
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return ApiError(_status(429, "TooManyRequests", msg, details), headers)


def internal(msg: str) -> ApiError:
    return ApiError(_status(500, "InternalError", f"Internal error occurred: {msg}",
                            {"causes": [{"message": msg}]}))


def service_unavailable(msg: str = "the server is currently unable to handle the request") -> ApiError:
    return ApiError(_status(503, "ServiceUnavailable", msg))


def request_entity_too_large(msg: str) -> ApiError:
    return ApiError(_status(413, "RequestEntityTooLarge", msg))


def generic(code: int, reason: str, msg: str, details: dict | None = None) -> ApiError:
    return ApiError(_status(code, reason, msg, details))


def success_status(rtype: ResourceType, name: str, uid: str) -> dict:
    """What DELETE returns for resources that do not return the deleted object."""
    details = {"name": name}
    if rtype.group:
        details["group"] = rtype.group
    details["kind"] = rtype.plural
    details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
