"""Kubelet container lifecycle: image change restarts in place, image pull failures, crash loops, ephemeral
containers (spec §5.2, §5.3)."""
from __future__ import annotations

from kubernetes import watch

from test_kubelet_support import condition, eventually, events_of, is_ready, pod_manifest, start_pod


def swap_image(core, namespace, name, image):
    """What `triage.k8s` hijack does: a strategic-merge patch of the container image (§5.1)."""
    return core.patch_namespaced_pod(name, namespace, {"spec": {"containers": [{"name": "app", "image": image}]}})


def test_image_change_restarts_the_container_in_place(core, namespace):
    """§5.2: same pod, UID, IP and node; restartCount+1; lastState.terminated; new containerID and imageID;
    Ready briefly False then True again; Killing/Pulling/Pulled/Created/Started events."""
    before = start_pod(core, namespace, pod_manifest("swap", image="kubesim/web:v1"))
    old = before.status.container_statuses[0]
    ready_before = condition(before, "Ready").last_transition_time

    w = watch.Watch()
    readiness = []
    swap_image(core, namespace, "swap", "kubesim/web:v2")
    for event in w.stream(core.list_namespaced_pod, namespace, field_selector="metadata.name=swap",
                          resource_version=before.metadata.resource_version, timeout_seconds=10):
        pod = event["object"]
        cs = pod.status.container_statuses[0]
        readiness.append((cs.image, is_ready(pod)))
        if cs.image.endswith("web:v2") and is_ready(pod):
            w.stop()
    assert ("docker.io/kubesim/web:v2", False) in readiness, readiness
    assert readiness[-1] == ("docker.io/kubesim/web:v2", True), readiness

    after = core.read_namespaced_pod("swap", namespace)
    new = after.status.container_statuses[0]
    assert after.metadata.uid == before.metadata.uid
    assert after.status.pod_ip == before.status.pod_ip
    assert after.spec.node_name == before.spec.node_name
    assert after.status.phase == "Running"
    assert new.restart_count == old.restart_count + 1
    assert new.container_id != old.container_id
    assert new.image == "docker.io/kubesim/web:v2"
    assert new.image_id.startswith("docker.io/kubesim/web@sha256:") and new.image_id != old.image_id
    term = new.last_state.terminated
    assert term.container_id == old.container_id and term.exit_code == 0 and term.reason == "Completed"
    assert condition(after, "Ready").last_transition_time >= ready_before

    reasons = [e.reason for e in events_of(core, namespace, "swap")]
    killing = [e for e in events_of(core, namespace, "swap") if e.reason == "Killing"]
    assert killing and killing[0].message == "Container app definition changed, will be restarted"
    assert killing[0].involved_object.field_path == "spec.containers{app}"
    for reason in ("Pulling", "Pulled", "Created", "Started"):
        assert reason in reasons

    # The image ID is a function of the reference: swapping back gives the first ID again.
    swap_image(core, namespace, "swap", "kubesim/web:v1")
    back = eventually(lambda: (p := core.read_namespaced_pod("swap", namespace)) and
                      p.status.container_statuses[0].restart_count == 2 and is_ready(p) and p)
    assert back.status.container_statuses[0].image_id == old.image_id


def test_the_web_server_reports_the_new_tag_after_a_swap(core, namespace, k8s):
    start_pod(core, namespace, pod_manifest("tagged", image="kubesim/web:blue"))
    assert "tag=blue" in core.connect_get_namespaced_pod_proxy("tagged", namespace)
    swap_image(core, namespace, "tagged", "kubesim/web:green")
    eventually(lambda: (p := core.read_namespaced_pod("tagged", namespace)) and
               p.status.container_statuses[0].restart_count == 1 and is_ready(p))
    assert "tag=green" in core.connect_get_namespaced_pod_proxy("tagged", namespace)


def test_swap_to_an_unpullable_image_gives_image_pull_backoff_with_phase_running(core, namespace):
    """§5.2: `.invalid` registry -> ErrImagePull then ImagePullBackOff; the phase stays Running (a waiting
    container with a lastTerminationState counts as stopped), Ready False, restartCount unchanged."""
    start_pod(core, namespace, pod_manifest("bad-swap"))
    swap_image(core, namespace, "bad-swap", "registry.invalid/app:1")
    seen = set()

    def backoff():
        pod = core.read_namespaced_pod("bad-swap", namespace)
        waiting = pod.status.container_statuses[0].state.waiting
        if waiting:
            seen.add(waiting.reason)
        return waiting is not None and waiting.reason == "ImagePullBackOff" and pod
    pod = eventually(backoff)
    cs = pod.status.container_statuses[0]
    assert pod.status.phase == "Running"
    assert not is_ready(pod) and cs.ready is False
    assert cs.restart_count == 0
    assert cs.last_state.terminated is not None
    assert cs.image == "registry.invalid/app:1" and cs.image_id == ""
    assert 'Back-off pulling image "registry.invalid/app:1"' in cs.state.waiting.message
    events = events_of(core, namespace, "bad-swap")
    assert any(e.reason == "Failed" and e.message == "Error: ErrImagePull" for e in events)
    assert any(e.reason == "Failed" and e.message.startswith('Failed to pull image "registry.invalid/app:1"')
               for e in events)
    assert any(e.reason == "BackOff" and e.message == 'Back-off pulling image "registry.invalid/app:1"'
               for e in events)

    # Restoring the image recovers the same pod (what `triage.k8s` restore relies on).
    swap_image(core, namespace, "bad-swap", "kubesim/web:v1")
    pod = eventually(lambda: (p := core.read_namespaced_pod("bad-swap", namespace)) and is_ready(p) and p)
    assert pod.status.container_statuses[0].restart_count == 1


def test_new_pod_with_an_unpullable_image_stays_pending(core, namespace):
    core.create_namespaced_pod(namespace, pod_manifest("never", image="registry.invalid/app:1"))
    pod = eventually(lambda: (p := core.read_namespaced_pod("never", namespace)) and p.status.container_statuses
                     and p.status.container_statuses[0].state.waiting
                     and p.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff" and p)
    assert pod.status.phase == "Pending"
    assert pod.status.pod_ip  # the sandbox (and its IP) exists even though the image does not


def test_crash_image_gives_crash_loop_backoff_and_previous_logs(core, namespace):
    """§5.2: the crash image exits non-zero; the first restart is immediate, then CrashLoopBackOff with the
    kubelet's back-off message; `logs --previous` shows the crashed run."""
    core.create_namespaced_pod(namespace, pod_manifest("crasher", image="kubesim/crash:v1"))

    def crash_looping():
        pod = core.read_namespaced_pod("crasher", namespace)
        cs = (pod.status.container_statuses or [None])[0]
        return cs and cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff" and pod
    pod = eventually(crash_looping)
    cs = pod.status.container_statuses[0]
    assert pod.status.phase == "Running"
    assert cs.restart_count >= 1
    assert cs.last_state.terminated.exit_code == 1 and cs.last_state.terminated.reason == "Error"
    assert cs.state.waiting.message.startswith("back-off 10s restarting failed container=app pod=crasher_"
                                               f"{namespace}(")
    previous = core.read_namespaced_pod_log("crasher", namespace, previous=True)
    assert "fatal: cannot connect to database" in previous
    assert any(e.reason == "BackOff" and e.type == "Warning" for e in events_of(core, namespace, "crasher"))


def test_ephemeral_container_starts_and_reports_status(core, namespace):
    """§5.3: a debug container added through the ephemeralcontainers subresource (SMP by name) runs and is
    reported in status.ephemeralContainerStatuses; the pod is not restarted."""
    before = start_pod(core, namespace, pod_manifest("debugged"))
    body = {"spec": {"ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36", "command": ["sh"],
                                              "stdin": True, "tty": True, "targetContainerName": "app"}]}}
    core.patch_namespaced_pod_ephemeralcontainers("debugged", namespace, body)

    def running():
        pod = core.read_namespaced_pod("debugged", namespace)
        statuses = pod.status.ephemeral_container_statuses or []
        return statuses and statuses[0].state.running and pod
    pod = eventually(running)
    (ecs,) = pod.status.ephemeral_container_statuses
    assert ecs.name == "debugger" and ecs.image == "docker.io/library/busybox:1.36"
    assert ecs.container_id.startswith("containerd://")
    assert pod.status.container_statuses[0].restart_count == 0
    assert pod.status.container_statuses[0].container_id == before.status.container_statuses[0].container_id
    assert pod.metadata.uid == before.metadata.uid and is_ready(pod)


def test_init_containers_complete_before_the_app_starts(core, namespace):
    """getPhase / Initialized: init containers run to completion first (initContainerStatuses terminated,
    Completed); one that cannot start keeps the pod Pending, Initialized False, the app PodInitializing."""
    ok = pod_manifest("init-ok")
    ok["spec"]["initContainers"] = [{"name": "setup", "image": "busybox:1.36", "command": ["true"]}]
    pod = start_pod(core, namespace, ok)
    (ics,) = pod.status.init_container_statuses
    assert ics.state.terminated.exit_code == 0 and ics.state.terminated.reason == "Completed"
    assert condition(pod, "Initialized").status == "True"

    stuck = pod_manifest("init-stuck")
    stuck["spec"]["initContainers"] = [{"name": "setup", "image": "registry.invalid/setup:1"}]
    core.create_namespaced_pod(namespace, stuck)
    pod = eventually(lambda: (p := core.read_namespaced_pod("init-stuck", namespace)).status.init_container_statuses
                     and p.status.init_container_statuses[0].state.waiting
                     and p.status.init_container_statuses[0].state.waiting.reason == "ImagePullBackOff" and p)
    assert pod.status.phase == "Pending"
    init = condition(pod, "Initialized")
    assert init.status == "False" and init.message == "containers with incomplete status: [setup]"
    assert pod.status.container_statuses[0].state.waiting.reason == "PodInitializing"
