"""The kubelet's local-storage eviction (kubelet/eviction.py, eviction_manager.go localStorageEviction): a pod
whose containers' writable layers, or an emptyDir on disk, pass their ephemeral-storage limits is killed and
left Failed with reason Evicted, the kubelet's message, a DisruptionTarget condition and a Warning event."""
from __future__ import annotations

from test_exec import run
from test_jvm_attach import machine_processes_of
from test_kubelet_support import eventually, events_of, pod_manifest, start_pod


def evicted(core, namespace, name):
    def check():
        pod = core.read_namespaced_pod(name, namespace)
        return pod.status.phase == "Failed" and pod.status.reason == "Evicted" and pod
    return eventually(check, timeout=15, message=f"pod {name} evicted")


def test_a_container_over_its_ephemeral_storage_limit_is_evicted(core, namespace):
    manifest = pod_manifest("filler", image="kubesim/java:21")
    manifest["spec"]["containers"][0]["resources"] = {"limits": {"ephemeral-storage": "4Mi"}}
    start_pod(core, namespace, manifest)
    _, _, code, _ = run(core, namespace, "filler", ["dd", "if=/dev/zero", "of=/tmp/fill", "bs=1M", "count=2"])
    assert code == 0
    assert core.read_namespaced_pod("filler", namespace).status.phase == "Running"   # under the limit: kept
    _, _, code, _ = run(core, namespace, "filler", ["dd", "if=/dev/zero", "of=/tmp/more", "bs=1M", "count=3"])
    assert code == 0
    pod = evicted(core, namespace, "filler")
    message = "Pod ephemeral local storage usage exceeds the total limit of containers 4Mi. "
    assert pod.status.message == message
    (target,) = [c for c in pod.status.conditions if c.type == "DisruptionTarget"]
    assert (target.status, target.reason, target.message) == ("True", "TerminationByKubelet", message)
    eventually(lambda: core.read_namespaced_pod("filler", namespace).status.container_statuses[0].state.terminated)
    assert [e.message for e in events_of(core, namespace, "filler") if e.reason == "Evicted"] == [message]
    eventually(lambda: not machine_processes_of("filler"), message="the JVM killed")
    pod = core.read_namespaced_pod("filler", namespace)
    assert pod.status.container_statuses[0].restart_count == 0 and pod.status.phase == "Failed"   # not restarted


def test_an_empty_dir_over_its_size_limit_is_evicted(core, namespace):
    manifest = pod_manifest("scratchy", image="busybox:1.36")
    manifest["spec"]["containers"][0].update(command=["sleep", "3600"],
                                             volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}])
    manifest["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}}]
    start_pod(core, namespace, manifest)
    _, _, code, _ = run(core, namespace, "scratchy", ["dd", "if=/dev/zero", "of=/scratch/f", "bs=1M", "count=2"])
    assert code == 0
    pod = evicted(core, namespace, "scratchy")
    assert pod.status.message == 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". '
