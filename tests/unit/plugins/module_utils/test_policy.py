# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils._policy import (
    PolicyError, evaluate, merge, offenders,
)

GOOD = {'time': 120, 'intvl': 30, 'probes': 4}
BOOT = {'net.ipv4.tcp_keepalive_time': (120, '/etc/sysctl.d/60-keepalive.conf'),
        'net.ipv4.tcp_keepalive_intvl': (30, '/etc/sysctl.d/60-keepalive.conf'),
        'net.ipv4.tcp_keepalive_probes': (4, '/etc/sysctl.d/60-keepalive.conf')}


def conn(keepalive='disabled', process='python3', unit='app.service', remote='10.1.2.3', port=5432, expires=0,
         settings=None):
    return {'local_address': '10.0.0.5', 'local_port': 40000, 'remote_address': remote, 'remote_port': port,
            'keepalive': keepalive, 'process': process, 'unit': unit, 'pids': [7], 'timer_expires': expires,
            'settings': settings}


def test_a_good_host_has_no_violation():
    assert evaluate(merge({}), GOOD, BOOT, [conn('enabled')]) == ([], 0)


def test_kernel_limits_and_persistence():
    boot = dict(BOOT, **{'net.ipv4.tcp_keepalive_time': (7200, '/etc/sysctl.d/99-tuning.conf'),
                         'net.ipv4.tcp_keepalive_probes': (9, None)})
    violations, _left = evaluate(merge({}), dict(GOOD, time=600, probes=10), boot, [])
    rules = [(v['rule'], v['subject']) for v in violations]
    assert rules == [('kernel_time', 'net.ipv4.tcp_keepalive_time'),
                     ('kernel_persisted', 'net.ipv4.tcp_keepalive_time'),
                     ('kernel_probes', 'net.ipv4.tcp_keepalive_probes'),
                     ('kernel_persisted', 'net.ipv4.tcp_keepalive_probes')]
    assert 'would become 7200 after a reboot, set by /etc/sysctl.d/99-tuning.conf' in violations[1]['found']
    assert 'would become 9 after a reboot, set by no configuration file (the kernel default)' in violations[3]['found']


def test_connection_violations_with_exceptions_and_limit():
    connections = [conn(), conn(process='sshd'), conn(unit='batch.service'), conn(port=53),
                   conn(remote='10.20.1.1'), conn(remote='::ffff:10.20.1.2'), conn(), conn()]
    policy = merge({'exceptions': {'processes': ['sshd'], 'units': ['batch.service'], 'remote_ports': [53],
                                   'remote_addresses': ['10.20.0.0/16']}})
    violations, left_out = evaluate(policy, GOOD, BOOT, connections, limit=2)
    assert [v['rule'] for v in violations] == ['connection_keepalive'] * 2 and left_out == 1
    assert violations[0]['subject'] == '10.0.0.5:40000 -> 10.1.2.3:5432'
    assert (violations[0]['process'], violations[0]['unit'], violations[0]['pids']) == ('python3', 'app.service', [7])
    assert offenders(violations) == ['python3 (app.service): 2']


def test_max_idle_uses_the_live_setting_or_the_timer():
    policy = merge({'connections': {'max_idle': 300}})
    over = conn('enabled', settings={'idle': 7200})
    under = conn('enabled', settings={'idle': 120}, expires=100)
    unread = conn('enabled', expires=7000)
    violations, _left = evaluate(policy, GOOD, BOOT, [over, under, unread])
    assert [(v['rule'], v['found']) for v in violations] == [
        ('connection_max_idle', 'keep-alive idle 7200 s'),
        ('connection_max_idle', 'keep-alive idle 7000 s (at least)'),
    ]


@pytest.mark.parametrize('policy,message', [
    ({'kernl': {}}, "unknown policy section 'kernl'"),
    ({'kernel': {'time_max': 0}}, 'policy.kernel.time_max must be a positive integer'),
    ({'kernel': {'persisted': 'yes'}}, 'policy.kernel.persisted must be true or false'),
    ({'connections': {'max_idle': 'soon'}}, 'policy.connections.max_idle must be a positive integer or null'),
    ({'exceptions': {'processes': 'sshd'}}, 'policy.exceptions.processes must be a list'),
    ({'exceptions': {'remote_addresses': ['nowhere']}}, "'nowhere' is not an address or network"),
])
def test_bad_policies(policy, message):
    with pytest.raises(PolicyError, match=message):
        merge(policy)
