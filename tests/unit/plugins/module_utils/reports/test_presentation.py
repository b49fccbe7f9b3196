# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a person reads: keepalive_facts' line, the facts table, the role's coverage report and the fleet's rows, with
every process, unit and host name escaped."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import RULES
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._presentation import (
    coverage, facts_table, fleet, owner, paths, summary_line,
)

COUNTS = {'enabled': 0, 'disabled': 0, 'unknown': 0, 'not_applicable': 0}


def facts(connections=(), culprits=()):
    return {
        'source': 'netlink', 'defaults': {'time': 7200, 'intvl': 75, 'probes': 9},
        'connections': list(connections),
        'summary': {'total': 12, 'outbound_without_keepalive': 3, 'culprits': list(culprits),
                    'by_verdict': dict(COUNTS, disabled=3),
                    'by_direction_verdict': {'outbound': dict(COUNTS, disabled=3, enabled=2), 'inbound': dict(COUNTS),
                                             'listen': dict(COUNTS, not_applicable=1)}},
    }


def conn(process='python3', remote='10.0.0.9', port=5432):
    return {'direction': 'outbound', 'state': 'established', 'local_address': '10.0.0.5', 'local_port': 40000,
            'remote_address': remote, 'remote_port': port, 'keepalive': 'disabled', 'process': process,
            'unit': 'app.service', 'pids': [7, 8]}


def test_the_table_shows_defaults_connections_culprits_and_counts():
    lines = facts_table(facts([conn(), conn(remote='2001:db8::1')],
                              [{'process': 'python3', 'unit': 'app.service', 'pids': [7], 'connections': 3}]), 'web1')
    assert lines[0] == '== web1'
    assert lines[1].startswith('kernel defaults: tcp_keepalive_time=7200s intvl=75s probes=9')
    assert 'connections without keep-alive (3; first 2 shown):' in lines
    assert any('10.0.0.5:40000' in l and '10.0.0.9:5432' in l and 'python3[7,8]' in l for l in lines)
    assert any('[2001:db8::1]:5432' in l for l in lines)
    assert any(l.strip().startswith('3  python3') for l in lines)
    assert lines[-3].startswith('  outbound  enabled 2      disabled 3')


def test_hostile_names_stay_on_their_line():
    lines = facts_table(facts([conn(process='x\n# fake\x1b')]))
    assert not any(l.startswith('# fake') for l in lines)
    assert any('x\\x0a# fake\\x1b[7,8]' in l for l in lines)


def test_summary_line_names_top_culprits_and_defaults():
    culprits = [{'process': 'p%d' % i, 'unit': None, 'pids': [i], 'connections': 5 - i} for i in range(5)]
    assert summary_line(facts(culprits=culprits)) == (
        '12 TCP sockets, 3 established outbound without keep-alive (p0 5, p1 4, p2 3, and 2 more); kernel '
        'defaults time 7200 s, intvl 75 s, probes 9 (used only by sockets that set SO_KEEPALIVE)')


def checked(compliant, by_rule=None, violations=(), offenders=(), left_out=0):
    return {'compliant': compliant, 'violations': list(violations), 'violations_left_out': left_out, 'not_examined': 0,
            'summary': {'by_rule': dict(dict((r, 0) for r in RULES), **(by_rule or {})), 'offenders': list(offenders),
                        'defaults': {'time': 120, 'intvl': 30, 'probes': 4}}}


def test_the_fleet_report_counts_every_violation_and_escapes_every_format():
    violation = {'rule': 'connection_keepalive', 'subject_kind': 'connection', 'subject': '10.0.0.5:1 -> 10.0.0.9:2',
                 'found': 'no keep-alive', 'expected': 'SO_KEEPALIVE set', 'fix': 'keepalive_sockets',
                 'process': 'a|b\n# h', 'unit': None}
    report = fleet({'good': checked(True),
                    'leaky': checked(False, {'connection_keepalive': 3}, [violation], ['a|b\n# h (no unit): 3'], left_out=2),
                    'down': {'failed': True, 'msg': 'bad <policy> & "x"'},
                    'never': {}}, RULES)
    assert [r['host'] for r in report['hosts']] == ['down', 'good', 'leaky', 'never']
    assert (report['compliant_count'], report['host_count'], report['failures']) == (1, 4, 1)
    assert report['not_compliant'] == ['down', 'leaky', 'never'] and report['rules'] == list(RULES)
    down, good, leaky, never = report['markdown']
    assert good == ['good', 'yes', '0', ''] and leaky[:3] == ['leaky', 'no', '3']
    assert leaky[3] == 'a\\|b\\\\x0a\\# h (no unit): 3'
    assert down[1] == 'not checked: bad \\<policy\\> \\& "x"' and never[1] == 'not checked: unreachable'
    suites = dict((s['name'], s) for s in report['junit'])
    case = [c for c in suites['leaky']['cases'] if c['name'] == 'connection_keepalive'][0]
    assert case['failure']['message'] == '3 violation(s) of connection_keepalive'
    assert case['failure']['lines'][-1] == 'and 2 more, not listed (keepalive_violation_limit)'
    for line in case['failure']['lines'] + [c['error'] for c in suites['down']['cases']]:
        ET.fromstring('<a b="%s">%s</a>' % (line, line))  # well-formed in an attribute and an element
    assert all(c['error'] and 'bad &lt;policy&gt;' in c['error'] for c in suites['down']['cases'])


CULPRITS = [{'process': 'python3', 'unit': 'legacy.service', 'pids': [7], 'connections': 2},
            {'process': 'curl\nx', 'unit': 'other.service', 'pids': [9], 'connections': 1}]


@pytest.mark.parametrize('change,why', [
    (lambda r: r['violations'].append({'rule': 'made_up', 'subject': 'x', 'found': 'x', 'expected': 'x', 'fix': 'x'}),
     "a violation of no known rule: 'made_up'"),
    (lambda r: r['summary']['by_rule'].update(connection_keepalive='3'), 'summary.by_rule must map the rules'),
    (lambda r: r['summary']['by_rule'].update(made_up=1), 'summary.by_rule must map the rules'),
    (lambda r: r.update(compliant='yes'), "compliant is 'yes', not true or false"),
    (lambda r: r.update(summary=[]), 'summary is not a dictionary'),
    (lambda r: r.update(not_examined=-1), 'not_examined is -1, not a count'),
    (lambda r: r['violations'].append('text'), "a violation of no known rule: 'text'"),
    (lambda r: r['summary'].update(offenders=[{'x': 1}]), 'summary.offenders is not a list of texts'),
])
def test_a_malformed_host_result_is_reported_as_not_checked_and_every_other_host_as_usual(change, why):
    bad = checked(False, {'connection_keepalive': 1})
    change(bad)
    report = fleet({'bad': bad, 'good': checked(True)}, RULES)
    rows = dict((r['host'], r) for r in report['hosts'])
    assert rows['good']['compliant'] and not rows['bad']['reached'] and not rows['bad']['compliant']
    assert rows['bad']['error'].startswith('the host returned a malformed result (') and why in rows['bad']['error']
    assert report['not_compliant'] == ['bad'] and report['compliant_count'] == 1
    assert report['markdown'][0][1].startswith('not checked: the host returned a malformed result')


def test_coverage_says_why_each_mode_that_is_on_leaves_a_connection_without_keepalive():
    lines = coverage(facts(culprits=CULPRITS)['summary'], shim={'units': ['legacy'], 'global': False},
                     cgroup={'units': ['other.service'], 'global': False})
    assert lines[0].startswith('3 established outbound connection(s) still run without keep-alive: their programs '
                               'never set SO_KEEPALIVE')
    assert lines[1] == 'held by: python3 (legacy.service) 2, curl\\x0ax (other.service) 1'
    assert lines[2].startswith('preload shim: preloaded, but opened before the unit restarted') \
        and lines[2].endswith(': python3 (legacy.service) 2')
    assert lines[3] == 'preload shim: out of its reach (not in keepalive_shim_services): curl\\x0ax (other.service) 1'
    assert lines[4].startswith('cgroup program: in its groups, but opened before it was attached') \
        and lines[4].endswith(': curl\\x0ax (other.service) 1')
    assert lines[5] == 'cgroup program: out of its reach (not in keepalive_cgroup_units): python3 (legacy.service) 2'
    assert len(lines) == 6


def test_coverage_in_global_mode_reaches_every_process_and_modes_that_are_off_say_nothing():
    lines = coverage(facts(culprits=CULPRITS)['summary'], cgroup={'units': [], 'global': True})
    assert [line.split(':')[0] for line in lines[2:]] == ['cgroup program']
    assert 'python3 (legacy.service) 2, curl\\x0ax (other.service) 1' in lines[2]


def test_coverage_counts_a_unit_in_a_selected_slice_as_reached():
    culprits = [{'process': 'python3', 'unit': 'worker.service', 'slices': ['apps.slice'], 'pids': [7], 'connections': 1},
                {'process': 'curl', 'unit': 'other.service', 'slices': ['system.slice'], 'pids': [9], 'connections': 1}]
    lines = coverage(facts(culprits=culprits)['summary'], cgroup={'units': ['apps.slice'], 'global': False})
    assert lines[2].startswith('cgroup program: in its groups') and lines[2].endswith(': python3 (worker.service) 1')
    assert lines[3] == 'cgroup program: out of its reach (not in keepalive_cgroup_units): curl (other.service) 1'


def test_nothing_left_says_so_whatever_the_modes():
    done = facts()['summary']
    done['outbound_without_keepalive'] = 0
    assert coverage(done, cgroup={'units': ['a'], 'global': False}) == ['every established outbound connection has keep-alive']


def test_an_owner_is_named_with_its_unit_and_escaped():
    assert owner('python3', 'app.service') == 'python3 (app.service)'
    assert owner('curl', None) == 'curl' and owner(None, None) == '?'
    assert owner('a\nb', 'x\x1b.service') == 'a\\x0ab (x\\x1b.service)'


def test_a_short_table_says_how_many_it_left_out():
    lines = facts_table(facts([conn(), conn(), conn()]), rows=1)
    assert 'connections without keep-alive (3; first 1 shown):' in lines
    assert sum(1 for line in lines if '10.0.0.9:5432' in line) == 1
    assert facts_table(facts())[3] == 'no connection without keep-alive'


SIX = {'address': '198.19.0.2', 'port': 7950, 'direction': 'outbound', 'connections': 2, 'outcome': 'dropped',
       'survived_max': 5, 'forgot_min': 8, 'holders': [{'process': 'orders|x\n#', 'unit': 'orders.service',
                                                        'connections': 2}]}
ON_PATH = {'rule': 'connection_path', 'subject': '198.18.0.2:40000 -> 198.19.0.2:7950', 'process': 'orders|x\n#',
           'unit': 'orders.service', 'found': 'keep-alive after 10 s idle (its TCP_KEEPIDLE)',
           'expected': 'a keep-alive probe within 5 s idle'}


def test_the_paths_report_recommends_lists_destinations_and_the_connections_that_die_escaped():
    recommended = {'keepalive_time': 4, 'keepalive_intvl': 4, 'keepalive_socket_idle': 4, 'keepalive_socket_interval': 4,
                   'because': 'the path to 198.19.0.2:7950 ...'}
    report = paths({
        'web1': {'paths': {'destinations': [SIX, dict(SIX, address='2001:db8::7', outcome='not_measured',
                                                      survived_max=None, forgot_min=None)],
                           'left_out': 0, 'recommended': recommended},
                 'check': {'violations': [ON_PATH, dict(ON_PATH, rule='connection_keepalive')],
                           'summary': {'by_rule': {'connection_path': 3}}}, 'error': ''},
        'web\n2': {'paths': {}, 'check': {}, 'error': 'not measured: unreachable'},
    })
    assert report['recommended'] == {'web1': {'keepalive_time': 4, 'keepalive_intvl': 4, 'keepalive_socket_idle': 4,
                                              'keepalive_socket_interval': 4}}
    assert report['hosts']['web1']['violations'] == [ON_PATH] and report['hosts']['web1']['violation_count'] == 3
    lines = report['markdown']
    assert lines[2] == '2 host(s), 1 destination(s) measured; 3 connection(s) would not survive their path.'
    assert '| web\\\\x0a2 | - | - | - | - | not measured: unreachable |' in lines
    assert '| web1 | 4 | 4 | 4 | 4 | the path to 198.19.0.2:7950 ... |' in lines
    assert ('| web1 | 198.19.0.2:7950 | 2 | orders\\|x\\\\x0a\\# (orders.service) 2 | dropped | 5 | 8 |') in lines
    assert any(line.startswith('| web1 | \\[2001:db8::7\\]:7950 | 2 |') and line.endswith('| not\\_measured | - | - |')
               for line in lines), lines
    assert '| web1 | and 2 more | | | |' in lines
    assert all(line.startswith(('#', '|', '2 host', 'Apply')) or not line for line in lines)  # no name broke a line
