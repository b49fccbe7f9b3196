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
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import HERE, namespace_env

HOSTILE = ('x\n# Injected', 'a|b|c\r\n| row |', '\x1b[31m<&>\x01"\'', '**[l](h)**')
RULES = ['kernel_time', 'kernel_intvl', 'kernel_probes', 'kernel_persisted', 'connection_keepalive',
         'connection_max_idle']


def compliance(unshare, tmp_path, port, extra, names=HOSTILE):
    env = namespace_env()
    env.update(ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    variables = dict({'keepalive_report_dir': str(tmp_path / 'report'),
                      'keepalive_textfile_dir': str(tmp_path / 'textfile'),
                      # the namespace's kernel defaults are the kernel's own: leave them out of this test
                      'keepalive_policy': {'kernel': {'time_max': 7200, 'persisted': False}}}, **extra)
    command = ['ansible-playbook', '-i', 'checked-host,', '-c', 'local', 'linuxnet.keepalive.compliance',
               '-e', json.dumps(variables)]
    proc = subprocess.run(unshare + [sys.executable, os.path.join(HERE, 'files', 'hostile_names.py'), str(port),
                                     json.dumps(list(names)), '--'] + command,
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def markdown_rows(text):
    """The table's rows as lists of cells; fails if any line outside the table is not the title or summary."""
    lines = text.splitlines()
    table = [line for line in lines if line.startswith('|')]
    others = [line for line in lines if line and not line.startswith('|')]
    assert others == ['# Keep-alive compliance', '1 of 1 host(s) compliant.'] or others[0] == '# Keep-alive compliance'
    assert len(others) == 2, others
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
    assert all(len(row) == 4 for row in rows), rows
    return rows


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
    hosts = json.loads((report / 'keepalive-report.json').read_text())['hosts']
    names = sorted(v['process'] for v in hosts[0]['violations'])
    assert names == sorted(n[:15] for n in HOSTILE for _twice in range(2))  # JSON keeps the names exactly
    rows = markdown_rows((report / 'keepalive-report.md').read_text())
    assert rows[0] == ['host', 'compliant', 'violations', 'worst offenders'] and len(rows) == 3
    assert rows[2][:3] == ['checked-host', 'no', '8'], rows
    # the three worst offenders, each escaped in its cell
    assert r'a\|b\|c\\x0d\\x0a\| row \|' in rows[2][3] and r'\\x1b\[31m\<\&\>\\x01' in rows[2][3], rows
    suites = ET.parse(str(report / 'keepalive-report.junit.xml')).getroot()  # well-formed XML
    failure = [case for case in suites.iter('testcase') if case.get('name') == 'connection_keepalive'][0].find('failure')
    lines = [line for line in failure.text.splitlines() if line]
    assert len(lines) == 8 and all(' -> 127.0.0.1:7810: found no keep-alive' in line for line in lines), lines
    assert any('\\x1b[31m<&>\\x01"\'' in line for line in lines)
    # the report folder kept its mode; the reports are not world-readable
    assert stat.S_IMODE(os.stat(str(report)).st_mode) == 0o700
    for name in ('keepalive-report.json', 'keepalive-report.md', 'keepalive-report.junit.xml'):
        assert stat.S_IMODE(os.stat(str(report / name)).st_mode) == 0o640, name


def test_counts_are_over_every_violation_whatever_the_limit(unshare, report_dir):
    status, output = compliance(unshare, report_dir, 7811, {'keepalive_violation_limit': 0,
                                                            'keepalive_report_mode': '0600'}, names=['leaky'])
    assert status == 0, output[-4000:]
    report = report_dir / 'report'
    host = json.loads((report / 'keepalive-report.json').read_text())['hosts'][0]
    assert host['violations'] == [] and host['violations_left_out'] == 2 and not host['compliant']
    assert host['by_rule']['connection_keepalive'] == 2 and host['offenders'] == ['leaky (no unit): 2']
    suites = ET.parse(str(report / 'keepalive-report.junit.xml')).getroot()
    assert suites.get('failures') == '1'
    failure = [case for case in suites.iter('testcase') if case.get('name') == 'connection_keepalive'][0].find('failure')
    assert failure.get('message') == '2 violation(s) of connection_keepalive' and 'and 2 more, not listed' in failure.text
    assert markdown_rows((report / 'keepalive-report.md').read_text())[2][:3] == ['checked-host', 'no', '2']
    metrics = (report_dir / 'textfile' / 'keepalive.prom').read_text()
    assert 'keepalive_violations{rule="connection_keepalive"} 2\n' in metrics and 'keepalive_compliant 0\n' in metrics
    assert 'keepalive_check_success 1\n' in metrics and 'keepalive_check_timestamp_seconds ' in metrics
    assert stat.S_IMODE(os.stat(str(report / 'keepalive-report.json')).st_mode) == 0o600
    assert sorted(os.listdir(str(report_dir / 'textfile'))) == ['keepalive.prom']


def test_a_failed_check_replaces_the_metrics_with_a_failure(unshare, report_dir):
    (report_dir / 'textfile' / 'keepalive.prom').write_text('keepalive_compliant 1\n')
    status, output = compliance(unshare, report_dir, 7812, {'keepalive_policy': {'connections': {'directions': ['Outbound']}}},
                                names=['leaky'])
    assert status != 0 and 'Got no match for: Outbound' in output, output[-4000:]
    metrics = (report_dir / 'textfile' / 'keepalive.prom').read_text()
    assert 'keepalive_check_success 0\n' in metrics and 'keepalive_compliant' not in metrics
    assert sorted(os.listdir(str(report_dir / 'textfile'))) == ['keepalive.prom']
    host = json.loads((report_dir / 'report' / 'keepalive-report.json').read_text())['hosts'][0]
    assert not host['reached'] and not host['compliant'] and 'Outbound' in host['error']
