# -*- coding: utf-8 -*-
# Copyright (c) triage.k8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""incident_bundle, pod_logs, pod_exec and pod_snapshot against a fake API server: check mode sends no stream
request and writes nothing, bad input is one sentence, the whole check-mode chain works on a bundle path that
does not exist yet."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

import pytest

from ansible_collections.triage.k8s.plugins.module_utils.evidence import archive
from ansible_collections.triage.k8s.plugins.modules import incident_bundle, pod_exec, pod_logs, pod_snapshot

POD_PATH = '/api/v1/namespaces/shop/pods/web-1'
POD = {
    'apiVersion': 'v1', 'kind': 'Pod',
    'metadata': {'name': 'web-1', 'namespace': 'shop', 'uid': 'uid-1', 'labels': {'app': 'web'}},
    'spec': {'nodeName': 'node-a', 'initContainers': [{'name': 'setup', 'image': 'busybox'}],
             'containers': [{'name': 'app', 'image': 'shop/web:1'}]},
    'status': {'phase': 'Running',
               'initContainerStatuses': [{'name': 'setup', 'state': {'terminated': {'exitCode': 0}}}],
               'containerStatuses': [{'name': 'app', 'restartCount': 1, 'ready': True,
                                      'state': {'running': {'startedAt': '2026-12-01T10:00:00Z'}},
                                      'lastState': {'terminated': {'exitCode': 137, 'reason': 'OOMKilled'}}}]},
}


@pytest.fixture
def cluster(fake_api, clean_env):
    fake_api.route('GET', POD_PATH, body=POD)
    fake_api.route('GET', '/api/v1/namespaces/shop/events', body={'items': []})
    return fake_api


def args(cluster, **extra):
    base = {'host': cluster.url, 'api_key': 'token', 'namespace': 'shop', 'name': 'web-1'}
    base.update(extra)
    return base


def writes_and_streams(cluster):
    return [r for r in cluster.requests if r.method != 'GET' or r.path.endswith(('/log', '/exec'))]


def test_check_mode_chain_on_a_bundle_that_does_not_exist(cluster, module_runner, tmp_path):
    evidence_dir = str(tmp_path / 'evidence')
    opened, failed = module_runner(incident_bundle.main, args(cluster, evidence_dir=evidence_dir, _ansible_check_mode=True))
    assert not failed and opened['changed']
    assert opened['path'].startswith(evidence_dir + '/') and opened['path'].endswith('_shop_web-1')
    logs, failed = module_runner(pod_logs.main, args(cluster, bundle=opened['path'], _ansible_check_mode=True))
    assert not failed
    assert [log['path'] for log in logs['logs']] == ['logs/setup.log', 'logs/app.log', 'logs/app.previous.log']
    ran, failed = module_runner(pod_exec.main, args(cluster, bundle=opened['path'], command='jcmd 1 Thread.print',
                                                    _ansible_check_mode=True))
    assert not failed and ran['changed'] and ran['would_run']
    assert ran['command'] == ['jcmd', '1', 'Thread.print'] and ran['container']['name'] == 'app'
    snap, failed = module_runner(pod_snapshot.main, args(cluster, bundle=opened['path'], _ansible_check_mode=True))
    assert not failed and 'snapshot/events.json' in [f['path'] for f in snap['files']]
    assert not os.path.exists(evidence_dir)
    assert writes_and_streams(cluster) == []


def test_check_mode_refuses_a_directory_that_is_not_a_bundle(cluster, module_runner, tmp_path):
    result, failed = module_runner(pod_logs.main, args(cluster, bundle=str(tmp_path), _ansible_check_mode=True))
    assert failed and 'is not an incident bundle' in result['msg']


def test_bundle_and_dest_are_exclusive_and_one_is_required(cluster, module_runner, tmp_path):
    result, failed = module_runner(pod_logs.main, args(cluster))
    assert failed and 'bundle' in result['msg'] and 'dest' in result['msg']
    result, failed = module_runner(pod_logs.main, args(cluster, bundle=str(tmp_path), dest=str(tmp_path)))
    assert failed and 'mutually exclusive' in result['msg']


@pytest.mark.parametrize('option,value,message', [
    ('max_bytes', 0, 'max_bytes must be at least 1'),
    ('tail_lines', -1, 'tail_lines must not be negative'),
    ('since', 'soon', 'since: invalid duration'),
])
def test_pod_logs_bad_options_before_any_request(cluster, module_runner, tmp_path, option, value, message):
    result, failed = module_runner(pod_logs.main, args(cluster, dest=str(tmp_path / 'd'), **{option: value}))
    assert failed and message in result['msg']
    assert cluster.requests == []


def test_unknown_pod_is_named(cluster, module_runner, tmp_path):
    cluster.route('GET', '/api/v1/namespaces/shop', body={'metadata': {'name': 'shop'}})
    result, failed = module_runner(pod_exec.main, args(cluster, name='nope', command=['true']))
    assert failed and result['msg'] == 'pod nope not found in namespace shop'


def test_pod_exec_unknown_container_and_bad_command(cluster, module_runner):
    result, failed = module_runner(pod_exec.main, args(cluster, container='db', command=['true']))
    assert failed and result['msg'] == 'pod web-1 in namespace shop has no container db (it has: setup, app)'
    result, failed = module_runner(pod_exec.main, args(cluster, command="echo 'unclosed"))
    assert failed and 'cannot be split' in result['msg']
    result, failed = module_runner(pod_exec.main, args(cluster, container='setup', command=['true']))
    assert failed and 'container setup of pod web-1 in namespace shop is not running (terminated' in result['msg']
    assert writes_and_streams(cluster) == []


def test_verified_needs_no_cluster(module_runner, tmp_path, clean_env):
    result, failed = module_runner(incident_bundle.main, {'state': 'verified', 'path': str(tmp_path / 'missing')})
    assert failed and 'does not exist' in result['msg']


def test_present_needs_the_pod_and_evidence_dir(module_runner, clean_env):
    result, failed = module_runner(incident_bundle.main, {'state': 'present', 'name': 'web-1'})
    assert failed and 'namespace' in result['msg'] and 'evidence_dir' in result['msg']


def test_present_without_list_events_still_opens_and_records_it(cluster, module_runner, tmp_path):
    cluster.route_error('GET', '/api/v1/namespaces/shop/events', 403, 'Forbidden',
                        'events is forbidden: User "bob" cannot list resource "events" in API group "" in the '
                        'namespace "shop"')
    opened, failed = module_runner(incident_bundle.main, args(cluster, evidence_dir=str(tmp_path / 'e')))
    assert not failed and opened['changed']
    assert 'may not list events' in opened['warnings'][0]
    import json
    with open(os.path.join(opened['path'], 'manifest.json')) as handle:
        manifest = json.load(handle)
    assert manifest['artifacts'] == []
    assert manifest['failures'][0]['what'] == 'events of the pod at opening'


def test_a_close_that_fails_after_writing_is_changed_and_says_what_it_left(
        cluster, module_runner, tmp_path, monkeypatch):
    opened, failed = module_runner(incident_bundle.main, args(cluster, evidence_dir=str(tmp_path / 'e')))
    assert not failed

    real_pack = archive.pack

    def no_room(*_args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(archive, 'pack', no_room)
    closed, failed = module_runner(incident_bundle.main, {'state': 'closed', 'path': opened['path']})
    assert failed and closed['changed'] is True
    assert opened['path'] in closed['msg'] and 'No space left on device' in closed['msg']
    assert closed['bundle_state'] == 'closed' and closed['rerun_finishes'] is True and closed['archive'] is None
    assert [os.path.basename(p) for p in closed['written']] == ['report.md', 'manifest.json', 'SHA256SUMS']
    monkeypatch.setattr(archive, 'pack', real_pack)  # room again (undo() would also undo the fixtures' patches)
    again, failed = module_runner(incident_bundle.main, {'state': 'closed', 'path': opened['path']})
    assert not failed and again['changed'] and again['intact']
    verified, failed = module_runner(incident_bundle.main, {'state': 'verified', 'path': again['archive']})
    assert not failed and verified['intact']
