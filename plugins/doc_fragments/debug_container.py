# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The debug container of the evidence modules (pod_dump via=debug_container, pod_fetch's fallback): evidence/debug.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  debug_name:
    description:
      - The name of the debug container, an ephemeral container that targets O(container) (it shares that
        container's PID namespace) and runs a bounded C(sleep), so it ends by itself.
      - By default C(triage-debug-<hash of the container and the image>). A later run reuses that container while
        it is running with the same image and has time left for the run. Otherwise the run takes the next free
        name (C(-2), C(-3)...).
      - A named one that cannot be reused (ended, another image, about to end) is an error. Ephemeral
        containers can never be changed or removed.
    type: str
  debug_profile:
    description:
      - The security settings of the debug container, the profiles of C(kubectl debug --profile). V(baseline)
        adds nothing. V(general) adds C(SYS_PTRACE), which root needs to read C(/proc/PID/root) and
        C(/proc/PID/maps) of a process of another user when the pod spec does not name that user.
        V(restricted) needs a debug image that runs as non-root. V(netadmin) adds C(NET_ADMIN) and C(NET_RAW).
        V(sysadmin) makes it privileged.
      - The target container's C(runAsUser)/C(runAsGroup) are added in any case.
    type: str
    choices: [baseline, general, netadmin, restricted, sysadmin]
    default: baseline
  debug_timeout:
    description: Seconds to wait for the debug container to run, its image pull included. A debug image that
      cannot be pulled fails at once with the kubelet's reason.
    type: int
    default: 120
notes:
  - An ephemeral container can never be removed from a pod. The debug container stays in the pod spec, where
    RV(debug_container) names it. The run reports C(changed=true) once it was added, whatever fails after.
  - The debug container needs C(patch) on C(pods/ephemeralcontainers) and C(watch) on C(pods) (the shipped
    Role grants them).
  - When the pod spec sets C(runAsUser)/C(runAsGroup) on O(container), the debug container runs as the same
    user. The pod's own security context applies to it anyway. Otherwise it runs as the debug image's user,
    which must be the user of the target's processes, or root with O(debug_profile=general).
    C(/proc/PID/root) and C(/proc/PID/maps) of another user's process are closed without ptrace rights.
'''
