# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Object names, label keys and values, and local label matching with the semantics of apimachinery.

Services carry a plain map selector (every pair must be equal). Workload controllers, PDBs and
NetworkPolicies carry a metav1.LabelSelector: matchLabels plus matchExpressions (In, NotIn, Exists,
DoesNotExist). Matching locally is what lets the planner read all Services with ONE list call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# A label value: empty, or at most 63 chars of [A-Za-z0-9_.-] starting and ending with an alphanumeric.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# A label key: optional DNS-subdomain prefix "/" then a name of at most 63 chars.
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME_LENGTH = 253


def is_dns_subdomain(value):
    """A valid name for most objects (pods included): RFC 1123 subdomain, at most 253 characters."""
    return isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and bool(_DNS_SUBDOMAIN.match(value))


def is_dns_label(value):
    """A valid container name: RFC 1123 label, at most 63 characters."""
    return isinstance(value, str) and len(value) <= 63 and bool(_DNS_LABEL.match(value))


def is_valid_label_value(value):
    return isinstance(value, str) and len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def is_valid_label_key(key):
    if not isinstance(key, str) or not key:
        return False
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or not is_dns_subdomain(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.match(name))


def service_selector_matches(selector, labels):
    """A Service's spec.selector: None or {} selects no pods (the endpoints controller skips it)."""
    if not selector:
        return False
    labels = labels or {}
    return all(key in labels and labels[key] == value for key, value in selector.items())


def _expression_matches(expression, labels):
    key = expression.get("key")
    operator = expression.get("operator")
    values = expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        # True when the key is absent, as in apimachinery.
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError("unsupported label selector operator %r for key %r" % (operator, key))


def label_selector_matches(selector, labels):
    """A metav1.LabelSelector: None selects nothing, {} selects everything."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value or key not in labels:
            return False
    return all(_expression_matches(expr, labels) for expr in selector.get("matchExpressions") or [])


def label_selector_keys(selector):
    """Every label key a LabelSelector looks at."""
    if not selector:
        return set()
    keys = set((selector.get("matchLabels") or {}).keys())
    keys.update(expr.get("key") for expr in selector.get("matchExpressions") or [])
    return keys


def parse_selector_string(text):
    """Parse the equality/set-based selector string users pass as label_selector into requirements.

    Returns a list of (key, operator, values) with operator in
    "=", "!=", "in", "notin", "exists", "!exists". Raises ValueError with a readable message.
    The string itself is sent to the API server as-is; this parse validates it up front and lets
    tests and check mode match locally.
    """
    requirements = []
    for part in _split_top_level(text):
        part = part.strip()
        if not part:
            raise ValueError("empty requirement in label selector %r" % text)
        match = re.match(r"^([^\s!=<>(),]+)\s+(in|notin)\s+\(([^)]*)\)$", part)
        if match:
            values = [v.strip() for v in match.group(3).split(",") if v.strip()]
            requirements.append((match.group(1), match.group(2), values))
            continue
        match = re.match(r"^([^\s!=<>(),]+)\s*(==|=|!=)\s*([^\s!=<>(),]*)$", part)
        if match:
            operator = "!=" if match.group(2) == "!=" else "="
            requirements.append((match.group(1), operator, [match.group(3)]))
            continue
        match = re.match(r"^(!?)\s*([^\s!=<>(),]+)$", part)
        if match:
            requirements.append((match.group(2), "!exists" if match.group(1) else "exists", []))
            continue
        raise ValueError("cannot parse %r in label selector %r" % (part, text))
    for key, _operator, values in requirements:
        if not is_valid_label_key(key):
            raise ValueError("invalid label key %r in label selector %r" % (key, text))
        for value in values:
            if not is_valid_label_value(value):
                raise ValueError("invalid label value %r in label selector %r" % (value, text))
    return requirements


def _split_top_level(text):
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def requirements_match(requirements, labels):
    labels = labels or {}
    for key, operator, values in requirements:
        if operator in ("=", "in") and (key not in labels or labels[key] not in values):
            return False
        if operator in ("!=", "notin") and key in labels and labels[key] in values:
            return False
        if operator == "exists" and key not in labels:
            return False
        if operator == "!exists" and key in labels:
            return False
    return True
