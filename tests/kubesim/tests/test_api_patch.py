"""PATCH types, optimistic concurrency and dryRun (spec §6, §5.1 merge keys)."""
from __future__ import annotations

import json

import pytest
from kubernetes import client, watch

GENERIC_422 = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "the server rejected our request due to an error in our request", "reason": "Invalid",
               "details": {}, "code": 422}


def _pod(name="p", **extra_spec):
    # A scheduler name nobody serves keeps the pod Pending and unchanged by the kubelet part.
    return {"metadata": {"name": name, "labels": {"app": "web"}, "finalizers": ["example.com/a"]},
            "spec": {"schedulerName": "kubesim-test-unscheduled", "containers": [
                {"name": "app", "image": "registry.example/app:1",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 8080, "name": "http"}]},
                {"name": "side", "image": "registry.example/side:1"}], **extra_spec}}


@pytest.fixture
def pod(k8s, namespace):
    core = client.CoreV1Api(k8s)
    p = core.create_namespaced_pod(namespace, _pod())
    yield p
    try:
        core.patch_namespaced_pod("p", namespace, {"metadata": {"finalizers": None}},
                                  _content_type="application/merge-patch+json")
    except client.ApiException:
        pass


def test_json_patch_with_test_op(k8s, namespace, pod):
    """§6: json-patch (a list body) applies; a failed `test` gives the generic 422 body, never 409."""
    core = client.CoreV1Api(k8s)
    rv = pod.metadata.resource_version
    out = core.patch_namespaced_pod("p", namespace, [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "replace", "path": "/metadata/labels/app", "value": "quarantine"}])
    assert out.metadata.labels["app"] == "quarantine"
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("p", namespace, [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "replace", "path": "/metadata/labels/app", "value": "web"}])
    assert e.value.status == 422
    assert json.loads(e.value.body) == GENERIC_422
    with pytest.raises(client.ApiException) as e:  # a missing path is the same generic 422
        core.patch_namespaced_pod("p", namespace, [{"op": "remove", "path": "/metadata/labels/nope"}])
    assert json.loads(e.value.body) == GENERIC_422


def test_json_patch_replace_stale_resource_version_is_409(k8s, namespace, pod):
    """§6: replacing metadata.resourceVersion with a stale value gives 409 Conflict."""
    core = client.CoreV1Api(k8s)
    core.patch_namespaced_pod("p", namespace, {"metadata": {"labels": {"x": "1"}}})
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("p", namespace, [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": pod.metadata.resource_version}])
    assert e.value.status == 409
    body = json.loads(e.value.body)
    assert body["message"] == ('Operation cannot be fulfilled on pods "p": the object has been modified; please '
                               'apply your changes to the latest version and try again')
    assert body["reason"] == "Conflict" and body["details"] == {"name": "p", "kind": "pods"}


def test_merge_patch_replaces_lists_and_nulls_delete(k8s, namespace, pod):
    """§6 merge patch: RFC 7386; a containers list in a merge patch replaces the list (and is then forbidden)."""
    core = client.CoreV1Api(k8s)
    out = core.patch_namespaced_pod("p", namespace, {"metadata": {"labels": {"app": None, "new": "1"}}},
                                    _content_type="application/merge-patch+json")
    assert out.metadata.labels == {"new": "1"}
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("p", namespace, {"spec": {"containers": [
            {"name": "app", "image": "registry.example/app:2"}]}}, _content_type="application/merge-patch+json")
    assert e.value.status == 422
    assert "pod updates may not add or remove containers" in json.loads(e.value.body)["message"]


def test_strategic_merge_by_name_and_directives(k8s, namespace, pod):
    """§5.1 merge keys: containers and env by name, ports by containerPort; $patch: delete;
    $deleteFromPrimitiveList; $setElementOrder ignored."""
    core = client.CoreV1Api(k8s)
    out = core.patch_namespaced_pod("p", namespace, {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
        "containers": [{"name": "side", "image": "registry.example/side:2"}]}})
    images = {c.name: c.image for c in out.spec.containers}
    assert images == {"app": "registry.example/app:1", "side": "registry.example/side:2"}
    assert out.metadata.generation == 2  # spec changed
    # finalizers are a primitive set under SMP: merged, and removable with $deleteFromPrimitiveList
    out = core.patch_namespaced_pod("p", namespace, {"metadata": {"finalizers": ["example.com/b"]}})
    assert out.metadata.finalizers == ["example.com/a", "example.com/b"]
    out = core.patch_namespaced_pod("p", namespace, {"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["example.com/a"]}})
    assert out.metadata.finalizers == ["example.com/b"]


def out_uid(core, namespace):
    return core.read_namespaced_config_map("owned", namespace).metadata.uid


def test_strategic_merge_owner_references_by_uid(k8s, namespace):
    """§1: the ReplicaSet controller releases a pod with an SMP `$patch: delete` on ownerReferences by uid."""
    core = client.CoreV1Api(k8s)
    # Real owners: the garbage collector deletes dependents whose owners do not exist.
    uids = {n: core.create_namespaced_config_map(namespace, {"metadata": {"name": n}}).metadata.uid
            for n in ("release", "keep")}
    owners = [{"apiVersion": "v1", "kind": "ConfigMap", "name": n, "uid": uid} for n, uid in uids.items()]
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "owned", "ownerReferences": owners}})
    out = core.patch_namespaced_config_map("owned", namespace, {"metadata": {"ownerReferences": [
        {"$patch": "delete", "uid": uids["release"]}], "uid": out_uid(core, namespace)}})
    assert [o.name for o in out.metadata.owner_references] == ["keep"]


def test_strategic_patch_replace_directive_and_retain_keys(k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "r", "labels": {"a": "1", "b": "2"}},
                                                  "data": {"x": "1", "y": "2"}})
    out = core.patch_namespaced_config_map("r", namespace, {"data": {"$patch": "replace", "z": "3"}})
    assert out.data == {"z": "3"}
    out = core.patch_namespaced_config_map("r", namespace, {"metadata": {"labels": {"$retainKeys": ["a"]}}})
    assert out.metadata.labels == {"a": "1"}


def test_apply_patch_needs_field_manager_and_can_create(kubesim, k8s, namespace):
    """§6: apply requires ?fieldManager (422 on PatchOptions) and creates a missing object (201)."""
    path = f"/api/v1/namespaces/{namespace}/configmaps/applied"
    manifest = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: v\n"
    status, _, body = kubesim.request("PATCH", path, manifest, headers={"Content-Type": "application/apply-patch+yaml"})
    assert status == 422
    b = json.loads(body)
    assert b["details"]["kind"] == "PatchOptions"
    assert "fieldManager: Required value: is required for apply patch" in b["message"]
    status, _, body = kubesim.request("PATCH", path + "?fieldManager=test", manifest,
                                      headers={"Content-Type": "application/apply-patch+yaml"})
    assert status == 201 and json.loads(body)["data"] == {"k": "v"}
    status, _, body = kubesim.request("PATCH", path + "?fieldManager=test",
                                      manifest.replace(b"k: v", b"k: w"),
                                      headers={"Content-Type": "application/apply-patch+yaml"})
    assert status == 200 and json.loads(body)["data"] == {"k": "w"}


def test_unknown_patch_type_is_415(kubesim, namespace, pod):
    status, _, body = kubesim.request("PATCH", f"/api/v1/namespaces/{namespace}/pods/p", b"{}",
                                      headers={"Content-Type": "application/xml"})
    assert status == 415
    assert json.loads(body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the body of the request was in an unknown format - accepted media types include: "
                   "application/json-patch+json, application/merge-patch+json, "
                   "application/strategic-merge-patch+json, application/apply-patch+yaml",
        "reason": "UnsupportedMediaType", "code": 415}


def test_stale_resource_version_in_merge_patch_and_put_is_409(k8s, namespace, pod):
    """§6: merge/SMP patch and PUT carrying a stale resourceVersion give 409; a PUT without RV is allowed."""
    core = client.CoreV1Api(k8s)
    stale = pod.metadata.resource_version
    core.patch_namespaced_pod("p", namespace, {"metadata": {"labels": {"v": "2"}}})
    for ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        with pytest.raises(client.ApiException) as e:
            core.patch_namespaced_pod("p", namespace, {"metadata": {"resourceVersion": stale, "labels": {"v": "3"}}},
                                      _content_type=ctype)
        assert e.value.status == 409
    current = core.read_namespaced_pod("p", namespace)
    current.metadata.resource_version = stale
    with pytest.raises(client.ApiException) as e:
        core.replace_namespaced_pod("p", namespace, current)
    assert e.value.status == 409
    current.metadata.resource_version = None
    current.metadata.labels["v"] = "4"
    assert core.replace_namespaced_pod("p", namespace, current).metadata.labels["v"] == "4"


def test_uid_change_is_422(k8s, namespace, pod):
    """§6: a patch setting a different metadata.uid gives 422 (uid is immutable)."""
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("p", namespace, {"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}},
                                  _content_type="application/merge-patch+json")
    assert e.value.status == 422
    body = json.loads(e.value.body)
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "message": 'Invalid value: '
                                          '"00000000-0000-0000-0000-000000000000": field is immutable',
                                          "field": "metadata.uid"}]


def test_patch_missing_object_is_404(k8s, namespace):
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_pod("ghost", namespace, {"metadata": {"labels": {"a": "b"}}})
    assert e.value.status == 404


def test_dry_run_all_writes_nothing(kubesim, k8s, namespace, pod):
    """dryRun=All on create, update, patch and delete: the answer looks real, nothing is stored, no RV bump,
    no watch event (kmock's ignoring it is the trap the issue names)."""
    core = client.CoreV1Api(k8s)
    before = core.read_namespaced_pod("p", namespace)
    rv_before = core.list_namespaced_pod(namespace).metadata.resource_version
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    assert created.metadata.name == "dry" and created.metadata.uid
    patched = core.patch_namespaced_pod("p", namespace, {"metadata": {"labels": {"app": "quarantine"}}},
                                        dry_run="All")
    assert patched.metadata.labels["app"] == "quarantine"
    before.metadata.labels["x"] = "y"
    assert core.replace_namespaced_pod("p", namespace, before, dry_run="All").metadata.labels["x"] == "y"
    core.delete_namespaced_pod("p", namespace, dry_run="All")
    core.delete_namespaced_config_map("kube-root-ca.crt", namespace, dry_run="All")
    after = core.read_namespaced_pod("p", namespace)
    assert after.metadata.labels == {"app": "web"}
    assert after.metadata.deletion_timestamp is None
    assert after.metadata.resource_version == before.metadata.resource_version
    with pytest.raises(client.ApiException):
        core.read_namespaced_config_map("dry", namespace)
    core.read_namespaced_config_map("kube-root-ca.crt", namespace)
    events = list(watch.Watch().stream(core.list_namespaced_pod, namespace, resource_version=rv_before,
                                       timeout_seconds=1))
    assert events == []
    dry = [e for e in kubesim.audit_entries() if e.get("namespace") == namespace and e.get("dryRun")]
    assert {e["verb"] for e in dry} == {"create", "patch", "update", "delete"}


def test_bad_dry_run_value_is_rejected(kubesim, namespace):
    status, _, body = kubesim.request("POST", f"/api/v1/namespaces/{namespace}/configmaps?dryRun=Some",
                                      {"metadata": {"name": "x"}})
    assert status == 422
    b = json.loads(body)
    assert b["details"]["kind"] == "CreateOptions"
    assert b["message"] == ('CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Some"}: '
                            'supported values: "All"')


def test_patch_missing_object_with_uid_is_409(k8s, namespace):
    """§6: patching a non-existent object with a uid gives 409 "uid mismatch…"."""
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_config_map("ghost", namespace, {"metadata": {"uid": "1234"}})
    assert e.value.status == 409
    assert "uid mismatch: the provided object specified uid 1234" in json.loads(e.value.body)["message"]


def test_strategic_merge_on_a_deployment_template(k8s, namespace):
    """§5.1 merge keys inside a pod template: containers and env by name, ports by containerPort, volumes by
    name; `$retainKeys` as kubectl apply sends it for the strategy; `$patch: delete` on a map."""
    apps = client.AppsV1Api(k8s)
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "d", "labels": {"a": "1"}}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "d"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
            "volumes": [{"name": "v1", "emptyDir": {}}],
            "containers": [{"name": "app", "image": "x:1", "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 80, "name": "http"}]},
                           {"name": "side", "image": "s:1"}]}}}})
    out = apps.patch_namespaced_deployment("d", namespace, {
        "metadata": {"labels": {"$patch": "delete"}},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
                 "template": {"spec": {
                     "volumes": [{"name": "v2", "emptyDir": {}}],
                     "containers": [{"name": "app", "image": "x:2", "env": [{"name": "B", "value": "2"}],
                                     "ports": [{"containerPort": 80, "name": "web"}]}]}}}})
    spec = out.spec.template.spec
    app = next(c for c in spec.containers if c.name == "app")
    assert [c.name for c in spec.containers] == ["app", "side"]
    assert app.image == "x:2"
    assert [(e.name, e.value) for e in app.env] == [("A", "1"), ("B", "2")]
    assert [(p.container_port, p.name) for p in app.ports] == [(80, "web")]
    assert [v.name for v in spec.volumes] == ["v1", "v2"]
    assert out.spec.strategy.type == "Recreate" and out.spec.strategy.rolling_update is None
    assert out.metadata.labels is None
    assert out.metadata.generation == 2


def _apply(kubesim, path, doc, manager):
    import yaml
    return kubesim.request("PATCH", f"{path}?fieldManager={manager}", yaml.safe_dump(doc).encode(),
                           headers={"Content-Type": "application/apply-patch+yaml"})


def test_apply_removes_fields_the_manager_stopped_applying(kubesim, namespace):
    """Server-side apply: a label this manager applied before and omits now is removed; one another applier
    still sets is kept; fields set by plain patches are left alone."""
    path = f"/api/v1/namespaces/{namespace}/configmaps/ssa"
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}}
    status, _, _ = _apply(kubesim, path, {**base, "metadata": {"name": "ssa", "labels": {
        "quarantine": "true", "shared": "1"}}, "data": {"a": "1", "b": "2"}}, "triage")
    assert status == 201
    assert _apply(kubesim, path, {**base, "metadata": {"name": "ssa", "labels": {"shared": "1"}}}, "other")[0] == 200
    kubesim.request("PATCH", path, {"metadata": {"labels": {"by-patch": "x"}}},
                    headers={"Content-Type": "application/merge-patch+json"})
    status, _, body = _apply(kubesim, path, {**base, "data": {"a": "1"}}, "triage")
    assert status == 200
    obj = json.loads(body)
    assert obj["metadata"]["labels"] == {"shared": "1", "by-patch": "x"}
    assert obj["data"] == {"a": "1"}


def test_apply_removes_a_container_dropped_from_the_configuration(kubesim, namespace):
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/ssa"

    def deploy(containers):
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ssa"}, "spec": {
            "replicas": 0, "selector": {"matchLabels": {"app": "ssa"}}, "template": {
                "metadata": {"labels": {"app": "ssa"}}, "spec": {"containers": containers}}}}
    two = [{"name": "app", "image": "x:1"}, {"name": "side", "image": "s:1"}]
    assert _apply(kubesim, path, deploy(two), "triage")[0] == 201
    status, _, body = _apply(kubesim, path, deploy(two[:1]), "triage")
    assert status == 200
    containers = json.loads(body)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]
    assert containers[0]["terminationMessagePath"] == "/dev/termination-log"  # defaults are not pruned
