# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Container image references: the one validation and the one normalisation, used wherever images are compared.

A runtime reports ``nginx`` as ``docker.io/library/nginx:latest``; comparing the two as strings says they
differ. ``images_equivalent`` is the comparison every module uses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Image reference grammar of github.com/distribution/reference (what container runtimes accept).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    r"^(?P<name>(?:(?P<domain>%s)/)?%s(?:/%s)*)(?::(?P<tag>%s))?(?:@(?P<digest>%s))?$"
    % (_DOMAIN, _PATH_COMPONENT, _PATH_COMPONENT, _TAG, _DIGEST))


def image_reference_problem(image):
    """None for a valid image reference, else a sentence saying why a runtime would refuse it."""
    if not isinstance(image, str) or not image:
        return "image must be a non-empty image reference such as registry.example.com/app:1.2"
    if image != image.strip() or any(c.isspace() for c in image):
        return "invalid image reference %r: it must not contain whitespace" % image
    match = _REFERENCE.match(image)
    if not match:
        return ("invalid image reference %r: expected [registry[:port]/]path[:tag][@algorithm:digest] with a "
                "lower-case path, for example registry.example.com/team/app:1.2" % image)
    if len(match.group("name")) > 255:
        return "invalid image reference %r: the repository name is longer than 255 characters" % image
    return None


def normalize_image(image):
    """The fully qualified form a runtime reports (docker.io/library/nginx:latest), for comparisons."""
    if not image:
        return image
    match = _REFERENCE.match(image)
    if not match:
        return image
    name, tag, digest = match.group("name"), match.group("tag"), match.group("digest")
    first, sep, rest = name.partition("/")
    # Like the Docker normalizer: the first component is a registry only if it looks like a host.
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    result = "%s/%s" % (domain, path)
    if tag:
        result += ":" + tag
    elif not digest:
        result += ":latest"
    if digest:
        result += "@" + digest
    return result


def images_equivalent(requested, reported):
    """True when the runtime's reported image (or image ID) is the requested reference."""
    if not requested or not reported:
        return False
    if requested == reported:
        return True
    if normalize_image(requested) == normalize_image(reported):
        return True
    # A digest-pinned request is satisfied by an imageID with the same digest.
    if "@" in requested and reported.endswith("@" + requested.split("@", 1)[1]):
        return True
    return False


def status_runs_image(status, image):
    """Does a container status report ``image`` (by its image or its image ID)?"""
    status = status or {}
    return images_equivalent(image, status.get("image")) or images_equivalent(image, status.get("imageID"))
