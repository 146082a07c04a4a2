# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""workload_restart against a fake API server: one conditioned patch, refusals before any write, the owner chain,
isolated pods left alone, the watch that fails with the controller's reason, and reload's stop at the first
failure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import jsonpatch

from ansible_collections.triage.k8s.plugins.modules import workload_restart
from ansible_collections.triage.k8s.plugins.module_utils.kube import streams, transport
from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.rollout.plan import RESTARTED_AT
from ansible_collections.triage.k8s.tests.unit.conftest import status_body

NS = "shop"
DEPLOY_PATH = "/apis/apps/v1/namespaces/%s/deployments/web" % NS


def deployment(**status):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS, "uid": "d-uid", "generation": 1, "resourceVersion": "10"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app"}]}}},
            "status": dict({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 0,
                            "availableReplicas": 0}, **status)}


def replicaset():
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "namespace": NS, "uid": "rs-uid",
                         "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d-uid", "controller": True}]}}


def pod(name, started="2026-12-02T03:00:00Z", ready=False, isolated=False):
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "uid": name + "-uid", "resourceVersion": "5",
                         "labels": {"app": "web", "pod-template-hash": "abc"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "uid": "rs-uid",
                                              "controller": True}]},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "startTime": started,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 0 if ready else 3,
                                              "state": {"running": {}} if ready else
                                              {"waiting": {"reason": "CrashLoopBackOff"}},
                                              "lastState": {} if ready else {"terminated": {"exitCode": 1}}}]}}
    if isolated:
        body["metadata"]["labels"] = {"app": "quarantined-web", record.ISOLATED_LABEL: "true"}
        body["metadata"]["ownerReferences"] = []
        body["metadata"]["annotations"] = {record.OWNER: '{"controller": {"kind": "ReplicaSet", "name": "web-abc", '
                                                         '"uid": "rs-uid"}, "top": {"kind": "Deployment", '
                                                         '"name": "web", "uid": "d-uid"}}'}
    return body


class Workloads(object):
    """The Deployment (PATCH applies the JSON patch, a failed test op is a 422), its ReplicaSet and pods."""

    def __init__(self, server, deploy=None, pods=None):
        self.server = server
        self.deploy = deploy or deployment()
        self.pods = dict((p["metadata"]["name"], p) for p in (pods if pods is not None else [pod("web-abc-1"),
                                                                                             pod("web-abc-2")]))
        self.before_patch = None
        server.route("GET", DEPLOY_PATH, handler=lambda request: (200, self.deploy))
        server.route("PATCH", DEPLOY_PATH, handler=self._patch)
        server.route("GET", "/apis/apps/v1/namespaces/%s/replicasets/web-abc" % NS, body=replicaset())
        server.route("GET", "/api/v1/namespaces/%s/pods" % NS, handler=lambda request: (
            200, {"metadata": {"resourceVersion": "20"}, "items": list(self.pods.values())}))
        for name in self.pods:
            server.route("GET", "/api/v1/namespaces/%s/pods/%s" % (NS, name),
                         handler=lambda request, name=name: (200, self.pods[name]))

    def _patch(self, request):
        if self.before_patch:
            hook, self.before_patch = self.before_patch, None
            hook(self)
        try:
            patched = jsonpatch.apply_patch(self.deploy, request.body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
            return 422, status_body(422, "Invalid", "the server rejected our request due to an error in our request")
        patched["metadata"]["resourceVersion"] = str(int(patched["metadata"]["resourceVersion"]) + 1)
        patched["metadata"]["generation"] += 1
        self.deploy = patched
        return 200, patched

    def writes(self):
        return [r for r in self.server.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]


def args(fake_api, **extra):
    base = {"host": fake_api.url, "namespace": NS, "kind": "Deployment", "name": "web", "wait": False}
    base.update(extra)
    return base


def test_check_mode_reports_the_annotation_and_writes_nothing(fake_api, clean_env, module_runner):
    cluster = Workloads(fake_api)
    result, failed = module_runner(workload_restart.main, args(fake_api, _ansible_check_mode=True, _ansible_diff=True))
    assert not failed, result
    assert result["changed"] and result["restarted"]
    assert RESTARTED_AT in result["diff"]["after"]["spec"]["template"]["metadata"]["annotations"]
    assert cluster.writes() == []


def test_the_restart_is_one_patch_conditioned_on_the_resourceversion_read(fake_api, clean_env, module_runner):
    cluster = Workloads(fake_api)
    result, failed = module_runner(workload_restart.main, args(fake_api))
    assert not failed, result
    (write,) = cluster.writes()
    assert write.headers and write.header_values("Content-Type") == ["application/json-patch+json"]
    assert write.body[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "10"}
    annotations = cluster.deploy["spec"]["template"]["metadata"]["annotations"]
    assert annotations[RESTARTED_AT] == result["restarted_at"]
    assert result["rollout"]["message"] == "Waiting for deployment spec update to be observed"


def test_a_concurrent_change_is_read_again_and_decided_again(fake_api, clean_env, module_runner):
    cluster = Workloads(fake_api)

    def someone_else_restarts(workloads):
        workloads.deploy = copy.deepcopy(workloads.deploy)
        workloads.deploy["metadata"]["resourceVersion"] = "11"
        workloads.deploy["spec"]["template"]["metadata"]["annotations"] = {RESTARTED_AT: "2026-12-02T04:00:00Z"}
    cluster.before_patch = someone_else_restarts
    result, failed = module_runner(workload_restart.main, args(fake_api, restart_after="2026-12-02T03:30:00Z"))
    assert not failed, result
    # The second read shows the other restart, after restart_after: nothing more to do.
    assert result["changed"] is False and "already restarted at 2026-12-02T04:00:00Z" in result["reason"]
    assert len(cluster.writes()) == 1


def test_restart_after_skips_a_workload_whose_pods_all_started_after_it(fake_api, clean_env, module_runner):
    cluster = Workloads(fake_api)
    result, failed = module_runner(workload_restart.main, args(fake_api, restart_after="2026-12-02T02:00:00Z"))
    assert not failed, result
    assert result["changed"] is False and result["pods_started_before"] == []
    assert cluster.writes() == []
    result, failed = module_runner(workload_restart.main, args(fake_api, restart_after="2026-12-02T04:00:00Z"))
    assert not failed and result["changed"] and result["pods_started_before"] == ["web-abc-1", "web-abc-2"]


def test_a_rollout_in_progress_is_refused_unless_forced(fake_api, clean_env, module_runner):
    cluster = Workloads(fake_api, deploy=deployment(updatedReplicas=1, replicas=3))
    result, failed = module_runner(workload_restart.main, args(fake_api))
    assert failed and result["changed"] is False
    assert "1 of 2 replicas updated, 2 old replicas left" in result["msg"] and "force=true" in result["msg"]
    assert cluster.writes() == []
    result, failed = module_runner(workload_restart.main, args(fake_api, force=True))
    assert not failed and result["changed"] and len(cluster.writes()) == 1


def test_a_paused_deployment_is_refused_as_kubectl_refuses_it(fake_api, clean_env, module_runner):
    deploy = deployment()
    deploy["spec"]["paused"] = True
    cluster = Workloads(fake_api, deploy=deploy)
    result, failed = module_runner(workload_restart.main, args(fake_api, force=True))
    assert failed and "is paused" in result["msg"] and "rollout resume" in result["msg"]
    assert cluster.writes() == []


def test_the_workload_is_found_from_a_pod_and_isolated_pods_are_left_alone(fake_api, clean_env, module_runner):
    cluster = Workloads(fake_api, pods=[pod("web-abc-1"), pod("web-abc-2"), pod("web-abc-x", isolated=True)])
    fake_api.route("GET", "/apis/apps/v1/namespaces/%s/deployments/web" % NS, handler=lambda r: (200, cluster.deploy))
    result, failed = module_runner(workload_restart.main, {"host": fake_api.url, "namespace": NS, "pod": "web-abc-1",
                                                           "wait": False, "restart_after": "2026-12-02T04:00:00Z"})
    assert not failed, result
    assert result["workload"]["name"] == "web" and "ReplicaSet web-abc -> Deployment web" in result["workload"]["found"]
    assert result["pods_started_before"] == ["web-abc-1", "web-abc-2"]
    assert result["isolated_pods"] == ["web-abc-x"] and "released from the controller" in result["isolated_note"]


def test_a_bare_pod_names_what_it_belongs_to(fake_api, clean_env, module_runner):
    bare = pod("lonely")
    bare["metadata"]["ownerReferences"] = []
    Workloads(fake_api, pods=[bare])
    result, failed = module_runner(workload_restart.main, {"host": fake_api.url, "namespace": NS, "pod": "lonely"})
    assert failed and "belongs to no Deployment, StatefulSet or DaemonSet" in result["msg"]


def test_bad_input_fails_before_any_request(fake_api, clean_env, module_runner):
    result, failed = module_runner(workload_restart.main, args(fake_api, restart_after="yesterday"))
    assert failed and "restart_after" in result["msg"]
    assert fake_api.requests == []


def test_the_wait_fails_with_the_controllers_reason_and_the_crashed_containers_log(
        fake_api, clean_env, module_runner, monkeypatch):
    cluster = Workloads(fake_api)
    timed_out = deployment()
    timed_out["metadata"].update(generation=2, resourceVersion="12")
    timed_out["status"].update(observedGeneration=2, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-def" has timed out progressing.'}])

    def watch_events(api_client, path, timeout_seconds, resource="objects", namespace=None):
        assert "fieldSelector=metadata.name%3Dweb" in path
        yield {"type": "MODIFIED", "object": timed_out}
    monkeypatch.setattr(transport, "watch_events", watch_events)
    logs = []

    def log_chunks(api_client, namespace, name, container, previous=False, **kwargs):
        logs.append((name, container, previous))
        yield b"Web service initialization...\nFATAL: connection to remote service failed.\n"
    monkeypatch.setattr(streams, "log_chunks", log_chunks)
    result, failed = module_runner(workload_restart.main, args(fake_api, wait=True, log_lines=5))
    assert failed and result["changed"] is True
    assert 'ProgressDeadlineExceeded: ReplicaSet "web-def" has timed out progressing.' in result["msg"]
    assert "web-abc-1 (container app: CrashLoopBackOff (exit code 1)" in result["msg"]
    assert "FATAL: connection to remote service failed." in result["msg"]
    assert logs == [("web-abc-1", "app", True), ("web-abc-2", "app", True)]
    assert result["not_ready_pods"][0]["problems"][0]["last_log_lines"][-1] == \
        "FATAL: connection to remote service failed."


class FakeExec(object):
    def __init__(self, codes):
        self.codes = list(codes)
        self.calls = []

    def __call__(self, api_client, namespace, pod_name, container, argv, on_stdout, on_stderr, **kwargs):
        self.calls.append((pod_name, container, argv))
        code = self.codes.pop(0)
        if code:
            on_stderr(b"kill: no such process\n")
        status = {"status": "Success"} if code == 0 else {
            "status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        return streams.ExecResult(status, 0, 0, 0, 0, "v5.channel.k8s.io", False)


def test_reload_signals_each_pod_in_turn_and_stops_at_the_first_failure(
        fake_api, clean_env, module_runner, monkeypatch):
    Workloads(fake_api, pods=[pod("web-abc-1", ready=True), pod("web-abc-2", ready=True),
                              pod("web-abc-3", ready=True)])
    fake_exec = FakeExec([0, 1, 0])
    monkeypatch.setattr(streams, "exec_stream", fake_exec)

    def watch_events(api_client, path, timeout_seconds, resource="objects", namespace=None):
        return iter(())  # nothing happens to the pod during its settle window
    monkeypatch.setattr(transport, "watch_events", watch_events)
    result, failed = module_runner(workload_restart.main, args(fake_api, mode="reload", settle_seconds=0))
    assert failed and result["changed"] is True
    assert [call[0] for call in fake_exec.calls] == ["web-abc-1", "web-abc-2"]
    assert fake_exec.calls[0][2] == ["kill", "-s", "HUP", "1"]
    assert [r["pod"] for r in result["reloaded"]] == ["web-abc-1"]
    assert result["stopped_at"]["pod"] == "web-abc-2"
    assert "exited with code 1: kill: no such process" in result["msg"] and "reloaded before it: web-abc-1" in \
        result["msg"]


def test_reload_in_check_mode_lists_the_pods_and_execs_nothing(fake_api, clean_env, module_runner, monkeypatch):
    Workloads(fake_api, pods=[pod("web-abc-1", ready=True), pod("web-abc-x", isolated=True)])
    fake_exec = FakeExec([])
    monkeypatch.setattr(streams, "exec_stream", fake_exec)
    result, failed = module_runner(workload_restart.main, args(fake_api, mode="reload", _ansible_check_mode=True))
    assert not failed, result
    assert result["would_reload"] == ["web-abc-1"] and result["isolated_pods"] == ["web-abc-x"]
    assert fake_exec.calls == []


def test_on_delete_is_refused_when_waiting_because_nothing_would_roll_out(fake_api, clean_env, module_runner):
    deploy = deployment()
    deploy.update(kind="StatefulSet")
    deploy["spec"]["updateStrategy"] = {"type": "OnDelete"}
    deploy["status"].update(currentRevision="web-1", updateRevision="web-1")
    fake_api.route("GET", "/apis/apps/v1/namespaces/%s/statefulsets/web" % NS, body=deploy)
    fake_api.route("GET", "/api/v1/namespaces/%s/pods" % NS, body={"metadata": {}, "items": []})
    result, failed = module_runner(workload_restart.main, args(fake_api, kind="StatefulSet", wait=True))
    assert failed and "updateStrategy OnDelete" in result["msg"] and "nothing was changed" in result["msg"]
    assert [r for r in fake_api.requests if r.method == "PATCH"] == []
