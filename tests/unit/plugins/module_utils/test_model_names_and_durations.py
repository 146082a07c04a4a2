# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label selector semantics (k8s_semantics.md §8) and durations."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.model.durations import format_rfc3339, parse_duration, parse_rfc3339
from ansible_collections.triage.k8s.plugins.module_utils.model.names import (
    is_valid_label_key,
    label_selector_matches,
    parse_selector_string,
    requirements_match,
    service_selector_matches,
)

LABELS = {"app": "web", "tier": "front"}


def test_empty_service_selector_selects_nothing():
    assert not service_selector_matches({}, LABELS)
    assert not service_selector_matches(None, LABELS)
    assert service_selector_matches({"app": "web"}, LABELS)
    assert not service_selector_matches({"app": "web", "zone": "a"}, LABELS)


@pytest.mark.parametrize("selector, expected", [
    (None, False),
    ({}, True),
    ({"matchLabels": {"app": "web"}}, True),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}, True),
    ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True),  # absent key passes
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
])
def test_label_selector_objects(selector, expected):
    assert label_selector_matches(selector, LABELS) is expected


def test_selector_strings():
    reqs = parse_selector_string("app=web,tier in (front, back),!canary,zone!=b")
    assert requirements_match(reqs, LABELS)
    assert not requirements_match(reqs, dict(LABELS, canary="1"))
    with pytest.raises(ValueError, match="cannot parse"):
        parse_selector_string("app=(web")
    assert parse_selector_string("app==") == [("app", "=", [""])]  # an empty value is valid, as in kubectl
    with pytest.raises(ValueError):
        parse_selector_string("app=web,,tier=x")


def test_label_keys():
    assert is_valid_label_key("app.kubernetes.io/name")
    assert not is_valid_label_key("Bad_Prefix/x")
    assert not is_valid_label_key("a/" + "x" * 64)


@pytest.mark.parametrize("text, seconds", [("24h", 86400), ("1h30m", 5400), ("90s", 90), ("2d", 172800),
                                           ("45", 45), (30, 30), ("1w", 604800)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "tomorrow", "5x", "-3h"])
def test_bad_durations_say_what_is_accepted(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_timestamps_round_trip():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert format_rfc3339(moment) == "2026-01-02T03:04:05Z"
    assert parse_rfc3339("2026-01-02T03:04:05Z") == moment
    assert parse_rfc3339("2026-01-02T03:04:05.123456789Z").second == 5
