"""list and watch semantics through the kubernetes client (spec §8)."""
from __future__ import annotations

import json
import threading
import time

import pytest
from kubernetes import client, watch


def _cm(name, labels=None):
    return {"metadata": {"name": name, "labels": labels or {}}}


@pytest.fixture
def labelled(k8s, namespace):
    core = client.CoreV1Api(k8s)
    specs = {
        "a": {"app": "web", "tier": "front", "rank": "3"},
        "b": {"app": "web", "tier": "back", "rank": "10"},
        "c": {"app": "db"},
        "d": {},
    }
    for name, labels in specs.items():
        core.create_namespaced_config_map(namespace, _cm(name, labels))
    return namespace


def _names(core, ns, **kw):
    """ConfigMap names, without the kube-root-ca.crt every namespace gets."""
    return sorted(o.metadata.name for o in core.list_namespaced_config_map(ns, **kw).items
                  if o.metadata.name != "kube-root-ca.crt")


@pytest.mark.parametrize("selector,expected", [
    ("app=web", ["a", "b"]),
    ("app==web", ["a", "b"]),
    ("app!=web", ["c", "d"]),          # != matches when the key is absent (§8)
    ("app in (web,db)", ["a", "b", "c"]),
    ("tier notin (front)", ["b", "c", "d"]),  # notin matches when the key is absent
    ("tier", ["a", "b"]),
    ("!tier", ["c", "d"]),
    ("app=web,tier=back", ["b"]),
    ("rank>5", ["b"]),
    ("rank<5", ["a"]),
    ("", ["a", "b", "c", "d"]),
])
def test_label_selector_syntax(k8s, labelled, selector, expected):
    """§8 label selector grammar and semantics."""
    core = client.CoreV1Api(k8s)
    assert _names(core, labelled, label_selector=selector) == expected


def test_bad_label_selector_is_400(k8s, labelled):
    core = client.CoreV1Api(k8s)
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map(labelled, label_selector="app in web")
    assert e.value.status == 400
    assert json.loads(e.value.body)["reason"] == "BadRequest"


def test_field_selectors_on_pods(k8s, namespace):
    """§8: pod field selectors; metadata.name on any resource; 400 `field label not supported` otherwise."""
    core = client.CoreV1Api(k8s)
    for name, policy in (("p1", "Always"), ("p2", "Never")):
        core.create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": {
            "restartPolicy": policy, "containers": [{"name": "c", "image": "registry.example/app:1"}]}})

    def names(**kw):
        return sorted(p.metadata.name for p in core.list_namespaced_pod(namespace, **kw).items)

    assert names(field_selector="spec.restartPolicy=Never") == ["p2"]
    assert names(field_selector="spec.restartPolicy!=Never") == ["p1"]
    assert names(field_selector="metadata.name=p1") == ["p1"]
    assert names(field_selector="metadata.name=p1,spec.restartPolicy=Never") == []
    assert names(field_selector="spec.schedulerName=default-scheduler") == ["p1", "p2"]
    core.create_namespaced_config_map(namespace, _cm("only"))
    assert _names(core, namespace, field_selector="metadata.name=only") == ["only"]
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_pod(namespace, field_selector="spec.containers=x")
    assert e.value.status == 400
    body = json.loads(e.value.body)
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "field label not supported: spec.containers", "reason": "BadRequest", "code": 400}
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map(namespace, field_selector="data.x=1")
    assert e.value.status == 400


def test_list_across_namespaces_and_resource_version(k8s, labelled, namespace):
    core = client.CoreV1Api(k8s)
    lst = core.list_config_map_for_all_namespaces(label_selector="app=web")
    assert sorted(o.metadata.name for o in lst.items) == ["a", "b"]
    assert int(lst.metadata.resource_version) >= max(int(o.metadata.resource_version) for o in lst.items)


def test_limit_and_continue(k8s, namespace):
    """kubectl lists with limit=500 and follows `continue` tokens."""
    core = client.CoreV1Api(k8s)
    for i in range(7):
        core.create_namespaced_config_map(namespace, _cm(f"cm-{i}"))
    seen, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        pages += 1
        seen += [o.metadata.name for o in page.items]
        token = page.metadata._continue
        if not token:
            assert page.metadata.remaining_item_count is None
            break
        assert page.metadata.remaining_item_count == 8 - len(seen)  # 7 + kube-root-ca.crt
    assert pages == 3
    assert sorted(seen) == sorted([f"cm-{i}" for i in range(7)] + ["kube-root-ca.crt"])


def test_continue_after_compaction_is_410(kubesim, k8s, namespace):
    """§8: a too-old continue on LIST gives HTTP 410 Expired."""
    core = client.CoreV1Api(k8s)
    for i in range(3):
        core.create_namespaced_config_map(namespace, _cm(f"x-{i}"))
    page = core.list_namespaced_config_map(namespace, limit=1)
    core.create_namespaced_config_map(namespace, _cm("later"))
    status, _, _ = kubesim.request("POST", "/kubesim/compact")
    assert status == 200
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map(namespace, limit=1, _continue=page.metadata._continue)
    assert e.value.status == 410
    assert json.loads(e.value.body)["reason"] == "Expired"


def _raw_watch_lines(kubesim, path, timeout=5):
    status, _, body = kubesim.request("GET", path, timeout=timeout)
    assert status == 200
    return body.decode().split("\n")


def test_watch_stream_format_no_blank_lines(kubesim, k8s, namespace):
    """§8: one JSON document per line, no keep-alive blank lines (the Python client yields None for them)."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, _cm("w1"))
    lines = _raw_watch_lines(kubesim, f"/api/v1/namespaces/{namespace}/configmaps?watch=true&timeoutSeconds=1")
    assert lines[-1] == ""  # the body ends with a newline
    events = [json.loads(line) for line in lines[:-1]]
    assert all(line.strip() for line in lines[:-1])
    assert {e["object"]["metadata"]["name"] for e in events} == {"w1", "kube-root-ca.crt"}
    assert {e["type"] for e in events} == {"ADDED"}


def test_watch_from_resource_version_and_timeout(k8s, namespace):
    """§8: RV=N gives the changes after N; timeoutSeconds ends the stream; selectors filter events."""
    core = client.CoreV1Api(k8s)
    cm = core.create_namespaced_config_map(namespace, _cm("w", {"app": "x"}))
    rv = cm.metadata.resource_version
    core.patch_namespaced_config_map("w", namespace, {"data": {"k": "v"}})
    core.create_namespaced_config_map(namespace, _cm("other", {"app": "y"}))
    start = time.monotonic()
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, namespace, resource_version=rv, label_selector="app=x", timeout_seconds=1)]
    assert time.monotonic() - start < 5
    assert events == [("MODIFIED", "w")]


def test_watch_selector_transitions(k8s, namespace):
    """The watch cache shows an object leaving a label selection as DELETED and entering it as ADDED."""
    core = client.CoreV1Api(k8s)
    cm = core.create_namespaced_config_map(namespace, _cm("moving", {"app": "web"}))
    rv = cm.metadata.resource_version
    core.patch_namespaced_config_map("moving", namespace, {"metadata": {"labels": {"app": "quarantine"}}})
    core.patch_namespaced_config_map("moving", namespace, {"metadata": {"labels": {"app": "web"}}})
    events = [e["type"] for e in watch.Watch().stream(core.list_namespaced_config_map, namespace,
                                                      resource_version=rv, label_selector="app=web",
                                                      timeout_seconds=1)]
    assert events == ["DELETED", "ADDED"]


def test_watch_live_events(k8s, namespace):
    core = client.CoreV1Api(k8s)
    w = watch.Watch()
    got = []

    def writer():
        time.sleep(0.3)
        core.create_namespaced_config_map(namespace, _cm("live"))
        core.patch_namespaced_config_map("live", namespace, {"data": {"a": "b"}})
        core.delete_namespaced_config_map("live", namespace)

    t = threading.Thread(target=writer)
    t.start()
    for e in w.stream(core.list_namespaced_config_map, namespace, field_selector="metadata.name=live",
                      timeout_seconds=2):
        got.append(e["type"])
        if e["type"] == "DELETED":
            w.stop()
    t.join()
    assert got == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_too_old_resource_version_is_error_event(kubesim, k8s, namespace):
    """§8: a too-old RV on watch gives HTTP 200 and an ERROR event with a 410 Expired Status;
    the Python client raises ApiException(410) when timeout_seconds was given."""
    core = client.CoreV1Api(k8s)
    cm = core.create_namespaced_config_map(namespace, _cm("old"))
    core.patch_namespaced_config_map("old", namespace, {"data": {"a": "b"}})
    assert kubesim.request("POST", "/kubesim/compact")[0] == 200
    lines = _raw_watch_lines(kubesim, f"/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion="
                                      f"{cm.metadata.resource_version}&timeoutSeconds=1")
    event = json.loads(lines[0])
    assert event["type"] == "ERROR"
    obj = event["object"]
    assert (obj["kind"], obj["code"], obj["reason"]) == ("Status", 410, "Expired")
    assert obj["message"].startswith(f"too old resource version: {cm.metadata.resource_version} (")
    with pytest.raises(client.ApiException) as e:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, namespace,
                                      resource_version=cm.metadata.resource_version, timeout_seconds=1):
            pass
    assert e.value.status == 410


def test_watch_bookmarks(kubesim_factory):
    """§8: allowWatchBookmarks gives BOOKMARK events with only metadata.resourceVersion; sendInitialEvents ends
    the initial list with the k8s.io/initial-events-end bookmark."""
    ks = kubesim_factory(["--bookmark-interval", "0.3"])
    lines = [json.loads(x) for x in ks.request(
        "GET", "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1",
        timeout=5)[2].decode().splitlines()]
    bookmarks = [e for e in lines if e["type"] == "BOOKMARK"]
    assert len(bookmarks) >= 2
    assert bookmarks[0]["object"] == {"kind": "ConfigMap", "apiVersion": "v1",
                                      "metadata": {"resourceVersion": bookmarks[0]["object"]["metadata"][
                                          "resourceVersion"]}}
    lines = [json.loads(x) for x in ks.request(
        "GET", "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&sendInitialEvents=true"
               "&resourceVersionMatch=NotOlderThan&timeoutSeconds=0.2", timeout=5)[2].decode().splitlines()]
    first_bookmark = next(e for e in lines if e["type"] == "BOOKMARK")
    assert first_bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert lines.index(first_bookmark) == len([e for e in lines if e["type"] == "ADDED"])
    # The Python client passes BOOKMARK events to the caller without deserialising them.
    c = ks.api_client()
    core = client.CoreV1Api(c)
    types = {e["type"] for e in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                                     allow_watch_bookmarks=True, timeout_seconds=1)}
    assert "BOOKMARK" in types
    c.close()


def test_equality_selectors_follow_relabels_and_deletes(k8s, namespace):
    """Equality selectors are answered from a label index: it must follow label changes and deletions."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, _cm("m", {"app": "web", "tier": "x"}))
    assert _names(core, namespace, label_selector="app=web,tier=x") == ["m"]
    core.patch_namespaced_config_map("m", namespace, {"metadata": {"labels": {"app": "quarantine"}}})
    assert _names(core, namespace, label_selector="app=web") == []
    assert _names(core, namespace, label_selector="app=quarantine,tier=x") == ["m"]
    core.delete_namespaced_config_map("m", namespace)
    assert _names(core, namespace, label_selector="app=quarantine") == []
    core.create_namespaced_config_map(namespace, _cm("m", {"app": "web"}))
    assert _names(core, namespace, label_selector="app==web") == ["m"]
