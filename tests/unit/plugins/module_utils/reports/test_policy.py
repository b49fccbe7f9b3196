# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import (
    NO_MEASUREMENTS, PolicyError, compliant, evaluate, merge, offenders, selection, skipped,
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
    violations, counts = evaluate(merge({}), GOOD, BOOT, [conn('enabled')])
    assert violations == [] and not any(counts['by_rule'].values()) and counts['left_out'] == 0


def test_kernel_limits_and_persistence():
    boot = dict(BOOT, **{'net.ipv4.tcp_keepalive_time': (7200, '/etc/sysctl.d/99-tuning.conf'),
                         'net.ipv4.tcp_keepalive_probes': (9, None)})
    violations, _counts = evaluate(merge({}), dict(GOOD, time=600, probes=10), boot, [])
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
    violations, counts = evaluate(policy, GOOD, BOOT, connections, limit=2)
    assert [v['rule'] for v in violations] == ['connection_keepalive'] * 2 and counts['left_out'] == 1
    assert violations[0]['subject'] == '10.0.0.5:40000 -> 10.1.2.3:5432'
    assert (violations[0]['process'], violations[0]['unit'], violations[0]['pids']) == ('python3', 'app.service', [7])
    # counts are over every violation, not only the listed ones
    assert counts['by_rule']['connection_keepalive'] == 3
    assert offenders(counts['offenders']) == ['python3 (app.service): 3']


def test_limit_zero_lists_nothing_but_counts_everything():
    connections = [conn(), conn(process='java', unit=None), conn()]
    violations, counts = evaluate(merge({}), dict(GOOD, time=600), BOOT, connections, limit=0)
    assert [v['rule'] for v in violations] == ['kernel_time', 'kernel_persisted']
    assert counts['by_rule']['connection_keepalive'] == 3 and counts['left_out'] == 3
    assert offenders(counts['offenders']) == ['python3 (app.service): 2', 'java (no unit): 1']


def test_max_idle_uses_the_live_setting_or_the_timer():
    policy = merge({'connections': {'max_idle': 300}})
    over = conn('enabled', settings={'idle': 7200})
    under = conn('enabled', settings={'idle': 120}, expires=100)
    unread = conn('enabled', expires=7000)
    violations, _counts = evaluate(policy, GOOD, BOOT, [over, under, unread])
    assert [(v['rule'], v['found']) for v in violations] == [
        ('connection_max_idle', 'keep-alive idle 7200 s'),
        ('connection_max_idle', 'keep-alive idle 7000 s (at least)'),
    ]


@pytest.mark.parametrize('policy,message', [
    ({'kernl': {}}, 'unknown policy key kernl. Supported parameters include: connections, exceptions, kernel'),
    ({'kernel': {'tiem_max': 100}}, 'unknown policy key kernel.tiem_max'),
    ({'kernel': {'time_max': 0}}, 'policy.kernel.time_max must be a positive integer'),
    ({'kernel': {'persisted': 'maybe'}}, "argument 'persisted' is of type str found in 'kernel'"),
    ({'connections': {'max_idle': 'soon'}}, "'max_idle' is of type str found in 'connections'"),
    ({'connections': {'max_idle': -5}}, 'policy.connections.max_idle must be a positive integer or null, not -5'),
    ({'connections': {'directions': ['Outbound']}},
     'value of directions must be one or more of: inbound, outbound. Got no match for: Outbound found in connections'),
    ({'connections': {'states': ['established', 'new_syn_recv']}},
     'value of states must be one or more of: established, close_wait, .*Got no match for: new_syn_recv'),
    ({'connections': {'states': ['ESTABLISHED']}}, 'Got no match for: ESTABLISHED'),
    ({'exceptions': {'remote_ports': [0, 70000]}}, 'remote_ports must be ports from 1 to 65535, not 0, 70000'),
    ({'exceptions': {'remote_addresses': ['nowhere']}}, "'nowhere' is not an address or network"),
    ('strict', 'policy must be a dictionary'),
])
def test_bad_policies(policy, message):
    with pytest.raises(PolicyError, match=message):
        merge(policy)


def test_defaults_are_filled_in_and_nothing_private_is_added():
    merged = merge({'connections': {'max_idle': 300}})
    assert merged == {
        'kernel': {'time_max': 300, 'intvl_max': 75, 'probes_max': 9, 'persisted': True},
        'connections': {'require_keepalive': True, 'directions': ['outbound'], 'states': ['established'],
                        'max_idle': 300, 'survive_path': True},
        'exceptions': {'processes': [], 'units': [], 'remote_ports': [], 'remote_addresses': []},
    }


def test_a_host_with_connections_not_examined_is_never_compliant():
    _violations, counts = evaluate(merge({}), GOOD, BOOT, [conn('enabled')])
    assert compliant(counts, 0)
    assert not compliant(counts, 1)
    _violations, counts = evaluate(merge({}), GOOD, BOOT, [conn()], limit=0)
    assert not compliant(counts, 0)  # a violation that is only counted, not listed, still counts


def test_every_namespace_has_its_kernel_limits_checked_and_is_named():
    podman = {'runtime': 'podman', 'id': 'abc', 'pod_uid': None}
    spaces = [{'netns': 1, 'container': None, 'defaults': GOOD, 'own': True},
              {'netns': 2, 'container': podman, 'defaults': {'time': 7200, 'intvl': 75, 'probes': 9}, 'own': False}]
    leaky = dict(conn(), netns=2, container=podman)
    violations, counts = evaluate(merge({}), GOOD, BOOT, [leaky], namespaces=spaces)
    assert [(v['rule'], v['netns'], v['container']) for v in violations] == [
        ('kernel_time', 2, podman), ('connection_keepalive', 2, podman)]
    # persistence is the host's configuration files: only the module's own namespace is held to it
    assert counts['by_rule']['kernel_persisted'] == 0
    assert offenders(counts['offenders']) == ['python3 (app.service) in podman abc: 1']
    violations, _counts = evaluate(merge({}), GOOD, BOOT, [leaky])
    assert violations[0]['netns'] is None and violations[0]['container'] is None


SIX = {'address': '198.19.0.2', 'port': 7950, 'direction': 'outbound', 'outcome': 'dropped', 'survived_max': 5,
       'forgot_min': 8}
FIFTEEN = dict(SIX, address='198.19.1.2', survived_max=12, forgot_min=18)


def through(remote, keepalive='enabled', idle=None, netns=None, interval=None):
    return dict(conn(keepalive, remote=remote, port=7950,
                     settings={'idle': idle, 'interval': interval or idle} if idle else None),
                direction='outbound', netns=netns)


def test_a_connection_is_judged_against_its_measured_path():
    connections = [through('198.19.0.2', idle=10), through('198.19.1.2', idle=10),
                   through('198.19.0.2', 'disabled'), through('198.19.1.2', 'disabled'),
                   through('10.9.9.9', idle=10)]  # a destination that was not measured: no finding
    violations, counts = evaluate(merge({}), GOOD, BOOT, connections, measurements=[SIX, FIFTEEN])
    on_path = [(v['subject'], v['found']) for v in violations if v['rule'] == 'connection_path']
    assert on_path == [
        ('10.0.0.5:40000 -> 198.19.0.2:7950', 'keep-alive after 10 s idle (its TCP_KEEPIDLE)'),
        ('10.0.0.5:40000 -> 198.19.0.2:7950', 'no keep-alive: the program never set SO_KEEPALIVE'),
        ('10.0.0.5:40000 -> 198.19.1.2:7950', 'no keep-alive: the program never set SO_KEEPALIVE')]
    assert counts['by_rule']['connection_path'] == 3 and counts['by_rule']['connection_keepalive'] == 2
    first = [v for v in violations if v['rule'] == 'connection_path'][0]
    assert first['expected'] == ('a keep-alive probe within 5 s idle, and every 5 s or sooner after it: the path to '
                                 '198.19.0.2:7950 forgets idle flows between 5 s and 8 s (dropped)')
    assert 'linuxnet.keepalive.paths recommends' in first['fix']


def test_a_socket_whose_own_idle_was_not_read_is_judged_on_its_namespaces_default():
    spaces = [{'netns': 1, 'container': None, 'defaults': GOOD, 'own': True},
              {'netns': 2, 'container': None, 'defaults': dict(GOOD, time=4, intvl=4), 'own': False},
              {'netns': 3, 'container': None, 'defaults': dict(GOOD, time=4), 'own': False}]
    violations, _counts = evaluate(merge({'kernel': {'persisted': False}}), GOOD, BOOT,
                                   [through('198.19.0.2', netns=n) for n in (1, 2, 3)],
                                   namespaces=spaces, measurements=[SIX])
    assert [(v['netns'], v['found']) for v in violations] == [
        (1, 'keep-alive after 120 s idle (net.ipv4.tcp_keepalive_time, as its own value could not be read)'),
        (3, 'keep-alive after 4 s idle, then every 30 s (net.ipv4.tcp_keepalive_intvl, as its own value could not be '
            'read)')]


def test_without_measurements_the_path_rule_is_skipped_and_says_so():
    policy = merge({})
    assert skipped(policy, None) == {'connection_path': NO_MEASUREMENTS}
    assert skipped(policy, []) == {} and skipped(merge({'connections': {'survive_path': False}}), None) == {}
    assert selection(policy) == {'states': ['established'], 'directions': ['outbound'], 'only_missing': True,
                                 'inspect': False}
    # measured paths judge sockets with keep-alive too, on the idle read from each live socket
    assert selection(policy, measured=True)['only_missing'] is False and selection(policy, measured=True)['inspect']
    violations, counts = evaluate(policy, GOOD, BOOT, [through('198.19.0.2', idle=10)])
    assert violations == [] and counts['by_rule']['connection_path'] == 0
