"""Audit log: one JSON line per HTTP request, and one per internal component write (`"stage": "internal"`).

Fields: time, stage, user, verb (get/list/watch/create/update/patch/delete/deletecollection, or the HTTP verb
mapping for connect requests), group, resource, subresource, namespace, name, query, code, dryRun, path; with
impersonation headers `user` stays the authenticated user (the real Event's `user`) and `impersonatedUser`
(`{username, groups, uid, extra}`, the real Event's field) says whom the request ran as.
Tests use it to prove e.g. that check mode sent zero mutating requests.
"""
from __future__ import annotations

import datetime
import json


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Audit:
    def __init__(self, path: str | None):
        self.path = path
        self._fh = open(path, "a", encoding="utf-8", buffering=1) if path else None

    def _write(self, entry: dict):
        if self._fh is not None:
            self._fh.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def request(self, *, user, verb, group, resource, subresource, namespace, name, query, code, dry_run,
                path="", impersonated_user=None):
        entry = {"time": _now(), "stage": "ResponseComplete", "user": user, "verb": verb, "group": group,
                 "resource": resource, "subresource": subresource, "namespace": namespace, "name": name,
                 "query": query, "code": code, "dryRun": dry_run, "path": path}
        if impersonated_user is not None:
            entry["impersonatedUser"] = impersonated_user
        self._write(entry)

    def internal(self, *, verb, rtype, namespace, name, subresource, user, code, dry_run=False):
        if self._fh is None:
            return
        self._write({"time": _now(), "stage": "internal", "user": user, "verb": verb, "group": rtype.group,
                     "resource": rtype.plural, "subresource": subresource or "", "namespace": namespace or "",
                     "name": name or "", "query": {}, "code": code, "dryRun": dry_run})

    def close(self):
        if self._fh is not None:
            self._fh.close()
            self._fh = None
