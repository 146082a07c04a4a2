#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_dump
short_description: Heap and thread dumps of a JVM in a pod, taken over exec, brought out whole and verified
version_added: 1.0.0
description:
  - O(kind=heap) takes a heap dump of the JVM with C(jcmd <pid> GC.heap_dump) (C(-gz) where the JVM supports it,
    else compressed with C(gzip) in the container afterwards where there is room, else raw; C(jmap -dump) when
    there is no C(jcmd)), brings it out as M(triage.k8s.pod_fetch) does (streamed, resumed when the stream is cut,
    sha256-compared with the container's), deletes it in the container unless O(keep_remote), and lists it in
    the bundle's manifest with the JVM version, pid, command, options and timings.
  - Before a heap dump, the free space of O(dump_dir) (C(df)) is compared with the used heap (C(GC.heap_info),
    else C(VM.flags) MaxHeapSize); the dump is refused with the figures unless O(force). A dump that fills
    ephemeral storage gets the pod evicted, which destroys the evidence.
  - The room also counts the ephemeral-storage limit O(dump_dir) falls under in the pod spec (the container's
    C(limits.ephemeral-storage) for its writable layer, an C(emptyDir)'s C(sizeLimit), the sum of the
    containers' limits), minus the usage C(du) measures there; C(df) in a container shows the node's disk, not
    these limits.
  - A copy stream that is cut is resumed up to O(retries) times; beyond that the module fails with
    C(changed=true) and leaves the dump in the container at RV(remote_path).
  - A heap dump stops the JVM for its duration; the result always warns about it.
  - O(kind=threads) runs C(jcmd <pid> Thread.print -l) (else C(jstack -l <pid>)) O(count) times, O(interval)
    seconds apart, each into its own file. SIGQUIT is never sent.
  - O(kind=custom) runs O(command), which writes O(output_path), and brings that file out the same way, for
    runtimes without a preset (see docs/pod_dump.md for Python, Go and Node recipes).
  - The JVM is found with C(jcmd -l), else in the process table; O(pid) chooses one when there are several
    (the error lists them).
  - O(via=debug_container) is for images without a JDK (JRE-only, distroless). An ephemeral container of
    O(debug_image) is added to the pod with C(targetContainerName) set to O(container), so it shares that
    container's PID namespace. It runs a bounded C(sleep) (it ends by itself), and a later run reuses it while it
    is running with the same image and has time left for that run. Everything then runs in it. The JVM is found
    in C(/proc), among the processes whose mount namespace is not the debug container's own. It must be proved a JVM
    (C(libjvm.so) mapped, or its executable a java launcher) before anything is signalled. Then
    C(jattach PID jcmd "GC.heap_dump ...") or C(jattach PID threaddump -l) runs, else the image's C(jcmd).
    The JVM writes the dump in its own filesystem. The debug container checks the free space there and reads,
    hashes and deletes the dump at C(/proc/PID/root/<path>). The manifest records the via, the debug
    container's name and its image.
  - The debug container is never removed (see the notes).
  - Long commands run detached in the container (in a session of their own, output and exit code in files
    beside the dump) and are polled with short execs, bounded by O(timeout), because proxies and load balancers cut a
    silent exec stream after 20 s to 10 min.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  container:
    description: The container. Default the C(kubectl.kubernetes.io/default-container) annotation's, else the
      first container. With O(via=debug_container), the container the debug container targets.
    type: str
  via:
    description:
      - V(exec) runs the tools in O(container) itself (it needs C(jcmd), C(jmap) or C(jstack)).
      - V(debug_container) runs them in an ephemeral container of O(debug_image) that shares O(container)'s
        PID namespace (see the description).
    type: str
    choices: [exec, debug_container]
    default: exec
  debug_image:
    description:
      - The image of the debug container, required with O(via=debug_container). It needs C(/bin/sh), C(grep),
        C(cat), C(df) and C(sha256sum), and either C(jattach) (any JVM version) or a JDK of the JVM's major
        version (C(jcmd)).
      - It must run as the JVM's user, or as root (with O(debug_profile=general) when the JVM's user is not in the
        pod spec; see the notes), because HotSpot accepts an attach only from its own user or root.
    type: str
  kind:
    description: What to dump.
    type: str
    choices: [heap, threads, custom]
    required: true
  runtime:
    description: The runtime of O(kind=heap) and O(kind=threads). Only V(jvm) has presets.
    type: str
    choices: [jvm]
    default: jvm
  pid:
    description: The JVM's pid in the container. Default the only JVM found.
    type: int
  all_objects:
    description: Dump unreachable objects too (C(-all)); by default the live set, after a full GC.
    type: bool
    default: false
  compress:
    description: Compress the heap dump in the JVM (C(-gz)), else with C(gzip) in the container when it fits.
    type: bool
    default: true
  gz_level:
    description: Compression level, 1 (fastest, recommended by the JDK) to 9.
    type: int
    default: 1
  force:
    description: Dump even when the free space check says the dump may not fit (the refusal becomes a warning).
    type: bool
    default: false
  dump_dir:
    description: Directory in the container where the dump is written (a volume with room is best).
    type: str
    default: /tmp
  count:
    description: Number of thread dumps.
    type: int
    default: 1
  interval:
    description: Seconds between two thread dumps.
    type: float
    default: 5
  command:
    description: For O(kind=custom), the command that writes O(output_path) (list, or string split like a shell).
    type: raw
  shell:
    description: For O(kind=custom), run O(command) with C(/bin/sh -c).
    type: bool
    default: false
  output_path:
    description: For O(kind=custom), the absolute path of the file the command writes.
    type: str
  keep_remote:
    description: Leave the dump file in the container after it was copied out and verified.
    type: bool
    default: false
  timeout:
    description: Seconds the dump (and, separately, its copy) may take; the command is then stopped.
    type: int
    default: 1800
  retries:
    description: Times a cut copy stream is resumed.
    type: int
    default: 3
  max_bytes:
    description: The largest dump file accepted for the copy.
    type: int
    default: 68719476736
extends_documentation_fragment:
  - triage.k8s.k8s_auth
  - triage.k8s.evidence
  - triage.k8s.debug_container
attributes:
  check_mode:
    support: full
    description: Sends no exec (an exec is a write to C(pods/exec)) and no patch, and writes nothing; returns
      what it would do (RV(would_run), and RV(debug_container) with the body it would add).
  diff_mode:
    support: none
    description: Nothing in the cluster changes; the dump is a file in the container, deleted after the copy.
  action_group:
    support: full
    membership: [triage.k8s.pods]
    description: Use C(group/triage.k8s.pods) in C(module_defaults) to set the connection options.
notes:
  - Needs C(get) on C(pods) and C(create) on C(pods/exec) (the shipped Role grants them).
  - With O(via=debug_container) and O(kind=custom), O(command) runs in the debug container and O(output_path) is
    a path of the debug container's own filesystem.
'''

EXAMPLES = r'''
- name: Heap dump of the only JVM, compressed, into the bundle
  triage.k8s.pod_dump:
    name: web-7d9c-abcde
    namespace: shop
    kind: heap
    bundle: "{{ incident.path }}"
  register: heap

- name: Three thread dumps ten seconds apart
  triage.k8s.pod_dump:
    name: web-7d9c-abcde
    namespace: shop
    kind: threads
    count: 3
    interval: 10
    bundle: "{{ incident.path }}"

- name: Heap dump of a JRE-only image, through a debug container with jattach
  triage.k8s.pod_dump:
    name: web-7d9c-abcde
    namespace: shop
    container: app
    kind: heap
    via: debug_container
    debug_image: registry.example.com/tools/jattach:2.2
    bundle: "{{ incident.path }}"

- name: A Python stack dump with py-spy (the image must have it, and the capability SYS_PTRACE)
  triage.k8s.pod_dump:
    name: worker-5f6d-xyz
    namespace: jobs
    kind: custom
    command: [sh, -c, "py-spy dump --pid 1 > /tmp/py-spy.txt"]
    output_path: /tmp/py-spy.txt
    bundle: "{{ incident.path }}"
'''

RETURN = r'''
pid:
  description: The JVM's pid in the container.
  returned: kind heap or threads, when a JVM was chosen
  type: int
jvm:
  description: What C(jcmd VM.version) said (vm, vm_release, jdk, major), null without jcmd.
  returned: kind heap or threads
  type: dict
dump:
  description: The dump file as listed in the manifest (path, size, sha256, remote_sha256, verified).
  returned: kind heap or custom, on success
  type: dict
thread_dumps:
  description: The thread dumps (path, size, sha256, threads, deadlock, taken_at).
  returned: kind threads
  type: list
  elements: dict
free_space:
  description: The free-space decision (required_bytes, available_bytes, room_bytes, used_heap_bytes, factor,
    directory, message; storage V(writable-layer), V(emptyDir), V(memory) or V(volume), volume, ephemeral_limits
    (bytes, source), ephemeral_limit_bytes, ephemeral_used_bytes and ephemeral_used_source when a limit applies).
  returned: kind heap, once measured
  type: dict
compressed:
  description: Who compressed the heap dump (V(jvm), V(gzip)) or null (raw).
  returned: kind heap
  type: str
remote_path:
  description: The dump file's path in the container (where it stays when the copy failed).
  returned: kind heap or custom
  type: str
remote_deleted:
  description: Whether the dump file was deleted in the container after it was verified.
  returned: kind heap or custom
  type: bool
resumes:
  description: Times the copy stream was resumed.
  returned: kind heap or custom
  type: int
failures:
  description: The failure recorded in the manifest when the dump could not be taken or copied (module, what,
    error, container); empty on success.
  returned: always
  type: list
  elements: dict
commands:
  description: Every command run in the container (argv, rc, seconds).
  returned: always
  type: list
  elements: dict
container:
  description: The container (name, kind, image, imageID, containerID, restartCount).
  returned: always
  type: dict
would_run:
  description: In check mode, what would be done.
  returned: in check mode
  type: str
debug_container:
  description: The debug container (name, image, target_container, action V(add), V(reuse) or V(wait), added,
    skipped (earlier names passed over, with why), state, remains (that it stays in the pod spec for good); in
    check mode body, the container it would add).
  returned: with O(via=debug_container), once chosen
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_pod
from ansible_collections.triage.k8s.plugins.module_utils.evidence import debug, dump, exec_collect, pod_facts
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import utc_now
from ansible_collections.triage.k8s.plugins.module_utils.evidence import module_support


# The errors this module reports as one sentence (a tuple named here: older pylint misreads a sum in except).
EXEC_ERRORS = (exec_collect.ExecError,) + module_support.KNOWN_ERRORS
DUMP_ERRORS = (dump.DumpError, debug.DebugError, exec_collect.ExecError) + module_support.KNOWN_ERRORS


def main():
    module = AnsibleModule(
        argument_spec=module_support.collector_argument_spec(
            container=dict(type="str"),
            via=dict(type="str", default="exec", choices=["exec", "debug_container"]),
            debug_image=dict(type="str"),
            kind=dict(type="str", required=True, choices=["heap", "threads", "custom"]),
            runtime=dict(type="str", default="jvm", choices=["jvm"]),
            pid=dict(type="int"),
            all_objects=dict(type="bool", default=False),
            compress=dict(type="bool", default=True),
            gz_level=dict(type="int", default=1),
            force=dict(type="bool", default=False),
            dump_dir=dict(type="str", default="/tmp"),
            count=dict(type="int", default=1),
            interval=dict(type="float", default=5),
            command=dict(type="raw"),
            shell=dict(type="bool", default=False),
            output_path=dict(type="str"),
            keep_remote=dict(type="bool", default=False),
            timeout=dict(type="int", default=1800),
            retries=dict(type="int", default=3),
            max_bytes=dict(type="int", default=64 * 1024 ** 3),
            **module_support.DEBUG_OPTIONS
        ),
        mutually_exclusive=module_support.COLLECTOR_MUTUALLY_EXCLUSIVE,
        required_one_of=module_support.COLLECTOR_REQUIRED_ONE_OF,
        required_if=[("kind", "custom", ("command", "output_path")), ("via", "debug_container", ("debug_image",))],
        supports_check_mode=True,
    )
    params = module.params
    for option, low in (("count", 1), ("timeout", 1), ("max_bytes", 1), ("retries", 0), ("debug_timeout", 1)):
        if params[option] < low:
            module.fail_json(msg="%s must be at least %d, got %d" % (option, low, params[option]))
    if params["interval"] < 0:
        module.fail_json(msg="interval must not be negative, got %s" % params["interval"])
    if not 1 <= params["gz_level"] <= 9:
        module.fail_json(msg="gz_level must be 1 to 9, got %d" % params["gz_level"])
    api_client = get_api_client(module)
    try:
        pod = read_pod(api_client, params["namespace"], params["name"])
        container = exec_collect.pick_container(pod, params["container"])
    except EXEC_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc))
    identity = pod_facts.identity(container)
    via_debug = params["via"] == "debug_container"
    if module.check_mode:
        module_support.open_target(module)
        result = {"changed": True, "container": identity, "commands": [], "failures": []}
        doing = "no exec in check mode"
        if via_debug:
            try:
                choice = debug.choose(pod, container["name"], params["debug_image"], params["debug_name"],
                                      dump.needed_seconds(params), utc_now(), params["debug_profile"])
            except debug.DebugError as exc:
                module.fail_json(msg=str(exc))
            result["debug_container"] = dict(debug.describe_choice(choice, pod, container["name"],
                                                                   params["debug_image"]), body=choice["container"])
            doing = "%s the debug container %s first; no patch and no exec in check mode" % (
                "adding" if choice["action"] == "add" else "reusing", choice["name"])
        result["would_run"] = "%s dump of %s in container %s (%s)" % (params["kind"], params["name"],
                                                                      container["name"], doing)
        module.exit_json(**result)
    target = module_support.open_target(module)
    result = {"changed": False, "container": identity, "warnings": [], "commands": [], "failures": []}
    try:
        debug_container = None
        if via_debug:
            pod, debug_name = debug.ensure(api_client, pod, container["name"], params["debug_image"],
                                           params["debug_name"], dump.needed_seconds(params), params["debug_timeout"],
                                           utc_now(), result, params["debug_profile"])
            debug_container = {"name": debug_name, "image": params["debug_image"]}
        session = dump.Session(api_client, pod, container, params["timeout"], debug_container=debug_container)
        result["commands"] = session.commands
        {"heap": dump.heap, "threads": dump.threads, "custom": dump.custom}[params["kind"]](
            session, target, container, params, result)
        if params["kind"] == "threads":
            result["changed"] = True
    except DUMP_ERRORS as exc:
        message = module_support.describe(exc)
        result["failures"].append(target.record_failure(
            dump.MODULE, "%s dump in container %s" % (params["kind"], container["name"]), message,
            container=container["name"]))
        for warning in result.pop("warnings", []):
            module.warn(warning)
        module.fail_json(msg=message, **result)
    finally:
        if not target.is_bundle:
            target.close()
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
