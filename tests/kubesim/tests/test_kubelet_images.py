"""Image references as the runtime reports them (spec §5.2: `image` is the normalised reference, `imageID` a
digest reference) and the simulated image kinds documented in kubesim/kubelet/images.py."""
from __future__ import annotations

import pytest

from kubesim.kubelet.images import CRASH, JAVA, QUIET, WEB, InvalidImageName, parse_image


@pytest.mark.parametrize("image, normalized", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.27", "docker.io/library/nginx:1.27"),
    ("kubesim/web:v1", "docker.io/kubesim/web:v1"),
    ("quay.io/prometheus/node-exporter:v1.8.0", "quay.io/prometheus/node-exporter:v1.8.0"),
    ("localhost:5000/team/app:dev", "localhost:5000/team/app:dev"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
])
def test_normalised_references(image, normalized):
    assert parse_image(image).normalized == normalized


def test_image_id_is_a_deterministic_digest_reference():
    first, again, other = parse_image("nginx:1.27"), parse_image("docker.io/library/nginx:1.27"), \
        parse_image("nginx:1.28")
    assert first.image_id == again.image_id
    assert first.image_id.startswith("docker.io/library/nginx@sha256:") and len(first.image_id) == 31 + 64
    assert other.image_id != first.image_id
    pinned = parse_image("busybox@sha256:" + "b" * 64)
    assert pinned.image_id == "docker.io/library/busybox@sha256:" + "b" * 64


def test_simulated_kinds_and_pullability():
    assert parse_image("kubesim/web:any-tag").kind == WEB
    assert parse_image("kubesim/java:21").kind == JAVA
    assert parse_image("docker.io/kubesim/crash:x").kind == CRASH
    assert parse_image("nginx").kind == QUIET
    assert not parse_image("registry.invalid/app:1").pullable
    assert not parse_image("mirror.corp.invalid:5000/app:1").pullable
    assert parse_image("registry.example.com/app:1").pullable


@pytest.mark.parametrize("image", ["Nginx", "nginx:", "a//b", "nginx@md5:abc", " nginx"])
def test_invalid_references(image):
    with pytest.raises(InvalidImageName, match="invalid reference format"):
        parse_image(image)
