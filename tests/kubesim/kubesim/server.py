"""The aiohttp application: routing, bearer-token authentication, RBAC authorization, audit, fault injection,
list (with limit/continue) and watch streaming, discovery, and connect-style subresources handed to the kubelet
part through `cluster.connect_handlers`.

Every handler is wrapped so that errors come back as Kubernetes Status bodies (§6), never as a traceback.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
import time
from dataclasses import dataclass, field

from aiohttp import web
from multidict import MultiDict

from kubesim import KUBE_VERSION, errors, impersonation, managedfields, openapi, protobuf, resources, tables
from kubesim.api import storage_order
from kubesim.patch import PATCH_CONTENT_TYPES, decode_patch_body
from kubesim.rbac import Attributes, UserInfo
from kubesim.resources import ResourceType, VIRTUAL_RESOURCES
from kubesim.selectors import parse_field_selector, parse_label_selector

log = logging.getLogger("kubesim.server")

# Subresources served by a component (streams, proxies): (resource, subresource).
CONNECT_SUBRESOURCES = {("pods", "exec"), ("pods", "attach"), ("pods", "portforward"), ("pods", "log"),
                        ("pods", "proxy"), ("services", "proxy"), ("nodes", "proxy")}
DEFAULT_WATCH_TIMEOUT = 1800
MAX_BODY_BYTES = 3 * 1024 * 1024  # --min-request-timeout of the real server
_TRUE = ("true", "True", "1")


@dataclass
class RequestContext:
    """What a request is about; handed to connect handlers and fault rules."""
    verb: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path_rest: str = ""
    query: MultiDict = field(default_factory=MultiDict)
    user: str = ""
    groups: tuple = ()
    user_info: UserInfo | None = None
    rtype: ResourceType | None = None
    resource_request: bool = True
    path: str = ""
    dry_run: bool = False
    # pods/proxy, services/proxy, nodes/proxy: `name` keeps the raw `[scheme:]name[:port]` path segment (the real
    # RequestInfo name, which RBAC resourceNames and the audit see); these are its parsed parts.
    impersonator: UserInfo | None = None  # the authenticated user when the request impersonates another
    proxy_scheme: str = ""
    proxy_name: str = ""
    proxy_port: str = ""


def _json_response(body, status=200, headers=None) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        content_type="application/json", headers=headers)


def _error_response(err: errors.ApiError) -> web.Response:
    return _json_response(err.status, err.code, err.headers)


# --------------------------------------------------------------------------------------------- path parsing

def parse_path(method: str, path: str, query) -> RequestContext:
    """Map a URL to a RequestContext (like apiserver's RequestInfoFactory)."""
    ctx = RequestContext(path=path, query=query)
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        ctx.resource_request = False
        ctx.verb = method.lower()
        return ctx
    if parts[0] == "api":
        if len(parts) < 3:
            ctx.resource_request = False
            ctx.verb = method.lower()
            return ctx
        ctx.group, ctx.version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            ctx.resource_request = False
            ctx.verb = method.lower()
            return ctx
        ctx.group, ctx.version, rest = parts[1], parts[2], parts[3:]
    watch_path = False
    if rest and rest[0] == "watch":  # deprecated /watch/ prefix
        watch_path = True
        rest = rest[1:]
    if len(rest) >= 2 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")) \
            and len(rest) != 2:
        ctx.namespace = rest[1]
        rest = rest[2:]
    elif len(rest) == 2 and rest[0] == "namespaces":
        pass  # /namespaces/NAME is the namespace itself
    if not rest:
        raise errors.path_not_found()
    ctx.resource = rest[0]
    if len(rest) > 1:
        ctx.name = rest[1]
    if len(rest) > 2:
        ctx.subresource = rest[2]
    if len(rest) > 3:
        ctx.path_rest = "/" + "/".join(rest[3:])
    if ctx.subresource == "proxy" and path.endswith("/") and not ctx.path_rest:
        ctx.path_rest = "/"
    elif ctx.subresource == "proxy" and ctx.path_rest and path.endswith("/"):
        ctx.path_rest += "/"
    if ctx.resource == "namespaces" and ctx.name and not ctx.namespace:
        ctx.namespace = ctx.name
    m = method.upper()
    if m == "GET" or m == "HEAD":
        if watch_path or query.get("watch") in _TRUE:
            ctx.verb = "watch"
        elif ctx.name:
            ctx.verb = "get"
        else:
            ctx.verb = "list"
        if not ctx.name and query.get("fieldSelector"):
            # RequestInfoFactory: a list/watch for one metadata.name carries that name, so RBAC resourceNames
            # and the audit log see it.
            try:
                name = parse_field_selector(query.get("fieldSelector"), "").exact_value("metadata.name")
            except errors.ApiError:
                name = None
            if name and "/" not in name and name not in (".", ".."):
                ctx.name = name
    elif m == "POST":
        ctx.verb = "create"
    elif m == "PUT":
        ctx.verb = "update"
    elif m == "PATCH":
        ctx.verb = "patch"
    elif m == "DELETE":
        ctx.verb = "delete" if ctx.name else "deletecollection"
    else:
        ctx.verb = m.lower()
    return ctx


_PROXY_SCHEMES = ("", "http", "https")
_PROXY_KIND = {"pods": "pod", "services": "service", "nodes": "node"}


def split_proxy_target(resource: str, raw: str) -> tuple[str, str, str]:
    """`[scheme:]name[:port]` of a proxy URL -> (scheme, name, port), as net.SplitSchemeNamePort parses it.

    The port stays a string: a number or a port name, resolved by the proxy handler. The scheme is "", "http" or
    "https"; anything else (or an empty name, or more than three parts) is the real 400 `invalid <kind> request`.
    """
    parts = raw.split(":")
    scheme, port = "", ""
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        name, port = parts
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        name = ""
    if not name or scheme not in _PROXY_SCHEMES:
        raise errors.bad_request(f"invalid {_PROXY_KIND.get(resource, resource)} request {json.dumps(raw)}")
    return scheme, name, port


def _connect_verb(method: str) -> str:
    return {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method.upper(), method.lower())


# ---------------------------------------------------------------------------------------------- the server

class Server:
    def __init__(self, cluster, authenticator, authorizer):
        self.cluster = cluster
        self.api = cluster.api
        self.store = cluster.store
        self.authn = authenticator
        self.authz = authorizer
        self.audit = cluster.audit
        self.faults = cluster.faults
        self.server_address = ""
        # The real apiserver refuses request bodies over 3 MiB (maxRequestBodyBytes).
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self._watch_queues: set = set()  # one per open watch; close() wakes them with None
        self._closing = False

    # ------------------------------------------------------------------------------------------- entry point
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ctx = RequestContext(path=request.path, query=request.query)
        code = 500
        try:
            ctx = parse_path(request.method, request.path, request.query)
            peercert = request.transport.get_extra_info("peercert") if request.transport is not None else None
            user = self.authn.authenticate(request.headers.get("Authorization"), peercert)
            if user is None:
                raise errors.unauthorized()
            if impersonation.requested(request.headers):
                ctx.user, ctx.groups = user.name, user.groups  # a refused impersonation is audited as the requester
                requester = user
                user = impersonation.impersonate(user, request.headers, self.authz)
                ctx.impersonator = requester
            ctx.user, ctx.groups, ctx.user_info = user.name, user.groups, user
            if ctx.resource_request:
                ctx.rtype = resources.lookup(ctx.group, ctx.version, ctx.resource)
                if (ctx.resource, ctx.subresource) in CONNECT_SUBRESOURCES:
                    ctx.verb = _connect_verb(request.method)
                    if ctx.subresource in ("exec", "attach", "portforward") and ctx.verb == "get":
                        ctx.verb = "create" if request.method.upper() == "POST" else "get"
                dry = ctx.query.getall("dryRun", [])
                for v in dry:
                    if v != "All":
                        options_kinds = {"create": "CreateOptions", "update": "UpdateOptions",
                                         "patch": "PatchOptions", "delete": "DeleteOptions",
                                         "deletecollection": "DeleteOptions"}
                        opts = options_kinds.get(ctx.verb, "Options")
                        raise errors.invalid_kind(opts, "", [_dry_run_error(dry)], "meta.k8s.io")
                ctx.dry_run = bool(dry)
            for rule in self.faults.match(ctx):
                if rule.action == "latency":
                    await asyncio.sleep(rule.seconds)
                elif rule.action == "reset":
                    code = 0
                    if request.transport is not None:
                        request.transport.abort()
                    raise _Reset()
                elif rule.action == "error":
                    raise self.faults.error_for(rule, ctx)
            self._authorize(ctx)
            resp = await self._dispatch(request, ctx)
            code = resp.status
            return resp
        except _Reset:
            return web.Response(status=500)
        except errors.ApiError as e:
            code = e.code
            return _error_response(e)
        except web.HTTPRequestEntityTooLarge:
            err = errors.request_entity_too_large(f"Request entity too large: limit is {MAX_BODY_BYTES}")
            code = err.code
            return _error_response(err)
        except web.HTTPException as e:
            err = errors.generic(e.status, e.reason.replace(" ", ""), e.text or e.reason, {})
            code = err.code
            return _error_response(err)
        except asyncio.CancelledError:
            code = 0  # the server is shutting down (aiohttp cancels the handlers still running)
            raise
        except ConnectionError as e:
            code = 0
            if not _client_gone(request):
                # Not the client's connection (a handler's own socket or pipe): an internal error.
                return self._internal_error(request, e)
            # The client went away mid-stream (watch or log follow closed, kubectl interrupted). Nothing can be
            # answered; aiohttp's attempt to send this response meets the closed transport and ends quietly.
            return web.Response(status=500)
        except Exception as e:  # never a traceback to the client
            code = 500
            return self._internal_error(request, e)
        finally:
            # As the real audit Event: `user` is who authenticated, `impersonatedUser` whom it acted as.
            impersonated = None
            if ctx.impersonator is not None:
                impersonated = impersonation.audit_user(ctx.user_info)
            self.audit.request(user=ctx.impersonator.name if ctx.impersonator else ctx.user, verb=ctx.verb,
                               group=ctx.group, resource=ctx.resource, subresource=ctx.subresource,
                               namespace=ctx.namespace, name=ctx.name, query={k: v for k, v in ctx.query.items()},
                               code=code, dry_run=ctx.dry_run, path=request.path, impersonated_user=impersonated)

    @staticmethod
    def _internal_error(request: web.Request, exc: Exception) -> web.StreamResponse:
        log.exception("internal error on %s %s", request.method, request.path)
        print(f"kubesim: internal error on {request.method} {request.path}: {exc!r}", file=sys.stderr)
        if request.writer is not None and request.writer.output_size > 0:
            # A stream had started: a Status can no longer be sent, so cut the connection as the real server does.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        return _error_response(errors.internal(f"{type(exc).__name__}: {exc}"))

    async def close(self) -> None:
        """Shutdown: end every open watch with a clean end of stream, as the real apiserver does on shutdown,
        before aiohttp cancels what is still running."""
        self._closing = True
        for queue in list(self._watch_queues):
            queue.put_nowait(None)

    def _authorize(self, ctx: RequestContext):
        if ctx.path.startswith("/kubesim/"):
            if not ctx.user_info.is_admin:
                raise errors.forbidden(ctx.user, ctx.verb, "", "", None, ctx.path)
            return
        a = Attributes(verb=ctx.verb, group=ctx.group, resource=ctx.resource, subresource=ctx.subresource,
                       namespace=ctx.namespace, name=ctx.name, path=ctx.path, resource_request=ctx.resource_request)
        allowed, reason = self.authz.authorize(ctx.user_info, a)
        if not allowed:
            if not ctx.resource_request:
                raise errors.forbidden(ctx.user, ctx.verb, "", "", None, ctx.path)
            raise errors.forbidden(ctx.user, ctx.verb, ctx.resource, ctx.group, ctx.namespace or None,
                                   ctx.name or None, ctx.subresource or None, reason)

    async def _dispatch(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        if not ctx.resource_request:
            return await self._non_resource(request, ctx)
        r = ctx.rtype
        if r is None:
            raise errors.path_not_found()
        if r.namespaced is False and ctx.namespace and r.key != "namespaces":
            raise errors.path_not_found()
        if ctx.subresource and ctx.subresource not in r.subresources:
            raise errors.subresource_not_found(r, ctx.subresource)
        if (ctx.resource, ctx.subresource) in CONNECT_SUBRESOURCES:
            handler = self.cluster.connect_handlers.get((ctx.resource, ctx.subresource))
            if handler is None:
                raise errors.generic(404, "NotFound", f"{ctx.resource}/{ctx.subresource} is not served: no "
                                                      "kubesim component handles it", {})
            if ctx.name:
                name = ctx.name
                if ctx.subresource == "proxy":
                    ctx.proxy_scheme, ctx.proxy_name, ctx.proxy_port = split_proxy_target(ctx.resource, ctx.name)
                    name = ctx.proxy_name
                self.api.get(r, ctx.namespace, name)  # 404 for a missing object
            return await handler(request, ctx)
        if r.key in VIRTUAL_RESOURCES:
            return await self._review(request, ctx)
        m = request.method.upper()
        verb = ctx.verb
        if verb in ("update", "patch") and not ctx.name:
            raise errors.method_not_allowed()
        if r.namespaced and not ctx.namespace and verb not in ("list", "watch"):
            # Only list and watch are served across namespaces (e.g. GET /api/v1/pods).
            raise errors.method_not_allowed()
        if verb not in r.verbs and not ctx.subresource:
            raise errors.method_not_allowed()
        if verb == "get":
            obj = self.api.get(r, ctx.namespace, ctx.name, ctx.subresource or None)
            partial = metadata_only(request.headers.get("Accept", ""))
            if partial and not ctx.subresource:
                if partial[0] == "PartialObjectMetadataList":
                    raise errors.not_acceptable("you requested PartialObjectMetadataList, but the requested object "
                                                "is not a list")
                return _json_response(_partial(obj, partial[1]))
            if "as=Table" in request.headers.get("Accept", "") and not ctx.subresource:
                meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
                return _json_response(tables.table_for(r, [obj], meta, ctx.query.get("includeObject", "")))
            return _json_response(obj)
        if verb == "list":
            return await self._list(request, ctx)
        if verb == "watch":
            return await self._watch(request, ctx)
        if verb == "create":
            body = await self._read_json(request)
            if ctx.subresource:
                result = self.api.create(r, ctx.namespace, body, subresource=ctx.subresource, name=ctx.name,
                                         dry_run=ctx.dry_run, user=ctx.user, internal=False)
                return _json_response(result, 201)
            if ctx.name:
                raise errors.method_not_allowed()
            result = self.api.create(r, ctx.namespace, body, dry_run=ctx.dry_run, user=ctx.user, internal=False,
                                     field_manager=_field_manager(request, ctx))
            return _json_response(result, 201)
        if verb == "update":
            body = await self._read_json(request)
            result = self.api.update(r, ctx.namespace, ctx.name, body, subresource=ctx.subresource or None,
                                     dry_run=ctx.dry_run, user=ctx.user, internal=False,
                                     field_manager=_field_manager(request, ctx))
            return _json_response(result)
        if verb == "patch":
            return await self._patch(request, ctx)
        if verb == "delete":
            opts = await self._delete_options(request, ctx)
            result = self.api.delete(r, ctx.namespace, ctx.name, dry_run=ctx.dry_run, user=ctx.user,
                                     internal=False, **opts)
            return _json_response(result)
        if verb == "deletecollection":
            return await self._delete_collection(request, ctx)
        raise errors.method_not_allowed(f"method {m} is not supported")

    async def _read_json(self, request: web.Request):
        raw = await request.read()
        ctype = (request.content_type or "application/json").lower()
        if ctype in ("application/yaml", "application/x-yaml"):
            import yaml
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as e:
                raise errors.bad_request(f"error decoding YAML: {e}") from None
        if ctype == protobuf.CONTENT_TYPE:
            # kubectl posts some typed objects as protobuf; kubesim reads the review kinds, 415 for the rest.
            try:
                decoded = protobuf.decode(raw)
            except protobuf.ProtobufError as e:
                raise errors.bad_request(f"error decoding protobuf body: {e}") from None
            if decoded is not None:
                return decoded
        if ctype not in ("application/json", "", "text/plain", "application/octet-stream"):
            raise errors.unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json, application/yaml (kubesim reads protobuf only for the self-review APIs and the "
                "objects of kubectl's create commands for access setup)")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise errors.bad_request(f"Object 'Kind' is missing in '{raw[:200].decode('utf-8', 'replace')}'"
                                     if not raw.strip().startswith(b"{") else
                                     f"json: error decoding request body: {e}") from None

    # ------------------------------------------------------------------------------------------------ patch
    async def _patch(self, request: web.Request, ctx: RequestContext) -> web.Response:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        patch_type = PATCH_CONTENT_TYPES.get(ctype)
        if patch_type is None:
            raise errors.unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: " +
                ", ".join(PATCH_CONTENT_TYPES))
        body = decode_patch_body(await request.read(), patch_type)
        force = ctx.query.get("force") in _TRUE
        existed = self.store.get(ctx.rtype, ctx.namespace if ctx.rtype.namespaced else "", ctx.name) is not None
        result = self.api.patch(ctx.rtype, ctx.namespace, ctx.name, body, patch_type,
                                subresource=ctx.subresource or None, dry_run=ctx.dry_run, user=ctx.user,
                                field_manager=ctx.query.get("fieldManager") if patch_type == "apply" else
                                _field_manager(request, ctx), force=force, internal=False)
        return _json_response(result, 200 if existed else 201)

    # ----------------------------------------------------------------------------------------------- delete
    async def _delete_options(self, request: web.Request, ctx: RequestContext) -> dict:
        opts: dict = {}
        raw = await request.read()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as e:
                raise errors.bad_request(f"json: error decoding DeleteOptions: {e}") from None
            if not isinstance(body, dict):
                raise errors.bad_request("the body of a DELETE must be DeleteOptions")
            body_dry = body.get("dryRun") or []
            if not isinstance(body_dry, list) or any(v != "All" for v in body_dry):
                raise errors.invalid_kind("DeleteOptions", "", [_dry_run_error(body_dry)], "meta.k8s.io")
            if body_dry:
                ctx.dry_run = True
            if "gracePeriodSeconds" in body and body["gracePeriodSeconds"] is not None:
                opts["grace_period_seconds"] = body["gracePeriodSeconds"]
            if body.get("propagationPolicy"):
                opts["propagation_policy"] = body["propagationPolicy"]
            elif body.get("orphanDependents") is not None:
                opts["propagation_policy"] = "Orphan" if body["orphanDependents"] else "Background"
            if body.get("preconditions"):
                opts["preconditions"] = body["preconditions"]
        q = ctx.query
        if q.get("gracePeriodSeconds") not in (None, ""):
            try:
                opts["grace_period_seconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise errors.bad_request(f"invalid gracePeriodSeconds: {q['gracePeriodSeconds']!r}") from None
        if q.get("propagationPolicy"):
            opts["propagation_policy"] = q["propagationPolicy"]
        if "grace_period_seconds" in opts and not isinstance(opts["grace_period_seconds"], int):
            raise errors.bad_request("gracePeriodSeconds must be an integer")
        return opts

    async def _delete_collection(self, request: web.Request, ctx: RequestContext) -> web.Response:
        r = ctx.rtype
        opts = await self._delete_options(request, ctx)
        items = self.api.select(r, ctx.namespace or None, ctx.query.get("labelSelector"),
                                ctx.query.get("fieldSelector"))
        deleted = []
        for obj in list(items):
            try:
                out = self.api.delete(r, ctx.namespace or obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                      dry_run=ctx.dry_run, user=ctx.user, internal=False, **opts)
            except errors.ApiError as e:
                if e.code == 404:
                    continue
                raise
            deleted.append(out if out.get("kind") != "Status" else obj)
        return _json_response({"kind": r.list_kind, "apiVersion": r.api_version,
                               "metadata": {"resourceVersion": str(self.store.resource_version)},
                               "items": [_strip(o) for o in deleted]})

    # ------------------------------------------------------------------------------------------------- list
    async def _list(self, request: web.Request, ctx: RequestContext) -> web.Response:
        r = ctx.rtype
        q = ctx.query
        ls = parse_label_selector(q.get("labelSelector"))
        fs = parse_field_selector(q.get("fieldSelector"), r.key)
        items = self.api.select(r, ctx.namespace or None, ls, fs)
        rv = self.store.resource_version
        limit = q.get("limit")
        cont = q.get("continue")
        meta: dict = {}
        if cont:
            start_key, rv = self._decode_continue(cont)
        else:
            start_key = None
        try:
            limit = int(limit) if limit not in (None, "") else 0
        except ValueError:
            raise errors.bad_request(f"invalid limit: {limit!r}") from None
        # etcd returns keys in order: a list is sorted by namespace/name, paginated or not.
        items = sorted(items, key=storage_order)
        if limit > 0 or start_key is not None:
            if start_key is not None:
                items = [o for o in items if storage_order(o) > start_key]
            if limit > 0 and len(items) > limit:
                last = items[limit - 1]["metadata"]
                token = {"v": "meta.k8s.io/v1", "rv": rv,
                         "start": [last.get("namespace", ""), last["name"]]}
                meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
        meta = {"resourceVersion": str(rv), **meta}
        accept = request.headers.get("Accept", "")
        partial = metadata_only(accept)
        if partial:
            if partial[0] == "PartialObjectMetadata":
                raise errors.not_acceptable("you requested PartialObjectMetadata, but the requested object is a list")
            return _json_response({"kind": "PartialObjectMetadataList", "apiVersion": partial[1], "metadata": meta,
                                   "items": [_partial(o, partial[1]) for o in items]})
        if "as=Table" in accept:
            return _json_response(tables.table_for(r, items, meta, q.get("includeObject", "")))
        body = {"kind": r.list_kind, "apiVersion": r.api_version, "metadata": meta,
                "items": [_strip(o) for o in items]}
        return _json_response(body)

    def _decode_continue(self, token: str):
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            rv = int(data["rv"])
            start = tuple(data["start"])
            if len(start) != 2:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                     "(version meta.k8s.io/v1)") from None
        if rv < self.store.compacted_rv:
            raise errors.gone("The provided continue parameter is too old to display a consistent list result. "
                              "You can start a new list without the continue parameter, or use the continue token "
                              "in this response to retrieve the remainder of the results. Continuing with the "
                              "provided token results in an inconsistent list - objects that were created, "
                              "modified, or deleted between the time the first chunk was returned and now may "
                              "show up in the list.")
        return start, rv

    # ------------------------------------------------------------------------------------------------ watch
    async def _watch(self, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        r = ctx.rtype
        q = ctx.query
        ls = parse_label_selector(q.get("labelSelector"))
        fs = parse_field_selector(q.get("fieldSelector"), r.key)
        ns = ctx.namespace if r.namespaced else ""
        name = ctx.name  # a watch on a single object (/watch/namespaces/ns/pods/name)
        try:
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") not in (None, "") else \
                DEFAULT_WATCH_TIMEOUT
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds: {q.get('timeoutSeconds')!r}") from None
        bookmarks = q.get("allowWatchBookmarks") in _TRUE
        send_initial = q.get("sendInitialEvents") in _TRUE
        rv_param = q.get("resourceVersion") or ""
        if rv_param and not rv_param.isdigit():
            raise errors.bad_request(f'invalid resource version "{rv_param}"')
        drop_after = self.faults.watch_drop_after(ctx)
        as_table = "as=Table" in request.headers.get("Accept", "")
        partial = metadata_only(request.headers.get("Accept", ""))
        include_object = q.get("includeObject", "")

        def encode(etype: str, obj: dict) -> bytes:
            if partial and etype in ("ADDED", "MODIFIED", "DELETED"):
                obj = _partial(obj, partial[1])
            elif as_table and etype in ("ADDED", "MODIFIED", "DELETED"):
                # kubectl get --watch asks for Table events: one row per event.
                obj = tables.table_for(r, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                       include_object)
            return _line({"type": etype, "object": obj})

        def visible(obj) -> bool:
            m = obj.get("metadata") or {}
            if ns and m.get("namespace") != ns:
                return False
            if name and m.get("name") != name:
                return False
            return ls.matches(m.get("labels")) and fs.matches(obj)

        queue: asyncio.Queue = asyncio.Queue()

        def on_event(ev):
            if ev.rtype is r:
                queue.put_nowait(ev)

        # Subscribe and take the starting point with no await in between: nothing is lost or doubled.
        if self._closing:
            raise errors.service_unavailable("apiserver is shutting down")
        self.store.subscribe(on_event)
        self._watch_queues.add(queue)
        initial: list[tuple[str, dict]] = []
        expired = None
        if not rv_param or rv_param == "0" or send_initial:
            for obj in sorted(self.store.list(r, ns or None), key=storage_order):
                if visible(obj):
                    initial.append(("ADDED", obj))
        else:
            since = self.store.events_since(int(rv_param))
            if since is None:
                expired = errors.gone(f"too old resource version: {rv_param} ({self.store.compacted_rv})").status
            else:
                for ev in since:
                    t = self._translate(ev, visible)
                    if t:
                        initial.append(t)
        start_rv = self.store.resource_version
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        sent = 0
        try:
            await resp.prepare(request)
            if expired is not None:
                await resp.write(_line({"type": "ERROR", "object": expired}))
                return resp
            for etype, obj in initial:
                await resp.write(encode(etype, obj))
                sent += 1
                if drop_after is not None and sent >= drop_after:
                    return await self._drop(request, resp)
            if send_initial and bookmarks:
                await resp.write(_line(self._bookmark(r, start_rv, initial_end=True)))
            deadline = time.monotonic() + timeout
            interval = getattr(self.cluster.options, "bookmark_interval", 60.0)
            next_bookmark = time.monotonic() + interval
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = deadline - now
                if bookmarks:
                    wait = min(wait, max(0.0, next_bookmark - now))
                try:
                    ev = await asyncio.wait_for(queue.get(), timeout=wait)
                except asyncio.TimeoutError:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        await resp.write(_line(self._bookmark(r, self.store.resource_version)))
                        next_bookmark = time.monotonic() + interval
                    continue
                if ev is None:  # server shutdown
                    break
                t = self._translate(ev, visible)
                if t is None:
                    continue
                await resp.write(encode(t[0], t[1]))
                sent += 1
                if drop_after is not None and sent >= drop_after:
                    return await self._drop(request, resp)
        except ConnectionError:
            # The client went away (kubectl interrupted, a watch closed): nothing to answer.
            return resp
        finally:
            self.store.unsubscribe(on_event)
            self._watch_queues.discard(queue)
        return resp

    @staticmethod
    async def _drop(request, resp):
        # A cut connection: the chunked body never terminates properly.
        if request.transport is not None:
            request.transport.abort()
        return resp

    @staticmethod
    def _translate(ev, visible):
        """The cacher's view of an event through a selector: leaving the selection is DELETED, entering ADDED."""
        if ev.type == "ADDED":
            return ("ADDED", ev.obj) if visible(ev.obj) else None
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if visible(ev.obj) else None
        now, before = visible(ev.obj), ev.old is not None and visible(ev.old)
        if now and before:
            return ("MODIFIED", ev.obj)
        if now:
            return ("ADDED", ev.obj)
        if before:
            return ("DELETED", ev.obj)
        return None

    @staticmethod
    def _bookmark(r: ResourceType, rv: int, initial_end: bool = False) -> dict:
        meta: dict = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK", "object": {"kind": r.kind, "apiVersion": r.api_version, "metadata": meta}}

    # ---------------------------------------------------------------------------------------------- reviews
    async def _review(self, request: web.Request, ctx: RequestContext) -> web.Response:
        if ctx.verb != "create":
            raise errors.method_not_allowed()
        body = await self._read_json(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is unrecognized")
        user = ctx.user_info
        r = ctx.rtype
        out = {"kind": r.kind, "apiVersion": r.api_version, "metadata": {"creationTimestamp": None}}
        if r.plural == "selfsubjectreviews":
            info: dict = {"username": user.name}
            if user.uid:
                info["uid"] = user.uid
            info["groups"] = list(user.groups)
            if user.extra:
                info["extra"] = {k: list(v) for k, v in user.extra.items()}
            out["status"] = {"userInfo": info}
        elif r.plural == "selfsubjectaccessreviews":
            spec = body.get("spec") or {}
            ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
            if ra:
                a = Attributes(verb=ra.get("verb", ""), group=ra.get("group", ""), resource=ra.get("resource", ""),
                               subresource=ra.get("subresource", ""), namespace=ra.get("namespace", ""),
                               name=ra.get("name", ""))
            elif nra:
                a = Attributes(verb=nra.get("verb", ""), path=nra.get("path", ""), resource_request=False)
            else:
                raise errors.invalid_kind("SelfSubjectAccessReview", "", [errors.FieldError.invalid(
                    "spec.resourceAttributes", None, "exactly one of nonResourceAttributes or resourceAttributes "
                                                     "must be specified")], "authorization.k8s.io")
            allowed, reason = self.authz.authorize(user, a)
            out["spec"] = spec
            out["status"] = {"allowed": allowed}
            if reason:
                out["status"]["reason"] = reason
        else:
            ns = (body.get("spec") or {}).get("namespace", "")
            res, nonres = self.authz.rules_for(user, ns)
            out["spec"] = body.get("spec") or {}
            out["status"] = {"resourceRules": res, "nonResourceRules": nonres, "incomplete": False}
        return _json_response(out, 201)

    # ---------------------------------------------------------------------------------------- non-resource
    async def _non_resource(self, request: web.Request, ctx: RequestContext) -> web.Response:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/kubesim/"):
            return await self._admin(request, path)
        if request.method.upper() not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        if path == "/version":
            return _json_response(version_info())
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/api":
            return _json_response(resources.api_versions_doc(self.server_address))
        if path == "/apis":
            return _json_response(resources.api_group_list_doc())
        if path == "/openapi/v3":
            return _json_response(openapi.index_document())
        if path.startswith("/openapi/v3/"):
            rest = path[len("/openapi/v3/"):].split("/")
            doc = None
            if rest[0] == "api" and len(rest) == 2:
                doc = openapi.gv_document("", rest[1])
            elif rest[0] == "apis" and len(rest) == 3:
                doc = openapi.gv_document(rest[1], rest[2])
            if doc is None:
                raise errors.path_not_found()
            return _json_response(doc)
        parts = path.split("/")[1:]
        if parts[0] == "api" and len(parts) == 2:
            doc = resources.resource_list_doc("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            doc = resources.api_group_doc(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = resources.resource_list_doc(parts[1], parts[2])
        else:
            doc = None
        if doc is None:
            raise errors.path_not_found()
        return _json_response(doc)

    async def _admin(self, request: web.Request, path: str) -> web.Response:
        m = request.method.upper()
        if path == "/kubesim/faults":
            if m == "GET":
                return _json_response({"rules": self.faults.describe()})
            if m == "POST":
                from kubesim.faults import parse_rule
                try:
                    rule = self.faults.add(parse_rule(json.loads(await request.read())))
                except ValueError as e:
                    raise errors.bad_request(str(e)) from None
                return _json_response({"rules": self.faults.describe(), "added": rule.id}, 201)
            if m == "DELETE":
                rid = request.query.get("id")
                removed = self.faults.remove(int(rid) if rid and rid.isdigit() else None)
                return _json_response({"removed": removed})
        if path == "/kubesim/client-certificates" and m == "POST":
            return self._issue_client_certificate(await self._read_json(request))
        if path == "/kubesim/compact" and m == "POST":
            return _json_response({"compactedResourceVersion": str(self.store.compact())})
        raise errors.path_not_found()


    def _issue_client_certificate(self, body) -> web.Response:
        """POST /kubesim/client-certificates {"user": U, "groups": [...], "days": N}: a certificate signed by the
        client CA (CN=U, O=each group), its key, and a kubeconfig that uses them."""
        from kubesim.cli import client_cert_user, kubeconfig_document
        client_ca = getattr(self.cluster, "client_ca", None)
        if client_ca is None:
            raise errors.bad_request("client certificates need HTTPS; this kubesim serves plain HTTP")
        if not isinstance(body, dict) or not isinstance(body.get("user"), str) or not body["user"]:
            raise errors.bad_request('expected {"user": NAME, "groups": [GROUP, ...], "days": N}')
        groups = body.get("groups") or []
        days = body.get("days", 30)
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups) or \
                not isinstance(days, (int, float)) or isinstance(days, bool) or days <= 0:
            raise errors.bad_request("groups must be a list of strings and days a positive number")
        cert, key = client_ca.issue(body["user"], groups, days)
        import yaml
        kubeconfig = kubeconfig_document(self.cluster.options.server_url, self.cluster.options.ca_pem.encode(),
                                         client_cert_user(cert, key))
        return _json_response({"certificate": cert.decode(), "key": key.decode(),
                               "kubeconfig": yaml.safe_dump(kubeconfig, default_flow_style=False, sort_keys=False)},
                              201)


def _dry_run_error(values) -> errors.FieldError:
    """ValidateDryRun: field.NotSupported(dryRun, []string{...}, ["All"]), printed with Go's %#v."""
    shown = "[]string{" + ", ".join(json.dumps(str(v)) for v in values) + "}" if isinstance(values, list) \
        else json.dumps(values)
    return errors.FieldError("FieldValueNotSupported", "dryRun",
                             f'Unsupported value: {shown}: supported values: "All"')


class _Reset(Exception):
    pass


def _client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _field_manager(request: web.Request, ctx: RequestContext) -> str:
    """The fieldManager query parameter, else the User-Agent's product (the apiserver's default manager)."""
    return ctx.query.get("fieldManager") or managedfields.manager_from_user_agent(request.headers.get("User-Agent"))


def metadata_only(accept: str) -> tuple[str, str] | None:
    """(PartialObjectMetadata or PartialObjectMetadataList, its apiVersion) when the first JSON media type of the
    Accept header asks for the metadata-only form (`application/json;as=PartialObjectMetadataList;g=meta.k8s.io;
    v=v1`, what client-go's metadata client sends), else None. Media types kubesim does
    not serve (protobuf) are skipped, as content negotiation skips what the server cannot encode."""
    for entry in accept.split(","):
        parts = [p.strip() for p in entry.split(";")]
        if parts[0] not in ("application/json", "*/*", "application/*"):
            continue
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        kind = params.get("as")
        if kind in ("PartialObjectMetadata", "PartialObjectMetadataList") and params.get("g") == "meta.k8s.io" \
                and params.get("v") in ("v1", "v1beta1"):
            return kind, "meta.k8s.io/" + params["v"]
        return None
    return None


def _partial(obj: dict, api_version: str) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": obj.get("metadata") or {}}


def _strip(o: dict) -> dict:
    """List items carry no kind/apiVersion on the wire."""
    return {k: v for k, v in o.items() if k != "kind" and k != "apiVersion"}


def _line(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def version_info() -> dict:
    major, minor, _ = KUBE_VERSION.lstrip("v").split(".")
    return {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
            "minCompatibilityMajor": major, "minCompatibilityMinor": str(int(minor) - 1),
            "gitVersion": f"{KUBE_VERSION}+kubesim", "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0",
            "compiler": "gc", "platform": "linux/amd64"}
