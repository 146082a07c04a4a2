# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one place that turns a verb's outcome or error into exit_json/fail_json, and builds the API client.

Every module does:  api_client = glue.api_client(module)  then  finish(module, run(module, work, context)).
``run`` catches what a verb raises:
  PartialFailure          fail_json(msg, **result): its ``changed`` says whether a write was accepted
  Refused                 fail_json(msg, changed=False, **extra): nothing was changed
  UndoRecordError         the pod's record is unreadable: nothing was changed
  KubeError (ApiError...) fail_json(msg=the sentence), changed from ``context``
anything else           fail_json with the traceback (a bug), never a silent ok.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    connect,
)
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import ConfigError, KubeError
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import server_host
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import PartialFailure, Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.record import UndoRecordError


def api_client(module):
    """The client for the module's connection options; every credential they carry is masked in all output."""
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=KUBERNETES_IMPORT_ERROR)
    try:
        client, secrets = connect(module.params)
    except ConfigError as exc:
        module.no_log_values.update(getattr(exc, 'secrets', ()))
        module.fail_json(msg=str(exc))
    module.no_log_values.update(secrets)
    return client


def failure(exc, context=None):
    """(message, fields) for fail_json, or None when ``exc`` is not an outcome the verbs raise."""
    fields = dict(context or {})
    fields.setdefault('changed', False)
    if isinstance(exc, PartialFailure):
        result = dict(exc.result)
        result.pop('diff', None)
        changed = bool(result.pop('changed', False)) or fields['changed']
        fields.update(result)
        fields['changed'] = changed
        return str(exc), fields
    if isinstance(exc, Refused):
        fields.update(exc.result)
        return str(exc), fields
    if isinstance(exc, UndoRecordError):
        return 'the pod carries an unreadable isolation record: %s' % exc, fields
    if isinstance(exc, KubeError):
        return str(exc), fields
    return None


def warn_once(module, warnings):
    """Each distinct warning once, in order: ansible-core 2.19 and later drop repeats themselves, earlier lines
    print and register every copy (one per pod of a label_selector run, for example)."""
    seen = set()
    for warning in warnings or []:
        if warning not in seen:
            seen.add(warning)
            module.warn(warning)


def run(module, work, context=None, client=None):
    """``work()`` -> result dict; any failure ends the module through fail_json.

    ``context()`` returns the fields every failure report carries (results so far, changed so far).
    """
    try:
        return work()
    except Exception as exc:  # pylint: disable=broad-except
        known = failure(exc, context() if context else None)
        if known is None:
            fields = dict(context() if context else {})
            fields.setdefault('changed', False)
            module.fail_json(msg='unexpected error talking to %s: %s: %s' % (
                server_host(client) or 'the API server', type(exc).__name__, exc),
                exception=traceback.format_exc(), **fields)
        message, fields = known
        warn_once(module, fields.pop('warnings', None))
        module.fail_json(msg=message, **fields)


def finish(module, result):
    """exit_json with the result: its warnings become Ansible warnings, its diff is shown only with --diff."""
    warn_once(module, result.pop('warnings', None))
    diff = result.pop('diff', None)
    if module._diff and diff:
        result['diff'] = diff
    module.exit_json(**result)
