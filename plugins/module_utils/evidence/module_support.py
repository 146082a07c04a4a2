# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every evidence module shares: its options (documented by the triage.k8s.evidence doc fragment), the
target it writes into, and turning each known error into one fail_json sentence."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import KubeError
from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import auth_argument_spec
from ansible_collections.triage.k8s.plugins.module_utils.evidence import bundle as bundle_mod
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import PodNotFound
from ansible_collections.triage.k8s.plugins.module_utils.evidence.files import EvidencePathError
from ansible_collections.triage.k8s.plugins.module_utils.evidence.manifest import ManifestError
from ansible_collections.triage.k8s.plugins.module_utils.kube.streams import StreamError
from ansible_collections.triage.k8s.plugins.module_utils.model.ephemeral import DEBUG_PROFILES

KNOWN_ERRORS = (KubeError, PodNotFound, EvidencePathError, ManifestError, StreamError, OSError)


def collector_argument_spec(**extra):
    spec = auth_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        bundle=dict(type="path"),
        dest=dict(type="path"),
        fail_on_error=dict(type="bool", default=False),
    )
    spec.update(extra)
    return spec


# The debug container's options other than debug_image (documented by the triage.k8s.debug_container fragment).
DEBUG_OPTIONS = dict(
    debug_name=dict(type="str"),
    debug_timeout=dict(type="int", default=120),
    debug_profile=dict(type="str", default="baseline", choices=sorted(DEBUG_PROFILES)),
)

COLLECTOR_MUTUALLY_EXCLUSIVE = [("bundle", "dest")]
COLLECTOR_REQUIRED_ONE_OF = [("bundle", "dest")]


def describe(exc):
    if isinstance(exc, OSError) and not isinstance(exc, (EvidencePathError,)):
        return "cannot write evidence: %s%s" % (exc.strerror or exc, " (%s)" % exc.filename if exc.filename else "")
    return str(exc)


def open_target(module):
    """The bundle or dest target (None in check mode), or fail_json with the reason."""
    try:
        return bundle_mod.open_target(module.params.get("bundle"), module.params.get("dest"), module.check_mode)
    except KNOWN_ERRORS as exc:
        module.fail_json(msg=describe(exc))


def finish(module, result, failures, what):
    """Warn about each failure; fail at the end when the user asked for it. A failure recorded in a bundle is a
    write (its manifest lists it), so the run says changed."""
    if failures and module.params.get("bundle") and not module.check_mode:
        result["changed"] = True
    for failure in failures:
        module.warn("%s: %s" % (failure.get("what"), failure.get("error")))
    if failures and module.params.get("fail_on_error"):
        module.fail_json(msg="%d of the %s failed (recorded in the manifest): %s" % (
            len(failures), what, "; ".join(f.get("error") for f in failures)), **result)
    module.exit_json(**result)
