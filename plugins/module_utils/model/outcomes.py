# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The two ways a verb ends without success, shared by every verb and turned into fail_json by the glue."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class Refused(Exception):
    """The verb refused before writing anything: bad input, an unsafe request, a guard. Nothing was changed.

    ``result`` holds extra return values for the user (an isolation plan, say), or {}.
    """

    def __init__(self, message, result=None):
        Exception.__init__(self, message)
        self.result = dict(result or {})


class PartialFailure(Exception):
    """The verb started and could not finish. ``result`` is the module result so far: its ``changed`` says
    whether a write was accepted, and the message says which state the object was left in."""

    def __init__(self, message, result):
        Exception.__init__(self, message)
        self.result = dict(result)
