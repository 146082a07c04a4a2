"""Job controller through the real client (spec §3, basic): batch/v1 labels, the job-tracking finalizer,
completions and parallelism, counting from pod phases, and release removing the ownerReference and the
finalizer in one patch."""
from __future__ import annotations

FINALIZER = "batch.kubernetes.io/job-tracking"


def job(name="work", image="kubesim/web:v1", run_seconds=None, **spec):
    container = {"name": "work", "image": image}
    if run_seconds is not None:  # kubesim/exit and kubesim/crash finish after this long
        container["env"] = [{"name": "KUBESIM_CRASH_AFTER_SECONDS", "value": str(run_seconds)}]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}, **spec}}


def job_pods(core, ns, name="work"):
    return core.list_namespaced_pod(ns, label_selector=f"batch.kubernetes.io/job-name={name}").items


def condition(job_obj, ctype):
    return next((c for c in job_obj.status.conditions or [] if c.type == ctype and c.status == "True"), None)


def test_job_pods_have_batch_labels_finalizer_and_owner(core, batch, namespace, wait_for):
    created = batch.create_namespaced_job(namespace, job(parallelism=2, completions=4))
    uid = created.metadata.uid
    pods = wait_for(lambda: len(p := job_pods(core, namespace)) == 2 and p)
    for pod in pods:
        labels = pod.metadata.labels
        assert labels["batch.kubernetes.io/controller-uid"] == uid == labels["controller-uid"]
        assert labels["batch.kubernetes.io/job-name"] == "work" == labels["job-name"]
        assert pod.metadata.generate_name == "work-"
        assert FINALIZER in pod.metadata.finalizers
        ref = pod.metadata.owner_references[0]
        assert (ref.kind, ref.name, ref.uid, ref.controller) == ("Job", "work", uid, True)
    wait_for(lambda: batch.read_namespaced_job("work", namespace).status.active == 2)


def test_completions_counted_from_pod_phases(core, batch, namespace, wait_for):
    """Pods that exit 0 (kubesim/exit) are counted once each, their finalizer removed; parallelism 2 until
    3 completions, then the Job is Complete."""
    batch.create_namespaced_job(namespace, job(image="kubesim/exit:v1", run_seconds=0.2, parallelism=2,
                                               completions=3))
    done = wait_for(lambda: condition(j := batch.read_namespaced_job("work", namespace), "Complete") and j,
                    timeout=20)
    assert done.status.succeeded == 3
    assert done.status.completion_time is not None
    assert not done.status.active and not done.status.failed
    pods = job_pods(core, namespace)
    assert len(pods) == 3
    assert all(p.status.phase == "Succeeded" for p in pods)
    wait_for(lambda: all(FINALIZER not in (p.metadata.finalizers or []) for p in job_pods(core, namespace)))
    assert any(e.reason == "Completed" for e in core.list_namespaced_event(namespace).items)


def test_failures_count_and_backoff_limit(core, batch, namespace, wait_for):
    """Pods that exit non-zero (kubesim/crash, restartPolicy Never) count as failed; more than backoffLimit
    failures fail the Job with BackoffLimitExceeded."""
    batch.create_namespaced_job(namespace, job(image="kubesim/crash:v1", run_seconds=0.1, backoffLimit=1))
    failed = wait_for(lambda: condition(j := batch.read_namespaced_job("work", namespace), "Failed") and j,
                      timeout=20)
    assert failed.status.failed == 2
    assert condition(failed, "Failed").reason == "BackoffLimitExceeded"


def test_release_removes_owner_reference_and_finalizer_and_is_not_counted(core, batch, namespace, wait_for):
    """§3 / §1.1: the release patch carries $deleteFromPrimitiveList/finalizers; a replacement is created;
    the released pod's success is never counted."""
    batch.create_namespaced_job(namespace, job(image="kubesim/exit:v1", run_seconds=1.5))
    pod = wait_for(lambda: (p := job_pods(core, namespace)) and p[0])
    core.patch_namespaced_pod(pod.metadata.name, namespace,
                              {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "elsewhere"}}})
    released = wait_for(lambda: not (p := core.read_namespaced_pod(pod.metadata.name, namespace))
                        .metadata.owner_references and p)
    assert FINALIZER not in (released.metadata.finalizers or [])
    wait_for(lambda: any(p.metadata.name != pod.metadata.name and p.metadata.owner_references
                         for p in job_pods(core, namespace)))
    # The released pod finishes first; the Job completes from its own replacement only.
    wait_for(lambda: core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Succeeded")
    done = wait_for(lambda: condition(j := batch.read_namespaced_job("work", namespace), "Complete") and j,
                    timeout=20)
    assert done.status.succeeded == 1


def test_foreground_delete_of_a_job_finishes_without_new_pods(core, batch, namespace, wait_for):
    """syncJob calls manageJob only while `job.DeletionTimestamp == nil`, and trackJobStatusAndRemoveFinalizers
    releases the tracking finalizer of every pod of a Job being deleted: a foreground delete removes the pods,
    creates no replacements, and the Job goes."""
    batch.create_namespaced_job(namespace, job(parallelism=2, completions=10))
    wait_for(lambda: len(job_pods(core, namespace)) == 2)
    batch.delete_namespaced_job("work", namespace, propagation_policy="Foreground")

    def gone():
        try:
            batch.read_namespaced_job("work", namespace)
            return False
        except Exception as e:  # noqa: BLE001 - the 404 ApiException
            return getattr(e, "status", None) == 404
    wait_for(gone, timeout=20)
    assert job_pods(core, namespace) == []
    created = [e for e in core.list_namespaced_event(namespace).items if e.reason == "SuccessfulCreate"]
    assert len(created) == 2  # the two first pods, no replacement for the ones the deletion removed
