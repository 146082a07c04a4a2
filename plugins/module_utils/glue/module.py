# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one place that turns a verb's outcome or error into exit_json/fail_json, and builds the API client.

Every module does:  api_client = glue.api_client(module)  then  finish(module, run(module, work, context)).
``run`` catches what a verb raises:
  PartialFailure          fail_json(msg, **result): the message says the state the pod was left in
  Refused                 fail_json(msg, **extra): nothing was changed
  UndoRecordError         the pod's record is unreadable: nothing was changed
  KubeError (ApiError...) fail_json(msg=the sentence), naming the writes already accepted
anything else           fail_json with the traceback (a bug), never a silent ok.
Whatever the outcome, ``changed`` is true when the transport saw a write accepted (or possibly accepted: its
answer was lost), so a run that fails after a write never reports ``changed: false``.
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
from ansible_collections.triage.k8s.plugins.module_utils.kube.transport import (
    accepted_writes,
    server_host,
    set_retry_budget,
)
from ansible_collections.triage.k8s.plugins.module_utils.model.outcomes import PartialFailure, Refused
from ansible_collections.triage.k8s.plugins.module_utils.model.record import UndoRecordError

# The retries of transient API errors share one budget per module run: its wait_timeout (at least this many
# seconds, so that wait_timeout=0 still rides out a blip); for a module with a `timeout` of its own instead (the
# evidence modules), that timeout up to DEFAULT_RETRY_BUDGET; else DEFAULT_RETRY_BUDGET.
MIN_RETRY_BUDGET = 10
DEFAULT_RETRY_BUDGET = 30


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
    set_retry_budget(client, retry_budget(module.params))
    return client


def retry_budget(params):
    """Seconds the transient-error retries of one module run may take in total (see DEFAULT_RETRY_BUDGET)."""
    if params.get('wait_timeout') is not None:
        return max(params['wait_timeout'], MIN_RETRY_BUDGET)
    if params.get('timeout') is not None:
        return max(min(params['timeout'], DEFAULT_RETRY_BUDGET), MIN_RETRY_BUDGET)
    return DEFAULT_RETRY_BUDGET


def _write_text(verb, resource, name, namespace, certain):
    return '%s %s%s%s%s' % (verb, resource, ' %s' % name if name else '',
                            ' in namespace %s' % namespace if namespace else '',
                            '' if certain else ' (its answer was lost; it may have been applied)')


def _writes_text(writes):
    return ', '.join(_write_text(*write) for write in writes)


def failure(exc, context=None, writes=()):
    """(message, fields) for fail_json, or None when ``exc`` is not an outcome the verbs raise.

    ``writes`` are the writes the transport saw accepted: they make ``changed`` true, and a bare API error
    after them names them, so the user knows the run did change the cluster.
    """
    fields = dict(context or {})
    fields['changed'] = bool(fields.get('changed')) or bool(writes)
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
        if writes:
            return ('%s. Before that this run changed the cluster: %s was accepted; a rerun continues from the state '
                    'it left' % (str(exc).rstrip('.'), _writes_text(writes))), fields
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
        writes = accepted_writes(client) if client is not None else []
        known = failure(exc, context() if context else None, writes)
        if known is None:
            fields = dict(context() if context else {})
            fields['changed'] = bool(fields.get('changed')) or bool(writes)
            module.fail_json(msg='unexpected error talking to %s: %s: %s' % (
                server_host(client) or 'the API server', type(exc).__name__, exc),
                exception=traceback.format_exc(), **fields)
        message, fields = known
        warn_once(module, fields.pop('warnings', None))
        module.fail_json(msg=message, **fields)


def finish(module, result, client=None):
    """exit_json with the result: its warnings become Ansible warnings, its diff is shown only with --diff,
    and ``changed`` is true when any write was accepted (a verb that found its work done after a write whose
    answer was lost still changed the cluster)."""
    if client is not None and accepted_writes(client) and not module.check_mode:
        result['changed'] = True
    warn_once(module, result.pop('warnings', None))
    diff = result.pop('diff', None)
    if module._diff and diff:
        result['diff'] = diff
    module.exit_json(**result)
