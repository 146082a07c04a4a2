"""kubesim/java's JVM tools as pod_dump uses them (images.py): heap figures, heap dump options, jmap, several
JVMs. Each test execs the tools in a real kubesim/java container."""
from __future__ import annotations

import gzip

from test_exec import run
from test_kubelet_support import pod_manifest, start_pod

MIB = 1024 * 1024


def java(core, namespace, name="java", tag="21", **env):
    start_pod(core, namespace, pod_manifest(name, image="kubesim/java:" + tag, env=env))
    return name


def help_options(core, namespace, pod):
    out, _, code, _ = run(core, namespace, pod, ["jcmd", "1", "help", "GC.heap_dump"])
    assert code == 0
    return [line.split(":")[0].strip() for line in out.split("Options:")[1].splitlines()[1:]]


def test_heap_info_and_vm_flags_report_the_configured_heap(core, namespace):
    pod = java(core, namespace, KUBESIM_HEAP_USED_BYTES=str(300 * MIB), KUBESIM_HEAP_MAX_BYTES=str(1024 * MIB))
    out, _, code, _ = run(core, namespace, pod, ["jcmd", "1", "GC.heap_info"])
    assert code == 0
    assert out.startswith("1:\n garbage-first heap   total 1048576K, used 307200K [")
    out, _, code, _ = run(core, namespace, pod, ["jcmd", "1", "VM.flags"])
    assert code == 0 and "-XX:MaxHeapSize=%d " % (1024 * MIB) in out


def test_heap_dump_help_lists_the_options_of_the_tags_jdk(core, namespace):
    """The tag is the JDK (eclipse-temurin's tags start with the major): -gz came with 15, -overwrite with 17,
    -parallel with 22, GC.heap_info with 9; a JVM refuses an option it does not have."""
    assert help_options(core, namespace, java(core, namespace)) == ["-all", "-gz", "-overwrite"]
    assert help_options(core, namespace, java(core, namespace, "j25", "25-jdk-noble")) == \
        ["-all", "-gz", "-overwrite", "-parallel"]
    old = java(core, namespace, "j11", "11")
    assert help_options(core, namespace, old) == ["-all"]
    out, _, code, _ = run(core, namespace, old, ["jcmd", "1", "VM.version"])
    assert code == 0 and "version 11.0.25+9-LTS\nJDK 11.0.25" in out
    out, _, code, _ = run(core, namespace, old, ["jcmd", "1", "GC.heap_dump", "-gz=1", "/tmp/h.hprof.gz"])
    assert code == 1 and "Unknown argument '-gz'" in out
    out, _, code, _ = run(core, namespace, old, ["jmap", "-dump:live,format=b,gz=1,file=/tmp/j.hprof", "1"])
    data, _, _, _ = run(core, namespace, old, ["head", "-c", "18", "/tmp/j.hprof"], binary=True)
    assert code == 0 and data == b"JAVA PROFILE 1.0.2"   # jmap's gz= is read from JDK 17 on: a raw dump
    eight = java(core, namespace, "j8", "8u432-b06-jdk")
    out, _, code, _ = run(core, namespace, eight, ["jcmd", "1", "VM.version"])
    assert code == 0 and "version 25.432-b06\nJDK 8.0_432" in out
    _, _, code, _ = run(core, namespace, eight, ["jcmd", "1", "GC.heap_info"])
    assert code == 1


def test_gz_dump_is_gzip_of_an_hprof_and_overwrite_is_needed_for_an_existing_file(core, namespace):
    pod = java(core, namespace, KUBESIM_HEAP_DUMP_BYTES="2000000")
    out, _, code, _ = run(core, namespace, pod, ["jcmd", "1", "GC.heap_dump", "-all", "-gz=1", "/tmp/h.hprof.gz"])
    assert code == 0, out
    reported = int(out.split("Heap dump file created [")[1].split(" ")[0])
    data, _, code, _ = run(core, namespace, pod, ["cat", "/tmp/h.hprof.gz"], binary=True)
    assert code == 0 and len(data) == reported < 2000000
    raw = gzip.decompress(data)
    assert len(raw) == 2000000 and raw.startswith(b"JAVA PROFILE 1.0.2\0")
    out, _, code, _ = run(core, namespace, pod, ["jcmd", "1", "GC.heap_dump", "-gz=1", "/tmp/h.hprof.gz"])
    assert code == 1 and "File exists" in out
    out, _, code, _ = run(core, namespace, pod, ["jcmd", "1", "GC.heap_dump", "-overwrite", "/tmp/h.hprof.gz"])
    assert code == 0 and "[2000000 bytes" in out
    _, _, code, _ = run(core, namespace, pod, ["jcmd", "1", "GC.heap_dump", "-gz=12", "/tmp/x.gz"])
    assert code == 1


def test_jmap_dump_and_several_jvms(core, namespace):
    pod = java(core, namespace, KUBESIM_JVMS="1=/app/app.jar,7=com.example.Batch", KUBESIM_HEAP_DUMP_BYTES="1000")
    out, _, code, _ = run(core, namespace, pod, ["jcmd", "-l"])
    assert code == 0
    assert [line for line in out.splitlines() if "JCmd" not in line] == ["1 /app/app.jar", "7 com.example.Batch"]
    out, _, code, _ = run(core, namespace, pod, ["jmap", "-dump:live,format=b,file=/tmp/j.hprof", "7"])
    assert code == 0 and "Heap dump file created [1000 bytes" in out
    _, _, code, _ = run(core, namespace, pod, ["jcmd", "3", "Thread.print"])
    assert code == 1


def test_a_full_disk_gives_an_incomplete_dump(core, namespace):
    manifest = pod_manifest("small", image="kubesim/java:21", env={"KUBESIM_HEAP_DUMP_BYTES": str(8 * MIB)})
    manifest["spec"]["volumes"] = [{"name": "dumps", "emptyDir": {"medium": "Memory", "sizeLimit": "2Mi"}}]
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "dumps", "mountPath": "/dumps"}]
    start_pod(core, namespace, manifest)
    out, _, code, _ = run(core, namespace, "small", ["jcmd", "1", "GC.heap_dump", "/dumps/h.hprof"])
    assert code == 1 and "Dump file is incomplete" in out
