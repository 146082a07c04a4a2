# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The options and attributes every triage.k8s module repeats (the argument specs come from
# plugins/module_utils/glue/options.py). A module adds its own default and, where it means more, its own
# description; the fragment keeps the shared meaning in one place.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options: {}
'''

    NAMESPACE = r'''
options:
  namespace:
    description:
      - Namespace of the pod(s).
    type: str
    required: true
'''

    WAIT = r'''
options:
  wait:
    description:
      - Wait until the change took effect (what that means is in the module's description). Waiting watches the
        API server; it never polls with sleeps.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait in total, across every phase of the task. Must be at least V(0).
    type: int
'''

    FORCE = r'''
options:
  force:
    description:
      - Override the module's safety refusals (which ones is in the module's description). Nothing that was not
        asked for is ever deleted, with or without it.
    type: bool
    default: false
'''

    ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in check mode and report what would change, sending no mutating request to the API server.
  diff_mode:
    description: Will show what has changed (or would change in check mode) when run with C(--diff).
  action_group:
    description: Use C(group/triage.k8s.pods) in C(module_defaults) to set the connection options.
    support: full
    membership: [triage.k8s.pods]
'''
