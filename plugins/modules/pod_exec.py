#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_exec
short_description: Run a command in a container with a timeout that also stops it there, output into a bundle
version_added: 1.0.0
description:
  - Runs O(command) in a container of the pod through the API server's exec (no kubectl needed), with optional
    O(stdin), and returns its exit code from the exec Status as RV(rc).
  - A list is run as it is; a string is split like a shell would split it and run without a shell, unless
    O(shell=true) (then C(/bin/sh -c) runs it).
  - O(timeout) stops the remote command, not only the local wait. The command runs under C(timeout) when the
    container has it; otherwise, or when the command outlives it, a second exec kills it (every process carrying
    this run's marker in its environment) and RV(killed_pids) lists them. Without C(/bin/sh) in the container the
    timeout can only end the stream, and the result warns that the command may still be running.
  - With O(bundle) or O(dest), stdout and stderr are streamed to C(exec/<name>.stdout) and C(exec/<name>.stderr)
    (listed in the manifest with the command, rc, container and sha256); otherwise they are returned as
    RV(stdout) and RV(stderr), up to O(max_output_bytes) each.
  - A container without the command, or without a shell for O(shell=true), is a clear error.
  - Fails when RV(rc) is not 0, as M(ansible.builtin.command) does; use C(failed_when) to decide yourself.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  name:
    description: The pod.
    type: str
    required: true
  namespace:
    description: Namespace of the pod.
    type: str
    required: true
  container:
    description: The container (any kind). Default the C(kubectl.kubernetes.io/default-container) annotation's,
      else the first container, as kubectl picks.
    type: str
  command:
    description: The command, as a list of arguments or a string.
    type: raw
    required: true
  shell:
    description: Run the command with C(/bin/sh -c) (pipes, redirections, variables).
    type: bool
    default: false
  stdin:
    description: Text sent to the command's standard input, which is then closed.
    type: str
  timeout:
    description: Seconds the command may run; it is then stopped in the container. V(0) means no limit.
    type: int
    default: 60
  bundle:
    description: An incident bundle from M(triage.k8s.incident_bundle) to stream stdout and stderr into.
      In check mode it may not exist yet. Mutually exclusive with O(dest).
    type: path
  dest:
    description: A plain directory to write the two files into (no manifest).
    type: path
  output_name:
    description: The base name of the files under C(exec/). Default C(<n>-<command name>), n counting the
      execs already in the bundle.
    type: str
  max_bytes:
    description: Cap of each output file; output beyond it is read and dropped, and the file marked truncated.
    type: int
    default: 1073741824
  max_output_bytes:
    description: Without O(bundle) or O(dest), the bytes of stdout and of stderr returned in the result.
    type: int
    default: 1048576
extends_documentation_fragment:
  - triage.k8s.k8s_auth
attributes:
  check_mode:
    support: full
    description: Runs nothing (an exec is a write to C(pods/exec)) and returns what would run (RV(command),
      RV(remote_argv), RV(container)).
  diff_mode:
    support: none
    description: Nothing in the cluster changes through this module itself; the command may change anything.
  action_group:
    support: full
    membership: [triage.k8s.pods]
    description: Use C(group/triage.k8s.pods) in C(module_defaults) to set the connection options.
notes:
  - The task is changed whenever the command ran. For read-only commands set C(changed_when=false).
  - Needs C(get) on C(pods) and C(get)/C(create) on C(pods/exec) (the shipped Role grants them).
'''

EXAMPLES = r'''
- name: Process list into the bundle
  triage.k8s.pod_exec:
    name: web-7d9c-abcde
    namespace: shop
    command: ps -ef
    bundle: "{{ incident.path }}"
    output_name: processes
  changed_when: false

- name: A pipeline, bounded to 20 seconds in the container
  triage.k8s.pod_exec:
    name: web-7d9c-abcde
    namespace: shop
    container: app
    command: "netstat -tan | grep ESTABLISHED | wc -l"
    shell: true
    timeout: 20
  register: connections
  changed_when: false

- name: Feed a script on stdin
  triage.k8s.pod_exec:
    name: web-7d9c-abcde
    namespace: shop
    command: [sh]
    stdin: |
      cat /proc/meminfo
      df -h
'''

RETURN = r'''
rc:
  description: Exit code from the exec Status; null when the command did not end before its timeout.
  returned: when the command ran
  type: int
timed_out:
  description: The command was stopped because O(timeout) ran out.
  returned: always
  type: bool
killed_pids:
  description: Processes the second exec killed after the timeout (empty when C(timeout) in the container did it).
  returned: always
  type: list
  elements: int
remote_timeout:
  description: Whether the timeout was enforced in the container (false without C(/bin/sh)).
  returned: always
  type: bool
command:
  description: The command as argv.
  returned: always
  type: list
  elements: str
remote_argv:
  description: What was (or in check mode would be) sent to the exec, wrapper included.
  returned: always
  type: list
  elements: str
container:
  description: The container, with name, kind, image, imageID and containerID.
  returned: always
  type: dict
stdout:
  description: Standard output (without O(bundle)/O(dest)), up to O(max_output_bytes).
  returned: when the command ran without bundle or dest
  type: str
stderr:
  description: Standard error, as RV(stdout).
  returned: when the command ran without bundle or dest
  type: str
stdout_truncated:
  description: RV(stdout) or the stdout file was cut at its cap.
  returned: when the command ran
  type: bool
stderr_truncated:
  description: As RV(stdout_truncated), for stderr.
  returned: when the command ran
  type: bool
artifacts:
  description: The stdout and stderr files written (path, size, sha256, truncated).
  returned: with bundle or dest
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as get_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_pod
from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import auth_argument_spec
from ansible_collections.triage.k8s.plugins.module_utils.evidence import exec_collect
from ansible_collections.triage.k8s.plugins.module_utils.evidence import module_support
from ansible_collections.triage.k8s.plugins.module_utils.kube.streams import StreamError
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import accepted_writes


# The errors this module reports as one sentence (a tuple named here: older pylint misreads a sum in except).
EXEC_ERRORS = (exec_collect.ExecError,) + module_support.KNOWN_ERRORS


def main():
    spec = auth_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        container=dict(type="str"),
        command=dict(type="raw", required=True),
        shell=dict(type="bool", default=False),
        stdin=dict(type="str"),
        timeout=dict(type="int", default=60),
        bundle=dict(type="path"),
        dest=dict(type="path"),
        output_name=dict(type="str"),
        max_bytes=dict(type="int", default=1024 * 1024 * 1024),
        max_output_bytes=dict(type="int", default=1024 * 1024),
    )
    module = AnsibleModule(argument_spec=spec, mutually_exclusive=[("bundle", "dest")], supports_check_mode=True)
    params = module.params
    for option in ("timeout", "max_bytes", "max_output_bytes"):
        if params[option] < 0:
            module.fail_json(msg="%s must not be negative, got %d" % (option, params[option]))
    try:
        argv = exec_collect.argv_of(params["command"], params["shell"])
    except exec_collect.ExecError as exc:
        module.fail_json(msg=str(exc))
    api_client = get_api_client(module)
    try:
        pod = read_pod(api_client, params["namespace"], params["name"])
        container = exec_collect.pick_container(pod, params["container"])
    except EXEC_ERRORS as exc:
        module.fail_json(msg=module_support.describe(exc))
    target = None
    if params["bundle"] or params["dest"]:
        target = module_support.open_target(module)
    try:
        result = exec_collect.run_command(api_client, pod, container, argv, params, target, module.check_mode)
    except StreamError as exc:
        # The command started: it may have done its work in the container before the stream was cut.
        module.fail_json(msg=str(exc), changed=True, command=argv)
    except EXEC_ERRORS as exc:
        # An exec upgrade whose answer was lost or was a 5xx may have started the command (transport policy).
        module.fail_json(msg=module_support.describe(exc), changed=bool(accepted_writes(api_client)), command=argv)
    finally:
        if target is not None and not target.is_bundle:
            target.close()
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if result.get("timed_out"):
        module.fail_json(msg="the command in container %s of pod %s timed out after %ds and was stopped%s" % (
            container["name"], params["name"], params["timeout"],
            "" if result["remote_timeout"] else " locally only (it may still be running)"), **result)
    if not module.check_mode and result.get("rc") != 0:
        module.fail_json(msg="the command in container %s of pod %s exited with rc %s" % (
            container["name"], params["name"], result.get("rc")), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
