# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who owns a replace-first that is half done: the run that wrote `releasing`, until wait_timeout has passed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.triage.k8s.plugins.module_utils.isolate import run as isolation_run
from ansible_collections.triage.k8s.plugins.module_utils.model.durations import format_rfc3339, utc_now


def written(seconds_ago):
    return {"isolated_at": format_rfc3339(utc_now() - datetime.timedelta(seconds=seconds_ago))}


def test_a_record_younger_than_wait_timeout_is_still_owned_by_its_run():
    assert isolation_run._releasing_is_stale(written(10), 300) is False


def test_a_record_older_than_wait_timeout_was_interrupted():
    assert isolation_run._releasing_is_stale(written(301), 300) is True


def test_a_record_without_a_readable_time_counts_as_interrupted():
    assert isolation_run._releasing_is_stale({"isolated_at": None}, 300) is True
    assert isolation_run._releasing_is_stale({"isolated_at": "yesterday"}, 300) is True


def owned(deadline_seconds, phase="releasing"):
    record = written(0)
    record.update(phase=phase, run_deadline=format_rfc3339(utc_now() + datetime.timedelta(seconds=deadline_seconds)))
    return record


def test_the_run_deadline_in_the_record_decides_who_owns_the_cut():
    # The record's own deadline wins over the rerun's wait_timeout, both ways.
    assert isolation_run._releasing_is_stale(owned(30), 1) is False
    assert isolation_run._releasing_is_stale(owned(-1), 3600) is True


def test_a_record_marked_interrupted_belongs_to_nobody():
    assert isolation_run._releasing_is_stale(owned(3600, phase="interrupted"), 3600) is True
    assert isolation_run._owner_deadline(owned(3600, phase="interrupted"), 3600) is None
