# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A pod as the API returns it, for the evidence tests: one container that was OOMKilled and restarted."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "shop", "uid": "uid-1", "resourceVersion": "7",
                 "labels": {"app": "web"}},
    "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "shop/web:1",
                                                   "resources": {"limits": {"memory": "256Mi"}}}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
               "containerStatuses": [{
                   "name": "app", "image": "docker.io/shop/web:1", "imageID": "docker.io/shop/web@sha256:abc",
                   "containerID": "containerd://c1", "restartCount": 3, "ready": False,
                   "state": {"running": {"startedAt": "2026-12-01T10:05:00Z"}},
                   "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                                "startedAt": "2026-12-01T10:00:00Z",
                                                "finishedAt": "2026-12-01T10:04:59Z"}}}]},
}
