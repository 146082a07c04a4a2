# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What pod_hijack does against the API server, one function per mode.

Reads, writes and watches go through the kube layer (the ephemeral container's patch through kube/ephemeral.py,
shared with the evidence modules); the request bodies come from hijack/plan.py and the verdicts from
hijack/verdicts.py. Each ``hijack_*`` function returns the module result, or raises HijackError
(a Refused: nothing or only a rolled-back change happened) or PartialFailure (a change happened; its result
says what).

Concurrency: every write carries the resourceVersion that was read (metadata.resourceVersion in a
strategic-merge body gives 409 Conflict when stale). kube/writes.py's write_with_replan then reads the pod
again and makes the plan again (it may now be a no-op) before it retries.

Check mode: only GETs (and no watch) are sent; the plan, the body that would be sent and the diff
are returned.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.hijack import plan
from ansible_collections.triage.k8s.plugins.module_utils.hijack import verdicts as waits
from ansible_collections.triage.k8s.plugins.module_utils.hijack.plan import HijackError
from ansible_collections.triage.k8s.plugins.module_utils.kube.ephemeral import EphemeralRefused, add_ephemeral_container
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import ApiError, Conflict, Forbidden, Invalid
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import PodNotFound, read_pod, read_pod_if_exists
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import (
    KeptChanging,
    create_pod,
    strategic_patch_pod,
    write_with_replan,
)
from ansible_collections.triage.k8s.plugins.module_utils.model import record
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import PartialFailure
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    container_ports,
    container_status,
    ephemeral_container_names,
    find_container,
    pod_ref,
)


def _read(api_client, namespace, name):
    try:
        return read_pod(api_client, namespace, name)
    except PodNotFound as exc:
        raise HijackError(str(exc))


def _strategic_patch(api_client, pod, body):
    """strategic_patch_pod, with the refusals that pod_hijack words itself: which RBAC verb is missing."""
    namespace = pod["metadata"]["namespace"]
    try:
        return strategic_patch_pod(api_client, pod, body)
    except Forbidden as exc:
        raise HijackError(
            "permission denied: patching pods of pod %s needs the RBAC verb 'patch' on the resource 'pods' "
            "(API group \"\") in namespace %s. Server said: %s" % (pod_ref(pod), namespace, exc.server_message()))
    except Invalid as exc:
        raise HijackError("the API server refused the change to pods of pod %s: %s"
                          % (pod_ref(pod), exc.server_message()))


def _write_with_retry(api_client, pod, replan):
    """write_with_replan for one pod already read; a pod deleted meanwhile is a HijackError."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    try:
        return write_with_replan(lambda: _read(api_client, namespace, name), replan,
                                 "hijacking pod %s" % pod_ref(pod), first=pod)
    except KeptChanging as exc:
        raise HijackError(str(exc))


def _watch(result, api_client, namespace, name, pod, verdict, timeout, state=None):
    """watch_pod, with a failure of the watch itself reported together with what was already changed
    (``state``: the words for it, when this run changed something)."""
    try:
        return waits.watch_pod(api_client, namespace, name, pod, verdict, timeout)
    except ApiError as exc:
        raise PartialFailure("could not follow pod %s/%s: %s%s" % (
            namespace, name, exc, (". %s" % state) if state and result.get("changed") else ""), result)


def _base_result(mode, pod):
    return {"changed": False, "mode": mode, "pod": plan.summarize_pod(pod)}


def _failure_text(detail):
    parts = [detail.get("reason") or detail.get("state") or "unknown state"]
    if detail.get("message"):
        parts.append(detail["message"])
    return ": ".join(parts)


# --------------------------------------------------------------------------------------------------
# mode: image


def _prepare_image(pod, params):
    plan.check_hijackable(pod, "image", params["force"])
    container = plan.resolve_container(pod, params["container"])
    return container, find_container(pod, container).get("image")


def hijack_image(api_client, params, check_mode, diff_mode, now, who):
    namespace, name, image = params["namespace"], params["name"], params["image"]
    pod = _read(api_client, namespace, name)
    container, current = _prepare_image(pod, params)
    result = _base_result("image", pod)
    result.update({"container": container, "image": image, "previous_image": current,
                   "ports": container_ports(pod, container),
                   "original_image": plan.read_original_images(pod).get(container, current)})

    if current == image:
        if diff_mode:
            result["diff"] = plan.image_mode_diff(pod, container, image, None)
        if params["wait"] and not check_mode:
            outcome, detail, pod, seconds = _watch(
                result, api_client, namespace, name, pod,
                lambda p: waits.image_verdict(p, container, image, None), params["wait_timeout"])
            result["container_status"] = detail
            result["image_id"] = detail.get("image_id")
            if outcome != waits.DONE:
                raise PartialFailure("container %s of pod %s already has image %s but is not running and ready: %s"
                                     % (container, pod_ref(pod), image, _failure_text(detail)), result)
        return result

    patch = plan.build_image_patch(pod, container, image, now, who)
    result["patch"] = patch
    if diff_mode:
        result["diff"] = plan.image_mode_diff(pod, container, image, patch)
    if check_mode:
        result["changed"] = True
        return result

    def replan(fresh):
        fresh_container, fresh_current = _prepare_image(fresh, params)
        if fresh_current == image:
            return None  # someone else did it meanwhile
        body = plan.build_image_patch(fresh, fresh_container, image, now, who)
        result["patch"] = body
        return lambda p: _strategic_patch(api_client, p, body)

    updated, before = _write_with_retry(api_client, pod, replan)
    if updated is None:
        result["pod"] = plan.summarize_pod(before)
        return result
    result["changed"] = True
    result["pod"] = plan.summarize_pod(updated)
    if not params["wait"]:
        return result

    restarts_before = (container_status(before, container) or {}).get("restartCount")
    generation = (updated.get("metadata") or {}).get("generation")
    outcome, detail, latest, seconds = _watch(
        result, api_client, namespace, name, updated,
        lambda p: waits.image_verdict(p, container, image, restarts_before, generation), params["wait_timeout"],
        state="Container %s of pod %s was switched to image %s (the original stays recorded in %s); a rerun "
              "waits for it again, pod_restore puts the original back" % (
                  container, pod_ref(updated), image, record.ORIGINAL_IMAGES))
    result["container_status"] = detail
    result["elapsed"] = round(seconds, 3)
    result["pod"] = plan.summarize_pod(latest)
    if outcome == waits.DONE:
        result["image_id"] = detail.get("image_id")
        result["restart_count"] = detail.get("restart_count")
        return result

    if outcome == waits.TIMEOUT:
        problem = "did not become ready with image %s within %ss (last state %s)" % (
            image, params["wait_timeout"], _failure_text(detail))
    else:
        problem = "failed with image %s: %s" % (image, _failure_text(detail))
    message = "container %s of pod %s %s" % (container, pod_ref(latest), problem)
    if not params["rollback_on_failure"] or outcome == waits.FAILED and detail.get("reason") == "Deleted":
        raise PartialFailure(message + "; no rollback was done", result)
    result["rollback"], final = _rollback(api_client, latest, before, container, current, params["wait_timeout"])
    result["pod"] = plan.summarize_pod(final)
    rollback = result["rollback"]
    if rollback["outcome"] == waits.DONE:
        message += "; rolled back to %s, which is running and ready again" % current
    else:
        message += "; the rollback to %s did not complete either: %s" % (current, rollback["error"])
    raise PartialFailure(message, result)


def _rollback(api_client, failed_pod, before_pod, container, previous_image, timeout):
    """Put the previous image and annotations back, then wait for that restart too."""
    namespace, name = failed_pod["metadata"]["namespace"], failed_pod["metadata"]["name"]

    def replan(fresh):
        body = plan.build_rollback_patch(fresh, before_pod, container)
        return lambda p: _strategic_patch(api_client, p, body)

    report = {"image": previous_image}
    try:
        updated, _unused = _write_with_retry(api_client, failed_pod, replan)
        outcome, detail, latest, seconds = waits.watch_pod(
            api_client, namespace, name, updated,
            lambda p: waits.image_verdict(p, container, previous_image, None), timeout)
    except (HijackError, ApiError) as exc:
        report.update({"outcome": waits.FAILED, "error": str(exc)})
        return report, failed_pod
    report.update({"outcome": outcome, "elapsed": round(seconds, 3), "image_id": detail.get("image_id"),
                   "container_status": detail})
    if outcome != waits.DONE:
        report["error"] = _failure_text(detail)
    return report, latest


# --------------------------------------------------------------------------------------------------
# mode: debug_container


def hijack_debug_container(api_client, params, check_mode, diff_mode, now, who):
    namespace, name = params["namespace"], params["name"]
    debug_name = plan.validate_dns_label(params["debug_name"], "debug_name")
    pod = _read(api_client, namespace, name)
    plan.check_hijackable(pod, "debug_container", params["force"])
    wanted = plan.build_ephemeral_container(
        debug_name, params["image"], command=params["command"], args=params["args"], env=params["env"],
        target_container=params["target_container"], profile=params["profile"],
        security_context=params["security_context"])
    result = _base_result("debug_container", pod)
    result["debug_container"] = {"name": debug_name, "image": params["image"],
                                 "target_container": params["target_container"]}
    state = plan.check_debug_container(pod, wanted)

    def write_record(fresh):
        body = plan.build_hijack_record_patch(fresh, "debug_container", now, who)
        return lambda p: _strategic_patch(api_client, p, body)

    if diff_mode:
        before = ephemeral_container_names(pod)
        after = before if state == "same" else before + [debug_name]
        result["diff"] = {"before": {"ephemeral_containers": before}, "after": {"ephemeral_containers": after}}
    if state == "absent":
        result["patch"] = plan.build_ephemeral_patch(pod, wanted)
        if check_mode:
            result["changed"] = True
            return result

        def still_needed(fresh):
            plan.check_hijackable(fresh, "debug_container", params["force"])
            return plan.check_debug_container(fresh, wanted) != "same"

        try:
            updated, pod = add_ephemeral_container(api_client, pod, wanted, still_needed,
                                                   "hijacking pod %s" % pod_ref(pod))
        except (EphemeralRefused, KeptChanging, PodNotFound) as exc:
            raise HijackError(str(exc))
        if updated is not None:
            result["changed"] = True
            pod = updated
            # The subresource ignores metadata, so the hijack record is a second, separate write.

            try:
                pod, _unused = _write_with_retry(api_client, pod, write_record)
            except (ApiError, HijackError) as exc:
                result["pod"] = plan.summarize_pod(pod)
                raise PartialFailure(
                    "ephemeral container %s was added to pod %s (it can never be removed), but the hijack record "
                    "could not be written: %s. A rerun writes the record and waits for the container." % (
                        debug_name, pod_ref(pod), exc), result)
    elif check_mode:
        return result
    elif not (pod["metadata"].get("annotations") or {}).get(record.HIJACK_MODE):
        # The container is there but its record is not: a run that failed between the two writes. Finish it.
        updated, _unused = _write_with_retry(api_client, pod, write_record)
        if updated is not None:
            pod, result["changed"] = updated, True
    result["pod"] = plan.summarize_pod(pod)
    if not params["wait"] or check_mode:
        return result
    outcome, detail, latest, seconds = _watch(
        result, api_client, namespace, name, pod, lambda p: waits.ephemeral_verdict(p, debug_name), params["wait_timeout"])
    result["debug_container"].update(detail)
    if result["changed"]:
        result["elapsed"] = round(seconds, 3)
    result["pod"] = plan.summarize_pod(latest)
    if outcome != waits.DONE:
        how = "did not start within %ss" % params["wait_timeout"] if outcome == waits.TIMEOUT else "failed"
        raise PartialFailure(
            "ephemeral container %s in pod %s %s: %s. Ephemeral containers cannot be removed; it stays in the "
            "pod spec" % (debug_name, pod_ref(latest), how, _failure_text(detail)), result)
    return result


# --------------------------------------------------------------------------------------------------
# mode: copy


def hijack_copy(api_client, params, check_mode, diff_mode, now, who):
    namespace, name = params["namespace"], params["name"]
    source = _read(api_client, namespace, name)
    plan.check_hijackable(source, "copy", params["force"])
    container = plan.resolve_container(source, params["container"])
    copy_name = plan.validate_pod_name(params["copy_name"] or plan.default_copy_name(name), "copy_name")
    if copy_name == name:
        raise HijackError("copy_name must differ from the name of the pod being copied (%s)" % name)
    wanted = plan.build_copy_pod(source, copy_name, container, now, who, image=params["image"],
                                 command=params["command"], args=params["args"], env=params["env"])
    result = _base_result("copy", source)
    result.update({"container": container, "copy_pod": {"name": copy_name, "namespace": namespace},
                   "ports": container_ports(source, container)})

    existing = read_pod_if_exists(api_client, namespace, copy_name)
    if existing is not None:
        plan.check_existing_copy(existing, wanted, name)
    if diff_mode:
        result["diff"] = {"before": {}, "after": wanted} if existing is None else {"before": {}, "after": {}}
    if existing is None:
        result["body"] = wanted
        if check_mode:
            result["changed"] = True
            return result
        try:
            existing = create_pod(api_client, namespace, wanted)
            result["changed"] = True
        except Forbidden as exc:
            raise HijackError("permission denied: creating the copy needs the RBAC verb 'create' on the "
                              "resource 'pods' in namespace %s. Server said: %s" % (namespace, exc.server_message()))
        except Invalid as exc:
            raise HijackError("the API server refused the copy %s/%s: %s"
                              % (namespace, copy_name, exc.server_message()))
        except Conflict:
            # Created by a concurrent run meanwhile: fine if it is the same copy.
            existing = read_pod_if_exists(api_client, namespace, copy_name)
            if existing is None:
                raise HijackError("the copy %s/%s was created and deleted concurrently; try again"
                                  % (namespace, copy_name))
            plan.check_existing_copy(existing, wanted, name)
    result["copy_pod"] = plan.summarize_pod(existing)
    if check_mode or not params["wait"]:
        return result
    outcome, detail, latest, seconds = _watch(
        result, api_client, namespace, copy_name, existing, lambda p: waits.copy_verdict(p, container),
        params["wait_timeout"])
    result["copy_pod"] = plan.summarize_pod(latest)
    result["copy_pod"]["container_status"] = detail
    if result["changed"]:
        result["elapsed"] = round(seconds, 3)
    if outcome != waits.DONE:
        how = "did not become ready within %ss" % params["wait_timeout"] if outcome == waits.TIMEOUT else "failed"
        message = "the copy %s/%s %s: %s. It is left for inspection; remove it with " \
                  "triage.k8s.pod_restore state=absent" % (namespace, copy_name, how, _failure_text(detail))
        raise PartialFailure(message, result)
    return result


MODE_HANDLERS = {
    "image": hijack_image,
    "debug_container": hijack_debug_container,
    "copy": hijack_copy,
}


def run(api_client, params, check_mode, diff_mode, now, who):
    """Dispatch on params['mode']; see the module documentation for the contract."""
    return MODE_HANDLERS[params["mode"]](api_client, params, check_mode, diff_mode, now, who)
