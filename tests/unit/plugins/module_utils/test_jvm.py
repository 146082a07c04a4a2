# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""evidence/jvm.py against outputs in the shapes the JDK prints them.

The shapes follow HotSpot's print code (openjdk/jdk: services/diagnosticCommand.cpp for VM.version and the
DCmd help, gc/g1/g1CollectedHeap.cpp, gc/parallel/psYoungGen.cpp, gc/serial/defNewGeneration.cpp,
gc/z/zHeap.cpp, gc/shenandoah/shenandoahHeap.cpp print_on for GC.heap_info, services/heapDumper.cpp for the
dump report) and the jcmd launcher (sun.tools.jcmd.JCmd); the JDK version of each sample is in its name or comment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence.jvm import (
    GIB,
    KIB,
    MIB,
    RESERVE_BYTES,
    JvmError,
    build_gzip,
    build_heap_dump,
    build_sigquit,
    build_thread_dump,
    choose_jvm,
    decide_free_space,
    decide_post_compress,
    jvms_from_processes,
    main_class,
    parse_dcmd_list,
    parse_dcmd_options,
    parse_df,
    parse_heap_dump_result,
    parse_heap_info,
    parse_jcmd_list,
    parse_max_heap,
    parse_perf_counters,
    parse_proc_cmdline,
    parse_ps,
    parse_vm_version,
    summarize_thread_dump,
    verify_jvm,
)

# --- jcmd -l -----------------------------------------------------------------------------------------------------

JCMD_L_JDK17 = """1 org.springframework.boot.loader.JarLauncher --server.port=8080
245 jdk.jcmd/sun.tools.jcmd.JCmd -l
"""
JCMD_L_JDK8 = """1 /app/service.jar
98 sun.tools.jcmd.JCmd -l
"""
JCMD_L_TWO = """1 com.example.orders.Main
57 /opt/agent/sidecar.jar --mode=watch
301 jdk.jcmd/sun.tools.jcmd.JCmd -l
"""


def test_jcmd_l_lists_the_jvms_without_jcmd_itself():
    assert parse_jcmd_list(JCMD_L_JDK17) == [
        {"pid": 1, "main": "org.springframework.boot.loader.JarLauncher --server.port=8080", "source": "jcmd"}]
    assert [jvm["pid"] for jvm in parse_jcmd_list(JCMD_L_JDK8)] == [1]
    assert [jvm["pid"] for jvm in parse_jcmd_list(JCMD_L_TWO)] == [1, 57]


def test_jcmd_l_with_unreadable_perf_data_and_empty_output():
    assert parse_jcmd_list("1 -- process information unavailable\n")[0]["main"] == ""
    # JDK-8327114: from a debug container where pid == ns_pid, some JDKs' jcmd -l lists nothing.
    assert parse_jcmd_list("") == []


def test_jcmd_l_error_is_not_a_list_but_an_argument_may_say_anything():
    with pytest.raises(JvmError, match="Permission denied"):
        parse_jcmd_list("Exception: /tmp/hsperfdata_app: Permission denied\n")
    assert parse_jcmd_list('1 com.example.Main "-Dmotd=Exception in thread"\n')[0]["pid"] == 1


# --- process tables ----------------------------------------------------------------------------------------------

PS_PROCPS = """    PID COMMAND
      1 /opt/java/openjdk/bin/java -Xmx512m -XX:+UseG1GC -cp /app/classes:/app/libs/* com.example.Main --port 8080
     57 /bin/sh
     63 ps -eo pid,args
"""
PS_BUSYBOX = """PID   USER     TIME  COMMAND
    1 app       0:12 java -jar /app/service.jar --spring.profiles.active=prod
   14 app       0:00 sh
   20 app       0:00 ps
"""


def test_ps_from_procps_and_busybox():
    procps = parse_ps(PS_PROCPS)
    assert [process["pid"] for process in procps] == [1, 57, 63]
    assert procps[0]["argv"][0] == "/opt/java/openjdk/bin/java"
    busybox = parse_ps(PS_BUSYBOX)
    assert busybox[0] == {"pid": 1, "argv": ["java", "-jar", "/app/service.jar", "--spring.profiles.active=prod"]}
    with pytest.raises(JvmError):
        parse_ps("sh: ps: not found\n")


def test_jvms_from_a_process_table_and_proc_cmdlines():
    assert jvms_from_processes(parse_ps(PS_PROCPS)) == [
        {"pid": 1, "main": "com.example.Main --port 8080", "source": "process table"}]
    assert jvms_from_processes(parse_ps(PS_BUSYBOX))[0]["main"] == "/app/service.jar --spring.profiles.active=prod"
    argv = parse_proc_cmdline(b"/usr/lib/jvm/java-17/bin/java\0-Xmx1g\0-m\0app/com.example.App\0")
    # A process that calls itself java but whose /proc/PID/exe is something else is not listed.
    processes = [{"pid": 7, "argv": argv}, {"pid": 9, "argv": ["java"], "exe": "/usr/local/bin/node"},
                 {"pid": 11, "argv": ["/opt/jdk/bin/java", "-cp", "x", "jdk.jcmd/sun.tools.jcmd.JCmd", "-l"]}]
    assert jvms_from_processes(processes) == [{"pid": 7, "main": "app/com.example.App", "source": "process table"}]


@pytest.mark.parametrize("argv, expected", [
    (["java", "-jar", "app.jar", "--x"], "app.jar --x"),
    (["java", "-Xmx1g", "-cp", "a:b", "com.Main", "arg"], "com.Main arg"),
    (["java", "--module-path", "mods", "--module", "m/com.Main"], "m/com.Main"),
    (["java", "-version"], ""),
])
def test_main_class(argv, expected):
    assert main_class(argv) == expected


def test_verify_jvm_needs_proof_not_a_name():
    maps = ("7f3a1c000000-7f3a1d5e0000 r-xp 00000000 08:01 1234  /opt/java/openjdk/lib/server/libjvm.so\n"
            "7f3a1e000000-7f3a1e021000 r-xp 00000000 08:01 99    /lib/x86_64-linux-gnu/libc.so.6\n")
    assert verify_jvm(maps=maps)[0]
    assert verify_jvm(exe="/opt/java/openjdk/bin/java")[0]
    assert not verify_jvm(exe="/app/server")[0]  # a Go binary: SIGQUIT would kill it
    assert not verify_jvm(exe="/opt/java/openjdk/bin/java (deleted)")[0]
    assert not verify_jvm()[0]
    refused = verify_jvm(exe="/usr/bin/java", argv=["java", "-Xrs", "-jar", "app.jar"])
    assert not refused[0] and "-Xrs" in refused[1]


def test_sigquit_only_for_a_verified_jvm():
    assert build_sigquit(1, verify_jvm(exe="/usr/bin/java")) == ["kill", "-QUIT", "1"]
    with pytest.raises(JvmError, match="not sending SIGQUIT to pid 1"):
        build_sigquit(1, verify_jvm(exe="/app/server"))


# --- choosing the pid --------------------------------------------------------------------------------------------

def test_one_jvm_is_chosen_several_are_listed_in_the_error():
    assert choose_jvm(parse_jcmd_list(JCMD_L_JDK17))["pid"] == 1
    with pytest.raises(JvmError) as caught:
        choose_jvm(parse_jcmd_list(JCMD_L_TWO))
    assert "2 JVMs" in str(caught.value)
    assert "1 (com.example.orders.Main)" in str(caught.value) and "57 (/opt/agent/sidecar.jar" in str(caught.value)
    assert [jvm["pid"] for jvm in caught.value.candidates] == [1, 57]
    assert choose_jvm(parse_jcmd_list(JCMD_L_TWO), pid="57")["pid"] == 57
    with pytest.raises(JvmError, match="pid 99 is not a JVM"):
        choose_jvm(parse_jcmd_list(JCMD_L_TWO), pid=99)
    with pytest.raises(JvmError, match="no JVM found"):
        choose_jvm([])


# --- VM.version and help -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, major, jdk", [
    ("1:\nOpenJDK 64-Bit Server VM version 17.0.9+9\nJDK 17.0.9\n", 17, "17.0.9"),          # Temurin 17
    ("1:\nOpenJDK 64-Bit Server VM version 11.0.20.1+1\nJDK 11.0.20.1\n", 11, "11.0.20.1"),  # patch release
    ("1:\nOpenJDK 64-Bit Server VM version 25.392-b08\nJDK 8.0_392\n", 8, "8.0_392"),      # JDK 8: VM 25.x
    ("1:\nJava HotSpot(TM) 64-Bit Server VM version 21.0.2+13-LTS-58\nJDK 21.0.2\n", 21, "21.0.2"),
])
def test_vm_version(text, major, jdk):
    version = parse_vm_version(text)
    assert version["major"] == major and version["jdk"] == jdk and not version["openj9"]


def test_vm_version_openj9_and_failures():
    assert parse_vm_version("1:\nEclipse OpenJ9 VM version openj9-0.41.0\n")["openj9"]
    attach_failure = ("1:\ncom.sun.tools.attach.AttachNotSupportedException: Unable to open socket file "
                      "/proc/1/root/tmp/.java_pid1: target process 1 doesn't respond within 10500ms or HotSpot VM "
                      "not loaded\n\tat jdk.attach/sun.tools.attach.VirtualMachineImpl.<init>(VirtualMachineImpl.java:100)\n")
    with pytest.raises(JvmError, match="doesn't respond within 10500ms"):
        parse_vm_version(attach_failure)
    with pytest.raises(JvmError):
        parse_vm_version("sh: jcmd: not found\n")


HELP_HEAP_DUMP_JDK17 = """1:
GC.heap_dump
Generate a HPROF format dump of the Java heap.

Impact: High: Depends on Java heap size and content. Request a full GC unless the '-all' option is specified.

Permission: java.lang.management.ManagementPermission(monitor)

Syntax : GC.heap_dump [options] <filename>

Arguments:
\tfilename :  Name of the dump file (STRING, no default value)

Options: (options must be specified using the <key> or <key>=<value> syntax)
\t-all : [optional] Dump all objects, including unreachable objects (BOOLEAN, false)
\t-gz : [optional] If specified, the heap dump is written in gzipped format using the given compression level. \
1 (recommended) is the fastest, 9 the strongest compression. (INT, 1)
\t-overwrite : [optional] If specified, the dump file will be overwritten if it exists (BOOLEAN, false)
"""
HELP_HEAP_DUMP_JDK8 = """1:
GC.heap_dump
Generate a HPROF format dump of the Java heap.

Impact: High: Depends on Java heap size and content. Request a full GC unless the '-all' option is specified.

Syntax : GC.heap_dump [options] <filename>

Arguments:
\tfilename :  Name of the dump file (STRING, no default value)

Options: (options must be specified using the <key> or <key>=<value> syntax)
\t-all : [optional] Dump all objects, including unreachable objects (BOOLEAN, false)
"""
HELP_LIST_JDK8 = """1:
The following commands are available:
JFR.stop
GC.class_histogram
GC.heap_dump
Thread.print
VM.version
PerfCounter.print
help

For more information about a specific command use 'help <command>'.
"""


def test_dcmd_help():
    assert parse_dcmd_options(HELP_HEAP_DUMP_JDK17) == {"-all", "-gz", "-overwrite"}
    assert parse_dcmd_options(HELP_HEAP_DUMP_JDK8) == {"-all"}  # "filename" is an argument, not an option
    commands = parse_dcmd_list(HELP_LIST_JDK8)
    assert "GC.heap_dump" in commands and "GC.heap_info" not in commands and "help" in commands


# --- GC.heap_info ------------------------------------------------------------------------------------------------

HEAP_INFO = {
    "G1 JDK 17": ("""7:
 garbage-first heap   total 262144K, used 21367K [0x00000000f0000000, 0x0000000100000000)
  region size 1024K, 18 young (18432K), 2 survivors (2048K)
 Metaspace       used 14865K, committed 15104K, reserved 1064960K
  class space    used 1759K, committed 1856K, reserved 1048576K
""", "G1", 21367 * KIB),
    "G1 newer mainline (total reserved/committed)": ("""7:
 garbage-first heap   total reserved 4194304K, committed 262144K, used 21367K [0x0000000700000000, \
0x0000000800000000)
  region size 2048K, 11 young (22528K), 1 survivors (2048K)
 Metaspace       used 1125K, committed 1344K, reserved 1114112K
  class space    used 91K, committed 192K, reserved 1048576K
""", "G1", 21367 * KIB),
    "Parallel JDK 11": ("""7:
 PSYoungGen      total 76288K, used 7864K [0x000000076ab00000, 0x0000000770000000, 0x00000007c0000000)
  eden space 65536K, 12% used [0x000000076ab00000,0x000000076b2ae3d8,0x000000076eb00000)
  from space 10752K, 0% used [0x000000076f580000,0x000000076f580000,0x0000000770000000)
  to   space 10752K, 0% used [0x000000076eb00000,0x000000076eb00000,0x000000076f580000)
 ParOldGen       total 175104K, used 1024K [0x00000006c0000000, 0x00000006cab00000, 0x000000076ab00000)
  object space 175104K, 0% used [0x00000006c0000000,0x00000006c0100000,0x00000006cab00000)
 Metaspace       used 4890K, capacity 4976K, committed 5248K, reserved 1056768K
  class space    used 530K, capacity 559K, committed 640K, reserved 1048576K
""", "Parallel", (7864 + 1024) * KIB),
    "Serial JDK 17": ("""7:
 def new generation   total 78656K, used 8390K [0x00000000c0000000, 0x00000000c5550000, 0x00000000d5550000)
  eden space 69952K,  11% used [0x00000000c0000000, 0x00000000c07f1a70, 0x00000000c4450000)
  from space 8704K,   0% used [0x00000000c4450000, 0x00000000c4450000, 0x00000000c4cd0000)
  to   space 8704K,   0% used [0x00000000c4cd0000, 0x00000000c4cd0000, 0x00000000c5550000)
 tenured generation   total 174784K, used 512K [0x00000000d5550000, 0x00000000e0000000, 0x0000000100000000)
   the  space 174784K,   0% used [0x00000000d5550000, 0x00000000d55d0000, 0x00000000d55d0200, 0x00000000e0000000)
 Metaspace       used 6410K, committed 6592K, reserved 1056768K
""", "Serial", (8390 + 512) * KIB),
    "Serial newer mainline (DefNew/Tenured names)": ("""7:
DefNew     total 78656K, used 8390K [0x00000000c0000000, 0x00000000c5550000, 0x00000000d5550000)
 eden 69952K,  11% used [0x00000000c0000000, 0x00000000c07f1a70, 0x00000000c4450000)
Tenured    total 174784K, used 512K [0x00000000d5550000, 0x00000000e0000000, 0x0000000100000000)
""", "Serial", (8390 + 512) * KIB),
    "ZGC JDK 17": ("""7:
 ZHeap           used 30M, capacity 256M, max capacity 4096M
 Metaspace       used 6410K, committed 6592K, reserved 1056768K
  class space    used 581K, committed 640K, reserved 1048576K
""", "ZGC", 30 * MIB),
    "Shenandoah JDK 17": ("""7:
Shenandoah Heap
 4096M max, 4096M soft max, 256M committed, 30720K used
 2048 x 2048K regions
Status: not cancelled
Reserved region:
 - [0x0000000700000000, 0x0000000800000000)
Collection set:
 - map (vanilla): 0x0000000000004000
 - map (biased):  0x0000000000001000

 Metaspace       used 6410K, committed 6592K, reserved 1056768K
""", "Shenandoah", 30720 * KIB),
    "Shenandoah early backports (total, committed, used)": ("""7:
Shenandoah Heap
 4096M total, 2560M committed, 2048M used
 2048 x 2048K regions
""", "Shenandoah", 2 * GIB),
    "Generational Shenandoah (JDK 24+, JEP 404)": ("""7:
Generational Shenandoah Heap
 Young:
  2048M max, 100M used
 Old:
  2048M max, 50M used
 Entire heap:
  4096M soft max, 512M committed
  2048 x 2048K regions
""", "Shenandoah (generational)", 150 * MIB),
}


@pytest.mark.parametrize("name", sorted(HEAP_INFO))
def test_heap_info_used_bytes_for_each_collector(name):
    text, collector, used = HEAP_INFO[name]
    assert parse_heap_info(text) == {"collector": collector, "used_bytes": used}


def test_heap_info_on_jdk8_is_an_error_and_perf_counters_replace_it():
    with pytest.raises(JvmError, match="Unknown diagnostic command"):
        parse_heap_info("1:\njava.lang.IllegalArgumentException: Unknown diagnostic command\n")
    with pytest.raises(JvmError, match="no heap usage line"):
        parse_heap_info("1:\nEpsilon Heap\n")
    counters = """1:
sun.gc.collector.0.name="PSScavenge"
sun.gc.generation.0.space.0.used=21474836
sun.gc.generation.0.space.1.used=0
sun.gc.generation.0.space.2.used=1048576
sun.gc.generation.1.space.0.used=104857600
sun.gc.policy.name="ParScav:MSC"
"""
    assert parse_perf_counters(counters) == {"collector": "ParScav:MSC", "used_bytes": 21474836 + 1048576 + 104857600}
    with pytest.raises(JvmError):
        parse_perf_counters("1:\nsun.rt.createVmBeginTime=1700000000000\n")


def test_max_heap_from_vm_flags():
    flags = ("1:\n-XX:CICompilerCount=2 -XX:InitialHeapSize=33554432 -XX:MaxHeapSize=536870912 "
             "-XX:+UseCompressedOops -XX:+UseG1GC\n")
    assert parse_max_heap(flags) == 512 * MIB


# --- df ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, available, mount", [
    # GNU coreutils df -P -k (Debian-based JDK images)
    ("Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
     "overlay          102687672 41234560  56189352      43% /\n", 56189352 * KIB, "/"),
    # busybox df -P -k (Alpine)
    ("Filesystem           1024-blocks    Used Available Capacity Mounted on\n"
     "tmpfs                    1048576       0   1048576   0% /dumps\n", GIB, "/dumps"),
    # GNU df -B1
    ("Filesystem        1B-blocks        Used   Available Use% Mounted on\n"
     "/dev/sdb1      105152176128 42224189440 57537896448  43% /var/lib/dumps dir\n", 57537896448,
     "/var/lib/dumps dir"),
    # GNU df -k without -P wraps a long device name
    ("Filesystem                                   1K-blocks    Used Available Use% Mounted on\n"
     "/dev/mapper/very--long--volume--group-root\n"
     "                                              20511312 9123456  10322896  47% /tmp\n", 10322896 * KIB, "/tmp"),
])
def test_df(text, available, mount):
    parsed = parse_df(text)
    assert parsed["available_bytes"] == available and parsed["mount"] == mount


def test_df_errors():
    with pytest.raises(JvmError, match="block size"):
        parse_df("Filesystem Size Used Avail Use% Mounted on\noverlay 98G 40G 54G 43% /\n")  # df -h
    with pytest.raises(JvmError):
        parse_df("df: /dumps: No such file or directory\n")


# --- the free-space decision -------------------------------------------------------------------------------------

def test_free_space_refuses_with_the_figures_unless_forced():
    used = 2 * GIB
    refused = decide_free_space(used, 3 * GIB)
    assert not refused["ok"]
    assert refused["required_bytes"] == 4 * GIB + RESERVE_BYTES
    assert "4.2 GiB" in refused["message"] and "3.0 GiB" in refused["message"] and "evicted" in refused["message"]
    forced = decide_free_space(used, 3 * GIB, force=True)
    assert forced["ok"] and forced["forced"] and forced["warnings"]
    assert decide_free_space(used, 5 * GIB)["ok"]
    # Compressed in the JVM, the same heap fits.
    assert decide_free_space(used, 3 * GIB, compressed=True)["ok"]


def test_free_space_counts_the_ephemeral_storage_limit():
    plenty_on_node = 500 * GIB
    assert not decide_free_space(GIB, plenty_on_node, ephemeral_limit_bytes=4 * GIB,
                                 ephemeral_used_bytes=3 * GIB)["ok"]
    assert not decide_free_space(4 * GIB, plenty_on_node, ephemeral_limit_bytes=2 * GIB)["ok"]
    unknown_usage = decide_free_space(GIB, plenty_on_node, ephemeral_limit_bytes=8 * GIB)
    assert unknown_usage["ok"] and "usage is unknown" in unknown_usage["warnings"][0]


def test_post_compress_needs_the_dumps_size_free():
    assert decide_post_compress(GIB, 2 * GIB)["ok"]
    assert not decide_post_compress(GIB, GIB)["ok"]
    assert build_gzip("/tmp/heap.hprof") == {"argv": ["gzip", "-1", "-n", "/tmp/heap.hprof"],
                                             "path": "/tmp/heap.hprof.gz"}


# --- the commands ------------------------------------------------------------------------------------------------

def test_heap_dump_command_follows_what_the_jvm_supports():
    jdk17 = build_heap_dump(1, "/tmp/triage-heap.hprof", major=17, help_options=parse_dcmd_options(HELP_HEAP_DUMP_JDK17))
    assert jdk17["argv"] == ["jcmd", "1", "GC.heap_dump", "-gz=1", "/tmp/triage-heap.hprof.gz"]
    assert jdk17["compressed"] and jdk17["gc_before_dump"]
    jdk8 = build_heap_dump(1, "/tmp/triage-heap.hprof", major=8, help_options=parse_dcmd_options(HELP_HEAP_DUMP_JDK8))
    assert jdk8["argv"] == ["jcmd", "1", "GC.heap_dump", "/tmp/triage-heap.hprof"] and not jdk8["compressed"]
    everything = build_heap_dump(1, "/tmp/h.hprof", major=21, all_objects=True, gz_level=6)
    assert everything["argv"] == ["jcmd", "1", "GC.heap_dump", "-all", "-gz=6", "/tmp/h.hprof.gz"]
    assert not everything["gc_before_dump"]
    assert build_heap_dump(1, "/tmp/h.hprof", major=14)["argv"][-1] == "/tmp/h.hprof"  # -gz came in JDK 15
    assert build_heap_dump(1, "/tmp/h.hprof", major=21, compress=False)["argv"][-1] == "/tmp/h.hprof"


def test_jmap_fallback():
    assert build_heap_dump(1, "/tmp/h.hprof", major=11, tool="jmap")["argv"] == [
        "jmap", "-dump:live,format=b,file=/tmp/h.hprof", "1"]
    assert build_heap_dump(1, "/tmp/h.hprof", major=17, tool="jmap", all_objects=True)["argv"] == [
        "jmap", "-dump:format=b,gz=1,file=/tmp/h.hprof.gz", "1"]


@pytest.mark.parametrize("path", ["relative.hprof", "/tmp/with space.hprof", "/tmp/a,b.hprof", "/tmp/../etc/x",
                                  "/tmp/x\n.hprof", "/tmp/$(id).hprof"])
def test_heap_dump_refuses_paths_the_jvm_would_split(path):
    with pytest.raises(JvmError):
        build_heap_dump(1, path, major=17)


def test_heap_dump_refuses_openj9_and_missing_all():
    with pytest.raises(JvmError, match="OpenJ9"):
        build_heap_dump(1, "/tmp/h.hprof", openj9=True)
    with pytest.raises(JvmError, match="no -all"):
        build_heap_dump(1, "/tmp/h.hprof", help_options=set(), all_objects=True)


def test_thread_dump_commands():
    assert build_thread_dump(1) == ["jcmd", "1", "Thread.print", "-l"]
    assert build_thread_dump("1", tool="jstack") == ["jstack", "-l", "1"]
    plain = build_thread_dump(1, executable="/opt/jdk/bin/jcmd", locks=False)
    assert plain == ["/opt/jdk/bin/jcmd", "1", "Thread.print"]
    with pytest.raises(JvmError):
        build_thread_dump(1, tool="kill")
    with pytest.raises(ValueError):
        build_thread_dump("1; rm -rf /")


# --- what the dumps report ---------------------------------------------------------------------------------------

def test_heap_dump_report():
    assert parse_heap_dump_result("1:\nDumping heap to /tmp/h.hprof ...\n"
                                  "Heap dump file created [52428800 bytes in 0.231 secs]\n") == {
        "bytes": 52428800, "seconds": 0.231}
    assert parse_heap_dump_result("Dumping heap to /tmp/h.hprof ...\nHeap dump file created\n")["bytes"] is None
    with pytest.raises(JvmError, match="File exists"):
        parse_heap_dump_result("1:\nDumping heap to /tmp/h.hprof ...\nUnable to create /tmp/h.hprof: File exists\n")
    with pytest.raises(JvmError, match="incomplete"):
        parse_heap_dump_result("1:\nDumping heap to /tmp/h.hprof ...\nDump file is incomplete: No space left on device\n")
    with pytest.raises(JvmError, match="no 'Heap dump file created'"):
        parse_heap_dump_result("")


THREAD_DUMP_JDK17 = '''7:
2026-12-01 23:00:00
Full thread dump OpenJDK 64-Bit Server VM (17.0.9+9 mixed mode, sharing):

Threads class SMR info:
_java_thread_list=0x00007f4c20001f20, length=11, elements={
0x00007f4c4c024e50, 0x00007f4c4c0d2c10
}

"main" #1 prio=5 os_prio=0 cpu=412.33ms elapsed=3600.12s tid=0x00007f4c4c024e50 nid=0x7 waiting on condition  \
[0x00007f4c53ffe000]
   java.lang.Thread.State: TIMED_WAITING (sleeping)
\tat java.lang.Thread.sleep(java.base@17.0.9/Native Method)
\tat com.example.Main.main(Main.java:5)

   Locked ownable synchronizers:
\t- None

"Reference Handler" #2 daemon prio=10 os_prio=0 cpu=0.21ms elapsed=3600.10s tid=0x00007f4c4c0d2c10 nid=0x8 \
waiting on condition  [0x00007f4c2dbfe000]
   java.lang.Thread.State: RUNNABLE

"VM Thread" os_prio=0 cpu=21.10ms elapsed=3600.11s tid=0x00007f4c4c0c6b00 nid=0xa runnable

JNI global refs: 15, weak refs: 0
'''


def test_thread_dump_summary():
    summary = summarize_thread_dump(THREAD_DUMP_JDK17)
    assert summary == {"threads": 3, "deadlock": False, "vm": "OpenJDK 64-Bit Server VM (17.0.9+9 mixed mode, sharing)"}
    deadlocked = THREAD_DUMP_JDK17 + '\nFound one Java-level deadlock:\n=============================\n"t1":\n'
    assert summarize_thread_dump(deadlocked)["deadlock"]
    with pytest.raises(JvmError, match="doesn't respond"):
        summarize_thread_dump("1:\ncom.sun.tools.attach.AttachNotSupportedException: Unable to open socket file: "
                              "target process 1 doesn't respond within 10500ms or HotSpot VM not loaded\n")
