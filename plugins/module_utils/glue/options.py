# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The option specs every module repeats, with one meaning and one set of bounds.

The doc fragments triage.k8s.k8s_auth, triage.k8s.pod_target, triage.k8s.wait and triage.k8s.force document
them; a module states its own default (wait_timeout) in its spec and its DOCUMENTATION.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import socket

from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import AUTH_ARG_SPEC, auth_argument_spec
from ansible_collections.triage.k8s.plugins.module_utils.model.names import parse_selector_string


def module_spec(name_required=False, wait_timeout=None, force=False, **own):
    """The argument spec of a module: the connection options, namespace (required) and name, then
    wait/wait_timeout when ``wait_timeout`` (the module's default) is given, force when asked, then ``own``."""
    spec = auth_argument_spec()
    spec.update(
        name=dict(type="str", required=name_required),
        namespace=dict(type="str", required=True),
    )
    if wait_timeout is not None:
        spec.update(wait=dict(type="bool", default=True), wait_timeout=dict(type="int", default=wait_timeout))
    if force:
        spec.update(force=dict(type="bool", default=False))
    spec.update(own)
    return spec


def input_problems(params, minimums):
    """Messages for the input mistakes every module checks before any request: integer options below their
    minimum (``wait_timeout`` is at least 0 in every module) and a label_selector that does not parse."""
    limits = dict(minimums)
    if "wait_timeout" in params:
        # A negative budget would make the wait fail only after the first write was already done.
        limits.setdefault("wait_timeout", 0)
    problems = ["%s must be at least %d, got %d" % (option, minimum, params[option])
                for option, minimum in sorted(limits.items())
                if params.get(option) is not None and params[option] < minimum]
    if params.get("label_selector"):
        try:
            parse_selector_string(params["label_selector"])
        except ValueError as exc:
            problems.append("label_selector: %s" % exc)
    return problems


def verb_options(params):
    """The module's own options (everything but the connection), as the verb packages receive them."""
    return dict((k, v) for k, v in params.items() if k not in AUTH_ARG_SPEC)


def default_actor(params):
    """Who did it, for the record: the impersonated user, else user@host of the machine running the module."""
    if params.get("impersonate_user"):
        return params["impersonate_user"]
    try:
        return "%s@%s" % (getpass.getuser(), socket.gethostname())
    except Exception:  # pylint: disable=broad-except
        return "unknown"
