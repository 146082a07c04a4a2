"""kubesim/java running out of memory on request (/kubesim/oom): the seed-004 failure, as a real JVM with
-XX:+ExitOnOutOfMemoryError shows it to the API: a 500, the trace in the log, exit code 3, a restart."""
import pytest
from kubernetes.client.exceptions import ApiException
from test_kubelet_support import eventually, is_ready, pod_manifest, start_pod


def ask_for_oom(core, namespace, name):
    """GET /kubesim/oom through the pod proxy; the ApiException the 500 raises."""
    with pytest.raises(ApiException) as answer:
        core.connect_get_namespaced_pod_proxy_with_path(name + ":8080", namespace, "kubesim/oom")
    return answer.value


def restarted(core, namespace, name):
    pod = core.read_namespaced_pod(name, namespace)
    status = (pod.status.container_statuses or [None])[0]
    if status is None or status.restart_count < 1 or not is_ready(pod):
        return None
    return status


def test_oom_request_logs_the_trace_exits_3_and_the_kubelet_restarts_it(core, namespace):
    start_pod(core, namespace, pod_manifest("leaky", image="kubesim/java:21"))
    answer = ask_for_oom(core, namespace, "leaky")
    assert answer.status == 500 and "OutOfMemoryError" in answer.body
    status = eventually(lambda: restarted(core, namespace, "leaky"), timeout=15, message="the JVM restarted")
    assert status.last_state.terminated.exit_code == 3
    previous = core.read_namespaced_pod_log("leaky", namespace, previous=True)
    assert "java.lang.OutOfMemoryError: unable to create native thread" in previous
    assert "Terminating due to java.lang.OutOfMemoryError" in previous
    assert "OutOfMemoryError" not in core.read_namespaced_pod_log("leaky", namespace)
    assert core.connect_get_namespaced_pod_proxy_with_path("leaky:8080", namespace, "healthz") == "ok\n"


def test_without_exit_on_oom_the_jvm_keeps_running(core, namespace):
    start_pod(core, namespace, pod_manifest("stubborn", image="kubesim/java:21", env={"KUBESIM_EXIT_ON_OOM": "false"}))
    assert ask_for_oom(core, namespace, "stubborn").status == 500
    log = eventually(lambda: (lambda text: text if "OutOfMemoryError" in text else None)(
        core.read_namespaced_pod_log("stubborn", namespace)), message="the trace in the log")
    assert "Terminating" not in log
    pod = core.read_namespaced_pod("stubborn", namespace)
    assert pod.status.container_statuses[0].restart_count == 0 and is_ready(pod)
