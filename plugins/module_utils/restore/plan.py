# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure decisions of pod_restore: may the pod go back into service, what to patch, which pods to reap.

Putting the original labels back makes the old ReplicaSet adopt the pod and, in the same sync, delete one
surplus pod. The ReplicaSet controller ranks the pods to delete: unassigned before assigned, pending before
running, not ready before ready, then a lower controller.kubernetes.io/pod-deletion-cost first. A higher cost
keeps the restored pod, provided it is Ready like the others. If the Deployment rolled to a new template since
the isolation, the old ReplicaSet is scaled to zero: it would adopt the pod and delete it at once, so the
restore is refused.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.model import record as undo_record
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import parse_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.model.images import images_equivalent
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import container_images

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
KEEP_COST = "2147483647"  # int32 max: deleted last among Ready pods
REVISION = "deployment.kubernetes.io/revision"


class RestoreRefused(Refused):
    """Restoring would do harm (or cannot be done); the message explains and names the override."""


def rollout_since_isolation(record, replica_set, deployment):
    """A reason string when the workload rolled to a new template since isolation, else None."""
    controller = record.get("controller") or {}
    if controller.get("kind") != "ReplicaSet":
        return None
    if replica_set is None:
        return "ReplicaSet %s (uid %s) that owned the pod no longer exists" % (
            controller.get("name"), controller.get("uid"))
    if deployment is None:
        return None
    deploy_replicas = int((deployment.get("spec") or {}).get("replicas", 1) or 0)
    rs_replicas = int((replica_set.get("spec") or {}).get("replicas", 0) or 0)
    rs_revision = ((replica_set.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    deploy_revision = ((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    if rs_revision and deploy_revision and rs_revision != deploy_revision:
        return "Deployment %s is at revision %s but ReplicaSet %s is revision %s" % (
            deployment["metadata"]["name"], deploy_revision, replica_set["metadata"]["name"], rs_revision)
    if deploy_replicas > 0 and rs_replicas == 0:
        return "ReplicaSet %s of Deployment %s is scaled to 0 (the Deployment rolled to a new template)" % (
            replica_set["metadata"]["name"], deployment["metadata"]["name"])
    return None


def plan_in_service(pod, record, replica_set, deployment, keep_restored=True, revert_image=True, force=False):
    """The restore plan: labels to set, annotations to remove/add, images to revert, what the controller does."""
    name = pod["metadata"]["name"]
    copy_of = undo_record.copy_source(pod)
    if copy_of:
        # force does not help: a copy never served, has no controller and no labels of its own to go back to.
        raise RestoreRefused("pod %s is a copy of pod %s made by triage.k8s.pod_hijack (mode=copy): it never served "
                             "traffic and has no service to return to. Delete it with state=absent; to put the "
                             "original back, restore pod %s" % (name, copy_of, copy_of))
    if pod["metadata"].get("deletionTimestamp"):
        # A terminating pod can never serve again, and the ReplicaSet does not adopt pods being deleted, so the
        # adoption wait would only run into wait_timeout.
        raise RestoreRefused("pod %s is terminating (deletion requested at %s), so it cannot go back into service; "
                             "nothing was changed" % (name, pod["metadata"]["deletionTimestamp"]))
    if record.get("original_labels") is None:
        raise RestoreRefused("pod %s has no %s annotation, so its original labels are unknown; restore them by hand"
                             % (name, undo_record.ORIGINAL_LABELS))
    problems = []
    rolled = rollout_since_isolation(record, replica_set, deployment)
    if rolled:
        problems.append("%s: the old ReplicaSet would adopt the pod and delete it at once. Delete the pod instead "
                        "(state=absent)" % rolled)
    controller = record.get("controller") or {}
    if controller and controller.get("kind") != "ReplicaSet" and controller.get("kind") != "DaemonSet":
        problems.append("the pod was released from %s %s; putting it back makes that controller adopt it again "
                        "(and a StatefulSet cannot have two pods of one ordinal)" % (
                            controller.get("kind"), controller.get("name")))
    if problems and not force:
        raise RestoreRefused("refusing to put pod %s back into service: %s. Nothing was changed; force: true "
                             "overrides." % (name, "; ".join(problems)))
    metadata = pod["metadata"]
    annotations = metadata.get("annotations") or {}
    current_labels = metadata.get("labels") or {}
    labels_after = dict(record["original_labels"])
    # Keep labels added after the isolation that are not ours (someone's debugging marker, say).
    for key, value in current_labels.items():
        if not key.startswith(undo_record.PREFIX) and key not in labels_after and key not in _changed_keys(record):
            labels_after[key] = value
    remove_annotations = sorted(k for k in annotations if k.startswith(undo_record.PREFIX))
    add_annotations = {}
    adoption_expected = controller.get("kind") in ("ReplicaSet", "DaemonSet") and replica_set is not None
    cost_added = False
    if keep_restored and adoption_expected and DELETION_COST not in annotations:
        add_annotations[DELETION_COST] = KEEP_COST
        cost_added = True
    images = {}
    if record.get("original_images"):
        current = container_images(pod)
        for container, image in sorted(record["original_images"].items()):
            if container not in current:
                raise RestoreRefused("the record wants container %s of pod %s set back to %s, but the pod has no "
                                     "such container (it has %s)" % (container, name, image, ", ".join(sorted(current))))
            if not images_equivalent(image, current[container]):
                images[container] = image
    return {
        "labels_before": dict(current_labels),
        "labels_after": labels_after,
        "remove_annotations": remove_annotations,
        "add_annotations": add_annotations,
        "deletion_cost_added": cost_added,
        "revert_images": images if revert_image else {},
        # revert_image=false puts the hijacked image into service; the caller warns about it.
        "hijacked_images_kept": {} if revert_image else images,
        "adoption_expected": adoption_expected,
        "controller": controller or None,
        "forced": problems if force else [],
    }


def _changed_keys(record):
    """Keys whose value the isolation rewrote (present in the original labels)."""
    return set((record.get("original_labels") or {}).keys())


def plan_reap(pods, now, older_than_seconds, max_pods):
    """(to_delete, skipped) among marked pods isolated more than older_than_seconds ago, oldest first.

    At most max_pods are returned; the rest are reported in skipped with the reason.
    """
    candidates, skipped = [], []
    for pod in pods:
        if not undo_record.is_marked(pod):
            continue
        name = pod["metadata"]["name"]
        if pod["metadata"].get("deletionTimestamp"):
            skipped.append({"name": name, "reason": "already terminating"})
            continue
        annotations = pod["metadata"].get("annotations") or {}
        stamp = annotations.get(undo_record.ISOLATED_AT)
        try:
            isolated_at = parse_rfc3339(stamp)
        except (TypeError, ValueError):
            skipped.append({"name": name, "reason": "no readable %s annotation (%r)" % (undo_record.ISOLATED_AT, stamp)})
            continue
        age = (now - isolated_at).total_seconds()
        if age >= older_than_seconds:
            candidates.append((isolated_at, name, pod))
    candidates.sort(key=lambda item: (item[0], item[1]))
    to_delete = [pod for _at, _name, pod in candidates[:max_pods]]
    for _at, name, _pod in candidates[max_pods:]:
        skipped.append({"name": name, "reason": "over the max_pods cap"})
    return to_delete, skipped
