# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the pure planning of pod_hijack: every request body it sends is built here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.hijack import plan
from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.model.images import images_equivalent
from ansible_collections.triage.k8s.plugins.module_utils.model.patches import build_image_revert_patch
from ansible_collections.triage.k8s.plugins.module_utils.hijack.plan import HijackError

NOW = "2026-11-21T07:00:00Z"


def make_pod(containers=("app",), labels=None, annotations=None, isolated=True, **extra):
    labels = dict(labels or {"app": "web", "pod-template-hash": "5d4f"})
    if isolated:
        labels[record.ISOLATED_LABEL] = "true"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-5d4f-abcde",
            "namespace": "shop",
            "uid": "1111-2222",
            "resourceVersion": "42",
            "generation": 1,
            "creationTimestamp": "2026-11-21T06:00:00Z",
            "labels": labels,
            "annotations": dict(annotations or {}),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4f",
                                 "uid": "rs-uid", "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [{"manager": "kube-controller-manager"}],
        },
        "spec": {
            "nodeName": "kubesim-node-1",
            "restartPolicy": "Always",
            "containers": [
                {"name": name, "image": "kubesim/web:1", "imagePullPolicy": "IfNotPresent",
                 "env": [{"name": "MODE", "value": "prod"}],
                 "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                 "terminationMessagePath": "/dev/termination-log"}
                for name in containers
            ],
        },
        "status": {"phase": "Running", "podIP": "10.0.0.7"},
    }
    pod["spec"].update(extra)
    return pod


# ---------------------------------------------------------------------------- image references

@pytest.mark.parametrize("image", [
    "nginx", "nginx:1.27", "library/nginx:1.27", "docker.io/library/nginx:1.27",
    "registry.example.com:5000/team/app:v1.2.3", "localhost/app", "kubesim/web:2",
    "registry.invalid/app:1", "ghcr.io/org/app@sha256:" + "a" * 64,
    "ghcr.io/org/app:1.0@sha256:" + "b" * 64, "[::1]:5000/app:dev", "my_repo/some__name:tag_1",
])
def test_valid_image_references_are_accepted(image):
    assert plan.validate_image_reference(image) == image


@pytest.mark.parametrize("image, why", [
    ("", "non-empty"),
    (" nginx:1", "whitespace"),
    ("nginx :1", "whitespace"),
    ("Nginx:1", "lower-case"),
    ("nginx:", "lower-case"),
    ("nginx:-bad", "lower-case"),
    ("nginx@sha256:short", "lower-case"),
    ("registry.example.com/", "lower-case"),
    ("app//x", "lower-case"),
    ("a" * 256, "255"),
])
def test_invalid_image_references_say_why(image, why):
    with pytest.raises(HijackError) as err:
        plan.validate_image_reference(image)
    assert why in str(err.value)


def test_image_equivalence_follows_docker_normalization():
    assert images_equivalent("nginx", "docker.io/library/nginx:latest")
    assert images_equivalent("nginx:1.27", "docker.io/library/nginx:1.27")
    assert images_equivalent("kubesim/web:2", "docker.io/kubesim/web:2")
    assert images_equivalent("localhost:5000/app:1", "localhost:5000/app:1")
    assert not images_equivalent("nginx:1.27", "docker.io/library/nginx:1.26")
    assert not images_equivalent("kubesim/web:2", "kubesim/web:1")
    digest = "sha256:" + "c" * 64
    assert images_equivalent("ghcr.io/org/app@" + digest, "ghcr.io/org/app@" + digest)
    assert images_equivalent("ghcr.io/org/app@" + digest, "ghcr.io/org/app:1@" + digest)
    assert not images_equivalent("nginx:1", None)


# ---------------------------------------------------------------------------- container choice

def test_the_only_container_is_chosen():
    assert plan.resolve_container(make_pod(("app",))) == "app"


def test_the_default_container_annotation_picks_among_several():
    pod = make_pod(("sidecar", "app"), annotations={plan.DEFAULT_CONTAINER_ANNOTATION: "app"})
    assert plan.resolve_container(pod) == "app"


def test_a_default_container_annotation_naming_nothing_is_not_trusted():
    pod = make_pod(("sidecar", "app"), annotations={plan.DEFAULT_CONTAINER_ANNOTATION: "gone"})
    with pytest.raises(HijackError) as err:
        plan.resolve_container(pod)
    assert "2 containers" in str(err.value) and "sidecar, app" in str(err.value)


def test_several_containers_without_a_choice_lists_them():
    with pytest.raises(HijackError) as err:
        plan.resolve_container(make_pod(("sidecar", "app")))
    assert "sidecar, app" in str(err.value)


def test_unknown_container_lists_the_valid_ones():
    with pytest.raises(HijackError) as err:
        plan.resolve_container(make_pod(("sidecar", "app")), "ap")
    message = str(err.value)
    assert "'ap'" in message and "shop/web-5d4f-abcde" in message and "sidecar, app" in message


def test_an_ephemeral_container_is_not_a_swap_target():
    pod = make_pod(("app",))
    pod["spec"]["ephemeralContainers"] = [{"name": "debugger", "image": "busybox"}]
    with pytest.raises(HijackError) as err:
        plan.resolve_container(pod, "debugger")
    assert "ephemeral" in str(err.value)


# ---------------------------------------------------------------------------- safety

def test_a_serving_pod_is_refused_for_in_place_modes():
    pod = make_pod(isolated=False)
    for mode in ("image", "debug_container"):
        with pytest.raises(HijackError) as err:
            plan.check_hijackable(pod, mode, force=False)
        assert "still in service" in str(err.value) and "force" in str(err.value)


def test_force_and_copy_do_not_need_isolation():
    pod = make_pod(isolated=False)
    plan.check_hijackable(pod, "image", force=True)
    plan.check_hijackable(pod, "copy", force=False)


def test_a_terminating_pod_is_refused_even_with_force():
    pod = make_pod()
    pod["metadata"]["deletionTimestamp"] = NOW
    with pytest.raises(HijackError, match="terminating"):
        plan.check_hijackable(pod, "image", force=True)


# ---------------------------------------------------------------------------- image patch

def test_image_patch_is_a_minimal_strategic_merge_by_name():
    pod = make_pod(("sidecar", "app"))
    body = plan.build_image_patch(pod, "app", "kubesim/web:2", NOW, "alice")
    # Only the one container, only name + image: containers merge by name (k8s_semantics.md §5.1),
    # so the sidecar and every defaulted field of app stay as they are.
    assert body["spec"] == {"containers": [{"name": "app", "image": "kubesim/web:2"}]}
    assert not any(key.startswith("$setElementOrder") for key in body["spec"])
    assert body["metadata"]["resourceVersion"] == "42"
    annotations = body["metadata"]["annotations"]
    assert json.loads(annotations[record.ORIGINAL_IMAGES]) == {"app": "kubesim/web:1"}
    assert annotations[record.HIJACKED_BY] == "alice"
    assert annotations[record.HIJACKED_AT] == NOW
    assert annotations[record.HIJACK_MODE] == "image"


def test_a_second_hijack_keeps_the_true_original_image():
    pod = make_pod(("sidecar", "app"))
    pod["spec"]["containers"][1]["image"] = "kubesim/web:2"
    pod["metadata"]["annotations"][record.ORIGINAL_IMAGES] = json.dumps({"app": "kubesim/web:1"})
    body = plan.build_image_patch(pod, "app", "kubesim/web:3", NOW, "bob")
    assert json.loads(body["metadata"]["annotations"][record.ORIGINAL_IMAGES]) == {"app": "kubesim/web:1"}
    body = plan.build_image_patch(pod, "sidecar", "kubesim/web:9", NOW, "bob")
    assert json.loads(body["metadata"]["annotations"][record.ORIGINAL_IMAGES]) == {
        "app": "kubesim/web:1", "sidecar": "kubesim/web:1"}


def test_a_damaged_original_images_record_is_an_error_not_overwritten():
    pod = make_pod()
    pod["metadata"]["annotations"][record.ORIGINAL_IMAGES] = "not json"
    with pytest.raises(HijackError, match="unreadable"):
        plan.build_image_patch(pod, "app", "kubesim/web:2", NOW, "alice")


def test_image_patch_applied_like_the_server_changes_only_that_image():
    """Apply the body with strategic-merge semantics for a list merged by name, as the API server does."""
    pod = make_pod(("sidecar", "app"))
    body = plan.build_image_patch(pod, "app", "kubesim/web:2", NOW, "alice")
    patched = copy.deepcopy(pod)
    for change in body["spec"]["containers"]:
        for container in patched["spec"]["containers"]:
            if container["name"] == change["name"]:
                container.update(change)
    assert [c["image"] for c in patched["spec"]["containers"]] == ["kubesim/web:1", "kubesim/web:2"]
    assert patched["spec"]["containers"][1]["livenessProbe"] == pod["spec"]["containers"][1]["livenessProbe"]


def test_rollback_restores_the_previous_image_and_annotations():
    before = make_pod()
    before["metadata"]["annotations"]["other"] = "kept"
    patch = plan.build_image_patch(before, "app", "registry.invalid/app:1", NOW, "alice")
    failed = copy.deepcopy(before)
    failed["metadata"]["resourceVersion"] = "50"
    failed["metadata"]["annotations"].update(patch["metadata"]["annotations"])
    failed["spec"]["containers"][0]["image"] = "registry.invalid/app:1"
    body = plan.build_rollback_patch(failed, before, "app")
    assert body["spec"] == {"containers": [{"name": "app", "image": "kubesim/web:1"}]}
    assert body["metadata"]["resourceVersion"] == "50"
    # None deletes the keys that did not exist before this hijack; unrelated annotations are untouched.
    assert body["metadata"]["annotations"] == dict((key, None) for key in record.HIJACK_ANNOTATIONS)


def test_rollback_of_a_second_hijack_returns_to_the_first_hijacks_image():
    before = make_pod()
    before["spec"]["containers"][0]["image"] = "kubesim/web:2"
    before["metadata"]["annotations"].update({
        record.ORIGINAL_IMAGES: '{"app":"kubesim/web:1"}', record.HIJACKED_BY: "alice",
        record.HIJACKED_AT: "earlier", record.HIJACK_MODE: "image"})
    body = plan.build_rollback_patch(before, before, "app")
    assert body["spec"]["containers"][0]["image"] == "kubesim/web:2"
    assert body["metadata"]["annotations"][record.ORIGINAL_IMAGES] == '{"app":"kubesim/web:1"}'
    assert body["metadata"]["annotations"][record.HIJACKED_BY] == "alice"


def test_revert_patch_for_pod_restore():
    pod = make_pod(("sidecar", "app"))
    pod["spec"]["containers"][1]["image"] = "kubesim/web:2"
    pod["metadata"]["annotations"][record.ORIGINAL_IMAGES] = json.dumps(
        {"app": "kubesim/web:1", "sidecar": "kubesim/web:1"})
    body = build_image_revert_patch(pod)
    # The sidecar already runs its original: only app changes, and the whole record goes.
    assert body["spec"] == {"containers": [{"name": "app", "image": "kubesim/web:1"}]}
    assert body["metadata"]["annotations"] == {record.ORIGINAL_IMAGES: None}
    partial = build_image_revert_patch(pod, containers=["sidecar"])
    assert "spec" not in partial
    assert json.loads(partial["metadata"]["annotations"][record.ORIGINAL_IMAGES]) == {"app": "kubesim/web:1"}
    assert build_image_revert_patch(make_pod()) is None


def test_image_diff_shows_images_and_record():
    pod = make_pod()
    patch = plan.build_image_patch(pod, "app", "kubesim/web:2", NOW, "alice")
    diff = plan.image_mode_diff(pod, "app", "kubesim/web:2", patch)
    assert diff["before"]["images"] == {"app": "kubesim/web:1"}
    assert diff["after"]["images"] == {"app": "kubesim/web:2"}
    assert record.ORIGINAL_IMAGES not in diff["before"]["annotations"]
    assert diff["after"]["annotations"][record.HIJACK_MODE] == "image"


# ---------------------------------------------------------------------------- ephemeral containers

def test_ephemeral_container_body_with_target_and_profile():
    container = plan.build_ephemeral_container("triage-debug", "busybox:1.36", command=["sleep", "3600"],
                                               target_container="app", profile="general")
    assert container["targetContainerName"] == "app"
    assert container["command"] == ["sleep", "3600"]
    assert container["securityContext"] == {"capabilities": {"add": ["SYS_PTRACE"]}}
    assert "args" not in container and "env" not in container


def test_baseline_profile_adds_no_privilege_and_security_context_overrides():
    assert "securityContext" not in plan.build_ephemeral_container("d", "busybox")
    custom = plan.build_ephemeral_container("d", "busybox", profile="sysadmin",
                                            security_context={"runAsUser": 1000})
    assert custom["securityContext"] == {"runAsUser": 1000}
    restricted = plan.build_ephemeral_container("d", "busybox", profile="restricted")
    assert restricted["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # The profile table must not be shared with (and mutated through) a returned body.
    restricted["securityContext"]["capabilities"]["drop"].append("X")
    assert plan.DEBUG_PROFILES["restricted"]["capabilities"]["drop"] == ["ALL"]


def test_unknown_profile_is_rejected():
    with pytest.raises(HijackError, match="baseline, general"):
        plan.build_ephemeral_container("d", "busybox", profile="root")


def test_ephemeral_patch_is_merged_by_name_and_conditioned():
    pod = make_pod()
    container = plan.build_ephemeral_container("triage-debug", "busybox")
    body = plan.build_ephemeral_patch(pod, container)
    assert body == {"metadata": {"resourceVersion": "42"}, "spec": {"ephemeralContainers": [container]}}


def test_ephemeral_container_idempotence_by_name():
    pod = make_pod()
    wanted = plan.build_ephemeral_container("triage-debug", "busybox", command=["sh"], target_container="app")
    assert plan.check_debug_container(pod, wanted) == "absent"
    server_side = dict(wanted, resources={})
    pod["spec"]["ephemeralContainers"] = [server_side]
    assert plan.check_debug_container(pod, wanted) == "same"
    other = plan.build_ephemeral_container("triage-debug", "alpine", command=["sh"], target_container="app")
    with pytest.raises(HijackError) as err:
        plan.check_debug_container(pod, other)
    assert "never be changed or removed" in str(err.value) and "image" in str(err.value)


def test_debug_container_checks_target_and_name_clash():
    pod = make_pod(("app",))
    with pytest.raises(HijackError, match="target_container 'nope'.*app"):
        plan.check_debug_container(pod, plan.build_ephemeral_container("d", "busybox", target_container="nope"))
    with pytest.raises(HijackError, match="regular container"):
        plan.check_debug_container(pod, plan.build_ephemeral_container("app", "busybox"))


# ---------------------------------------------------------------------------- copies

def test_copy_is_never_selected_by_anything():
    source = make_pod(("app",), annotations={record.REASON: "leaks memory", record.TICKET: "INC-7",
                                             "deployment.kubernetes.io/revision": "3"})
    source["spec"]["ephemeralContainers"] = [{"name": "debugger", "image": "busybox"}]
    body = plan.build_copy_pod(source, "web-copy", "app", NOW, "alice")
    meta = body["metadata"]
    assert meta["labels"] == {record.ISOLATED_LABEL: "true"}
    assert set(meta) == {"name", "namespace", "labels", "annotations"}
    assert meta["name"] == "web-copy" and meta["namespace"] == "shop"
    annotations = meta["annotations"]
    assert annotations[record.COPY_OF] == "web-5d4f-abcde"
    assert annotations[record.ORIGINAL_LABELS] == "{}"
    assert annotations[record.REASON] == "leaks memory"
    assert annotations[record.TICKET] == "INC-7"
    assert annotations[record.HIJACK_MODE] == "copy"
    assert "deployment.kubernetes.io/revision" not in annotations
    assert "nodeName" not in body["spec"] and "ephemeralContainers" not in body["spec"]
    assert "status" not in body
    container = body["spec"]["containers"][0]
    assert container["image"] == "kubesim/web:1"
    assert not set(("livenessProbe", "readinessProbe", "startupProbe")) & set(container)
    # The source is untouched.
    assert source["spec"]["nodeName"] == "kubesim-node-1"
    assert "livenessProbe" in source["spec"]["containers"][0]


def test_copy_overrides_image_command_args_and_env():
    source = make_pod(("sidecar", "app"))
    body = plan.build_copy_pod(source, "c", "app", NOW, "alice", image="kubesim/web:2", command=["sleep"],
                               args=["infinity"], env={"MODE": "debug", "TRACE": 1})
    sidecar, app = body["spec"]["containers"]
    assert sidecar["image"] == "kubesim/web:1" and "command" not in sidecar
    assert app["image"] == "kubesim/web:2"
    assert app["command"] == ["sleep"] and app["args"] == ["infinity"]
    assert app["env"] == [{"name": "MODE", "value": "debug"}, {"name": "TRACE", "value": "1"}]


def test_existing_copy_is_idempotent_or_a_clear_error():
    source = make_pod()
    wanted = plan.build_copy_pod(source, "c", "app", NOW, "alice", image="kubesim/web:2")
    existing = copy.deepcopy(wanted)
    existing["metadata"]["uid"] = "copy-uid"
    existing["spec"]["containers"][0]["terminationMessagePolicy"] = "File"  # a server default
    assert plan.check_existing_copy(existing, wanted, "web-5d4f-abcde") == "same"
    different = plan.build_copy_pod(source, "c", "app", NOW, "alice", image="kubesim/web:3")
    with pytest.raises(HijackError, match="app.image"):
        plan.check_existing_copy(existing, different, "web-5d4f-abcde")
    stranger = make_pod()
    with pytest.raises(HijackError, match="not a pod_hijack copy"):
        plan.check_existing_copy(stranger, wanted, "web-5d4f-abcde")


def test_default_copy_name_fits_the_limit():
    assert plan.default_copy_name("web-1") == "web-1-hijack"
    assert len(plan.default_copy_name("a" * 253)) == 253


@pytest.mark.parametrize("env", [[{"value": "x"}], "A=B", [{"name": "1 bad", "value": "x"}]])
def test_bad_env_is_rejected(env):
    with pytest.raises(HijackError):
        plan.normalize_env(env)


def test_names_are_validated():
    plan.validate_dns_label("triage-debug", "debug_name")
    with pytest.raises(HijackError, match="debug_name 'Bad_Name'"):
        plan.validate_dns_label("Bad_Name", "debug_name")
    plan.validate_pod_name("web.copy-1", "copy_name")
    with pytest.raises(HijackError, match="copy_name"):
        plan.validate_pod_name("-x", "copy_name")
