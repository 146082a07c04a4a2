#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: pod_hijack
short_description: "Run different code in an isolated pod: swap its image, attach a debug container, or clone it"
version_added: 1.0.0
description:
  - Runs a fix, extra instrumentation or a debugging toolbox in a pod that M(triage.k8s.pod_isolate) has taken out
    of service, in one of three ways chosen with O(mode).
  - O(mode=image) changes the image of one container in place. The kubelet kills that container and starts it
    again with the new image; the pod keeps its name, UID, IP and node. The module waits until the container has
    restarted (its C(restartCount) went up), runs the new image and is Ready, and reports the new image ID and how
    long it took. If the new image cannot be pulled (C(ErrImagePull), C(ImagePullBackOff)), keeps crashing
    (C(CrashLoopBackOff)) or is not ready within O(wait_timeout), the module fails with the container's reason and
    message and, with O(rollback_on_failure), puts the previous image back and waits for that restart too.
  - The image that a container had before its first hijack is recorded in the pod annotation
    C(triage.k8s/original-images), so M(triage.k8s.pod_restore) can put it back. A second hijack never overwrites
    it. C(triage.k8s/hijacked-at), C(triage.k8s/hijacked-by) and C(triage.k8s/hijack-mode) record the last hijack.
  - O(mode=debug_container) adds an ephemeral container (like C(kubectl debug -c NAME --image IMAGE
    --target CONTAINER)) through the C(pods/ephemeralcontainers) subresource and waits for it to run.
    B(Ephemeral containers can never be changed or removed) from a pod; they stay until the pod is deleted.
    The module is idempotent by O(debug_name), and refuses to reuse a name with different settings.
  - O(mode=copy) creates a new pod from the pod's spec, like C(kubectl debug --copy-to). The copy has no labels
    except C(triage.k8s/isolated=true) and no owner references, so no Service, EndpointSlice or controller ever
    selects, adopts or counts it. Image, command, args and environment, which cannot change in place, can be
    overridden. Probes are dropped, as kubectl does. The copy carries the isolation record with
    C(triage.k8s/copy-of) naming its source, so M(triage.k8s.pod_restore) O(triage.k8s.pod_restore#module:state=absent)
    and its reaper remove it.
  - O(mode=image) and O(mode=debug_container) refuse a pod that is still in service (it has no
    C(triage.k8s/isolated=true) label) unless O(force=true), because production traffic would reach unreviewed
    code. O(mode=copy) leaves the source untouched and works on any pod.
  - Every write is conditioned on the C(resourceVersion) that was read. When the pod changed meanwhile, the module
    reads it again, plans again and retries a bounded number of times.
  - In check mode the module only reads. It returns the request it would send and, with C(--diff), the change.
author:
  - triage.k8s contributors (@triage-k8s)
options:
  mode:
    description:
      - V(image) changes a container's image in place, V(debug_container) adds an ephemeral container, V(copy)
        creates a private copy of the pod.
    type: str
    choices: [image, debug_container, copy]
    default: image
  name:
    description:
      - The name of the pod to hijack (the source pod for O(mode=copy)).
    type: str
    required: true
  container:
    description:
      - The container whose image (O(mode=image)) or overrides (O(mode=copy)) apply.
      - Defaults to the container named by the pod annotation C(kubectl.kubernetes.io/default-container), or to the
        only container. A pod with several containers and no such annotation needs this option; the error lists the
        containers.
    type: str
  image:
    description:
      - The image reference, for example C(registry.example.com/team/app:1.2-debug) or C(busybox@sha256:...).
      - Required for O(mode=image) and O(mode=debug_container). Optional for O(mode=copy), where it replaces the
        image of O(container) in the copy.
      - A reference that a container runtime would refuse (upper-case path, whitespace, bad tag) is rejected before
        anything is sent.
    type: str
  command:
    description:
      - The command (entrypoint) of the debug container, or of O(container) in the copy.
      - Not allowed with O(mode=image), because the API server forbids changing it in place; use O(mode=copy).
    type: list
    elements: str
  args:
    description:
      - The arguments of the debug container, or of O(container) in the copy.
      - Not allowed with O(mode=image).
    type: list
    elements: str
  env:
    description:
      - Environment variables for the debug container, or added to (and overriding by name) those of O(container)
        in the copy.
      - Either a dictionary of names to values, or a list of Kubernetes C(EnvVar) dictionaries (C(name) plus
        C(value) or C(valueFrom)).
      - Not allowed with O(mode=image).
    type: raw
  target_container:
    description:
      - For O(mode=debug_container), the container whose process namespace the debug container joins, so that
        C(ps), C(strace) or a profiler can see its processes (C(kubectl debug --target)).
    type: str
  debug_name:
    description:
      - For O(mode=debug_container), the name of the ephemeral container. Running the module again with the same
        name and settings changes nothing.
    type: str
    default: triage-debug
  profile:
    description:
      - For O(mode=debug_container), the security settings of the debug container, named like kubectl debug's
        profiles.
      - V(baseline) adds no privilege and is admitted by the C(baseline) Pod Security level.
      - V(general) adds C(SYS_PTRACE), to trace the processes of O(target_container).
      - V(restricted) runs as non-root with all capabilities dropped and the runtime's default seccomp profile;
        admitted by the C(restricted) level, but the image must run as a non-root user.
      - V(netadmin) adds C(NET_ADMIN) and C(NET_RAW) (tcpdump, iptables).
      - V(sysadmin) is privileged.
    type: str
    choices: [baseline, general, restricted, netadmin, sysadmin]
    default: baseline
  security_context:
    description:
      - For O(mode=debug_container), a complete container C(securityContext) to use instead of O(profile).
    type: dict
  copy_name:
    description:
      - For O(mode=copy), the name of the copy. Defaults to the source name with C(-hijack) appended.
      - Running the module again with the same name and overrides changes nothing; a copy of that name with
        other overrides is an error (pods cannot be changed in place).
    type: str
  rollback_on_failure:
    description:
      - For O(mode=image), when the new image fails or is not ready within O(wait_timeout), put the previous image
        and annotations back and wait for that restart.
      - Only applies with O(wait=true).
    type: bool
    default: true
  force:
    description:
      - Hijack a pod that is not isolated (has no C(triage.k8s/isolated=true) label). Production traffic may then
        reach the hijacked code. A terminating pod is refused even with this.
  hijacked_by:
    description:
      - Who is doing this, recorded in C(triage.k8s/hijacked-by) (and C(triage.k8s/isolated-by) of a copy).
      - Defaults to O(impersonate_user) when set, otherwise to C(<local user>@<host>) of the machine running the
        module (the same rule as O(triage.k8s.pod_isolate#module:isolated_by)).
    type: str
  wait:
    description:
      - Wait until the new container is running and ready (O(mode=image)), the ephemeral container runs
        (O(mode=debug_container)) or the copy is ready (O(mode=copy)). The wait watches the pod; it never polls.
  wait_timeout:
    description:
      - How many seconds to wait, for the hijack and again for a rollback. Must be at least V(0), as in every module
        of the collection; with V(0) a wait that has not finished at once fails (and O(rollback_on_failure) applies).
    default: 120
extends_documentation_fragment:
  - triage.k8s.k8s_auth
  - triage.k8s.common.namespace
  - triage.k8s.common.wait
  - triage.k8s.common.force
  - triage.k8s.common.attributes
attributes:
  check_mode:
    support: full
    details: Only GET requests are sent; the result holds the request body that would be sent.
  diff_mode:
    support: full
    details: Shows the container images and C(triage.k8s/) annotations, the ephemeral container names, or the copy.
notes:
  - Ephemeral containers cannot be removed from a pod. Delete the pod (M(triage.k8s.pod_restore)
    O(triage.k8s.pod_restore#module:state=absent)) to get rid of them.
  - An image swap keeps the container's C(imagePullPolicy). It was fixed when the pod was created, so a pod
    created with a tagged image keeps C(IfNotPresent) even for a C(:latest) hijack image.
  - Needs RBAC C(get) and C(patch) on C(pods); C(patch) on C(pods/ephemeralcontainers) for O(mode=debug_container);
    C(create) on C(pods) for O(mode=copy); C(watch) on C(pods) when O(wait=true).
seealso:
  - module: triage.k8s.pod_isolate
  - module: triage.k8s.pod_restore
  - name: kubectl debug
    description: The upstream tool for ephemeral containers and copies.
    link: https://kubernetes.io/docs/tasks/debug/debug-application/debug-running-pod/
'''

EXAMPLES = r'''
- name: Swap the image of an isolated pod for one with extra logging (rolls back if it does not come up)
  triage.k8s.pod_hijack:
    name: web-5d4f8c7b9-x2k4q
    namespace: shop
    image: registry.example.com/shop/web:1.4.2-debug
  register: hijack

- name: Show what would change, without changing anything
  triage.k8s.pod_hijack:
    name: web-5d4f8c7b9-x2k4q
    namespace: shop
    container: app
    image: registry.example.com/shop/web:1.4.2-debug
  check_mode: true
  diff: true

- name: Attach a toolbox that can see the app's processes
  triage.k8s.pod_hijack:
    mode: debug_container
    name: web-5d4f8c7b9-x2k4q
    namespace: shop
    image: busybox:1.36
    command: [sleep, "3600"]
    target_container: app
    profile: general
    debug_name: toolbox

- name: Clone a serving pod with a different command, out of reach of every Service
  triage.k8s.pod_hijack:
    mode: copy
    name: web-5d4f8c7b9-x2k4q
    namespace: shop
    copy_name: web-debug-copy
    command: [sleep, infinity]
    env:
      LOG_LEVEL: debug
'''

RETURN = r'''
mode:
  description: The mode that ran.
  returned: always
  type: str
  sample: image
pod:
  description: The hijacked pod (the source pod for O(mode=copy)) after the change.
  returned: always
  type: dict
  contains:
    name:
      description: Pod name.
      type: str
    namespace:
      description: Namespace.
      type: str
    uid:
      description: Pod UID; unchanged by an image swap.
      type: str
    ip:
      description: Pod IP; unchanged by an image swap.
      type: str
    node:
      description: Node the pod runs on.
      type: str
    phase:
      description: Pod phase.
      type: str
    labels:
      description: The pod labels.
      type: dict
    annotations:
      description: The C(triage.k8s/) annotations (the undo and hijack record).
      type: dict
    ports:
      description: The C(containerPort)s of all the pod's containers.
      type: list
      elements: int
    containers:
      description: Container names.
      type: list
      elements: str
  sample:
    name: web-5d4f8c7b9-x2k4q
    namespace: shop
    uid: 0b6c7f0e-3d2a-4a53-9f55-1a7f7f0e2c11
    ip: 10.244.1.17
    node: node-1
    phase: Running
    labels: {triage.k8s/isolated: "true"}
    annotations: {triage.k8s/original-images: '{"app":"registry.example.com/shop/web:1.4.1"}'}
container:
  description: The container whose image was changed (O(mode=image)) or overridden (O(mode=copy)).
  returned: when O(mode=image) or O(mode=copy)
  type: str
  sample: app
image:
  description: The image requested.
  returned: when O(mode=image)
  type: str
  sample: registry.example.com/shop/web:1.4.2-debug
ports:
  description: The C(containerPort)s of O(container), to port-forward to.
  returned: when O(mode=image) or O(mode=copy)
  type: list
  elements: int
  sample: [8080]
previous_image:
  description: The image the container had before this task.
  returned: when O(mode=image)
  type: str
  sample: registry.example.com/shop/web:1.4.1
original_image:
  description: The image the container had before its first hijack (what pod_restore puts back).
  returned: when O(mode=image)
  type: str
  sample: registry.example.com/shop/web:1.4.1
image_id:
  description: The image ID (digest) the runtime reports for the new container.
  returned: when O(mode=image), O(wait=true) and the container is running
  type: str
  sample: registry.example.com/shop/web@sha256:5e1f0c8d...
restart_count:
  description: The container's restart count after the swap (one more than before).
  returned: when O(mode=image), O(wait=true) and the swap succeeded
  type: int
  sample: 1
elapsed:
  description: Seconds from the write until the container, debug container or copy was ready.
  returned: when something was changed and O(wait=true)
  type: float
  sample: 2.41
container_status:
  description: The last seen status of the hijacked container, flattened.
  returned: when O(mode=image) and O(wait=true)
  type: dict
  sample: {state: running, reason: null, message: null, image: "registry.example.com/shop/web:1.4.2-debug",
           image_id: "registry.example.com/shop/web@sha256:5e1f...", restart_count: 1, ready: true}
rollback:
  description:
    - What the rollback after a failed swap did. V(outcome) is V(done) when the previous image runs and is ready
      again.
  returned: when O(mode=image) failed and O(rollback_on_failure=true)
  type: dict
  sample: {image: "registry.example.com/shop/web:1.4.1", outcome: done, elapsed: 1.9,
           image_id: "registry.example.com/shop/web@sha256:1a2b..."}
debug_container:
  description: The ephemeral container and its last seen status.
  returned: when O(mode=debug_container)
  type: dict
  sample: {name: triage-debug, image: "busybox:1.36", target_container: app, state: running, ready: false}
copy_pod:
  description:
    - The copy (same fields as RV(pod)), with C(container_status) after the wait.
    - Named C(copy_pod) rather than C(copy) because C(result.copy) is a method of every dictionary in Jinja.
  returned: when O(mode=copy)
  type: dict
  sample: {name: web-debug-copy, namespace: shop, ip: 10.244.2.9, node: node-2, phase: Running,
           labels: {triage.k8s/isolated: "true"}}
patch:
  description: The strategic-merge patch sent (or, in check mode, that would be sent).
  returned: when O(mode=image) or O(mode=debug_container) and a change is needed
  type: dict
  sample: {metadata: {resourceVersion: "4711", annotations: {triage.k8s/hijack-mode: image}},
           spec: {containers: [{name: app, image: "registry.example.com/shop/web:1.4.2-debug"}]}}
body:
  description: The Pod created for the copy (or, in check mode, that would be created).
  returned: when O(mode=copy) and the copy did not exist
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.triage.k8s.plugins.module_utils.glue.module import api_client as connect, finish, run
from ansible_collections.triage.k8s.plugins.module_utils.glue.options import (
    input_problems,
    default_actor,
    module_spec,
    verb_options,
)
from ansible_collections.triage.k8s.plugins.module_utils.hijack.plan import (
    DEBUG_PROFILES,
    MODES,
    HijackError,
    validate_image_reference,
)
from ansible_collections.triage.k8s.plugins.module_utils.hijack.run import run as hijack
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import format_rfc3339, utc_now

# Options that only make sense in some modes; giving them elsewhere is a mistake worth reporting.
MODE_ONLY_OPTIONS = {
    "target_container": ("debug_container",),
    "security_context": ("debug_container",),
    "copy_name": ("copy",),
    "command": ("debug_container", "copy"),
    "args": ("debug_container", "copy"),
    "env": ("debug_container", "copy"),
}


def argument_spec():
    return module_spec(
        name_required=True,
        wait_timeout=120,
        force=True,
        mode=dict(type="str", choices=list(MODES), default="image"),
        container=dict(type="str"),
        image=dict(type="str"),
        command=dict(type="list", elements="str"),
        args=dict(type="list", elements="str"),
        env=dict(type="raw"),
        target_container=dict(type="str"),
        debug_name=dict(type="str", default="triage-debug"),
        profile=dict(type="str", choices=sorted(DEBUG_PROFILES), default="baseline"),
        security_context=dict(type="dict"),
        copy_name=dict(type="str"),
        rollback_on_failure=dict(type="bool", default=True),
        hijacked_by=dict(type="str"),
    )


def check_params(params):
    """Input mistakes, reported before any request is sent."""
    for option, modes in MODE_ONLY_OPTIONS.items():
        if params[option] is not None and params["mode"] not in modes:
            hint = " (the API server forbids changing it in place; use mode=copy)" if params["mode"] == "image" else ""
            raise HijackError("%s cannot be used with mode=%s; it applies to mode %s%s"
                              % (option, params["mode"], " or ".join(modes), hint))
    if params["image"] is not None:
        validate_image_reference(params["image"])
    problems = input_problems(params, {})
    if problems:
        raise HijackError("; ".join(problems))


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("mode", "image", ("image",)), ("mode", "debug_container", ("image",))],
        supports_check_mode=True,
    )
    try:
        check_params(module.params)
    except HijackError as exc:
        module.fail_json(msg=str(exc))
    options = verb_options(module.params)
    api_client = connect(module)
    who = module.params["hijacked_by"] or default_actor(module.params)
    finish(module, run(module, lambda: hijack(api_client, options, module.check_mode, module._diff,
                                              format_rfc3339(utc_now()), who), client=api_client), client=api_client)


if __name__ == "__main__":
    main()
