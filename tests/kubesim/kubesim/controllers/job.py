"""Job controller (pkg/controller/job/job_controller.go), spec §3, the basic parts.

Pods carry the batch/v1 labels (`batch.kubernetes.io/controller-uid`, `batch.kubernetes.io/job-name`, and the
legacy `controller-uid`, `job-name`) and the `batch.kubernetes.io/job-tracking` finalizer. Finished pods are
counted through status.uncountedTerminatedPods, then their finalizer is removed, then they move to
succeeded/failed, so a pod is counted exactly once. Release removes the ownerReference and the finalizer in one
patch (§1.1), and a released pod's outcome is never counted. Active pods are kept at
min(parallelism, remaining completions); the Job completes at `completions` successes and fails after
backoffLimit failures. Indexed completion mode and pod failure policies are not emulated.
"""
from __future__ import annotations

import copy

from kubesim.controllers.base import (Controller, RefManager, controller_ref, format_time, is_being_deleted,
                                      is_not_found, is_pod_ready, meta, new_controller_ref, ordered_status,
                                      pod_from_template, pod_phase, selector_matches)
from kubesim.errors import ApiError

JOB = "jobs.batch"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"


def job_selector(job: dict) -> dict:
    """spec.selector, or the one the API server generates from the job's UID when it is missing."""
    selector = (job.get("spec") or {}).get("selector")
    if selector:
        return selector
    return {"matchLabels": {CONTROLLER_UID: meta(job)["uid"]}}


def _condition(status: dict, ctype: str) -> dict | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == ctype), None)


class JobController(Controller):
    name = "job-controller"
    kind = "Job"
    api_version = "batch/v1"

    def initial_keys(self):
        return [(meta(j)["namespace"], meta(j)["name"]) for j in self.store.list(JOB)]

    def on_event(self, ev) -> None:
        key = ev.rtype.key
        if key == JOB:
            self.enqueue((meta(ev.obj)["namespace"], meta(ev.obj)["name"]))
        elif key == "pods":
            self.enqueue_pod_owners(ev, JOB, job_selector)

    def sync(self, key):
        ns, name = key
        job = self.store.get(JOB, ns, name)
        if job is None:
            return None
        uid = meta(job)["uid"]
        selector = job_selector(job)
        candidates = [p for p in self.store.list("pods", ns) if (controller_ref(p) or {}).get("uid", uid) == uid]
        manager = RefManager(self, job, JOB, self.api_version, self.kind, "pods",
                             match=lambda p: selector_matches(selector, meta(p).get("labels")),
                             finalizers=[TRACKING_FINALIZER])
        pods = manager.claim(candidates)
        status = copy.deepcopy(job.get("status") or {})
        finished = _condition(status, "Complete") or _condition(status, "Failed")
        if finished and finished.get("status") == "True":
            # A finished job only finishes its accounting: strip finalizers of terminated pods.
            self.track_finished(job, pods, status)
            return None
        if not status.get("startTime") and not (job.get("spec") or {}).get("suspend"):
            status["startTime"] = format_time()
        status = self.track_finished(job, pods, status)
        if is_being_deleted(job):
            # syncJob calls manageJob only when `job.DeletionTimestamp == nil`: a Job being deleted (a foreground
            # delete waits for its pods) gets no new pods and no deletions; track_finished has released the
            # tracking finalizers so the garbage collector can remove the pods.
            self.write_status(job, status, [p for p in pods if pod_phase(p) not in ("Succeeded", "Failed")
                                            and not is_being_deleted(p)], pods)
            return None
        spec = job.get("spec") or {}
        succeeded = int(status.get("succeeded") or 0)
        failed = int(status.get("failed") or 0)
        active = [p for p in pods if pod_phase(p) not in ("Succeeded", "Failed") and not is_being_deleted(p)]
        completions = spec.get("completions")
        parallelism = 1 if spec.get("parallelism") is None else int(spec["parallelism"])
        backoff_limit = 6 if spec.get("backoffLimit") is None else int(spec["backoffLimit"])
        stamp = format_time()
        conditions = list(status.get("conditions") or [])
        error = None
        if failed > backoff_limit:
            for pod in active:
                self._delete(job, pod)
            conditions.append({"type": "Failed", "status": "True", "lastProbeTime": stamp,
                               "lastTransitionTime": stamp, "reason": "BackoffLimitExceeded",
                               "message": "Job has reached the specified backoff limit"})
            self.record(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit", type="Warning")
            active = []
        elif (completions is not None and succeeded >= int(completions)) or \
                (completions is None and succeeded > 0 and not active):
            conditions.append({"type": "Complete", "status": "True", "lastProbeTime": stamp,
                               "lastTransitionTime": stamp, "reason": "", "message": ""})
            status["completionTime"] = stamp
            self.record(job, "Completed", "Job completed")
        elif not spec.get("suspend"):
            if completions is None:
                want = parallelism if succeeded == 0 else 0
            else:
                want = min(parallelism, int(completions) - succeeded)
            try:
                active = self.manage(job, active, want)
            except ApiError as err:
                error = err
        status["conditions"] = conditions
        self.write_status(job, status, active, pods)
        if error is not None:
            raise error
        return None

    def manage(self, job: dict, active: list[dict], want: int) -> list[dict]:
        if len(active) > want:
            surplus = sorted(active, key=lambda p: (is_pod_ready(p), meta(p).get("creationTimestamp") or ""))
            for pod in surplus[: len(active) - want]:
                self._delete(job, pod)
            return surplus[len(active) - want:]
        created = list(active)
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        # The API server puts these on the template when it generates the selector; keep them even if not.
        if not (job.get("spec") or {}).get("manualSelector"):
            labels.setdefault(CONTROLLER_UID, meta(job)["uid"])
            labels.setdefault(JOB_NAME, meta(job)["name"])
            labels.setdefault(LEGACY_CONTROLLER_UID, meta(job)["uid"])
            labels.setdefault(LEGACY_JOB_NAME, meta(job)["name"])
        finalizers = template["metadata"].setdefault("finalizers", [])
        if TRACKING_FINALIZER not in finalizers:
            finalizers.append(TRACKING_FINALIZER)
        ref = new_controller_ref(job, self.api_version, self.kind)
        for _ in range(want - len(active)):
            body = pod_from_template(template, job, ref)
            try:
                pod = self.api.create("pods", meta(job)["namespace"], body, user=self.user)
            except ApiError as err:
                self.record(job, "FailedCreate", f"Error creating: {err}", type="Warning")
                raise
            self.record(job, "SuccessfulCreate", f"Created pod: {meta(pod)['name']}")
            created.append(pod)
        return created

    def _delete(self, job: dict, pod: dict) -> None:
        try:
            self.api.delete("pods", meta(pod)["namespace"], meta(pod)["name"], user=self.user)
        except ApiError as err:
            if not is_not_found(err):
                raise
            return
        self.record(job, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}")

    def track_finished(self, job: dict, pods: list[dict], status: dict) -> dict:
        """trackJobStatusAndRemoveFinalizers: record finished pods' UIDs as uncounted, remove their finalizer,
        then move the uncounted UIDs whose finalizer is gone into succeeded/failed."""
        uncounted = status.get("uncountedTerminatedPods") or {}
        pending_ok = set(uncounted.get("succeeded") or [])
        pending_failed = set(uncounted.get("failed") or [])
        deleting = is_being_deleted(job)
        release: set = set()
        newly = False
        for pod in pods:
            uid = meta(pod)["uid"]
            if TRACKING_FINALIZER not in (meta(pod).get("finalizers") or []):
                continue
            if deleting:
                release.add(uid)  # trackJobStatusAndRemoveFinalizers: every pod of a Job being deleted
            phase = pod_phase(pod)
            if phase == "Succeeded" and uid not in pending_ok:
                pending_ok.add(uid)
                newly = True
            elif phase == "Failed" and uid not in pending_failed:
                pending_failed.add(uid)
                newly = True
        if newly:
            status["uncountedTerminatedPods"] = {k: sorted(v) for k, v in
                                                 (("succeeded", pending_ok), ("failed", pending_failed)) if v}
            self._put_status(job, status)
        for pod in pods:
            if meta(pod)["uid"] in pending_ok | pending_failed | release and \
                    TRACKING_FINALIZER in (meta(pod).get("finalizers") or []):
                try:
                    self.api.patch("pods", meta(pod)["namespace"], meta(pod)["name"],
                                   {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}},
                                   "strategic", user=self.user)
                except ApiError as err:
                    if not is_not_found(err):
                        raise
        if pending_ok or pending_failed:
            status["succeeded"] = int(status.get("succeeded") or 0) + len(pending_ok)
            status["failed"] = int(status.get("failed") or 0) + len(pending_failed)
            status["uncountedTerminatedPods"] = {}
        return status

    def write_status(self, job: dict, status: dict, active: list[dict], pods: list[dict]) -> None:
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_pod_ready(p))
        status["terminating"] = sum(1 for p in pods if is_being_deleted(p))
        self._put_status(job, status)

    def _put_status(self, job: dict, status: dict) -> None:
        cur = self.store.get(JOB, meta(job)["namespace"], meta(job)["name"])
        if cur is None:
            return
        ordered = ordered_status([
            ("conditions", status.get("conditions")),
            ("startTime", status.get("startTime")),
            ("completionTime", status.get("completionTime")),
            ("active", status.get("active", 0)),
            ("succeeded", status.get("succeeded", 0)),
            ("failed", status.get("failed", 0)),
            ("terminating", status.get("terminating", 0)),
            ("uncountedTerminatedPods", status.get("uncountedTerminatedPods") or {}),
            ("ready", status.get("ready", 0)),
        ], keep_zero=("uncountedTerminatedPods", "ready", "terminating"))
        if ordered == (cur.get("status") or {}):
            return
        body = copy.deepcopy(cur)
        body["status"] = ordered
        try:
            self.api.update(JOB, meta(job)["namespace"], meta(job)["name"], body, subresource="status",
                            user=self.user)
        except ApiError as err:
            if not is_not_found(err):
                raise
