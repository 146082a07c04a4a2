# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every read the evidence modules make, on the kube layer's reads and transport. All return plain JSON dicts;
failures are KubeError sentences (ApiError subclasses) or PodNotFound."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.triage.k8s.plugins.module_utils.kube import reads
from ansible_collections.triage.k8s.plugins.module_utils.model.pods import controller_ref


def owner_chain(api_client, pod, record=None):
    """[controller, top owner] that exist (ReplicaSet then Deployment, Job then CronJob, StatefulSet...).

    An isolated pod was released by its controller (no ownerReference any more); its record names the owners
    it had, and those are read instead (same uid, or they count as gone).
    """
    if controller_ref(pod) is None and record and record.get("controller"):
        namespace = pod["metadata"]["namespace"]
        owners = [reads.read_owner(api_client, namespace, ref)
                  for ref in (record.get("controller"), record.get("top_owner")) if ref]
        return [o for o in owners if o]
    controller, top = reads.read_owner_chain(api_client, pod)
    return [o for o in (controller, top) if o]


def list_namespaced(api_client, prefix, plural, namespace, kind, field_selector=None):
    """Items of one namespaced LIST (apiVersion and kind filled in)."""
    items, _rv = reads.list_objects(api_client, prefix, plural, namespace, kind, field_selector=field_selector)
    return items


def events_of(api_client, namespace, obj):
    """core/v1 Events whose involvedObject is obj (matched by uid, the name can be reused)."""
    metadata = obj.get("metadata") or {}
    selector = "involvedObject.name=%s" % metadata.get("name")
    if obj.get("kind"):
        selector += ",involvedObject.kind=%s" % obj["kind"]
    events = list_namespaced(api_client, "api/v1", "events", namespace, "Event", field_selector=selector)
    uid = metadata.get("uid")
    return [e for e in events if not uid or (e.get("involvedObject") or {}).get("uid") in (None, uid)]


def server_url(api_client):
    return getattr(api_client.configuration, "host", None)


def context_name(settings):
    """The kubeconfig context in use: the one asked for, else the kubeconfig's current-context, else None."""
    if settings.get("context"):
        return settings["context"]
    kubeconfig = settings.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        return kubeconfig.get("current-context")
    if isinstance(kubeconfig, str) and os.path.isfile(kubeconfig):
        try:
            import yaml
            with open(kubeconfig) as handle:
                return (yaml.safe_load(handle) or {}).get("current-context")
        except Exception:  # pylint: disable=broad-except
            return None
    return None
