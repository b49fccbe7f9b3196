"""The fleet report, before and after the role with its live fix, on three hosts in different states.

prepare.yml wrote the report before the role ran (report-before); converge.yml ran the role with
the live fix on every host; these tests run the compliance playbook again, as a user would.
"""

import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import rig

testinfra_hosts = rig.podman_hosts()
EPHEMERAL = os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '')
RULES = ['kernel_time', 'kernel_intvl', 'kernel_probes', 'kernel_persisted', 'connection_keepalive',
         'connection_max_idle', 'connection_path']


def playbook(name, variables):
    """Run one of the collection's playbooks on the scenario's instances: (exit status, output)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_PYTHON_INTERPRETER='/usr/bin/python3')
    command = ['ansible-playbook', '-i', os.environ['MOLECULE_INVENTORY_FILE'], '-f', '10', name,
               '-e', json.dumps(variables)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def compliance(report_dir, extra=None):
    """Run linuxnet.keepalive.compliance on the scenario's instances: (exit status, output)."""
    return playbook('linuxnet.keepalive.compliance', dict({'keepalive_report_dir': report_dir}, **(extra or {})))


def load(report_dir):
    """{host: its row, with its listed violations from hosts/<host>.json as 'listed'}."""
    with open(os.path.join(report_dir, 'keepalive-report.json')) as handle:
        rows = dict((row['host'], row) for row in json.load(handle)['hosts'])
    for name, row in rows.items():
        row['listed'] = []
        if row['details']:
            with open(os.path.join(report_dir, row['details'])) as handle:
                row['listed'] = json.load(handle)['details']['violations']
    return rows


def test_report_before_names_exactly_the_expected_violations():
    hosts = load(os.path.join(EPHEMERAL, 'report-before'))
    assert sorted(hosts) == ['keepalive-compliant', 'keepalive-leaky', 'keepalive-wrong-kernel']
    assert hosts['keepalive-compliant']['compliant'] and hosts['keepalive-compliant']['listed'] == []
    wrong = hosts['keepalive-wrong-kernel']
    assert not wrong['compliant'] and wrong['violations']['kernel_time'] == 1
    assert [(v['rule'], v['subject'], v['found']) for v in wrong['listed']] == [
        ('kernel_time', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_keepalive_time = 7200')]
    assert 'keepalive role' in wrong['listed'][0]['fix']
    leaky = hosts['keepalive-leaky']
    assert not leaky['compliant'] and leaky['violations']['connection_keepalive'] == 2
    assert [v['rule'] for v in leaky['listed']] == ['connection_keepalive', 'connection_keepalive']
    for violation in leaky['listed']:
        assert (violation['process'], violation['unit']) == ('python3', 'leaky-client.service')
        assert violation['subject'].endswith('-> 127.0.0.1:7700')
        assert 'keepalive_sockets' in violation['fix']
    assert leaky['offenders'] == ['python3 (leaky-client.service): 2']


def test_markdown_and_junit_before():
    report = os.path.join(EPHEMERAL, 'report-before')
    with open(os.path.join(report, 'keepalive-report.md')) as handle:
        markdown = handle.read()
    assert '1 of 3 host(s) compliant; 2 not compliant; 0 not checked.' in markdown
    assert '| kernel_time | 1 | 1 | 0 |' in markdown and '| connection_keepalive | 1 | 2 | 0 |' in markdown
    assert '| connection_path | 0 | 0 | 3 |' in markdown  # skipped on every host: no path measurements
    assert '| keepalive-leaky | 2 | 0 | connection_keepalive | python3 (leaky-client.service): 2 |' in markdown
    assert '| keepalive-wrong-kernel | 1 | 0 | kernel_time |  |' in markdown
    suites = ET.parse(os.path.join(report, 'keepalive-report.junit.xml')).getroot()
    assert (suites.get('tests'), suites.get('failures'), suites.get('errors'), suites.get('skipped')) == ('21', '2', '0', '3')
    failed = sorted((case.get('classname'), case.get('name')) for case in suites.iter('testcase')
                    if case.find('failure') is not None)
    assert failed == [('keepalive-leaky', 'connection_keepalive'), ('keepalive-wrong-kernel', 'kernel_time')]
    assert sorted(case.get('name') for case in suites.iter('testcase') if case.get('classname') == 'keepalive-compliant') == sorted(RULES)


def test_textfile_metrics_on_each_host(host):
    metrics = host.file('/var/lib/node_exporter/textfile_collector/keepalive.prom').content_string
    expected = '0' if host.backend.name in ('keepalive-wrong-kernel', 'keepalive-leaky') else '1'
    assert 'keepalive_compliant %s\n' % expected in metrics
    assert '# TYPE keepalive_connections gauge' in metrics and 'keepalive_defaults{key="time"}' in metrics
    if host.backend.name == 'keepalive-leaky':
        assert 'keepalive_connections{direction="outbound",verdict="disabled"} 2' in metrics


def test_after_the_role_and_live_fix_the_report_is_clean(tmp_path):
    status, output = compliance(str(tmp_path / 'after'), {'keepalive_fail_on_violation': True})
    assert status == 0, output[-4000:]
    hosts = load(str(tmp_path / 'after'))
    assert all(row['compliant'] and row['listed'] == [] for row in hosts.values()), hosts
    assert '3 of 3 host(s) compliant; 0 not compliant; 0 not checked.' in (tmp_path / 'after' / 'keepalive-report.md').read_text()


def test_fail_on_violation_exits_non_zero(tmp_path):
    status, output = compliance(str(tmp_path / 'strict'), {'keepalive_fail_on_violation': True,
                                                           'keepalive_policy': {'kernel': {'time_max': 60}}})
    assert status != 0 and 'Not compliant: keepalive-compliant, keepalive-leaky, keepalive-wrong-kernel' in output
    assert all(not row['compliant'] for row in load(str(tmp_path / 'strict')).values())


@pytest.mark.parametrize('policy,message', [
    ({'kernel': {'time_max': 0}}, 'policy.kernel.time_max must be a positive integer'),
    ({'kernel': {'tiem_max': 100}}, 'policy.kernel.tiem_max. Supported parameters include'),
    ({'connections': {'directions': ['Outbound']}}, 'value of directions must be one or more of: inbound, outbound'),
    ({'exceptions': {'remote_addresses': ['10.0.0.0/33']}}, 'is not an address or network'),
])
def test_a_bad_policy_names_what_is_wrong(tmp_path, policy, message):
    status, output = compliance(str(tmp_path / 'bad'), {'keepalive_policy': policy})
    assert status != 0 and message in output


def test_the_fleets_paths_are_found_and_measured_each_host_within_its_time_limit(tmp_path):
    """linuxnet.keepalive.paths over the three hosts, each measuring as one async task: the leaky host's service
    talks to 127.0.0.1:7700, a path that forgets nothing, so nothing is recommended; with a time limit shorter than
    one measurement, every destination is reported as not measured, and why."""
    measure = {'keepalive_path_idle': [1, 2], 'keepalive_path_timeout': 1, 'keepalive_path_time_limit': 60}
    status, output = playbook('linuxnet.keepalive.paths', dict(measure, keepalive_paths_dir=str(tmp_path / 'paths')))
    assert status == 0, output[-4000:]
    report = json.loads((tmp_path / 'paths' / 'keepalive-paths.json').read_text())
    assert sorted(report['hosts']) == ['keepalive-compliant', 'keepalive-leaky', 'keepalive-wrong-kernel']
    leaky = [d for d in report['hosts']['keepalive-leaky']['destinations'] if d['port'] == 7700]
    assert [(d['address'], d['connections'], d['outcome'], d['survived_max']) for d in leaky] == [
        ('127.0.0.1', 2, 'survived', 2)]
    assert leaky[0]['holders'] == [{'process': 'python3', 'unit': 'leaky-client.service', 'connections': 2}]
    assert report['recommended'] == {} and all(not row['error'] for row in report['hosts'].values())
    status, output = playbook('linuxnet.keepalive.paths', dict(measure, keepalive_path_time_limit=1,
                                                               keepalive_paths_dir=str(tmp_path / 'short')))
    assert status == 0, output[-4000:]
    short = json.loads((tmp_path / 'short' / 'keepalive-paths.json').read_text())
    unmeasured = short['hosts']['keepalive-leaky']['destinations']
    assert unmeasured and all(d['outcome'] == 'not_measured' and 'more than is left of time_limit (1 s)' in d['msg']
                              for d in unmeasured)
