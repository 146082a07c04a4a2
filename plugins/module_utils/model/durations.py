# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Durations ("24h", "1h30m", "90s", "2d", or a plain number of seconds), RFC 3339 timestamps, the deadline
that bounds one task, and the per-phase timings it reports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re
import time

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text):
    """Seconds (float) for a duration string. Raises ValueError with the accepted forms."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("duration must not be negative, got %r" % (text,))
        return float(text)
    original = text
    text = str(text).strip().lower()
    if re.match(r"^\d+(\.\d+)?$", text):
        return float(text)
    if not text:
        raise ValueError("empty duration")
    total = 0.0
    while text:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(
                "invalid duration %r: use a number with a unit s, m, h, d or w, e.g. 90s, 30m, 24h, 1h30m, 7d"
                % (original,)
            )
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        text = text[match.end():]
    return total


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def format_rfc3339(moment):
    """RFC 3339 UTC with a Z suffix and whole seconds, as Kubernetes writes timestamps."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text):
    """Parse the timestamps Kubernetes and this collection write (Z or +00:00, optional fraction)."""
    if not text:
        raise ValueError("empty timestamp")
    value = text.strip()
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    # Python < 3.11 fromisoformat cannot read arbitrary fractions; trim them to microseconds.
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", value)
    if not match:
        raise ValueError("invalid RFC 3339 timestamp %r" % (text,))
    fraction = (match.group(2) or "")[:7]
    moment = datetime.datetime.fromisoformat(match.group(1) + fraction + match.group(3))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


class Deadline(object):
    """One budget for every phase of a task (wait_timeout), on a monotonic clock."""

    def __init__(self, seconds, clock=time.monotonic):
        self._clock = clock
        self.end = clock() + seconds

    def remaining(self):
        return max(0.0, self.end - self._clock())

    def expired(self):
        return self.remaining() <= 0


class PhaseTimer(object):
    """Per-phase durations in seconds, returned to the user as `timings`."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.timings = {}
        self._started = clock()

    def mark(self, phase):
        now = self._clock()
        self.timings[phase] = round(now - self._started, 3)
        self._started = now
