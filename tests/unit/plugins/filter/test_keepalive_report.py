# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters as playbooks call them: what they take from Ansible's variables, and their refusals in a user's words.
What they show is tested with reports/_presentation (tests/unit/plugins/module_utils/reports/test_presentation.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.linuxnet.keepalive.plugins.filter.keepalive_report import FilterModule
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import RULES

FILTERS = FilterModule().filters()
COUNTS = {'enabled': 0, 'disabled': 0, 'unknown': 0, 'not_applicable': 0}
CULPRITS = [{'process': 'python3', 'unit': 'legacy.service', 'pids': [7], 'connections': 2}]


def facts(culprits=()):
    return {
        'source': 'netlink', 'defaults': {'time': 7200, 'intvl': 75, 'probes': 9}, 'connections': [],
        'summary': {'total': 12, 'outbound_without_keepalive': 2, 'culprits': list(culprits),
                    'by_verdict': dict(COUNTS, disabled=2),
                    'by_direction_verdict': {'outbound': dict(COUNTS, disabled=2), 'inbound': dict(COUNTS),
                                             'listen': dict(COUNTS)}},
    }


def test_the_table_takes_a_title_and_a_number_of_rows_as_text():
    lines = FILTERS['keepalive_table'](facts(), 'web\n1', '5')
    assert lines[0] == '== web\\x0a1' and lines[1].startswith('kernel defaults: tcp_keepalive_time=7200s')


def test_the_table_refuses_what_is_not_keepalive_facts():
    with pytest.raises(AnsibleFilterError, match='keepalive_facts'):
        FILTERS['keepalive_table']({'something': 1})
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS['keepalive_table']({})
    assert str(err.value).endswith('not a dictionary with nothing in it')  # in a user's words, not a type's
    with pytest.raises(AnsibleFilterError, match="rows must be a number of rows, 0 or more .*not 'abc'"):
        FILTERS['keepalive_table'](facts(), 'web1', 'abc')
    with pytest.raises(AnsibleFilterError, match='rows must be a number of rows'):
        FILTERS['keepalive_table'](facts(), 'web1', True)


def test_the_fleet_reads_each_hosts_registered_result_and_a_host_without_one_is_not_checked():
    hostvars = {'good': {'keepalive_compliance': {
        'compliant': True, 'violations': [], 'violations_left_out': 0, 'not_examined': 0,
        'summary': {'by_rule': dict((r, 0) for r in RULES), 'offenders': [], 'defaults': {}}}},
        'down': {'keepalive_compliance': {'failed': True, 'msg': 'no route'}}}
    report = FILTERS['keepalive_fleet'](hostvars, ['good', 'down', 'never'])
    assert [(r['host'], r['reached'], r['compliant']) for r in report['hosts']] == [
        ('down', False, False), ('good', True, True), ('never', False, False)]
    assert report['hosts'][0]['error'] == 'no route' and report['hosts'][2]['error'] == 'unreachable'


def test_the_fleet_refuses_hosts_that_are_not_a_list_of_names():
    with pytest.raises(AnsibleFilterError, match="hosts must be a list of host names .*not the text 'web1'"):
        FILTERS['keepalive_fleet']({'web1': {}}, 'web1')
    with pytest.raises(AnsibleFilterError, match='takes hostvars'):
        FILTERS['keepalive_fleet'](['web1'], ['web1'])


def test_coverage_takes_a_mode_that_is_off_as_null_or_as_an_empty_text():
    on = {'units': [], 'global': True}
    lines = FILTERS['keepalive_coverage'](facts(CULPRITS), cgroup=on)
    # '' is how ansible-core before 2.19 renders a null template
    assert FILTERS['keepalive_coverage'](facts(CULPRITS), shim='', cgroup=on) == lines
    assert lines[2].startswith('cgroup program: in its groups') and len(lines) == 3


def test_coverage_refuses_what_is_not_keepalive_facts_or_a_mode():
    with pytest.raises(AnsibleFilterError, match='keepalive_coverage takes the facts'):
        FILTERS['keepalive_coverage']([])
    with pytest.raises(AnsibleFilterError, match="shim must be a dict with units and global, or null .*not 'yes'"):
        FILTERS['keepalive_coverage'](facts(), shim='yes')


def test_the_paths_report_reads_each_hosts_measurement_and_check_and_says_why_one_is_missing():
    measured = {'destinations': [], 'left_out': 0, 'recommended': None, 'msg': 'nothing to measure'}
    hostvars = {'web1': {'keepalive_paths': measured, 'keepalive_paths_check': {'violations': [], 'summary': {}}},
                'web2': {'keepalive_paths': {'failed': True, 'msg': 'networks must be addresses'}},
                'web3': {'keepalive_paths': measured, 'keepalive_paths_check': {'failed': True, 'msg': 'bad policy'}}}
    report = FILTERS['keepalive_paths'](hostvars, ['web1', 'web2', 'web3', 'never'])
    assert [(h, r['error']) for h, r in sorted(report['hosts'].items())] == [
        ('never', 'not measured: unreachable, or stopped before its measurement ended'),
        ('web1', ''), ('web2', 'not measured: networks must be addresses'), ('web3', 'not judged: bad policy')]
    with pytest.raises(AnsibleFilterError, match="keepalive_paths: hosts must be a list of host names"):
        FILTERS['keepalive_paths'](hostvars, 'web1')
