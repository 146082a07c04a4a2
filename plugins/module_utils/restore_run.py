# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry out pod_restore: put an isolated pod back into service, delete it, or reap old isolated pods."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils import undo_record
from ansible_collections.triage.k8s.plugins.module_utils.cluster_view import (
    PodNotFound,
    list_pods,
    pod_summary,
    read_owner,
    read_pod,
)
from ansible_collections.triage.k8s.plugins.module_utils.durations import utc_now
from ansible_collections.triage.k8s.plugins.module_utils.isolation_plan import is_pod_ready
from ansible_collections.triage.k8s.plugins.module_utils.pod_writes import (
    MAX_CONFLICT_RETRIES,
    StaleRead,
    apply_ops_locally,
    create_event,
    delete_pod,
    patch_pod,
    remove_metadata_ops,
    set_metadata_ops,
    strategic_patch_pod,
)
from ansible_collections.triage.k8s.plugins.module_utils.hijack_plan import build_image_revert_patch
from ansible_collections.triage.k8s.plugins.module_utils.restore_plan import (
    DELETION_COST,
    RestoreRefused,
    plan_in_service,
    plan_reap,
)
from ansible_collections.triage.k8s.plugins.module_utils.waiting import Deadline, PhaseTimer, WaitTimeout, wait_until


class RestoreFailed(Exception):
    def __init__(self, message, partial):
        Exception.__init__(self, message)
        self.partial = partial


def _owned_by(pod, uid):
    return any(ref.get("uid") == uid for ref in (pod.get("metadata") or {}).get("ownerReferences") or [])


def warnings_about_images(warnings):
    return any(w.startswith("revert_image=false") for w in warnings)


def _current_images(pod):
    return dict((c["name"], c.get("image")) for c in (pod.get("spec") or {}).get("containers") or [])


def _diff(before_labels, before_annotations, after_labels, after_annotations, name):
    return {"before": {"labels": before_labels, "annotations": before_annotations},
            "after": {"labels": after_labels, "annotations": after_annotations},
            "before_header": "pod %s" % name, "after_header": "pod %s" % name}


def _wait_images(api_client, pod, images, deadline):
    """Wait until the kubelet restarted the containers with the original images and the pod is Ready (§5.2)."""
    namespace, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]

    def reverted(current):
        statuses = dict((s["name"], s) for s in (current.get("status") or {}).get("containerStatuses") or [])
        for container, image in images.items():
            status = statuses.get(container) or {}
            reported = status.get("image") or ""
            if not status.get("ready") or not (reported == image or reported.endswith("/" + image)):
                return False
        return is_pod_ready(current)

    def condition(objects):
        current = objects.get(name)
        return current is not None and current["metadata"].get("uid") == uid and reverted(current)

    wait_until(api_client, "api/v1", "pods", namespace, condition, deadline,
               lambda objs: "pod %s has not restarted with image(s) %s and become Ready" % (
                   name, ", ".join("%s=%s" % item for item in sorted(images.items()))),
               field_selector="metadata.name=%s" % name)


def _wait_adoption(api_client, pod, controller, owned_before, desired_replicas, deadline):
    """Wait until the controller adopted the pod and scaled the surplus away; return the removed pod names."""
    namespace, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
    controller_uid = controller["uid"]

    def active_owned(objects):
        return [p for p in objects.values() if _owned_by(p, controller_uid) and not p["metadata"].get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]

    def condition(objects):
        current = objects.get(name)
        restored_gone = current is None or current["metadata"].get("uid") != uid or current["metadata"].get(
            "deletionTimestamp")
        if not restored_gone and not _owned_by(current, controller_uid):
            return None
        if desired_replicas is not None and len(active_owned(objects)) > desired_replicas:
            return None
        active = set(p["metadata"]["name"] for p in active_owned(objects))
        return {"removed": sorted(n for n in owned_before if n not in active and n != name) +
                ([name] if restored_gone else [])}

    return wait_until(api_client, "api/v1", "pods", namespace, condition, deadline,
                      lambda objs: "%s %s has not adopted pod %s and removed the surplus pod yet" % (
                          controller.get("kind"), controller.get("name"), name))


def restore_in_service(api_client, namespace, name, options, check_mode=False):
    timer = PhaseTimer()
    deadline = Deadline(options.get("wait_timeout", 300))
    warnings = []
    images_reverted = False
    reverted_images = {}  # container -> original image put back by this run (the plan is re-made after that)
    for _attempt in range(MAX_CONFLICT_RETRIES):
        pod = read_pod(api_client, namespace, name)
        record = undo_record.parse_record(pod)
        if record is None:
            return {"changed": images_reverted, "pod": pod_summary(pod), "restore": {"already_in_service": True},
                    "warnings": warnings, "timings": timer.timings}
        controller = record.get("controller") or {}
        top = record.get("top_owner") or {}
        replica_set = read_owner(api_client, namespace, controller) if controller.get("kind") == "ReplicaSet" else None
        deployment = read_owner(api_client, namespace, top) if top.get("kind") == "Deployment" else None
        plan = plan_in_service(pod, record, replica_set, deployment, keep_restored=options.get("keep_restored", True),
                               revert_image=options.get("revert_image", True), force=options.get("force", False))
        if plan["forced"]:
            warnings.append("restoring despite: %s" % "; ".join(plan["forced"]))
        if plan["hijacked_images_kept"] and not warnings_about_images(warnings):
            warnings.append("revert_image=false: pod %s goes back into service running the image(s) pod_hijack set "
                            "(%s), and the record of the originals (%s) is removed with the rest" % (
                                name, ", ".join("%s=%s" % (c, i) for c, i in sorted(_current_images(pod).items())
                                                if c in plan["hijacked_images_kept"]),
                                ", ".join("%s=%s" % item for item in sorted(plan["hijacked_images_kept"].items()))))
        metadata = pod["metadata"]
        label_ops = [{"op": "replace" if metadata.get("labels") is not None else "add", "path": "/metadata/labels",
                      "value": plan["labels_after"]}]
        label_ops += remove_metadata_ops(pod, "annotations", plan["remove_annotations"])
        label_ops += set_metadata_ops(dict(pod, metadata=dict(metadata, annotations=dict(
            (k, v) for k, v in (metadata.get("annotations") or {}).items() if k not in plan["remove_annotations"])
        )), "annotations", plan["add_annotations"]) if plan["add_annotations"] else []
        timer.mark("plan")
        if check_mode:
            labels_after, annotations_after = apply_ops_locally(pod, label_ops)
            return {"changed": True, "pod": pod_summary(pod), "restore": plan, "warnings": warnings,
                    "diff": _diff(dict(metadata.get("labels") or {}), dict(metadata.get("annotations") or {}),
                                  labels_after, annotations_after, name), "timings": timer.timings}
        try:
            if plan["revert_images"]:
                # The pod is still out of traffic: restart it with its original images first, then let it back in.
                # pod_hijack's own revert patch: containers by name, and triage.k8s/original-images dropped in the
                # same write, so a later run never reverts twice. The label patch below drops the rest of the
                # triage.k8s/ keys (hijacked-at/by/mode and the isolation record).
                pod = strategic_patch_pod(api_client, pod, build_image_revert_patch(
                    pod, containers=sorted(plan["revert_images"])))
                images_reverted = True
                reverted_images.update(plan["revert_images"])
                if options.get("wait", True):
                    _wait_images(api_client, pod, plan["revert_images"], deadline)
                    timer.mark("images_reverted")
                continue  # re-read: the kubelet changed the status, and the labels are patched from a fresh read
            owned_before = []
            if plan["adoption_expected"]:
                pods, _rv = list_pods(api_client, namespace)
                owned_before = sorted(p["metadata"]["name"] for p in pods if _owned_by(p, controller["uid"]))
            before = pod
            pod = patch_pod(api_client, pod, label_ops)
        except StaleRead:
            continue
        except WaitTimeout as exc:
            raise RestoreFailed("pod %s did not come back with its original images within wait_timeout: %s" % (name, exc),
                                {"changed": True, "pod": pod_summary(pod), "restore": plan})
        timer.mark("labels_restored")
        break
    else:
        raise RestoreFailed("pod %s kept changing under us; gave up after %d attempts" % (name, MAX_CONFLICT_RETRIES),
                            {"changed": images_reverted})
    removed = None
    plan["reverted_images"] = reverted_images
    result = {"changed": True, "pod": pod_summary(pod), "restore": plan, "warnings": warnings,
              "timings": timer.timings,
              "diff": _diff(dict(before["metadata"].get("labels") or {}),
                            dict(before["metadata"].get("annotations") or {}),
                            dict(pod["metadata"].get("labels") or {}), dict(pod["metadata"].get("annotations") or {}),
                            name)}
    if options.get("wait", True) and plan["adoption_expected"]:
        desired = (replica_set or {}).get("spec", {}).get("replicas") if replica_set else None
        try:
            outcome = _wait_adoption(api_client, pod, controller, owned_before, desired, deadline)
        except WaitTimeout as exc:
            raise RestoreFailed("pod %s has its labels back but the controller did not settle within wait_timeout: %s"
                                % (name, exc), result)
        timer.mark("adopted")
        removed = outcome["removed"]
        result["removed_pods"] = removed
        if name in removed:
            warnings.append("the controller removed the restored pod %s itself" % name)
        elif plan["deletion_cost_added"]:
            _drop_deletion_cost(api_client, namespace, name, warnings)
    event_warning = create_event(api_client, pod, "Restored", "Restored into service by triage.k8s%s" % (
        "; controller removed %s" % ", ".join(removed) if removed else ""))
    if event_warning:
        warnings.append(event_warning)
    result["pod"] = pod_summary(pod)
    return result


def _drop_deletion_cost(api_client, namespace, name, warnings):
    """The deletion cost only had to steer this one scale-down; leave the pod as the controller made it."""
    for _attempt in range(MAX_CONFLICT_RETRIES):
        try:
            pod = read_pod(api_client, namespace, name)
            patch_pod(api_client, pod, remove_metadata_ops(pod, "annotations", [DELETION_COST]))
            return
        except StaleRead:
            continue
        except PodNotFound:
            return
    warnings.append("could not remove the %s annotation from pod %s" % (DELETION_COST, name))


def _wait_gone(api_client, pod, deadline):
    namespace, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
    wait_until(api_client, "api/v1", "pods", namespace,
               lambda objs: name not in objs or objs[name]["metadata"].get("uid") != uid, deadline,
               lambda objs: "pod %s is still terminating" % name, field_selector="metadata.name=%s" % name)


def delete_isolated(api_client, namespace, name, options, check_mode=False, deadline=None, timer=None):
    """Delete exactly one pod, only when it is marked isolated (unless force). Never touches any other object."""
    timer = timer or PhaseTimer()
    deadline = deadline or Deadline(options.get("wait_timeout", 300))
    warnings = []
    for _attempt in range(MAX_CONFLICT_RETRIES):
        try:
            pod = read_pod(api_client, namespace, name)
        except PodNotFound as exc:
            return {"changed": False, "deleted": [], "message": str(exc), "timings": timer.timings}
        if not undo_record.is_marked(pod):
            if not options.get("force"):
                raise RestoreRefused(
                    "refusing to delete pod %s in namespace %s: it does not carry the %s=true label, so it was not "
                    "isolated by triage.k8s. Nothing was deleted; force: true deletes it anyway." % (
                        name, namespace, undo_record.ISOLATED_LABEL))
            warnings.append("pod %s is not isolated; deleting it because force is set" % name)
        if pod["metadata"].get("deletionTimestamp"):
            if options.get("wait", True) and not check_mode:
                _wait_gone(api_client, pod, deadline)
            return {"changed": False, "deleted": [], "pod": pod_summary(pod), "message": "already terminating",
                    "warnings": warnings, "timings": timer.timings}
        summary = pod_summary(pod)
        if check_mode:
            return {"changed": True, "deleted": [name], "pod": summary, "warnings": warnings, "timings": timer.timings,
                    "diff": {"before": {"pod": name, "labels": summary["labels"]}, "after": {},
                             "before_header": "pod %s" % name, "after_header": "pod %s (deleted)" % name}}
        try:
            delete_pod(api_client, pod, grace_period=options.get("grace_period"))
        except StaleRead:
            continue
        # Only after the delete was accepted: a refused delete (403, 409 retried) must not leave a "Deleted"
        # Event behind, nor one Event per attempt. An Event may name a pod that is terminating or gone.
        event_warning = create_event(api_client, pod, "Deleted", "Deleted by triage.k8s after isolation%s" % (
            " (forced)" if not undo_record.is_marked(pod) else ""))
        timer.mark("delete_%s" % name)
        break
    else:
        raise RestoreFailed("pod %s kept changing; gave up deleting it" % name, {"changed": False})
    if event_warning:
        warnings.append(event_warning)
    if options.get("wait", True):
        try:
            _wait_gone(api_client, pod, deadline)
        except WaitTimeout as exc:
            raise RestoreFailed("pod %s was deleted but is still terminating after wait_timeout: %s" % (name, exc),
                                {"changed": True, "deleted": [name], "pod": summary})
        timer.mark("gone_%s" % name)
    return {"changed": True, "deleted": [name], "pod": summary, "warnings": warnings, "timings": timer.timings,
            "diff": {"before": {"pod": name, "labels": summary["labels"]}, "after": {},
                     "before_header": "pod %s" % name, "after_header": "pod %s (deleted)" % name}}


def reap(api_client, namespace, older_than_seconds, options, check_mode=False):
    """Delete the isolated pods of the namespace isolated longer ago than older_than_seconds, oldest first."""
    timer = PhaseTimer()
    deadline = Deadline(options.get("wait_timeout", 300))
    pods, _rv = list_pods(api_client, namespace, "%s=true" % undo_record.ISOLATED_LABEL)
    to_delete, skipped = plan_reap(pods, utc_now(), older_than_seconds, options.get("max_pods", 1))
    timer.mark("plan")
    deleted, warnings = [], []
    if skipped:
        warnings.append("not deleted: %s" % ", ".join("%s (%s)" % (s["name"], s["reason"]) for s in skipped))
    for pod in to_delete:
        outcome = delete_isolated(api_client, namespace, pod["metadata"]["name"], dict(options, force=False),
                                  check_mode=check_mode, deadline=deadline, timer=timer)
        deleted.extend(outcome.get("deleted") or [])
        warnings.extend(outcome.get("warnings") or [])
    return {"changed": bool(deleted), "deleted": deleted, "skipped": skipped, "warnings": warnings,
            "timings": timer.timings}
