# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Where the collecting modules (pod_logs, pod_snapshot, pod_exec, and the dump and copy modules) write.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  name:
    description: The pod.
    type: str
    required: true
  namespace:
    description: Namespace of the pod.
    type: str
    required: true
  bundle:
    description:
      - An incident bundle directory, the RV(triage.k8s.incident_bundle#module:path) returned by
        M(triage.k8s.incident_bundle) with O(triage.k8s.incident_bundle#module:state=present).
      - Artifacts are written into it and listed in its C(manifest.json) (size, sha256, module, options,
        container, times) as they complete; failures are listed there too.
      - In check mode the directory may not exist yet (incident_bundle in check mode only says which path it
        would create); nothing is written.
      - Mutually exclusive with O(dest); one of the two is required.
    type: path
  dest:
    description:
      - A plain directory to write the same files into, without a manifest. Created (mode 0700) when missing;
        its parent must exist.
    type: path
  fail_on_error:
    description:
      - When one item fails (one container's log, one object of a snapshot), the others are still collected
        and the failure is recorded in the manifest and returned in RV(failures), with a warning.
      - V(true) makes the task fail at the end in that case (after recording everything).
    type: bool
    default: false
notes:
  - Files are written 0600 and directories 0700 whatever the umask; nothing is written outside O(bundle) or
    O(dest). A file is written under the directory's C(.work/) and renamed into place only when complete.
'''
