# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Carry out pod_restore: put an isolated pod back into service, delete it, or reap old isolated pods."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import WaitTimeout
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import KeptChanging
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import (
    PodNotFound,
    list_pods,
    read_owner,
    read_pod,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.watch import watch_until
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import (
    create_event,
    delete_pod,
    json_patch_pod,
    strategic_patch_pod,
    write_with_replan,
)
from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import Deadline, PhaseTimer, utc_now
from ansible_collections.triage.k8s.plugins.module_utils.model.images import status_runs_image
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import PartialFailure
from ansible_collections.triage.k8s.plugins.module_utils.model.patches import (
    apply_ops_locally,
    build_image_revert_patch,
    metadata_diff,
    remove_metadata_ops,
    set_metadata_ops,
    with_metadata,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import (
    container_images,
    is_pod_ready,
    owned_by,
    pod_summary,
)
from ansible_collections.triage.k8s.plugins.module_utils.restore.quarantine import merge_released, release_quarantine
from ansible_collections.triage.k8s.plugins.module_utils.restore.plan import (
    DELETION_COST,
    RestoreRefused,
    plan_in_service,
    plan_reap,
)

# A restore writes at most twice (the images, then the labels); more passes mean someone keeps hijacking it.
MAX_PASSES = 3


def warnings_about_images(warnings):
    return any(w.startswith("revert_image=false") for w in warnings)


def _wait_images(api_client, pod, images, deadline):
    """Wait until the kubelet restarted the containers with the original images and the pod is Ready."""
    namespace, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]

    def reverted(current):
        statuses = dict((s["name"], s) for s in (current.get("status") or {}).get("containerStatuses") or [])
        for container, image in images.items():
            status = statuses.get(container) or {}
            # The runtime reports the normalised reference: nginx comes back as docker.io/library/nginx:latest.
            if not status.get("ready") or not status_runs_image(status, image):
                return False
        return is_pod_ready(current)

    def condition(objects):
        current = objects.get(name)
        return current is not None and current["metadata"].get("uid") == uid and reverted(current)

    watch_until(api_client, "api/v1", "pods", namespace, condition, deadline,
                lambda objs: "pod %s has not restarted with image(s) %s and become Ready" % (
                    name, ", ".join("%s=%s" % item for item in sorted(images.items()))),
                field_selector="metadata.name=%s" % name)


def _wait_adoption(api_client, pod, controller, owned_before, desired_replicas, deadline):
    """Wait until the controller adopted the pod and scaled the surplus away; return the removed pod names."""
    namespace, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
    controller_uid = controller["uid"]

    def active_owned(objects):
        return [p for p in objects.values() if owned_by(p, controller_uid) and not p["metadata"].get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]

    def condition(objects):
        current = objects.get(name)
        restored_gone = current is None or current["metadata"].get("uid") != uid or current["metadata"].get(
            "deletionTimestamp")
        if not restored_gone and not owned_by(current, controller_uid):
            return None
        if desired_replicas is not None and len(active_owned(objects)) > desired_replicas:
            return None
        active = set(p["metadata"]["name"] for p in active_owned(objects))
        return {"removed": sorted(n for n in owned_before if n not in active and n != name) +
                ([name] if restored_gone else [])}

    return watch_until(api_client, "api/v1", "pods", namespace, condition, deadline,
                       lambda objs: "%s %s has not adopted pod %s and removed the surplus pod yet" % (
                           controller.get("kind"), controller.get("name"), name))


def _label_ops(pod, plan):
    metadata = pod["metadata"]
    ops = [{"op": "replace" if metadata.get("labels") is not None else "add", "path": "/metadata/labels",
            "value": plan["labels_after"]}]
    ops += remove_metadata_ops(pod, "annotations", plan["remove_annotations"])
    if plan["add_annotations"]:
        kept = dict((k, v) for k, v in (metadata.get("annotations") or {}).items() if k not in plan["remove_annotations"])
        ops += set_metadata_ops(dict(pod, metadata=dict(metadata, annotations=kept)), "annotations",
                                plan["add_annotations"])
    return ops


def restore_in_service(api_client, namespace, name, options, check_mode=False):
    timer = PhaseTimer()
    deadline = Deadline(options["wait_timeout"])
    warnings = []
    reverted_images = {}  # container -> original image put back by this run (the plan is re-made after that)
    state = {}
    released = []  # the network quarantine's policy, deleted just before the labels go back

    def replan(pod):
        state.clear()
        record = undo_record.parse_record(pod)
        if record is None:
            state["done"] = {"changed": bool(reverted_images), "pod": pod_summary(pod),
                             "restore": {"already_in_service": True}, "warnings": warnings, "timings": timer.timings}
            return None
        controller = record.get("controller") or {}
        top = record.get("top_owner") or {}
        replica_set = read_owner(api_client, namespace, controller) if controller.get("kind") == "ReplicaSet" else None
        deployment = read_owner(api_client, namespace, top) if top.get("kind") == "Deployment" else None
        plan = plan_in_service(pod, record, replica_set, deployment, keep_restored=options["keep_restored"],
                               revert_image=options["revert_image"], force=options["force"])
        if plan["forced"]:
            warnings.append("restoring despite: %s" % "; ".join(plan["forced"]))
        if plan["hijacked_images_kept"] and not warnings_about_images(warnings):
            warnings.append("revert_image=false: pod %s goes back into service running the image(s) pod_hijack set "
                            "(%s), and the record of the originals (%s) is removed with the rest" % (
                                name, ", ".join("%s=%s" % (c, i) for c, i in sorted(container_images(pod).items())
                                                if c in plan["hijacked_images_kept"]),
                                ", ".join("%s=%s" % item for item in sorted(plan["hijacked_images_kept"].items()))))
        label_ops = _label_ops(pod, plan)
        timer.mark("plan")
        state.update(plan=plan, controller=controller, replica_set=replica_set)
        if check_mode:
            labels_after, annotations_after = apply_ops_locally(pod, label_ops)
            state["done"] = {"changed": True, "pod": pod_summary(pod), "restore": plan, "warnings": warnings,
                             "diff": metadata_diff(pod, with_metadata(pod, labels_after, annotations_after), name),
                             "timings": timer.timings}
            merge_released(state["done"], [release_quarantine(api_client, pod, check_mode=True)])
            return None
        if plan["revert_images"]:
            # The pod is still out of traffic: restart it with its original images first, then let it back in.
            # The revert patch addresses containers by name and drops triage.k8s/original-images in the same
            # write, so a later run never reverts twice. The label patch drops the rest of the record.
            state["step"] = "images"
            body = build_image_revert_patch(pod, containers=sorted(plan["revert_images"]))
            return lambda current: strategic_patch_pod(api_client, current, body)
        state["step"] = "labels"
        released.append(release_quarantine(api_client, pod))
        if plan["adoption_expected"]:
            pods, _rv = list_pods(api_client, namespace)
            state["owned_before"] = sorted(p["metadata"]["name"] for p in pods if owned_by(p, controller["uid"]))
        return lambda current: json_patch_pod(api_client, current, label_ops)

    for _pass in range(MAX_PASSES):
        pod, before = write_with_replan(lambda: read_pod(api_client, namespace, name), replan,
                                        "restoring pod %s in namespace %s" % (name, namespace))
        if pod is None:
            return state["done"]
        if state["step"] == "labels":
            break
        reverted_images.update(state["plan"]["revert_images"])
        if options["wait"]:
            try:
                _wait_images(api_client, pod, state["plan"]["revert_images"], deadline)
            except WaitTimeout as exc:
                raise PartialFailure(
                    "pod %s did not come back with its original images within wait_timeout: %s" % (name, exc),
                    {"changed": True, "pod": pod_summary(pod), "restore": state["plan"]})
            timer.mark("images_reverted")
    else:
        raise PartialFailure("pod %s in namespace %s had its images changed again after each revert; its labels were "
                             "not restored" % (name, namespace), {"changed": bool(reverted_images)})
    timer.mark("labels_restored")
    plan, controller, replica_set = state["plan"], state["controller"], state["replica_set"]
    removed = None
    plan["reverted_images"] = reverted_images
    result = {"changed": True, "pod": pod_summary(pod), "restore": plan, "warnings": warnings,
              "timings": timer.timings, "diff": metadata_diff(before, pod, name)}
    merge_released(result, released)
    if options["wait"] and plan["adoption_expected"]:
        desired = (replica_set or {}).get("spec", {}).get("replicas") if replica_set else None
        try:
            outcome = _wait_adoption(api_client, pod, controller, state.get("owned_before") or [], desired, deadline)
        except WaitTimeout as exc:
            raise PartialFailure("pod %s has its labels back but the controller did not settle within wait_timeout: %s"
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
    def replan(pod):
        ops = remove_metadata_ops(pod, "annotations", [DELETION_COST])
        return (lambda current: json_patch_pod(api_client, current, ops)) if ops else None

    try:
        write_with_replan(lambda: read_pod(api_client, namespace, name), replan,
                          "removing the %s annotation from pod %s" % (DELETION_COST, name))
    except PodNotFound:
        return
    except KeptChanging:
        warnings.append("could not remove the %s annotation from pod %s" % (DELETION_COST, name))


def _wait_gone(api_client, pod, deadline):
    namespace, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
    watch_until(api_client, "api/v1", "pods", namespace,
                lambda objs: name not in objs or objs[name]["metadata"].get("uid") != uid, deadline,
                lambda objs: "pod %s is still terminating" % name, field_selector="metadata.name=%s" % name)


def _deletion_diff(name, summary):
    return {"before": {"pod": name, "labels": summary["labels"]}, "after": {},
            "before_header": "pod %s" % name, "after_header": "pod %s (deleted)" % name}


def delete_isolated(api_client, namespace, name, options, check_mode=False, deadline=None, timer=None):
    """Delete exactly one pod, only when it is marked isolated (unless force). Never touches any other object."""
    timer = timer or PhaseTimer()
    deadline = deadline or Deadline(options["wait_timeout"])
    warnings = []
    state = {}

    def read():
        try:
            return read_pod(api_client, namespace, name)
        except PodNotFound as exc:
            # Gone already (deleted by an earlier run, or by someone else): nothing left to do.
            state["gone"] = str(exc)
            return {}

    def replan(pod):
        state.pop("done", None)
        if not pod:
            return None
        if not undo_record.is_marked(pod):
            if not options["force"]:
                raise RestoreRefused(
                    "refusing to delete pod %s in namespace %s: it does not carry the %s=true label, so it was not "
                    "isolated by triage.k8s. Nothing was deleted; force: true deletes it anyway." % (
                        name, namespace, undo_record.ISOLATED_LABEL))
            if not any(w.endswith("deleting it because force is set") for w in warnings):
                warnings.append("pod %s is not isolated; deleting it because force is set" % name)
        if pod["metadata"].get("deletionTimestamp"):
            if options["wait"] and not check_mode:
                _wait_gone(api_client, pod, deadline)
            state["done"] = {"changed": False, "deleted": [], "pod": pod_summary(pod), "message": "already terminating",
                             "warnings": warnings, "timings": timer.timings}
            return None
        if check_mode:
            summary = pod_summary(pod)
            state["done"] = merge_released({"changed": True, "deleted": [name], "pod": summary, "warnings": warnings,
                                            "timings": timer.timings, "diff": _deletion_diff(name, summary)},
                                           [release_quarantine(api_client, pod, check_mode=True)])
            return None
        return lambda current: delete_pod(api_client, current, grace_period=options["grace_period"]) or current

    written, pod = write_with_replan(read, replan, "deleting pod %s in namespace %s" % (name, namespace))
    if written is None:
        if "done" in state:
            return state["done"]
        return {"changed": False, "deleted": [], "message": state["gone"], "timings": timer.timings}
    summary = pod_summary(pod)
    # Only after the delete was accepted: a refused delete (403, 409 retried) must not leave a "Deleted"
    # Event behind, nor one Event per attempt. An Event may name a pod that is terminating or gone.
    event_warning = create_event(api_client, pod, "Deleted", "Deleted by triage.k8s after isolation%s" % (
        " (forced)" if not undo_record.is_marked(pod) else ""))
    timer.mark("delete_%s" % name)
    if event_warning:
        warnings.append(event_warning)
    if options["wait"]:
        try:
            _wait_gone(api_client, pod, deadline)
        except WaitTimeout as exc:
            raise PartialFailure("pod %s was deleted but is still terminating after wait_timeout: %s" % (name, exc),
                                 {"changed": True, "deleted": [name], "pod": summary})
        timer.mark("gone_%s" % name)
    result = {"changed": True, "deleted": [name], "pod": summary, "warnings": warnings, "timings": timer.timings,
              "diff": _deletion_diff(name, summary)}
    if options["wait"]:
        # Only once the pod is gone: a terminating pod still runs, and must stay quarantined until it stops.
        return merge_released(result, [release_quarantine(api_client, pod)])
    if undo_record.network_quarantine(pod):
        warnings.append("the network quarantine policy of pod %s stays until the pod is gone (wait=false); the "
                        "cluster's garbage collector then deletes it through its ownerReference" % name)
    return result


def reap(api_client, namespace, older_than_seconds, options, check_mode=False):
    """Delete the isolated pods of the namespace isolated longer ago than older_than_seconds, oldest first."""
    timer = PhaseTimer()
    deadline = Deadline(options["wait_timeout"])
    pods, _rv = list_pods(api_client, namespace, "%s=true" % undo_record.ISOLATED_LABEL)
    to_delete, skipped = plan_reap(pods, utc_now(), older_than_seconds, options["max_pods"])
    timer.mark("plan")
    deleted, warnings = [], []
    if skipped:
        warnings.append("not deleted: %s" % ", ".join("%s (%s)" % (s["name"], s["reason"]) for s in skipped))
    for pod in to_delete:
        outcome = delete_isolated(api_client, namespace, pod["metadata"]["name"], dict(options, force=False),
                                  check_mode=check_mode, deadline=deadline, timer=timer)
        deleted.extend(outcome.get("deleted") or [])
        warnings.extend(outcome.get("warnings") or [])
    return {"changed": bool(deleted), "deleted": deleted, "not_deleted": skipped, "warnings": warnings,
            "timings": timer.timings}
