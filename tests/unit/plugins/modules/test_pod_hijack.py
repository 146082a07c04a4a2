# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pod_hijack end to end against an in-memory API (FakeApi) with a scripted kubelet.

FakeApi answers the raw-JSON calls the module makes, applies strategic-merge patches by container
name, enforces metadata.resourceVersion (409 when stale) and records every request so tests can assert
that check mode sends only GETs. Its watch plays the kubelet: after an image change it reports the
restart, or ErrImagePull for images from a ``.invalid`` registry.
The integration targets repeat the important cases against kubesim.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.triage.k8s.plugins.module_utils.glue import module as glue
from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import Forbidden, error_class
from ansible_collections.triage.k8s.plugins.module_utils.model.record import ISOLATED_LABEL
from ansible_collections.triage.k8s.plugins.modules import pod_hijack


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


class FakeHttpError(Exception):
    """Looks like kubernetes' ApiException to the kube.errors classes."""

    def __init__(self, status, message, details=None):
        Exception.__init__(self, message)
        self.status = status
        self.reason = message
        self.body = json.dumps({"kind": "Status", "message": message, "code": status, "details": details or {}})


class FakeApi(object):
    def __init__(self):
        self.pods = {}
        self.requests = []
        self.rv = 100
        self.conflicts_to_inject = 0
        self.forbid_ephemeral = False

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def add_pod(self, name, image="kubesim/web:1", isolated=True, containers=("app",)):
        labels = {"app": "web"}
        if isolated:
            labels[ISOLATED_LABEL] = "true"
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "uid": "uid-" + name, "resourceVersion": self.next_rv(),
                         "generation": 1, "labels": labels, "annotations": {}},
            "spec": {"nodeName": "node-1", "containers": [{"name": c, "image": image} for c in containers]},
            "status": {"phase": "Running", "podIP": "10.0.0.9", "containerStatuses": [
                self._running(c, image, 0) for c in containers]},
        }
        self.pods[name] = pod
        return pod

    @staticmethod
    def _running(name, image, restarts):
        return {"name": name, "image": image, "imageID": image + "@sha256:" + "e" * 64, "restartCount": restarts,
                "ready": True, "state": {"running": {"startedAt": "now"}}}

    # ---- the one transport (kube.transport.request)
    def call(self, api_client, verb, resource, method, path, name=None, namespace=None, body=None,
             content_type=None, timeout=None, **transport_options):
        self.requests.append((method, path))
        parts = path.split("?")[0].strip("/").split("/")  # api v1 namespaces ns pods [name [sub]]
        pod_name = parts[5] if len(parts) > 5 else None
        sub = parts[6] if len(parts) > 6 else None
        try:
            if len(parts) == 4 and parts[2] == "namespaces":  # does the namespace exist?
                if parts[3] != "ns":
                    raise FakeHttpError(404, 'namespaces "%s" not found' % parts[3])
                return {"metadata": {"name": "ns"}}
            if parts[4] != "pods":
                raise FakeHttpError(404, "not found")
            if method == "GET":
                if pod_name not in self.pods:
                    raise FakeHttpError(404, 'pods "%s" not found' % pod_name, {"name": pod_name})
                return copy.deepcopy(self.pods[pod_name])
            if method == "POST":
                if body["metadata"]["name"] in self.pods:
                    raise FakeHttpError(409, "already exists")
                created = copy.deepcopy(body)
                created["metadata"].update(uid="uid-copy", resourceVersion=self.next_rv(), generation=1)
                created["status"] = {"phase": "Pending"}
                self.pods[created["metadata"]["name"]] = created
                return copy.deepcopy(created)
            if method == "PATCH":
                return self._patch(pod_name, sub, body, content_type)
        except FakeHttpError as exc:
            raise error_class(exc.status)(exc, verb, resource, name, namespace)
        raise AssertionError("unexpected request %s %s" % (method, path))

    def _patch(self, name, sub, body, content_type):
        assert content_type == "application/strategic-merge-patch+json", "only strategic merge is allowed"
        if sub == "ephemeralcontainers" and self.forbid_ephemeral:
            raise FakeHttpError(403, 'pods "%s" is forbidden: User "bob" cannot patch resource '
                                '"pods/ephemeralcontainers" in API group "" in the namespace "ns"' % name)
        pod = self.pods[name]
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            pod["metadata"]["resourceVersion"] = self.next_rv()  # someone else wrote meanwhile
        if body.get("metadata", {}).get("resourceVersion") not in (None, pod["metadata"]["resourceVersion"]):
            raise FakeHttpError(409, "the object has been modified")
        for key, value in (body.get("metadata", {}).get("annotations") or {}).items():
            if value is None:
                pod["metadata"]["annotations"].pop(key, None)
            else:
                pod["metadata"]["annotations"][key] = value
        listname = "ephemeralContainers" if sub == "ephemeralcontainers" else "containers"
        for change in (body.get("spec") or {}).get(listname) or []:
            existing = [c for c in pod["spec"].setdefault(listname, []) if c["name"] == change["name"]]
            if existing:
                existing[0].update(change)
            else:
                pod["spec"][listname].append(dict(change))
        if body.get("spec"):
            pod["metadata"]["generation"] += 1
        pod["metadata"]["resourceVersion"] = self.next_rv()
        return copy.deepcopy(pod)

    # ---- the kubelet, seen through a watch
    def watch(self, api_client, path, timeout_seconds, **kwargs):
        self.requests.append(("WATCH", path))
        name = path.split("metadata.name%3D")[1].split("&")[0]
        pod = self.pods[name]
        status = pod["status"]
        for container in pod["spec"]["containers"]:
            current = [s for s in status.setdefault("containerStatuses", []) if s["name"] == container["name"]]
            old = current[0] if current else {"restartCount": -1, "image": None}
            if old["image"] == container["image"]:
                continue
            if ".invalid/" in container["image"]:
                new = {"name": container["name"], "image": container["image"], "imageID": "", "ready": False,
                       "restartCount": old["restartCount"],
                       "state": {"waiting": {"reason": "ErrImagePull", "message": "no such host"}}}
            else:
                new = self._running(container["name"], container["image"], old["restartCount"] + 1)
            status["containerStatuses"] = [s for s in status["containerStatuses"] if s["name"] != container["name"]]
            status["containerStatuses"].append(new)
        for ephemeral in pod["spec"].get("ephemeralContainers") or []:
            statuses = status.setdefault("ephemeralContainerStatuses", [])
            if not [s for s in statuses if s["name"] == ephemeral["name"]]:
                statuses.append(dict(self._running(ephemeral["name"], ephemeral["image"], 0), ready=False))
        status["phase"] = "Running"
        pod["metadata"]["resourceVersion"] = self.next_rv()
        yield {"type": "MODIFIED", "object": copy.deepcopy(pod)}

    def writes(self):
        return [r for r in self.requests if r[0] not in ("GET", "WATCH")]


class FakeClient(object):
    class configuration(object):  # pylint: disable=invalid-name
        host = "https://fake"


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi()
    monkeypatch.setattr(transport, "request", fake.call)
    monkeypatch.setattr(transport, "watch_events", fake.watch)
    monkeypatch.setattr(glue, "connect", lambda params: (FakeClient(), set()))
    return fake


def run_module(args, check_mode=False, diff=False):
    args = dict(args, namespace="ns", hijacked_by="tester", _ansible_check_mode=check_mode, _ansible_diff=diff)
    payload = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))

    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        raise FailJson(kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(basic, "_ANSIBLE_ARGS", payload)
        mp.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
        mp.setattr(basic.AnsibleModule, "exit_json", exit_json)
        mp.setattr(basic.AnsibleModule, "fail_json", fail_json)
        try:
            pod_hijack.main()
        except ExitJson as done:
            return "ok", done.args[0]
        except FailJson as failed:
            return "failed", failed.args[0]
    raise AssertionError("module returned without exit_json or fail_json")


def test_image_swap_waits_for_the_restart_and_records_the_original(api):
    api.add_pod("p")
    outcome, result = run_module({"name": "p", "image": "kubesim/web:2"})
    assert outcome == "ok" and result["changed"] is True
    assert result["previous_image"] == "kubesim/web:1" and result["original_image"] == "kubesim/web:1"
    assert result["restart_count"] == 1 and result["image_id"].startswith("kubesim/web:2@sha256:")
    assert json.loads(result["pod"]["annotations"]["triage.k8s/original-images"]) == {"app": "kubesim/web:1"}
    assert api.pods["p"]["spec"]["containers"][0]["image"] == "kubesim/web:2"


def test_the_same_image_again_is_ok_and_writes_nothing(api):
    api.add_pod("p", image="kubesim/web:2")
    outcome, result = run_module({"name": "p", "image": "kubesim/web:2"})
    assert outcome == "ok" and result["changed"] is False
    assert api.writes() == []


def test_check_mode_sends_only_reads_and_shows_the_diff(api):
    for name, mode, extra in (("p", "image", {"image": "kubesim/web:2"}),
                              ("p", "debug_container", {"image": "busybox:1.36"}),
                              ("p", "copy", {"image": "kubesim/web:2"})):
        api.pods.clear()
        api.add_pod(name)
        api.requests = []
        outcome, result = run_module(dict(extra, name=name, mode=mode), check_mode=True, diff=True)
        assert outcome == "ok" and result["changed"] is True, mode
        assert api.writes() == [], mode
        assert all(request[0] == "GET" for request in api.requests), mode
        assert result["diff"]["before"] != result["diff"]["after"], mode


def test_a_bad_image_fails_with_the_reason_and_rolls_back(api):
    api.add_pod("p")
    outcome, result = run_module({"name": "p", "image": "registry.invalid/app:1"})
    assert outcome == "failed" and result["changed"] is True
    assert "ErrImagePull" in result["msg"] and "no such host" in result["msg"]
    assert "rolled back to kubesim/web:1" in result["msg"]
    assert result["rollback"]["outcome"] == "done"
    pod = api.pods["p"]
    assert pod["spec"]["containers"][0]["image"] == "kubesim/web:1"
    # The record is as before the failed hijack: nothing to revert later.
    assert "triage.k8s/original-images" not in pod["metadata"]["annotations"]
    assert "triage.k8s/original-images" not in result["pod"]["annotations"]


def test_without_rollback_the_bad_image_stays(api):
    api.add_pod("p")
    outcome, result = run_module({"name": "p", "image": "registry.invalid/app:1", "rollback_on_failure": False})
    assert outcome == "failed" and "no rollback" in result["msg"]
    assert api.pods["p"]["spec"]["containers"][0]["image"] == "registry.invalid/app:1"


def test_a_serving_pod_is_refused_unless_forced(api):
    api.add_pod("p", isolated=False)
    outcome, result = run_module({"name": "p", "image": "kubesim/web:2"})
    assert outcome == "failed" and "still in service" in result["msg"]
    assert api.writes() == []
    outcome, result = run_module({"name": "p", "image": "kubesim/web:2", "force": True})
    assert outcome == "ok" and result["changed"] is True


def test_a_conflict_rereads_and_retries(api):
    api.add_pod("p")
    api.conflicts_to_inject = 2
    outcome, result = run_module({"name": "p", "image": "kubesim/web:2"})
    assert outcome == "ok" and result["changed"] is True
    assert len([r for r in api.requests if r[0] == "PATCH"]) == 3


def test_input_errors_are_clear_and_send_nothing(api):
    api.add_pod("p", containers=("app", "sidecar"))
    outcome, result = run_module({"name": "p", "image": "kubesim/web:2", "container": "nope"})
    assert outcome == "failed" and "app, sidecar" in result["msg"]
    outcome, result = run_module({"name": "p", "image": "Bad Image"})
    assert outcome == "failed" and "invalid image reference" in result["msg"]
    outcome, result = run_module({"name": "p", "image": "kubesim/web:2", "container": "app", "command": ["sh"]})
    assert outcome == "failed" and "use mode=copy" in result["msg"]
    outcome, result = run_module({"name": "missing", "image": "kubesim/web:2"})
    assert outcome == "failed" and result["msg"] == "pod missing not found in namespace ns"
    assert api.writes() == []


def test_debug_container_is_added_once(api):
    api.add_pod("p")
    args = {"name": "p", "mode": "debug_container", "image": "busybox:1.36", "target_container": "app",
            "command": ["sleep", "3600"]}
    outcome, result = run_module(args)
    assert outcome == "ok" and result["changed"] is True
    assert result["debug_container"]["state"] == "running"
    assert [c["name"] for c in api.pods["p"]["spec"]["ephemeralContainers"]] == ["triage-debug"]
    assert api.pods["p"]["metadata"]["annotations"]["triage.k8s/hijack-mode"] == "debug_container"
    api.requests = []
    outcome, result = run_module(args)
    assert outcome == "ok" and result["changed"] is False and api.writes() == []


def test_forbidden_ephemeral_containers_name_the_permission(api):
    api.add_pod("p")
    api.forbid_ephemeral = True
    outcome, result = run_module({"name": "p", "mode": "debug_container", "image": "busybox:1.36"})
    assert outcome == "failed"
    assert "'patch'" in result["msg"] and "'pods/ephemeralcontainers'" in result["msg"]


def test_copy_is_created_once_without_labels(api):
    api.add_pod("p", isolated=False)
    args = {"name": "p", "mode": "copy", "image": "kubesim/web:2", "env": {"DEBUG": "1"}}
    outcome, result = run_module(args)
    assert outcome == "ok" and result["changed"] is True
    copy_pod = api.pods["p-hijack"]
    assert copy_pod["metadata"]["labels"] == {ISOLATED_LABEL: "true"}
    assert copy_pod["metadata"]["annotations"]["triage.k8s/copy-of"] == "p"
    assert result["copy_pod"]["phase"] == "Running"
    api.requests = []
    outcome, result = run_module(args)
    assert outcome == "ok" and result["changed"] is False and api.writes() == []
    outcome, result = run_module(dict(args, image="kubesim/web:3"))
    assert outcome == "failed" and "app.image" in result["msg"]


def test_a_watch_that_fails_after_the_write_reports_the_change(api, monkeypatch):
    api.add_pod("p")

    def forbidden_watch(api_client, path, timeout_seconds, **kwargs):
        raise Forbidden(FakeHttpError(403, 'pods is forbidden: User "bob" cannot watch resource "pods"'),
                        "watch", "pods", None, "ns")

    monkeypatch.setattr(transport, "watch_events", forbidden_watch)
    outcome, result = run_module({"name": "p", "image": "kubesim/web:2"})
    assert outcome == "failed" and result["changed"] is True
    assert "could not follow pod ns/p" in result["msg"] and "watch" in result["msg"]
    assert api.pods["p"]["spec"]["containers"][0]["image"] == "kubesim/web:2"
