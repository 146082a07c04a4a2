# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The retry policy of the one transport, against a real HTTP server: what is retried, how long it waits,
when it gives up and what it says then, and which writes it remembers as accepted."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.glue import module as glue
from ansible_collections.triage.k8s.plugins.module_utils.kube import transport
from ansible_collections.triage.k8s.plugins.module_utils.kube.connection import AUTH_ARG_SPEC, build_api_client
from ansible_collections.triage.k8s.plugins.module_utils.kube.errors import (
    ApiError,
    NotFound,
    ServerError,
    TooManyRequests,
    Unreachable,
)
from ansible_collections.triage.k8s.tests.unit.conftest import RESET, status_body

PATH = '/api/v1/namespaces/shop/pods/web-1'
POD = {'metadata': {'name': 'web-1', 'namespace': 'shop', 'resourceVersion': '7'}}


class FakeTime(object):
    """The transport's clock and sleep: sleeping advances the clock, and every wait is recorded."""

    def __init__(self):
        self.now = 1000.0
        self.waits = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(transport, '_clock', fake.clock)
    monkeypatch.setattr(transport, '_sleep', fake.sleep)
    monkeypatch.setattr(transport, '_random', lambda: 1.0)  # the top of the jitter range, for exact figures
    return fake


def client_for(url, budget=300):
    settings = dict((name, None) for name in AUTH_ARG_SPEC)
    settings.update(host=url)
    client = build_api_client(settings)
    transport.set_retry_budget(client, budget)
    return client


def unavailable(code=503, reason='ServiceUnavailable', retry_after=None):
    headers = {'Retry-After': str(retry_after)} if retry_after is not None else {}
    return (code, status_body(code, reason, 'the server is currently unable to handle the request'), headers)


def get(client):
    return transport.request(client, 'get', 'pods', 'GET', PATH, name='web-1', namespace='shop')


def test_a_read_is_retried_through_5xx_with_growing_waits(fake_api, clean_env, fake_time):
    fake_api.route_sequence('GET', PATH, [unavailable(503), unavailable(500, 'InternalError'),
                                          unavailable(502, 'BadGateway'), unavailable(504, 'Timeout'), (200, POD)])
    assert get(client_for(fake_api.url)) == POD
    assert len(fake_api.requests) == 5
    assert fake_time.waits == [0.25, 0.5, 1.0, 2.0]


def test_retry_after_of_a_429_is_honoured_for_any_verb(fake_api, clean_env, fake_time):
    # API Priority and Fairness rejects before it handles the request, so even a create may be sent again.
    fake_api.route_sequence('POST', '/api/v1/namespaces/shop/pods',
                            [unavailable(429, 'TooManyRequests', retry_after=3), (201, POD)])
    created = transport.request(client_for(fake_api.url), 'create', 'pods', 'POST', '/api/v1/namespaces/shop/pods',
                                body=POD)
    assert created == POD and fake_time.waits == [3.0] and len(fake_api.requests) == 2


def test_a_write_not_safe_to_repeat_is_not_retried_after_a_5xx(fake_api, clean_env, fake_time):
    fake_api.route_sequence('POST', '/api/v1/namespaces/shop/pods', [unavailable(503), (201, POD)])
    with pytest.raises(ServerError) as caught:
        transport.request(client_for(fake_api.url), 'create', 'pods', 'POST', '/api/v1/namespaces/shop/pods',
                          body=POD)
    assert len(fake_api.requests) == 1 and fake_time.waits == []
    assert 'gave up' not in str(caught.value)


def test_a_conditioned_write_is_retried_after_a_5xx(fake_api, clean_env, fake_time):
    fake_api.route_sequence('PATCH', PATH, [unavailable(503), (200, POD)])
    client = client_for(fake_api.url)
    patched = transport.request(client, 'patch', 'pods', 'PATCH', PATH, body=[{'op': 'test'}],
                                content_type=transport.JSON_PATCH, repeatable=True)
    assert patched == POD and len(fake_api.requests) == 2
    assert transport.accepted_writes(client) == [('patch', 'pods', None, None, True)]


def test_a_reset_read_is_retried(fake_api, clean_env, fake_time):
    fake_api.route_sequence('GET', PATH, [RESET, RESET, (200, POD)])
    assert get(client_for(fake_api.url)) == POD and len(fake_api.requests) == 3


def test_a_reset_write_is_not_repeated_and_counts_as_possibly_applied(fake_api, clean_env, fake_time):
    fake_api.route_sequence('POST', '/api/v1/namespaces/shop/pods', [RESET, (201, POD)])
    client = client_for(fake_api.url)
    with pytest.raises(Unreachable):
        transport.request(client, 'create', 'pods', 'POST', '/api/v1/namespaces/shop/pods', name='copy',
                          namespace='shop', body=POD)
    assert len(fake_api.requests) == 1
    assert transport.accepted_writes(client) == [('create', 'pods', 'copy', 'shop', False)]


def test_a_refused_connection_is_retried_even_for_a_write_and_gives_up_saying_how(
        closed_port_url, clean_env, fake_time):
    with pytest.raises(Unreachable) as caught:
        transport.request(client_for(closed_port_url, budget=30), 'create', 'pods', 'POST', '/api/v1/pods', body={})
    message = str(caught.value)
    assert 'connection refused' in message
    assert 'gave up after %d attempts' % transport.MAX_ATTEMPTS in message, message
    assert len(fake_time.waits) == transport.MAX_ATTEMPTS - 1
    assert max(fake_time.waits) == transport.MAX_WAIT


def test_the_budget_bounds_the_retries(fake_api, clean_env, fake_time):
    fake_api.route('GET', PATH, handler=lambda request: unavailable(429, 'TooManyRequests', retry_after=5))
    with pytest.raises(TooManyRequests) as caught:
        get(client_for(fake_api.url, budget=12))
    # Waits of 5 s while they fit in the 12 s budget: two waits, three attempts, then the third wait does not fit.
    assert fake_time.waits == [5.0, 5.0] and len(fake_api.requests) == 3
    assert 'gave up after 3 attempts over 10.0 s, the retry budget (wait_timeout) was used up' in str(caught.value)


def test_permanent_errors_are_not_retried(fake_api, clean_env, fake_time):
    fake_api.route_error('GET', PATH, 404, 'NotFound', 'pods "web-1" not found')
    with pytest.raises(NotFound):
        get(client_for(fake_api.url))
    assert len(fake_api.requests) == 1 and fake_time.waits == []


def test_a_run_that_fails_after_a_write_reports_changed_and_names_the_write(fake_api, clean_env, fake_time):
    fake_api.route('PATCH', PATH, body=POD)
    fake_api.route('GET', PATH, handler=lambda request: unavailable(503))
    client = client_for(fake_api.url, budget=3)
    transport.request(client, 'patch', 'pods', 'PATCH', PATH, name='web-1', namespace='shop', body=[],
                      content_type=transport.JSON_PATCH, repeatable=True)
    with pytest.raises(ApiError) as caught:
        get(client)
    message, fields = glue.failure(caught.value, None, transport.accepted_writes(client))
    assert fields['changed'] is True
    assert 'this run changed the cluster: patch pods web-1 in namespace shop was accepted' in message
    assert 'gave up after' in message


def test_reads_and_reviews_are_not_writes(fake_api, clean_env, fake_time):
    fake_api.route('GET', PATH, body=POD)
    fake_api.route('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body={'status': {}})
    client = client_for(fake_api.url)
    get(client)
    transport.request(client, 'review', '', 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
                      body={}, repeatable=True, is_write=False)
    assert transport.accepted_writes(client) == []


def test_backoff_is_exponential_capped_and_jittered(monkeypatch):
    monkeypatch.setattr(transport, '_random', lambda: 0.0)
    low = [transport.backoff(n) for n in range(1, 9)]
    monkeypatch.setattr(transport, '_random', lambda: 1.0)
    high = [transport.backoff(n) for n in range(1, 9)]
    assert high == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert low == [h / 2 for h in high]
    assert transport.backoff(3, retry_after=7) == 7 and transport.backoff(3, retry_after=600) == 60
