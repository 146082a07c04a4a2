# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""evidence/storage.py: quantities, and which ephemeral-storage limits a directory of a container counts against."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence import storage


def pod(limits=(None, None), volumes=None, mounts=None):
    containers = []
    for index, limit in enumerate(limits):
        container = {"name": "c%d" % index, "image": "x"}
        if limit:
            container["resources"] = {"limits": {"ephemeral-storage": limit}}
        containers.append(container)
    containers[0]["volumeMounts"] = mounts or []
    return {"spec": {"containers": containers, "volumes": volumes or []}}


@pytest.mark.parametrize("text, expected", [
    ("300Mi", 300 * 2 ** 20), ("1G", 10 ** 9), ("1.5Gi", 3 * 2 ** 29), ("5e8", 5 * 10 ** 8), ("1500m", 2),
    ("128974848", 128974848), ("100k", 100000), ("", None), (None, None)])
def test_quantities(text, expected):
    assert storage.quantity_bytes(text) == expected


@pytest.mark.parametrize("text", ["12XB", "Mi", "1 Gi", "-"])
def test_bad_quantities_are_an_error(text):
    with pytest.raises(storage.StorageError):
        storage.quantity_bytes(text)


def test_the_writable_layer_counts_against_the_containers_limit_and_the_pods_sum():
    where = storage.placement(pod(("300Mi", "200Mi")), "c0", "/tmp")
    assert where["on"] == "writable-layer" and where["du_path"] == "/tmp"
    assert [(l["bytes"], l["source"]) for l in where["limits"]] == [
        (300 * 2 ** 20, "limits.ephemeral-storage of container c0"),
        (500 * 2 ** 20, "the sum of the pod's containers' limits.ephemeral-storage")]
    # One container with a limit: the pod's sum is the same figure, listed once.
    assert len(storage.placement(pod(("300Mi", None)), "c0", "/tmp")["limits"]) == 1
    # No limit on this container, one on the other: the pod's sum still counts this container's layer.
    assert [l["bytes"] for l in storage.placement(pod((None, "1Gi")), "c0", "/tmp")["limits"]] == [2 ** 30]
    assert storage.placement(pod(), "c0", "/tmp")["limits"] == []


def test_a_disk_emptydir_counts_its_size_limit_and_the_pod_a_memory_one_or_a_volume_none():
    volumes = [{"name": "dumps", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "ram", "emptyDir": {"medium": "Memory"}},
               {"name": "pvc", "persistentVolumeClaim": {"claimName": "x"}}]
    mounts = [{"name": "dumps", "mountPath": "/dumps"}, {"name": "ram", "mountPath": "/dumps/ram"},
              {"name": "pvc", "mountPath": "/data/"}]
    spec = pod(("4Gi", None), volumes, mounts)
    where = storage.placement(spec, "c0", "/dumps/heap")
    assert where["on"] == "emptyDir" and where["volume"] == "dumps" and where["du_path"] == "/dumps"
    assert [l["source"] for l in where["limits"]] == ["sizeLimit of emptyDir dumps",
                                                      "the sum of the pod's containers' limits.ephemeral-storage"]
    memory = storage.placement(spec, "c0", "/dumps/ram")
    assert memory["on"] == "memory" and memory["limits"] == [] and memory["du_path"] is None
    volume = storage.placement(spec, "c0", "/data")
    assert volume["on"] == "volume" and volume["limits"] == []
    # /dumpsX is not below /dumps
    assert storage.placement(spec, "c0", "/dumpsX")["on"] == "writable-layer"


def test_du_output():
    assert storage.parse_du("2048\t/tmp\n") == 2 * 1024 * 1024
    with pytest.raises(storage.StorageError):
        storage.parse_du("du: cannot read directory")
