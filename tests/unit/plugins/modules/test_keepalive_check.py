# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_check's main(): what it reads is given through the snapshot seam; what it says is asserted."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._gather import gather
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import Snapshot
from ansible_collections.linuxnet.keepalive.plugins.modules import keepalive_check

DEFAULTS = {'time': 120, 'intvl': 30, 'probes': 4}
POLICY = {'kernel': {'persisted': False}}


@pytest.fixture
def host(monkeypatch):
    """A host whose namespaces=all read is set by each test: ``host.read`` is what snapshot() returns."""
    class Host:
        read = None
        warnings = []
    monkeypatch.setattr(keepalive_check.AnsibleModule, 'warn', lambda self, text: Host.warnings.append(text))
    monkeypatch.setattr(keepalive_check, 'read_defaults', lambda: dict(DEFAULTS))
    monkeypatch.setattr(keepalive_check, 'boot_sources', lambda keys: dict((k, (None, None)) for k in keys))
    monkeypatch.setattr(keepalive_check, 'own_netns', lambda: 1)
    monkeypatch.setattr(keepalive_check, 'snapshot', lambda **kwargs: Host.read)
    return Host


def namespaces(refused=(), unlisted=0):
    """A read of one empty namespace (1), with namespaces that could not be entered and connections nobody listed."""
    connections, summary = gather(iter([]))
    found = Snapshot(connections, summary, None, 'netlink', None)
    found.namespaces = [{'netns': 1, 'container': None, 'pid': 1, 'path': '/proc/1/ns/net', 'defaults': dict(DEFAULTS),
                         'total': 0, 'by_verdict': summary['by_verdict'], 'outbound_without_keepalive': 0}]
    found.refused = list(refused)
    found.unlisted = {'count': unlisted, 'unverified': 0,
                      'held_by': [{'pid': 7, 'process': 'hide\nme', 'unit': None, 'netns': 9, 'inode': 5 + i}
                                  for i in range(unlisted)]}
    return found


def run(capsys, **args):
    with patch_module_args(dict(args, policy=POLICY, namespaces='all')):
        with pytest.raises(SystemExit):
            keepalive_check.main()
    return json.loads(capsys.readouterr().out)


def test_every_namespace_read_and_nothing_hidden_is_compliant(host, capsys):
    host.read = namespaces()
    result = run(capsys)
    assert result['compliant'] is True and result['namespaces_not_read'] == 0 and result['not_examined'] == 0
    assert result['msg'] == 'compliant: no rule of the policy is violated; skipped: connection_path (see rules_skipped)'
    assert result['rules_skipped'] == {
        'connection_path': 'no path measurements given (keepalive_check measurements, from linuxnet.keepalive.paths)'}


def test_a_namespace_that_could_not_be_entered_makes_the_host_not_compliant(host, capsys):
    host.read = namespaces(refused=['cannot enter /proc/42/ns/net: Operation not permitted (root is needed)'])
    result = run(capsys)
    assert result['compliant'] is False and result['namespaces_not_read'] == 1
    assert result['msg'] == ('not compliant: no rule is violated among what was examined; 1 network namespace(s) '
                             'not read; skipped: connection_path (see rules_skipped)')
    assert any("/proc/42/ns/net" in w and "not reported compliant" in w for w in host.warnings), host.warnings


def test_connections_in_namespaces_nobody_read_are_not_examined_and_their_holder_named_safely(host, capsys):
    host.read = namespaces(unlisted=2)
    result = run(capsys)
    assert result['compliant'] is False and result['not_examined'] == 2
    assert any('2 TCP socket(s) are held by processes (hide\\x0ame[7])' in w for w in host.warnings), host.warnings


def test_no_namespace_read_at_all_is_a_clear_failure(host, capsys):
    read = namespaces(refused=['cannot enter /proc/1/ns/net: Operation not permitted (root is needed)'])
    read.summary, read.namespaces = None, []
    host.read = read
    result = run(capsys)
    assert result['failed'] and 'no network namespace could be read, so nothing was checked' in result['msg']


SIX = {'address': '198.19.0.2', 'port': 7950, 'direction': 'outbound', 'outcome': 'dropped', 'survived_max': 5,
       'forgot_min': 8}


def one_connection(idle, interval=None):
    connections, summary = gather(iter([]))
    found = Snapshot(connections, summary, None, 'netlink', None)
    found.connections = [{'direction': 'outbound', 'local_address': '198.18.0.2', 'local_port': 40000,
                          'remote_address': '198.19.0.2', 'remote_port': 7950, 'keepalive': 'enabled',
                          'process': 'orders', 'unit': None, 'pids': [7], 'timer_expires': 0, 'netns': 1,
                          'container': None, 'settings': {'idle': idle, 'interval': interval or idle}}]
    return found


def check(capsys, **args):
    with patch_module_args(dict(args, policy=POLICY)):
        with pytest.raises(SystemExit):
            keepalive_check.main()
    return json.loads(capsys.readouterr().out)


def test_measurements_from_a_file_of_the_paths_report_judge_each_connection(tmp_path, host, capsys):
    (tmp_path / 'web1.json').write_text(json.dumps({'host': 'web1', 'destinations': [SIX]}))
    host.read = one_connection(idle=10)
    result = check(capsys, measurements=str(tmp_path / 'web1.json'))
    assert not result['compliant'] and result['rules_skipped'] == {} and result['measured_paths'] == 1
    assert result['msg'] == 'not compliant: connection_path 1; most: orders (no unit): 1'
    assert [v['subject'] for v in result['violations']] == ['198.18.0.2:40000 -> 198.19.0.2:7950']
    host.read = one_connection(idle=4)
    assert check(capsys, measurements=[SIX])['compliant']
    host.read = one_connection(idle=4, interval=30)  # probed in time once, then 30 s apart: the path forgets it
    assert check(capsys, measurements=[SIX])['violations'][0]['found'] == 'keep-alive after 4 s idle, then every 30 s (its TCP_KEEPINTVL)'


@pytest.mark.parametrize('measurements,words', [
    ([dict(SIX, port=0)], 'measurements[0]: port must be from 1 to 65535, not 0'),
    ([SIX, dict(SIX, address='db.internal')], "measurements[1]: address must be an address, not 'db.internal'"),
    ([dict(SIX, outcome='fine')], "outcome must be one of survived, dropped, reset, closed, inconclusive, not_measured"),
    ({'destinations': [SIX]}, 'measurements must be a list of measured destinations'),
    ('/nonexistent/paths.json', 'measurements: cannot read /nonexistent/paths.json: No such file or directory'),
])
def test_bad_measurements_are_named_before_anything_is_read(host, capsys, measurements, words):
    result = check(capsys, measurements=measurements)
    assert result['failed'] and words in result['msg']
