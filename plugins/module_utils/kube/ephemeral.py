# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Adding an ephemeral container to a pod, and waiting for it: the one implementation, for pod_hijack's
debug_container mode and the evidence modules' debug-container path.

The body, the check of an existing container and the verdict are pure (model/ephemeral.py). The patch goes to the
``ephemeralcontainers`` subresource, conditioned on the resourceVersion read, through write_with_replan: on a lost
race the pod is read again and ``still_needed(fresh)`` decides again (a concurrent run may have added it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import Forbidden, Invalid, KubeError
from ansible_collections.triage.k8s.plugins.module_utils.kube.reads import read_pod
from ansible_collections.triage.k8s.plugins.module_utils.kube.watch import watch_pod
from ansible_collections.triage.k8s.plugins.module_utils.kube.writes import (
    SubresourceMissing,
    strategic_patch_pod,
    write_with_replan,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.ephemeral import build_ephemeral_patch, ephemeral_verdict
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import pod_ref

SUBRESOURCE = "ephemeralcontainers"


class EphemeralRefused(KubeError):
    """The API server refused the ephemeral container (RBAC, validation, no subresource); nothing was added."""


def patch_ephemeral(api_client, pod, body):
    """Send one ephemeralcontainers patch; the refusals become EphemeralRefused with the RBAC verb to grant."""
    namespace = pod["metadata"]["namespace"]
    resource = "pods/" + SUBRESOURCE
    try:
        return strategic_patch_pod(api_client, pod, body, subresource=SUBRESOURCE)
    except SubresourceMissing as exc:
        raise EphemeralRefused(str(exc))
    except Forbidden as exc:
        raise EphemeralRefused(
            "permission denied: patching %s of pod %s needs the RBAC verb 'patch' on the resource '%s' "
            "(API group \"\") in namespace %s. Server said: %s"
            % (resource, pod_ref(pod), resource, namespace, exc.server_message()))
    except Invalid as exc:
        raise EphemeralRefused("the API server refused the change to %s of pod %s: %s"
                               % (resource, pod_ref(pod), exc.server_message()))


def add_ephemeral_container(api_client, pod, container, still_needed, what):
    """Add ``container`` to ``pod`` (already read) unless ``still_needed(fresh_pod)`` says it is no longer
    needed. Returns ``(updated_pod or None, pod_planned_from)``: None when nothing was sent.

    ``still_needed`` may raise the caller's own refusal. Raises EphemeralRefused, KeptChanging (lost races),
    PodNotFound (deleted meanwhile).
    """
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]

    def replan(fresh):
        if not still_needed(fresh):
            return None
        body = build_ephemeral_patch(fresh, container)
        return lambda current: patch_ephemeral(api_client, current, body)

    return write_with_replan(lambda: read_pod(api_client, namespace, name), replan, what, first=pod)


def wait_ephemeral(api_client, pod, name, timeout, running_only=False):
    """Watch until ephemeral container ``name`` of ``pod`` runs (or failed, or the time is up):
    ``(outcome, detail, latest_pod, seconds)`` as watch_pod returns them."""
    return watch_pod(api_client, pod["metadata"]["namespace"], pod["metadata"]["name"], pod,
                     lambda current: ephemeral_verdict(current, name, running_only=running_only), timeout)
