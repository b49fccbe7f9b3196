"""The compliance playbook's reports with hostile process names, limits, modes and a failing check.

Each run happens in a private network namespace (`unshare -n`): processes named with newlines,
'|', '#', markup and control characters hold connections without keep-alive to a local server,
and linuxnet.keepalive.compliance runs against localhost. The reports are read back with real
parsers: json, an XML parser for JUnit, and a check of the Markdown table's structure.
"""

import json
import os
import stat
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import namespace_env, run_compliance

HOSTILE = ('x\n# Injected', 'a|b|c\r\n| row |', '\x1b[31m<&>\x01"\'', '**[l](h)**')
RULES = ['kernel_time', 'kernel_intvl', 'kernel_probes', 'kernel_persisted', 'connection_keepalive',
         'connection_max_idle', 'connection_path']


def compliance(unshare, tmp_path, port, extra, names=HOSTILE, inventory='checked-host,', options=()):
    return run_compliance(unshare, tmp_path, port, extra, names, inventory, options)


def markdown_rows(text, heading):
    """The rows, as lists of cells, of the table under ``heading``; fails if a row's cells break out of the table."""
    lines = text.splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith(heading)][0]
    table = []
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        table.append(line)
    rows = []
    for line in table:
        assert line.endswith(' |'), line
        cells, cell, escaped = [], '', False
        for char in line[1:-1]:
            if escaped:
                cell += char
                escaped = False
            elif char == '\\':
                cell += char
                escaped = True
            elif char == '|':
                cells.append(cell.strip())
                cell = ''
            else:
                cell += char
        cells.append(cell.strip())
        rows.append(cells)
    assert len(set(len(row) for row in rows)) == 1, rows
    return rows


def load(report):
    data = json.loads((report / 'keepalive-report.json').read_text())
    return data, dict((row['host'], row) for row in data['hosts'])


def details(report, host):
    return json.loads((report / 'hosts' / (host + '.json')).read_text())['details']


@pytest.fixture
def report_dir(tmp_path):
    (tmp_path / 'textfile').mkdir()
    (tmp_path / 'report').mkdir(mode=0o700)
    os.chmod(str(tmp_path / 'report'), 0o700)
    return tmp_path


def test_hostile_names_cannot_break_any_report(unshare, report_dir):
    status, output = compliance(unshare, report_dir, 7810, {})
    assert status == 0, output[-4000:]
    report = report_dir / 'report'
    _data, rows = load(report)
    names = sorted(v['process'] for v in details(report, 'checked-host')['violations'])
    assert names == sorted(n[:15] for n in HOSTILE for _twice in range(2))  # JSON keeps the names exactly
    markdown = (report / 'keepalive-report.md').read_text()
    worst = markdown_rows(markdown, '## Hosts not compliant')
    assert worst[0] == ['host', 'violations', 'not examined', 'rules', 'worst offenders'] and len(worst) == 3
    assert worst[2][:4] == ['checked-host', '8', '0', 'connection_keepalive'], worst
    # the three worst offenders, each escaped in its cell
    assert r'a\|b\|c\\x0d\\x0a\| row \|' in worst[2][4] and r'\\x1b\[31m\<\&\>\\x01' in worst[2][4], worst
    assert all(line.startswith(('#', '|', 'Checked ', '1 of', '0 of', 'Every host')) or not line
               for line in markdown.splitlines()), markdown  # no name broke out into a line of its own
    suites = ET.parse(str(report / 'keepalive-report.junit.xml')).getroot()  # well-formed XML
    failure = [case for case in suites.iter('testcase') if case.get('name') == 'connection_keepalive'][0].find('failure')
    lines = [line for line in failure.text.splitlines() if line]
    assert len(lines) == 8 and all(' -> 127.0.0.1:7810: found no keep-alive' in line for line in lines), lines
    assert any('\\x1b[31m<&>\\x01"\'' in line for line in lines)
    # the report folder kept its mode; the reports are not world-readable
    assert stat.S_IMODE(os.stat(str(report)).st_mode) == 0o700
    for name in ('keepalive-report.json', 'keepalive-report.md', 'keepalive-report.junit.xml', 'hosts/checked-host.json'):
        assert stat.S_IMODE(os.stat(str(report / name)).st_mode) == 0o640, name


def test_counts_are_over_every_violation_whatever_the_limit(unshare, report_dir):
    status, output = compliance(unshare, report_dir, 7811, {'keepalive_violation_limit': 0,
                                                            'keepalive_report_mode': '0600'}, names=['leaky'])
    assert status == 0, output[-4000:]
    report = report_dir / 'report'
    data, rows = load(report)
    host = rows['checked-host']
    assert details(report, 'checked-host')['violations'] == [] and details(report, 'checked-host')['violations_left_out'] == 2
    assert not host['compliant'] and host['violations']['connection_keepalive'] == 2
    assert host['offenders'] == ['leaky (no unit): 2']
    # the report records when it ran, by which collection, over which inventory, with the policy in force
    assert data['report']['collection'] == {'name': 'linuxnet.keepalive', 'version': '0.2.0'}
    assert data['report']['inventory_hosts'] == 1 and data['report']['generated'].endswith('Z')
    assert data['report']['policy']['kernel'] == {'time_max': 7200, 'intvl_max': 75, 'probes_max': 9, 'persisted': False}
    assert data['report']['policy']['connections']['require_keepalive'] is True  # a default, recorded as in force
    suites = ET.parse(str(report / 'keepalive-report.junit.xml')).getroot()
    # connection_path is skipped without path measurements, and the report says so
    assert (suites.get('tests'), suites.get('failures'), suites.get('errors'), suites.get('skipped')) == ('7', '1', '0', '1')
    failure = [case for case in suites.iter('testcase') if case.get('name') == 'connection_keepalive'][0].find('failure')
    assert failure.get('message') == '2 violation(s) of connection_keepalive' and 'and 2 more, not listed' in failure.text
    metrics = (report_dir / 'textfile' / 'keepalive.prom').read_text()
    assert 'keepalive_violations{rule="connection_keepalive"} 2\n' in metrics and 'keepalive_compliant 0\n' in metrics
    assert 'keepalive_checked 1\n' in metrics and 'keepalive_checked_at ' in metrics
    assert 'keepalive_not_examined 0\n' in metrics
    assert stat.S_IMODE(os.stat(str(report / 'keepalive-report.json')).st_mode) == 0o600
    assert sorted(os.listdir(str(report_dir / 'textfile'))) == ['keepalive.prom']


def test_a_failed_check_replaces_the_metrics_with_a_failure(unshare, report_dir):
    (report_dir / 'textfile' / 'keepalive.prom').write_text('keepalive_compliant 1\n')
    status, output = compliance(unshare, report_dir, 7812, {'keepalive_policy': {'connections': {'directions': ['Outbound']}}},
                                names=['leaky'])
    assert status != 0 and 'Got no match for: Outbound' in output, output[-4000:]
    metrics = (report_dir / 'textfile' / 'keepalive.prom').read_text()
    assert 'keepalive_checked 0\n' in metrics and 'keepalive_compliant' not in metrics
    assert sorted(os.listdir(str(report_dir / 'textfile'))) == ['keepalive.prom']
    _data, rows = load(report_dir / 'report')
    assert not rows['checked-host']['checked'] and not rows['checked-host']['compliant']
    assert 'Outbound' in rows['checked-host']['error']
    suites = ET.parse(str(report_dir / 'report' / 'keepalive-report.junit.xml')).getroot()
    assert (suites.get('tests'), suites.get('failures'), suites.get('errors')) == ('7', '0', '7')


def test_the_report_and_the_gate_do_not_need_localhost_in_the_limit(unshare, report_dir):
    """--limit to one host of two: the report holds that host, and the gate fails the run."""
    status, output = compliance(unshare, report_dir, 7813, {'keepalive_fail_on_violation': True}, names=['leaky'],
                                inventory='web1,web2,', options=['--limit', 'web1'])
    assert status != 0 and 'Not compliant: web1' in output, output[-4000:]
    data, rows = load(report_dir / 'report')
    assert sorted(rows) == ['web1'] and data['report']['inventory_hosts'] == 2 and data['report']['hosts_in_run'] == 1


def test_check_mode_writes_the_report_and_says_so_but_no_metrics(unshare, report_dir):
    status, output = compliance(unshare, report_dir, 7814, {}, names=['leaky'], options=['--check'])
    assert status == 0, output[-4000:]
    assert '0 of 1 host(s) compliant, 1 not compliant, 0 not checked. Report: %s/keepalive-report.{json,md,junit.xml}' \
        % (report_dir / 'report') in output
    assert (report_dir / 'report' / 'keepalive-report.json').exists()
    assert os.listdir(str(report_dir / 'textfile')) == []  # the hosts' files are not written in check mode


@pytest.mark.parametrize('variables,words', [
    ({'keepalive_violation_limit': 'abc'}, 'keepalive_violation_limit=abc (a number'),
    ({'keepalive_report_mode': '999'}, 'keepalive_report_mode=999 and'),
    ({'keepalive_policy': 'strict'}, 'keepalive_policy (a dictionary'),
])
def test_bad_playbook_variables_are_named_before_any_host_is_checked(unshare, report_dir, variables, words):
    status, output = compliance(unshare, report_dir, 7815, variables, names=['leaky'])
    assert status != 0 and words in output and 'Nothing was checked' in output, output[-4000:]
    assert not (report_dir / 'report' / 'keepalive-report.json').exists()


def test_the_reports_of_two_runs_merge_into_one_the_newest_result_of_each_host_winning(unshare, report_dir):
    slice_a, slice_b = report_dir / 'slice-a', report_dir / 'slice-b'
    # an earlier run checked web1 alone; a later one checked web1 and web2
    status, output = compliance(unshare, report_dir, 7816, {'keepalive_report_dir': str(slice_a)}, names=['leaky'],
                                inventory='web1,web2,', options=['--limit', 'web1'])
    assert status == 0, output[-4000:]
    status, output = compliance(unshare, report_dir, 7817, {'keepalive_report_dir': str(slice_b)}, names=['leaky'],
                                inventory='web1,web2,')
    assert status == 0, output[-4000:]
    merged = report_dir / 'merged'
    env = dict(namespace_env(), ANSIBLE_NOCOLOR='1')
    proc = subprocess.run(['ansible-playbook', 'linuxnet.keepalive.compliance_merge', '-e', json.dumps(
        {'keepalive_report_inputs': [str(slice_a), str(slice_b)], 'keepalive_report_dir': str(merged)})],
        env=env, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert '0 of 2 host(s) compliant, 2 not compliant, 0 not checked' in proc.stdout
    data, rows = load(merged)
    _a, earlier = load(slice_a)
    _b, later = load(slice_b)
    assert sorted(rows) == ['web1', 'web2'] and rows['web1']['checked_at'] == later['web1']['checked_at']
    assert rows['web1']['checked_at'] > earlier['web1']['checked_at'] and rows['web1']['source'] == 1
    assert data['report']['superseded'] == 1 and [s['hosts'] for s in data['report']['sources']] == [1, 2]
    assert details(merged, 'web2')['violations'] == details(slice_b, 'web2')['violations']
    bad = subprocess.run(['ansible-playbook', 'linuxnet.keepalive.compliance_merge', '-e',
                          json.dumps({'keepalive_report_inputs': 'slice-a'})], env=env, capture_output=True, text=True,
                         check=False, timeout=300)
    assert bad.returncode != 0 and 'keepalive_report_inputs must be a list of report folders' in bad.stdout
