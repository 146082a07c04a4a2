# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The streams open under the transport's one retry policy: a log stream and a port-forward are reads (retried
on 429, 5xx, resets), an exec is a write (retried only on 429 and a connection that could not be opened, and
noted as a write once the server accepted it)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.kube import streams, transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import KubeError
from ansible_collections.triage.k8s.tests.unit.conftest import RESET
from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.test_kube_retries import (
    client_for,
    unavailable,
)
# The transport's clock and sleep, faked (a pytest fixture, used by name).
from ansible_collections.triage.k8s.tests.unit.plugins.module_utils.test_kube_retries import (  # noqa: F401 pylint: disable=unused-import
    fake_time,
)

LOG = '/api/v1/namespaces/shop/pods/web-1/log'
EXEC = '/api/v1/namespaces/shop/pods/web-1/exec'
FORWARD = '/api/v1/namespaces/shop/pods/web-1/portforward'
FORBIDDEN = (403, {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'code': 403, 'reason': 'Forbidden',
                   'message': 'pods "web-1" is forbidden: User "u" cannot create resource "pods/exec"'})


def read_log(client):
    return b''.join(streams.log_chunks(client, 'shop', 'web-1', 'web'))


def run_exec(client):
    return streams.exec_stream(client, 'shop', 'web-1', 'web', ['true'], lambda data: None, lambda data: None)


def test_opening_a_log_stream_is_retried_through_429_5xx_and_resets(fake_api, clean_env, fake_time):
    fake_api.route_sequence('GET', LOG, [unavailable(429, 'TooManyRequests', retry_after=2), unavailable(503),
                                         RESET, (200, 'the log\n')])
    assert read_log(client_for(fake_api.url)) == json.dumps('the log\n').encode()
    assert len(fake_api.requests) == 4
    assert fake_time.waits[0] == 2.0 and len(fake_time.waits) == 3


def test_a_log_stream_that_cannot_open_says_how_often_it_tried_and_is_not_transient_any_more(
        fake_api, clean_env, fake_time):
    fake_api.route_sequence('GET', LOG, [unavailable(503)])
    with pytest.raises(streams.StreamRefused) as caught:
        read_log(client_for(fake_api.url, budget=3))
    assert caught.value.status == 503 and not caught.value.transient
    assert 'gave up after' in str(caught.value) and 'retry budget' in str(caught.value)
    assert len(fake_api.requests) > 1


def test_a_refused_log_is_not_retried(fake_api, clean_env, fake_time):
    fake_api.route_sequence('GET', LOG, [(400, {'kind': 'Status', 'code': 400, 'reason': 'BadRequest',
                                                'message': 'previous terminated container "web" not found'})])
    with pytest.raises(streams.StreamRefused) as caught:
        read_log(client_for(fake_api.url))
    assert 'previous terminated container "web" not found' in str(caught.value)
    assert len(fake_api.requests) == 1 and fake_time.waits == []


def test_an_exec_is_not_repeated_after_a_5xx_and_counts_as_possibly_started(fake_api, clean_env, fake_time):
    fake_api.route_sequence('GET', EXEC, [unavailable(504, 'Timeout'), FORBIDDEN])
    client = client_for(fake_api.url)
    with pytest.raises(KubeError) as caught:
        run_exec(client)
    assert len(fake_api.requests) == 1 and fake_time.waits == []
    assert '504' in str(caught.value)
    assert transport.accepted_writes(client) == [('create', 'pods/exec', 'web-1', 'shop', False)]


def test_an_exec_throttled_with_429_is_sent_again_after_retry_after(fake_api, clean_env, fake_time):
    fake_api.route_sequence('GET', EXEC, [unavailable(429, 'TooManyRequests', retry_after=1), FORBIDDEN])
    client = client_for(fake_api.url)
    with pytest.raises(KubeError) as caught:
        run_exec(client)
    assert len(fake_api.requests) == 2 and fake_time.waits == [1.0]
    assert 'may not create pods/exec' in str(caught.value)
    assert transport.accepted_writes(client) == []


def test_an_exec_to_a_server_that_cannot_be_reached_is_tried_again(closed_port_url, clean_env, fake_time):
    client = client_for(closed_port_url, budget=2)
    with pytest.raises(KubeError) as caught:
        run_exec(client)
    assert 'gave up after' in str(caught.value) and len(fake_time.waits) >= 2
    assert transport.accepted_writes(client) == []


def test_opening_a_port_forward_is_retried_like_a_read(fake_api, clean_env, fake_time):
    fake_api.route_sequence('GET', FORWARD, [unavailable(503), RESET, FORBIDDEN])
    with pytest.raises(KubeError) as caught:
        streams.open_port_forward(client_for(fake_api.url), 'shop', 'web-1', 8080)
    assert len(fake_api.requests) == 3 and 'forbidden' in str(caught.value)


def test_the_retry_budget_is_the_modules_own_deadline():
    from ansible_collections.triage.k8s.plugins.module_utils.glue.module import retry_budget
    assert retry_budget({'wait_timeout': 120}) == 120
    assert retry_budget({'wait_timeout': 0}) == 10
    # The evidence modules: their timeout, at most the default budget (a 30-minute dump does not retry for 30).
    assert retry_budget({'timeout': 20}) == 20 and retry_budget({'timeout': 1800}) == 30
    assert retry_budget({}) == 30


@pytest.mark.parametrize('answer,changed', [(unavailable(504, 'Timeout'), True), (FORBIDDEN, False)])
def test_pod_exec_says_changed_when_its_exec_may_have_started(fake_api, clean_env, fake_time, module_runner, answer,
                                                              changed):
    from ansible_collections.triage.k8s.plugins.modules import pod_exec
    running = {'name': 'web', 'ready': True, 'state': {'running': {'startedAt': '2026-12-01T10:00:00Z'}}}
    fake_api.route('GET', '/api/v1/namespaces/shop/pods/web-1', body={
        'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'web-1', 'namespace': 'shop', 'uid': 'u1'},
        'spec': {'containers': [{'name': 'web', 'image': 'shop/web:1'}]},
        'status': {'phase': 'Running', 'containerStatuses': [running]}})
    fake_api.route_sequence('GET', EXEC, [answer])
    result, failed = module_runner(pod_exec.main, {'host': fake_api.url, 'api_key': 'token', 'namespace': 'shop',
                                                   'name': 'web-1', 'command': ['true']})
    assert failed and result.get('changed') is changed, result
    assert len([r for r in fake_api.requests if r.path == EXEC]) == 1
