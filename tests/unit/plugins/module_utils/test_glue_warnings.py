# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The glue gives Ansible each distinct warning once: a label_selector run over three pods of one Deployment
collects the same HPA warning three times, and ansible-core before 2.19 would print and register every copy."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.glue import module as glue


class RecordingModule(object):
    _diff = False

    def __init__(self):
        self.warned = []
        self.exited = None

    def warn(self, warning):
        self.warned.append(warning)

    def exit_json(self, **result):
        self.exited = result
        raise SystemExit(0)


HPA = "HorizontalPodAutoscaler web scales this workload; it counts the replacement, not the isolated pod"


def test_repeated_warnings_reach_ansible_once_in_their_first_order():
    module = RecordingModule()
    glue.warn_once(module, [HPA, "NetworkPolicies still selecting pod web-1", HPA,
                            "NetworkPolicies still selecting pod web-2", HPA])
    assert module.warned == [HPA, "NetworkPolicies still selecting pod web-1",
                             "NetworkPolicies still selecting pod web-2"]


def test_finish_passes_each_warning_once_and_keeps_them_out_of_the_result():
    module = RecordingModule()
    with pytest.raises(SystemExit):
        glue.finish(module, {"changed": True, "warnings": [HPA, HPA]})
    assert module.warned == [HPA]
    assert "warnings" not in module.exited
