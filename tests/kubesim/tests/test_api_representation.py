"""How objects are written and served, as the apiserver does: zero values of omitempty fields dropped by the typed
encoding, Secret stringData merged into data (conversion), strategic merge patches converted into the patched type
whatever `kind` they name, lists in etcd key order, and the metadata-only PartialObjectMetadata(List) form."""
from __future__ import annotations

import base64
import json

from kubernetes import client

PARTIAL_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}


def _get(kubesim, path, accept=None):
    status, _, body = kubesim.request("GET", path, headers={"Accept": accept} if accept else None)
    return status, json.loads(body)


def _deployment(name, replicas=1):
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "web", "image": "kubesim/web:v1"}]}}}}


def test_omitempty_bool_is_not_served_after_patching_it_false(kubesim, core):
    """core/v1 NodeSpec `Unschedulable bool json:"unschedulable,omitempty"`: false is the zero value, which the
    typed encoding omits, so an uncordoned Node shows no `unschedulable` at all."""
    core.patch_node("kubesim-node-2", {"spec": {"unschedulable": True}})
    assert _get(kubesim, "/api/v1/nodes/kubesim-node-2")[1]["spec"]["unschedulable"] is True
    core.patch_node("kubesim-node-2", {"spec": {"unschedulable": False}})
    assert "unschedulable" not in _get(kubesim, "/api/v1/nodes/kubesim-node-2")[1]["spec"]


def test_omitempty_strings_maps_and_lists_are_dropped_pointers_are_kept(kubesim, core, apps, namespace):
    """Non-pointer omitempty fields drop "", {} and [] (Container.workingDir, ObjectMeta.labels, finalizers);
    pointer fields keep their zero value (DeploymentSpec.Replicas *int32 stays 0)."""
    body = {"metadata": {"name": "p", "labels": {}, "finalizers": []},
            "spec": {"containers": [{"name": "a", "image": "nginx", "workingDir": "", "tty": False}]}}
    core.create_namespaced_pod(namespace, body)
    pod = _get(kubesim, f"/api/v1/namespaces/{namespace}/pods/p")[1]
    assert "labels" not in pod["metadata"] and "finalizers" not in pod["metadata"]
    assert "workingDir" not in pod["spec"]["containers"][0] and "tty" not in pod["spec"]["containers"][0]
    apps.create_namespaced_deployment(namespace, _deployment("zero", replicas=0))
    assert _get(kubesim, f"/apis/apps/v1/namespaces/{namespace}/deployments/zero")[1]["spec"]["replicas"] == 0


def test_secret_string_data_is_merged_into_data_and_never_served(kubesim, core, namespace):
    """Convert_v1_Secret_To_core_Secret: stringData is write-only; its keys overwrite data's, base64-encoded."""
    core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "data": {"a": base64.b64encode(b"1").decode(),
                                                                                 "b": base64.b64encode(b"2").decode()},
                                              "stringData": {"b": "two", "c": "three"}})
    served = _get(kubesim, f"/api/v1/namespaces/{namespace}/secrets/s")[1]
    assert "stringData" not in served
    assert {k: base64.b64decode(v).decode() for k, v in served["data"].items()} == {"a": "1", "b": "two", "c": "three"}
    # A patch through stringData changes data the same way.
    core.patch_namespaced_secret("s", namespace, {"stringData": {"a": "one"}})
    served = _get(kubesim, f"/api/v1/namespaces/{namespace}/secrets/s")[1]
    assert "stringData" not in served and base64.b64decode(served["data"]["a"]) == b"one"


def test_strategic_merge_patch_to_scale_naming_the_deployment_kind(kubesim, apps, namespace):
    """The patch handler applies a strategic merge patch to the object's map and converts the result into the
    target type (Scale), so the body's `kind: Deployment` does not matter (kubectl scale sends such bodies)."""
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    for path in (f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale",
                 f"/apis/apps/v1/namespaces/{namespace}/deployments/web"):
        status, _, body = kubesim.request("PATCH", path, {"apiVersion": "apps/v1", "kind": "Deployment",
                                                          "spec": {"replicas": 3}}, headers=SMP)
        assert status == 200, body
        assert json.loads(body)["kind"] == ("Scale" if path.endswith("/scale") else "Deployment")
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 3


def test_lists_are_in_namespace_name_order_without_pagination(kubesim, core, namespace, k8s):
    """etcd returns keys in order (/registry/configmaps/NS/NAME): a list is sorted, not in creation order."""
    for name in ("zeta", "alpha", "mid"):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
    names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert names == sorted(names) and {"zeta", "alpha", "mid"} <= set(names)
    everywhere = [(c.metadata.namespace, c.metadata.name) for c in core.list_config_map_for_all_namespaces().items]
    assert everywhere == sorted(everywhere)


def test_partial_object_metadata_list_get_and_watch(kubesim, core, namespace):
    """The apiserver's transformObject: `as=PartialObjectMetadataList` returns metadata-only items (each with
    kind PartialObjectMetadata), `as=PartialObjectMetadata` a metadata-only object, also as watch events."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm", "labels": {"x": "y"}},
                                                  "data": {"secret-ish": "value"}})
    status, body = _get(kubesim, f"/api/v1/namespaces/{namespace}/configmaps", PARTIAL_LIST)
    assert status == 200 and body["kind"] == "PartialObjectMetadataList" and body["apiVersion"] == "meta.k8s.io/v1"
    item = next(i for i in body["items"] if i["metadata"]["name"] == "cm")
    assert set(item) == {"kind", "apiVersion", "metadata"} and item["kind"] == "PartialObjectMetadata"
    assert item["metadata"]["labels"] == {"x": "y"} and body["metadata"]["resourceVersion"]
    status, body = _get(kubesim, f"/api/v1/namespaces/{namespace}/configmaps/cm", PARTIAL)
    assert status == 200 and set(body) == {"kind", "apiVersion", "metadata"} and "data" not in body
    # The wrong form for the request is 406, as the server's "you requested ..." errors.
    assert _get(kubesim, f"/api/v1/namespaces/{namespace}/configmaps/cm", PARTIAL_LIST)[0] == 406
    status, _, raw = kubesim.request("GET", f"/api/v1/namespaces/{namespace}/configmaps?watch=1&timeoutSeconds=1",
                                     headers={"Accept": PARTIAL})
    events = [json.loads(line) for line in raw.splitlines() if line.strip()]
    assert events and all(set(e["object"]) == {"kind", "apiVersion", "metadata"} for e in events)


def test_metadata_only_accept_as_client_go_sends_it(kubesim, core, namespace):
    """client-go's metadata client puts protobuf first; content negotiation skips the media type kubesim cannot
    encode and answers the next one, JSON metadata-only."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "m"}})
    accept = ("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
              + PARTIAL_LIST + ",application/json")
    status, body = _get(kubesim, f"/api/v1/namespaces/{namespace}/configmaps", accept)
    assert status == 200 and body["kind"] == "PartialObjectMetadataList"
    # A plain JSON Accept still gets the full objects.
    assert _get(kubesim, f"/api/v1/namespaces/{namespace}/configmaps", "application/json")[1]["kind"] == \
        "ConfigMapList"


def test_serialised_json_is_what_the_typed_client_reads(core, namespace):
    """The pruned objects still deserialise into the typed models (required fields kept)."""
    core.create_namespaced_pod(namespace, {"metadata": {"name": "typed"},
                                           "spec": {"containers": [{"name": "a", "image": "nginx"}]}})
    pod = core.read_namespaced_pod("typed", namespace)
    assert isinstance(pod, client.V1Pod) and pod.spec.containers[0].name == "a"


# kubectl 1.32's `create serviceaccount bot` and `create rolebinding rb --role=r --serviceaccount=NS:bot` bodies.
SA_PROTOBUF = bytes.fromhex("6b3873000a140a027631120e536572766963654163636f756e74"  # k8s\0, typeMeta v1/ServiceAccount
                            "12150a130a03626f7412001a0022002a00320038004200"  # raw: ObjectMeta{name: bot}
                            "1a002200")  # contentEncoding, contentType


def _rolebinding_protobuf(namespace: str) -> bytes:
    def field(num, payload: bytes) -> bytes:
        return bytes([num << 3 | 2, len(payload)]) + payload
    subject = field(1, b"ServiceAccount") + field(2, b"") + field(3, b"bot") + field(4, namespace.encode())
    ref = field(1, b"rbac.authorization.k8s.io") + field(2, b"Role") + field(3, b"r")
    raw = field(1, field(1, b"rb")) + field(2, subject) + field(3, ref)
    type_meta = field(1, b"rbac.authorization.k8s.io/v1") + field(2, b"RoleBinding")
    return b"k8s\x00" + field(1, type_meta) + field(2, raw) + field(3, b"") + field(4, b"")


def test_protobuf_bodies_of_kubectl_create(kubesim, namespace):
    """kubectl create posts typed objects as application/vnd.kubernetes.protobuf (runtime.Unknown wrapping the
    generated.proto message): kubesim reads the access-setup kinds and answers JSON."""
    headers = {"Content-Type": "application/vnd.kubernetes.protobuf"}
    status, _, raw = kubesim.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", SA_PROTOBUF,
                                     headers=headers)
    assert status == 201 and json.loads(raw)["metadata"]["name"] == "bot"
    status, _, raw = kubesim.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
                                     _rolebinding_protobuf(namespace), headers=headers)
    body = json.loads(raw)
    assert status == 201, body
    assert body["subjects"] == [{"kind": "ServiceAccount", "name": "bot", "namespace": namespace}]
    assert body["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}


def test_every_write_path_stores_the_typed_encoding(kubesim, core, namespace):
    """An ephemeral container added through its subresource is stored without its zero values too, so a later
    update of the pod (an annotation) is not refused as a change of ephemeralContainers[0].stdin."""
    core.create_namespaced_pod(namespace, {"metadata": {"name": "e"},
                                           "spec": {"containers": [{"name": "a", "image": "nginx"}]}})
    status, _, raw = kubesim.request(
        "PATCH", f"/api/v1/namespaces/{namespace}/pods/e/ephemeralcontainers",
        {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox", "stdin": False, "tty": False}]}},
        headers=SMP)
    assert status == 200, raw
    ec = json.loads(raw)["spec"]["ephemeralContainers"][0]
    assert "stdin" not in ec and "tty" not in ec
    core.patch_namespaced_pod("e", namespace, {"metadata": {"annotations": {"note": "x"}}})
    assert core.read_namespaced_pod("e", namespace).metadata.annotations["note"] == "x"
