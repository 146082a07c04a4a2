# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small stateful fake of the pod/service/owner endpoints on top of the shared FakeApiServer.

PATCH really applies the JSON patch (with jsonpatch), so a stale resourceVersion test fails with the same
422 the API server sends (k8s_semantics.md §6), and the resourceVersion moves on every write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import jsonpatch

from ansible_collections.triage.k8s.tests.unit.conftest import status_body

NS = "shop"
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


class FakeCluster(object):
    def __init__(self, server, pods, services=(), owners=()):
        self.server = server
        self.pods = dict((p["metadata"]["name"], copy.deepcopy(p)) for p in pods)
        self.rv = 100
        self.before_patch = None  # hook(pod) run before a PATCH is applied (to simulate a concurrent writer)
        self.forbid = set()  # (method, resource) pairs answered with 403
        server.route("GET", "/api/v1/namespaces/%s" % NS, body={"metadata": {"name": NS}})
        server.route("GET", "/api/v1/namespaces/%s/pods" % NS, handler=self._list_pods)
        server.route("GET", "/api/v1/namespaces/%s/services" % NS, body={"metadata": {"resourceVersion": "1"},
                                                                         "items": list(services)})
        for prefix, plural in (("apis/policy/v1", "poddisruptionbudgets"), ("apis/autoscaling/v2",
                               "horizontalpodautoscalers"), ("apis/networking.k8s.io/v1", "networkpolicies")):
            server.route("GET", "/%s/namespaces/%s/%s" % (prefix, NS, plural), body={"metadata": {}, "items": []})
        server.route("POST", "/api/v1/namespaces/%s/events" % NS, handler=lambda request: (201, request.body))
        for owner in owners:
            plural = owner["kind"].lower() + "s"
            path = "/apis/%s/namespaces/%s/%s/%s" % (owner["apiVersion"], NS, plural, owner["metadata"]["name"])
            server.route("GET", path, body=owner)
        for name in self.pods:
            self._route_pod(name)

    def _route_pod(self, name):
        path = "/api/v1/namespaces/%s/pods/%s" % (NS, name)
        self.server.route("GET", path, handler=lambda request, name=name: self._get(name))
        self.server.route("PATCH", path, handler=lambda request, name=name: self._patch(name, request))
        self.server.route("DELETE", path, handler=lambda request, name=name: self._delete(name, request))

    def _get(self, name):
        if name not in self.pods:
            return 404, status_body(404, "NotFound", 'pods "%s" not found' % name)
        return 200, self.pods[name]

    def _list_pods(self, request):
        return 200, {"metadata": {"resourceVersion": str(self.rv)}, "items": list(self.pods.values())}

    def _patch(self, name, request):
        if ("PATCH", "pods") in self.forbid:
            return 403, status_body(403, "Forbidden", 'pods "%s" is forbidden: User "bob" cannot patch resource '
                                    '"pods" in API group "" in the namespace "%s"' % (name, NS))
        if self.before_patch:
            hook, self.before_patch = self.before_patch, None
            hook(self)
        if request.header_values("Content-Type") == ["application/strategic-merge-patch+json"]:
            return self._strategic_patch(name, request.body)
        try:
            patched = jsonpatch.apply_patch(self.pods[name], request.body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
            return 422, status_body(422, "Invalid", "the server rejected our request due to an error in our request")
        self.bump(patched)
        self.pods[name] = patched
        return 200, patched

    def _strategic_patch(self, name, body):
        """The part of a strategic-merge patch pod_restore sends: metadata.resourceVersion as a precondition
        (409 when stale), annotations merged (null deletes), containers merged by name."""
        patched = copy.deepcopy(self.pods[name])
        metadata = body.get("metadata") or {}
        wanted_rv = metadata.get("resourceVersion")
        if wanted_rv is not None and wanted_rv != patched["metadata"]["resourceVersion"]:
            return 409, status_body(409, "Conflict", "Operation cannot be fulfilled on pods \"%s\": the object has "
                                    "been modified; please apply your changes to the latest version" % name)
        annotations = patched["metadata"].setdefault("annotations", {})
        for key, value in (metadata.get("annotations") or {}).items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        by_name = dict((c["name"], c) for c in patched["spec"]["containers"])
        for change in (body.get("spec") or {}).get("containers") or []:
            by_name[change["name"]].update(change)
        self.bump(patched)
        self.pods[name] = patched
        return 200, patched

    def _delete(self, name, request):
        if ("DELETE", "pods") in self.forbid:
            return 403, status_body(403, "Forbidden", 'pods "%s" is forbidden: User "bob" cannot delete resource '
                                    '"pods" in API group "" in the namespace "%s"' % (name, NS))
        pod = self.pods.get(name)
        if pod is None:
            return 404, status_body(404, "NotFound", 'pods "%s" not found' % name)
        pre = (request.body or {}).get("preconditions") or {}
        if pre.get("uid") not in (None, pod["metadata"]["uid"]) or pre.get("resourceVersion") not in (
                None, pod["metadata"]["resourceVersion"]):
            return 409, status_body(409, "Conflict", "precondition failed")
        del self.pods[name]
        return 200, pod

    def bump(self, pod):
        self.rv += 1
        pod["metadata"]["resourceVersion"] = str(self.rv)

    def writes(self):
        return [(r.method, r.path) for r in self.server.requests if r.method in MUTATING]

    def pod_writes(self):
        return [w for w in self.writes() if "/pods/" in w[1]]
