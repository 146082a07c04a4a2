"""Authentication and error robustness: the exact Status bodies (spec §6), never a traceback."""
from __future__ import annotations

import json
import ssl
import urllib.request

import pytest
from kubernetes import client

UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}


def test_no_or_bad_token_is_401(kubesim):
    """Issue contract: a bearer token is required; 401 with the real Status body."""
    for token in (None, "wrong"):
        status, headers, body = kubesim.request("GET", "/api/v1/namespaces", token=token)
        assert status == 401
        assert json.loads(body) == UNAUTHORIZED
        assert headers["Content-Type"] == "application/json"
    c = kubesim.api_client(token="wrong")
    with pytest.raises(client.ApiException) as e:
        client.CoreV1Api(c).list_namespace()
    assert e.value.status == 401
    c.close()


def test_tls_is_verified_against_the_generated_ca(kubesim):
    """The CA in the kubeconfig verifies the server; a client without it fails verification."""
    req = urllib.request.Request(kubesim.url + "/version", headers={"Authorization": f"Bearer {kubesim.token}"})
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=kubesim.ca_file)) as r:
        assert r.status == 200
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(req, context=ssl.create_default_context())
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value)


def test_insecure_http_option(kubesim_factory):
    ks = kubesim_factory(insecure_http=True)
    assert ks.url.startswith("http://") and ks.ca_file is None
    status, _, body = ks.request("GET", "/version")
    assert status == 200 and json.loads(body)["gitVersion"].endswith("+kubesim")


@pytest.mark.parametrize("path,body,ctype,code,reason", [
    ("/api/v1/namespaces/default/configmaps", b"{not json", "application/json", 400, "BadRequest"),
    ("/api/v1/namespaces/default/configmaps", b'{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x"}}',
     "application/json", 400, "BadRequest"),
    ("/api/v1/namespaces/default/configmaps", b'{"apiVersion":"apps/v1","metadata":{"name":"x"}}',
     "application/json", 400, "BadRequest"),
    ("/api/v1/namespaces/default/configmaps", b'[1,2]', "application/json", 400, "BadRequest"),
    ("/api/v1/namespaces/default/configmaps", b'{"metadata":"x"}', "application/json", 400, "BadRequest"),
    ("/api/v1/namespaces/default/widgets", b'{}', "application/json", 404, "NotFound"),
    ("/apis/example.com/v1/namespaces/default/widgets", b'{}', "application/json", 404, "NotFound"),
    ("/api/v1/namespaces/default/configmaps", b'{}', "application/xml", 415, "UnsupportedMediaType"),
])
def test_bad_requests_get_status_bodies(kubesim, path, body, ctype, code, reason):
    status, _, out = kubesim.request("POST", path, body, headers={"Content-Type": ctype})
    assert status == code
    b = json.loads(out)
    assert (b["kind"], b["apiVersion"], b["status"], b["reason"], b["code"]) == \
        ("Status", "v1", "Failure", reason, code)
    assert "Traceback" not in out.decode()
    assert list(b)[:4] == ["kind", "apiVersion", "metadata", "status"]


def test_unknown_paths_and_methods(kubesim):
    assert kubesim.request("GET", "/nope")[0] == 404
    assert kubesim.request("GET", "/api/v2")[0] == 404
    status, _, body = kubesim.request("PUT", "/api/v1/namespaces/default/configmaps", {})
    assert status == 405 and json.loads(body)["reason"] == "MethodNotAllowed"
    status, _, body = kubesim.request("POST", "/api/v1/pods", {"metadata": {"name": "x"}})
    assert status == 405  # across namespaces only list and watch are served
    assert kubesim.request("GET", "/api/v1/pods")[0] == 200
    status, _, body = kubesim.request("GET", "/api/v1/namespaces/default/pods?limit=abc")
    assert status == 400


def test_too_large_body_is_413(kubesim):
    big = {"metadata": {"name": "big"}, "data": {"x": "a" * (3 * 1024 * 1024 + 10)}}
    status, _, body = kubesim.request("POST", "/api/v1/namespaces/default/configmaps", big)
    assert status == 413
    assert json.loads(body)["reason"] == "RequestEntityTooLarge"


def test_name_mismatch_on_update_is_400(kubesim):
    kubesim.request("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "mm"}})
    status, _, body = kubesim.request("PUT", "/api/v1/namespaces/default/configmaps/mm",
                                      {"metadata": {"name": "other"}})
    assert status == 400
    assert json.loads(body)["message"] == "the name of the object (other) does not match the name on the URL (mm)"


def test_invalid_label_value_is_422(k8s, namespace):
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "l", "labels": {"app": "not valid!"}}})
    assert e.value.status == 422
    cause = json.loads(e.value.body)["details"]["causes"][0]
    assert cause["field"] == "metadata.labels" and cause["reason"] == "FieldValueInvalid"


def test_terminating_namespace_refuses_new_content(k8s, wait_for):
    core = client.CoreV1Api(k8s)
    core.create_namespace({"metadata": {"name": "going-away"}})
    core.create_namespaced_config_map("going-away", {"metadata": {"name": "x", "finalizers": ["example.com/hold"]}})
    core.delete_namespace("going-away")
    assert core.read_namespace("going-away").status.phase == "Terminating"
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map("going-away", {"metadata": {"name": "y"}})
    assert e.value.status == 403
    assert json.loads(e.value.body)["message"] == ('configmaps "y" is forbidden: unable to create new content in '
                                                   'namespace going-away because it is being terminated')
    core.patch_namespaced_config_map("x", "going-away", {"metadata": {"finalizers": None}},
                                     _content_type="application/merge-patch+json")

    def gone():
        try:
            core.read_namespace("going-away")
            return False
        except client.ApiException as e:
            return e.status == 404
    wait_for(gone, 10, message="namespace removal")


@pytest.mark.parametrize("body,fragment", [
    ({"metadata": {"name": "t"}, "spec": []},
     "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal array into Go struct field "
     "Pod.spec of type v1.PodSpec"),
    ({"metadata": {"name": "t"}, "spec": {"containers": [{"name": "c", "image": "x", "ports": [
        {"containerPort": "80"}]}]}},
     "json: cannot unmarshal string into Go struct field Pod.spec.containers.ports.containerPort of type int32"),
    ({"metadata": {"name": "t", "labels": {"a": 1}}, "spec": {}},
     "json: cannot unmarshal number into Go struct field Pod.metadata.labels of type string"),
])
def test_wrongly_typed_fields_are_400(kubesim, namespace, body, fragment):
    """The real decoder rejects wrong JSON types with 400 before validation; never a 500."""
    status, _, out = kubesim.request("POST", f"/api/v1/namespaces/{namespace}/pods", body)
    assert status == 400
    b = json.loads(out)
    assert b["reason"] == "BadRequest" and fragment in b["message"]


def test_null_fields_are_zero_values(kubesim, namespace):
    kubesim.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "n"}})
    status, _, out = kubesim.request("PUT", f"/api/v1/namespaces/{namespace}/configmaps/n",
                                     {"metadata": {"name": "n", "labels": None}, "data": None})
    assert status == 200
    assert "labels" not in json.loads(out)["metadata"]
