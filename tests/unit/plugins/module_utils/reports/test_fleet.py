# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report as files: rows recorded per host, the three reports written from them, and merged reports."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import multiprocessing
import re
import os
import xml.etree.ElementTree as ET

import pytest
import xmlschema

from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports import _fleet
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import RULES

SCHEMA = xmlschema.XMLSchema(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'junit.xsd'))
META = {'generated': '2026-12-02T18:00:00Z', 'collection': {'name': 'linuxnet.keepalive', 'version': '0.2.0'},
        'inventory_hosts': 5}


def checked(compliant, by_rule=None, violations=(), offenders=(), left_out=0, not_examined=0):
    return {'compliant': compliant, 'violations': list(violations), 'violations_left_out': left_out,
            'not_examined': not_examined, 'namespaces_not_read': 0, 'policy': {'kernel': {'time_max': 300}},
            'summary': {'by_rule': dict(dict((r, 0) for r in RULES), **(by_rule or {})), 'offenders': list(offenders),
                        'defaults': {'time': 120, 'intvl': 30, 'probes': 4}, 'connections': {}}}


VIOLATION = {'rule': 'connection_keepalive', 'subject_kind': 'connection', 'subject': '10.0.0.5:1 -> 10.0.0.9:2',
             'found': 'no keep-alive', 'expected': 'SO_KEEPALIVE set', 'fix': 'keepalive_sockets',
             'process': 'a|b\n# h</x>', 'unit': None}


def report(tmp_path, results, at=1000.0):
    """Record each host's result as the playbook does, then write the report: (summary, report folder)."""
    folder = str(tmp_path / 'report')
    fleet = _fleet.Fleet(folder, dict(META))
    for offset, (name, result, error) in enumerate(results):
        row, details = _fleet.row(name, result, error=error, checked_at=at + offset)
        _fleet.record(folder, row, details)
        fleet.add(row, details)
    return fleet.finish(), folder


FLEET = [('good', checked(True), None),
         ('leaky', checked(False, {'connection_keepalive': 3}, [VIOLATION], ['a|b\n# h (no unit): 3'], left_out=2), None),
         ('down', {}, 'bad <policy> & "x"'),
         ('liar', dict(checked(False), summary={'by_rule': {'made_up': 1}}), None),
         ('kernel', checked(False, {'kernel_time': 1}), None)]


def test_each_host_is_a_row_under_the_metrics_names_and_its_details_a_file(tmp_path):
    summary, folder = report(tmp_path, FLEET)
    data = json.load(open(os.path.join(folder, 'keepalive-report.json')))
    rows = dict((r['host'], r) for r in data['hosts'])
    assert data['report'] == META and data['compliant'] is False
    assert rows['leaky']['violations']['connection_keepalive'] == 3 and rows['leaky']['violation_count'] == 3
    assert rows['leaky']['checked'] and not rows['leaky']['compliant'] and rows['leaky']['details'] == 'hosts/leaky.json'
    assert not rows['down']['checked'] and rows['down']['error'] == 'bad <policy> & "x"'
    assert not rows['liar']['checked'] and rows['liar']['error'].startswith('the host returned a malformed result')
    details = json.load(open(os.path.join(folder, 'hosts', 'leaky.json')))['details']
    assert details['violations'] == [VIOLATION] and details['violations_left_out'] == 2
    assert summary == dict(summary, hosts=5, compliant_hosts=1, not_compliant=2, not_checked=2, compliant=False)
    assert summary['violations']['connection_keepalive'] == 3 and summary['hosts_violating']['kernel_time'] == 1
    assert sorted(summary['not_compliant_hosts']) == ['kernel', 'leaky']
    assert sorted(summary['not_checked_hosts']) == ['down', 'liar']


def test_the_junit_report_is_what_ci_systems_read_with_consistent_counts(tmp_path):
    _summary, folder = report(tmp_path, FLEET)
    path = os.path.join(folder, 'keepalive-report.junit.xml')
    SCHEMA.validate(path)  # raises, naming the element, when it is not
    root = ET.parse(path).getroot()
    suites = dict((s.get('name'), s) for s in root.iter('testsuite'))
    for suite in suites.values():
        cases = suite.findall('testcase')
        assert int(suite.get('tests')) == len(cases) == len(RULES)
        assert int(suite.get('failures')) == sum(1 for c in cases if c.find('failure') is not None)
        assert int(suite.get('errors')) == sum(1 for c in cases if c.find('error') is not None)
    for key in ('tests', 'failures', 'errors'):
        assert int(root.get(key)) == sum(int(s.get(key)) for s in suites.values()), key
    assert (root.get('failures'), root.get('errors')) == ('2', str(2 * len(RULES)))
    failure = [c for c in suites['leaky'].findall('testcase') if c.get('name') == 'connection_keepalive'][0].find('failure')
    assert failure.get('message') == '3 violation(s) of connection_keepalive'
    assert 'a|b\\x0a# h</x>' in failure.text and failure.text.endswith('and 2 more, not listed (keepalive_violation_limit)')


def test_the_markdown_report_puts_a_summary_first_and_lists_the_worst_hosts_escaped(tmp_path):
    _summary, folder = report(tmp_path, FLEET)
    text = open(os.path.join(folder, 'keepalive-report.md')).read()
    lines = text.splitlines()
    assert lines[:3] == ['# Keep-alive compliance', '', '1 of 5 host(s) compliant; 2 not compliant; 2 not checked.']
    assert 'Checked 2026-12-02T18:00:00Z by linuxnet.keepalive 0.2.0, 5 host(s) in the inventory.' in lines
    worst = lines.index('## Hosts not compliant, the worst first (2 of 2 shown)')
    assert lines[worst + 4].startswith('| leaky | 3 | 0 | connection_keepalive | a\\|b\\\\x0a\\# h (no unit): 3 |')
    assert lines[worst + 5].startswith('| kernel | 1 |')
    assert '| down | bad \\<policy\\> \\& "x" |' in lines


def test_a_large_fleet_lists_only_the_worst_in_markdown_but_every_host_in_json(tmp_path):
    results = [('h%04d' % i, checked(False, {'connection_keepalive': i % 97}), None) for i in range(300)]
    _summary, folder = report(tmp_path, results)
    text = open(os.path.join(folder, 'keepalive-report.md')).read()
    assert '(50 of 300 shown)' in text and text.count('\n| h0') == 50
    assert '| h0096 | 96 |' in text and '| h0001 |' not in text
    assert len(json.load(open(os.path.join(folder, 'keepalive-report.json')))['hosts']) == 300


def test_host_names_become_file_names_that_stay_in_the_folder():
    assert _fleet.file_name('web-1.example.com') == 'web-1.example.com'
    assert _fleet.file_name('../etc/x') == '..%2Fetc%2Fx' and _fleet.file_name('..') == '%2E%2E'
    assert _fleet.file_name('a b\u00e9') == 'a%20b%C3%A9'


def test_merging_overlapping_slices_keeps_the_newest_result_of_each_host_and_says_so(tmp_path):
    first = tmp_path / 'slice-0'
    second = tmp_path / 'slice-1'
    _s, one = report(first, [('a', checked(False, {'kernel_time': 1}), None), ('b', checked(True), None)], at=100.0)
    # the second slice checked b again later (now failing) and c; a is only in the first
    _s, two = report(second, [('b', checked(False, {'connection_keepalive': 2}, [VIOLATION]), None),
                              ('c', checked(True), None)], at=200.0)
    # and an older result of a, which must not win over the first slice's newer one
    old = json.load(open(os.path.join(two, 'keepalive-report.json')))
    old['hosts'].append(dict(json.load(open(os.path.join(one, 'keepalive-report.json')))['hosts'][0], checked_at=50.0,
                             compliant=True, violations=dict((r, 0) for r in RULES), violation_count=0))
    with open(os.path.join(two, 'keepalive-report.json'), 'w') as handle:
        json.dump(old, handle)
    merged = str(tmp_path / 'all')
    summary = _fleet.merge([one, two], merged, dict(META))
    data = json.load(open(os.path.join(merged, 'keepalive-report.json')))
    rows = dict((r['host'], r) for r in data['hosts'])
    assert sorted(rows) == ['a', 'b', 'c']
    assert (rows['a']['checked_at'], rows['a']['compliant'], rows['a']['source']) == (100.0, False, 0)
    assert (rows['b']['checked_at'], rows['b']['violation_count'], rows['b']['source']) == (200.0, 2, 1)
    assert data['report']['superseded'] == 2 and [s['hosts'] for s in data['report']['sources']] == [2, 3]
    assert summary['hosts'] == 3 and summary['compliant_hosts'] == 1
    details = json.load(open(os.path.join(merged, 'hosts', 'b.json')))['details']
    assert details['violations'] == [VIOLATION]  # the newest run's details came along
    assert 'merged from 2 report(s), the newest result of each host kept' in open(
        os.path.join(merged, 'keepalive-report.md')).read()
    SCHEMA.validate(os.path.join(merged, 'keepalive-report.junit.xml'))


def test_a_folder_that_is_not_a_report_is_refused_naming_it(tmp_path):
    (tmp_path / 'x').mkdir()
    (tmp_path / 'x' / 'keepalive-report.json').write_text('{"hosts": 5}')
    with pytest.raises(_fleet.ReportError, match='is not a keep-alive compliance report'):
        _fleet.merge([str(tmp_path / 'x')], str(tmp_path / 'out'), dict(META))
    with pytest.raises(_fleet.ReportError, match='cannot read'):
        _fleet.merge([str(tmp_path / 'nothing')], str(tmp_path / 'out'), dict(META))


def test_the_gate_names_the_hosts_not_compliant_and_not_checked_and_counts_the_rest():
    assert _fleet.gate_text({'not_compliant': 0, 'not_checked': 0}) == ''
    assert _fleet.gate_text({'not_compliant': 2, 'not_compliant_hosts': ['web2', 'db\n1'], 'not_checked': 1,
                             'not_checked_hosts': ['web3']}) == 'Not compliant: web2, db\\x0a1. Not checked: web3.'
    assert _fleet.gate_text({'not_compliant': 60, 'not_compliant_hosts': ['h%d' % n for n in range(50)],
                             'not_checked': 0}).endswith('h49 and 10 more.')


TEMPLATE = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..', 'playbooks', 'templates',
                        'keepalive.prom.j2')


def test_each_metric_is_named_after_a_field_of_the_hosts_row():
    """keepalive_<field> for the fields a dashboard needs, so that a dashboard and the report read alike."""
    with open(TEMPLATE) as handle:
        text = handle.read()
    metrics = set(re.findall(r'^# TYPE keepalive_(\w+) gauge$', text, re.M))
    assert set(re.findall(r'^keepalive_(\w+)[{ ]', text, re.M)) == metrics  # each one declared, none without a value
    row, _details = _fleet.row('web1', checked(False, {'connection_keepalive': 2}))
    assert metrics == set(row) - {'host', 'error', 'details', 'offenders', 'violation_count'}


def test_a_rule_a_host_could_not_judge_is_a_skipped_case_and_counted_in_the_rules_table(tmp_path):
    why = 'no path measurements given (keepalive_check measurements, from linuxnet.keepalive.paths)'
    _summary, folder = report(tmp_path, [('web1', dict(checked(True), rules_skipped={'connection_path': why}), None),
                                         ('web2', checked(True), None)])
    path = os.path.join(folder, 'keepalive-report.junit.xml')
    SCHEMA.validate(path)
    root = ET.parse(path).getroot()
    assert root.get('skipped') == '1'
    suites = dict((s.get('name'), s) for s in root.iter('testsuite'))
    assert (suites['web1'].get('skipped'), suites['web2'].get('skipped')) == ('1', '0')
    case = [c for c in suites['web1'].findall('testcase') if c.get('name') == 'connection_path'][0]
    assert case.find('skipped').get('message') == why
    rows = dict((r['host'], r) for r in json.load(open(os.path.join(folder, 'keepalive-report.json')))['hosts'])
    assert rows['web1']['rules_skipped'] == {'connection_path': why} and rows['web2']['rules_skipped'] == {}
    assert '| connection_path | 0 | 0 | 1 |' in open(os.path.join(folder, 'keepalive-report.md')).read()


def test_a_skipped_rule_the_report_does_not_know_makes_the_result_malformed():
    row, _details = _fleet.row('web1', dict(checked(True), rules_skipped={'made_up': 'x'}))
    assert not row['checked'] and 'rules_skipped must map rules to why' in row['error']


def _record_at_once(barrier, folder, name):
    barrier.wait()
    _fleet.record(folder, {'host': name, 'checked': True, 'compliant': True}, {'violations': []})


def test_hosts_recording_into_a_new_report_folder_at_the_same_time_are_all_kept(tmp_path):
    # Ansible's forks record every host's result at once: the first run into a new folder must keep them all.
    context = multiprocessing.get_context('fork')
    for attempt in range(10):
        folder = str(tmp_path / ('report%d' % attempt))
        barrier = context.Barrier(6)
        workers = [context.Process(target=_record_at_once, args=(barrier, folder, 'web%d' % n)) for n in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [worker.exitcode for worker in workers] == [0] * 6
        assert sorted(os.listdir(os.path.join(folder, 'hosts'))) == ['web%d.json' % n for n in range(6)]
        assert oct(os.stat(folder).st_mode & 0o777) == oct(0o750)


def test_a_file_where_the_report_folder_should_be_is_an_error(tmp_path):
    (tmp_path / 'report').write_text('')
    with pytest.raises(OSError):
        _fleet.record(str(tmp_path / 'report'), {'host': 'web1'}, {})
