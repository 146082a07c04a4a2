"""Pod update validation, subresources and deletion (spec §5.1, §5.3, §6)."""
from __future__ import annotations

import json

import pytest
from kubernetes import client

FORBIDDEN_PREFIX = ("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                    "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                    "was previously negative)\n")
UNSCHEDULED = "kubesim-test-unscheduled"  # no scheduler serves it: the pod stays Pending and untouched


def _pod(name, scheduler=UNSCHEDULED, **spec):
    return {"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"schedulerName": scheduler, "containers": [
                {"name": "app", "image": "registry.example/app:1"}], **spec}}


def test_image_change_allowed_and_bumps_generation(k8s, namespace):
    """§5.1: containers[*].image is mutable; generation is bumped on spec change."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("img"))
    out = core.patch_namespaced_pod("img", namespace, {"spec": {"containers": [
        {"name": "app", "image": "registry.example/app:2"}]}})
    assert out.spec.containers[0].image == "registry.example/app:2"
    assert out.spec.containers[0].image_pull_policy == "IfNotPresent"  # fixed at creation (§5.1)
    assert out.metadata.generation == 2
    out = core.patch_namespaced_pod("img", namespace, {"metadata": {"labels": {"x": "y"}}})
    assert out.metadata.generation == 2  # metadata changes do not bump it


def test_forbidden_spec_change_has_real_message(k8s, namespace):
    """§5.1 + §6: other spec changes give 422 Invalid, Kind in details, FieldValueForbidden at `spec`."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("frozen"))
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("frozen", namespace, {"spec": {"restartPolicy": "Never"}})
    assert e.value.status == 422
    body = json.loads(e.value.body)
    assert body["reason"] == "Invalid"
    assert body["message"].startswith('Pod "frozen" is invalid: ' + FORBIDDEN_PREFIX)
    assert body["details"]["name"] == "frozen" and body["details"]["kind"] == "Pod"
    cause = body["details"]["causes"][0]
    assert cause["reason"] == "FieldValueForbidden" and cause["field"] == "spec"
    assert cause["message"].startswith("Forbidden: pod updates may not change fields other than")


def test_containers_may_not_be_added(k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("two"))
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("two", namespace, {"spec": {"containers": [
            {"name": "extra", "image": "registry.example/extra:1"}]}})
    body = json.loads(e.value.body)
    assert body["message"] == ('Pod "two" is invalid: spec.containers: Forbidden: pod updates may not add or '
                               'remove containers')


def test_tolerations_additions_only_and_deadline_rules(k8s, namespace):
    """§5.1: tolerations may only be added (SMP replaces the list: no patchStrategy); activeDeadlineSeconds only
    decreases."""
    core = client.CoreV1Api(k8s)
    p = core.create_namespaced_pod(namespace, _pod("tol"))
    existing = [t.to_dict() for t in p.spec.tolerations]
    existing = [{"key": t["key"], "operator": t["operator"], "effect": t["effect"],
                 "tolerationSeconds": t["toleration_seconds"]} for t in existing]
    added = existing + [{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]
    out = core.patch_namespaced_pod("tol", namespace, {"spec": {"tolerations": added}})
    assert len(out.spec.tolerations) == 3
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("tol", namespace, {"spec": {"tolerations": existing[:1]}})
    assert "existing toleration can not be modified except its tolerationSeconds" in json.loads(e.value.body)[
        "message"]
    core.patch_namespaced_pod("tol", namespace, {"spec": {"activeDeadlineSeconds": 100}})
    core.patch_namespaced_pod("tol", namespace, {"spec": {"activeDeadlineSeconds": 50}})
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("tol", namespace, {"spec": {"activeDeadlineSeconds": 80}})
    assert json.loads(e.value.body)["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "message": "Invalid value: 80: must be less than or equal to previous value",
        "field": "spec.activeDeadlineSeconds"}]


def test_create_validation(k8s, namespace):
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_pod(namespace, {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [
            {"name": "a", "image": "x"}]}})
    body = json.loads(e.value.body)
    assert e.value.status == 422 and body["details"]["causes"][0]["field"] == "metadata.name"
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_pod(namespace, {"metadata": {"name": "noimage"}, "spec": {"containers": [
            {"name": "a"}]}})
    assert json.loads(e.value.body)["message"] == \
        'Pod "noimage" is invalid: spec.containers[0].image: Required value'
    with pytest.raises(client.ApiException) as e:  # §5.3
        core.create_namespaced_pod(namespace, {"metadata": {"name": "ec"}, "spec": {
            "containers": [{"name": "a", "image": "x:1"}],
            "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}})
    assert "spec.ephemeralContainers: Forbidden: cannot be set on create" in json.loads(e.value.body)["message"]


def test_status_changes_on_main_resource_are_ignored(k8s, namespace):
    """§5.1 PrepareForUpdate: status changes through the main resource are discarded; /status changes only
    status."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("st"))
    out = core.patch_namespaced_pod("st", namespace, {"status": {"phase": "Failed"}})
    assert out.status.phase == "Pending"
    out = core.patch_namespaced_pod_status("st", namespace, {"status": {"phase": "Running"},
                                                             "metadata": {"labels": {"ignored": "1"}}})
    assert out.status.phase == "Running"
    assert "ignored" not in out.metadata.labels


def test_ephemeral_containers_subresource(k8s, namespace):
    """§5.3: SMP on pods/ephemeralcontainers adds a container (merged by name); existing ones may not change
    or be removed; other changes are dropped."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("dbg"))
    ec = {"name": "debugger-abcde", "image": "busybox", "command": ["sh"], "stdin": True, "tty": True,
          "terminationMessagePolicy": "File", "targetContainerName": "app", "resources": {}}
    out = core.patch_namespaced_pod_ephemeralcontainers(
        "dbg", namespace, {"spec": {"ephemeralContainers": [ec], "restartPolicy": "Never"}})
    assert [c.name for c in out.spec.ephemeral_containers] == ["debugger-abcde"]
    assert out.spec.ephemeral_containers[0].image_pull_policy == "Always"
    assert out.spec.restart_policy == "Always"
    assert out.metadata.generation == 2
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod_ephemeralcontainers("dbg", namespace, {"spec": {"ephemeralContainers": [
            dict(ec, image="busybox:2")]}})
    body = json.loads(e.value.body)
    assert e.value.status == 422
    assert body["details"]["causes"][0]["field"] == "spec.ephemeralContainers"
    assert 'existing ephemeral containers "debugger-abcde" may not be changed' in body["message"]
    with pytest.raises(client.ApiException) as e:
        core.replace_namespaced_pod_ephemeralcontainers(
            "dbg", namespace, {"metadata": {"name": "dbg"}, "spec": {"containers": []}})
    assert 'existing ephemeral containers "debugger-abcde" may not be removed' in json.loads(e.value.body)["message"]
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod_ephemeralcontainers("dbg", namespace, {"spec": {"ephemeralContainers": [
            {"name": "two", "image": "busybox", "targetContainerName": "nope"}]}})
    assert "spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\"" in json.loads(e.value.body)[
        "message"]


def test_missing_subresource_is_404_with_empty_name(kubesim, namespace):
    """§5.3: a 404 whose details.name is empty means the subresource does not exist (kubectl debug checks it)."""
    status, _, body = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/x/ephemeralcontainers")
    assert status == 404
    assert "name" not in json.loads(body)["details"]


def test_binding_subresource(k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("bind"))
    core.create_namespaced_binding(namespace, {"metadata": {"name": "bind"}, "target": {
        "apiVersion": "v1", "kind": "Node", "name": "kubesim-node-2"}}, _preload_content=False)
    p = core.read_namespaced_pod("bind", namespace)
    assert p.spec.node_name == "kubesim-node-2"
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_pod_binding("bind", namespace, {"metadata": {"name": "bind"}, "target": {
            "kind": "Node", "name": "kubesim-node-3"}}, _preload_content=False)
    assert e.value.status == 409


def test_graceful_pod_deletion_returns_pod(k8s, namespace, wait_for):
    """§5.1: DELETE returns the Pod (ReturnDeletedObject); a scheduled pod gets deletionTimestamp and
    deletionGracePeriodSeconds and disappears later; an unscheduled pod goes at once."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("grace", scheduler="default-scheduler"))
    wait_for(lambda: core.read_namespaced_pod("grace", namespace).spec.node_name, 10, message="scheduling")
    resp = core.delete_namespaced_pod("grace", namespace, grace_period_seconds=1)
    assert resp.kind == "Pod"
    assert resp.metadata.deletion_timestamp is not None
    assert resp.metadata.deletion_grace_period_seconds == 1

    def gone():
        try:
            core.read_namespaced_pod("grace", namespace)
            return False
        except client.ApiException as e:
            return e.status == 404
    wait_for(gone, 10, message="graceful deletion to finish")
    core.create_namespaced_pod(namespace, _pod("unscheduled"))
    resp = core.delete_namespaced_pod("unscheduled", namespace)
    assert resp.metadata.name == "unscheduled"
    assert gone is not None
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_pod("unscheduled", namespace)
    assert e.value.status == 404


def test_delete_returns_the_object_for_services(k8s, namespace):
    """Service and ServiceAccount storage also return the deleted object (ReturnDeletedObject)."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_service(namespace, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
    assert core.delete_namespaced_service("s", namespace).metadata.name == "s"
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "sa"}})
    assert core.delete_namespaced_service_account("sa", namespace).metadata.name == "sa"


def test_delete_returns_status_for_other_resources(kubesim, namespace):
    kubesim.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "gone"}})
    status, _, body = kubesim.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/gone")
    assert status == 200
    b = json.loads(body)
    assert b["kind"] == "Status" and b["status"] == "Success"
    assert b["details"]["name"] == "gone" and b["details"]["kind"] == "configmaps" and b["details"]["uid"]


def test_finalizers_hold_deletion(k8s, namespace, wait_for):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "fin", "finalizers": ["example.com/x"]}})
    core.delete_namespaced_config_map("fin", namespace)
    cm = core.read_namespaced_config_map("fin", namespace)
    assert cm.metadata.deletion_timestamp is not None
    with pytest.raises(client.ApiException) as e:  # no new finalizers once deleting
        core.patch_namespaced_config_map("fin", namespace, {"metadata": {"finalizers": ["example.com/y"]}})
    assert e.value.status == 422
    core.patch_namespaced_config_map("fin", namespace, {"metadata": {"finalizers": None}},
                                     _content_type="application/merge-patch+json")
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_config_map("fin", namespace)
    assert e.value.status == 404


def test_delete_preconditions(k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "pre"}})
    with pytest.raises(client.ApiException) as e:
        core.delete_namespaced_config_map("pre", namespace, body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid="00000000-0000-0000-0000-000000000000")))
    assert e.value.status == 409
    assert "Precondition failed: UID in precondition" in json.loads(e.value.body)["message"]


def test_eviction_without_pdb_deletes(k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("ev"))
    core.create_namespaced_pod_eviction("ev", namespace, {"apiVersion": "policy/v1", "kind": "Eviction",
                                                          "metadata": {"name": "ev", "namespace": namespace}})
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_pod("ev", namespace)
    assert e.value.status == 404


def test_scale_subresource(k8s, namespace):
    apps = client.AppsV1Api(k8s)
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "d"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "d"}}, "template": {
            "metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    s = apps.read_namespaced_deployment_scale("d", namespace)
    assert (s.kind, s.api_version, s.spec.replicas, s.status.selector) == ("Scale", "autoscaling/v1", 0, "app=d")
    s = apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 0}})
    d = apps.read_namespaced_deployment("d", namespace)
    assert d.metadata.generation == 1  # no-op
    apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 2}})
    d = apps.read_namespaced_deployment("d", namespace)
    assert d.spec.replicas == 2 and d.metadata.generation == 2


def test_deployment_defaults_and_selector_validation(k8s, namespace):
    apps = client.AppsV1Api(k8s)
    d = apps.create_namespaced_deployment(namespace, {"metadata": {"name": "dd"}, "spec": {
        "selector": {"matchLabels": {"app": "dd"}}, "template": {
            "metadata": {"labels": {"app": "dd"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    assert d.spec.replicas == 1
    assert d.spec.strategy.type == "RollingUpdate"
    assert d.spec.strategy.rolling_update.max_surge == "25%"
    assert d.spec.revision_history_limit == 10 and d.spec.progress_deadline_seconds == 600
    assert d.spec.template.spec.containers[0].termination_message_path == "/dev/termination-log"
    with pytest.raises(client.ApiException) as e:
        apps.create_namespaced_deployment(namespace, {"metadata": {"name": "bad"}, "spec": {
            "selector": {"matchLabels": {"app": "other"}}, "template": {
                "metadata": {"labels": {"app": "bad"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    body = json.loads(e.value.body)
    assert e.value.status == 422
    assert body["message"].startswith('Deployment.apps "bad" is invalid: spec.template.metadata.labels')
    assert "`selector` does not match template `labels`" in body["message"]


def test_service_cluster_ip_allocation(k8s, namespace):
    core = client.CoreV1Api(k8s)
    a = core.create_namespaced_service(namespace, {"metadata": {"name": "a"}, "spec": {
        "selector": {"app": "a"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    b = core.create_namespaced_service(namespace, {"metadata": {"name": "b"}, "spec": {
        "selector": {"app": "b"}, "ports": [{"port": 80}]}})
    assert a.spec.cluster_ip.startswith("10.9") and a.spec.cluster_ip != b.spec.cluster_ip
    assert a.spec.cluster_ips == [a.spec.cluster_ip]
    assert b.spec.ports[0].target_port == 80 and b.spec.ports[0].protocol == "TCP"
    assert a.spec.type == "ClusterIP" and a.spec.session_affinity == "None"
    # A PUT without clusterIP keeps the allocated one.
    a.spec.cluster_ip = None
    a.spec.cluster_ips = None
    out = core.replace_namespaced_service("a", namespace, a)
    assert out.spec.cluster_ip == core.read_namespaced_service("a", namespace).spec.cluster_ip
    assert out.spec.cluster_ip and out.spec.cluster_ip != b.spec.cluster_ip


def test_without_kubelet_terminating_pods_go_after_grace(kubesim_factory):
    """§5.1 graceful deletion: with no kubelet component, kubesim itself removes the pod once the grace period
    has passed (with one, the kubelet finishes it)."""
    import time
    ks = kubesim_factory(["--disable", "kubelet"])
    c = ks.api_client()
    core = client.CoreV1Api(c)
    core.create_namespaced_pod("default", {"metadata": {"name": "bound"}, "spec": {
        "nodeName": "kubesim-node-1", "containers": [{"name": "app", "image": "x:1"}]}})
    start = time.monotonic()
    resp = core.delete_namespaced_pod("bound", "default", grace_period_seconds=1)
    assert resp.metadata.deletion_grace_period_seconds == 1
    assert core.read_namespaced_pod("bound", "default").metadata.deletion_timestamp is not None
    while True:
        try:
            core.read_namespaced_pod("bound", "default")
        except client.ApiException as e:
            assert e.status == 404
            break
        assert time.monotonic() - start < 10, "the pod was never removed"
        time.sleep(0.1)
    assert time.monotonic() - start >= 0.9
    c.close()


def test_delete_collection(k8s, namespace):
    core = client.CoreV1Api(k8s)
    for i, app in enumerate(("a", "a", "b")):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"dc{i}", "labels": {"app": app}}})
    core.delete_collection_namespaced_config_map(namespace, label_selector="app=a")
    left = sorted(c.metadata.name for c in core.list_namespaced_config_map(namespace).items)
    assert left == ["dc2", "kube-root-ca.crt"]


def test_recreate_while_terminating_is_409_being_deleted(k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    core.delete_namespaced_config_map("held", namespace)
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "held"}})
    assert e.value.status == 409
    assert json.loads(e.value.body)["message"] == 'object is being deleted: configmaps "held" already exists'
    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}},
                                     _content_type="application/merge-patch+json")


@pytest.mark.parametrize("target", ["gone", "gone:80", "gone:http", "https:gone:8443", "http:gone:"])
def test_proxy_target_forms_name_the_object(k8s, namespace, target):
    """The proxy path segment is `[scheme:]name[:port]` (net.SplitSchemeNamePort): a missing object is reported
    by its plain name, whatever port or scheme the URL carries."""
    core = client.CoreV1Api(k8s)
    for call, kind in ((core.connect_get_namespaced_service_proxy, "services"),
                       (core.connect_get_namespaced_pod_proxy, "pods")):
        with pytest.raises(client.ApiException) as e:
            call(target, namespace)
        assert e.value.status == 404
        assert json.loads(e.value.body)["message"] == f'{kind} "gone" not found'


@pytest.mark.parametrize("target", ["ftp:web:80", ":80", "a:b:c:d"])
def test_proxy_target_malformed_is_400(k8s, namespace, target):
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        core.connect_get_namespaced_service_proxy(target, namespace)
    assert e.value.status == 400
    assert json.loads(e.value.body)["message"] == f'invalid service request "{target}"'
