"""The shipped alerting rules, with promtool and with a real prometheus scraping a real node_exporter.

`promtool test rules` runs the rules' own tests (tests/prometheus). Then the compliance playbook
checks two hosts' worth of namespaces: one where a process holds connections without keep-alive,
and one whose check fails (a bad policy). Each run writes keepalive.prom into a folder of its own;
Debian's prometheus-node-exporter serves each folder through its textfile collector, and Debian's
prometheus scrapes both on loopback, in a private network namespace, with the collection's rules
loaded. The test reads prometheus's HTTP API, as a person's PromQL would.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import HERE, ROOT, run_compliance

RULES = os.path.join(ROOT, 'extensions', 'prometheus', 'keepalive-alerts.yml')


def promtool(*args, **kwargs):
    if not shutil.which('promtool'):
        pytest.fail('promtool is missing: make setup installs the prometheus package')
    return subprocess.run(['promtool'] + list(args), input=kwargs.get('stdin'), capture_output=True, text=True,
                          check=False, timeout=120)


def test_the_rules_are_valid_and_pass_their_own_tests():
    proc = promtool('check', 'rules', RULES)
    assert proc.returncode == 0 and 'SUCCESS: 4 rules found' in proc.stdout, proc.stdout + proc.stderr
    proc = promtool('test', 'rules', os.path.join(ROOT, 'tests', 'prometheus', 'keepalive-alerts.test.yml'))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_metrics_files_are_what_prometheus_reads(unshare, tmp_path):
    leaky, failed = tmp_path / 'leaky', tmp_path / 'failed'
    for folder in (leaky, failed):
        (folder / 'textfile').mkdir(parents=True)
    status, output = run_compliance(unshare, leaky, 7840, {}, ['leaky'])
    assert status == 0, output[-4000:]
    status, output = run_compliance(unshare, failed, 7841, {'keepalive_policy': {'connections': {'directions': ['x']}}},
                                    ['leaky'])
    assert status != 0 and 'Got no match for: x' in output, output[-4000:]
    for folder in (leaky, failed):
        proc = promtool('check', 'metrics', stdin=(folder / 'textfile' / 'keepalive.prom').read_text())
        assert proc.returncode == 0, proc.stdout + proc.stderr  # no lint finding either

    lab = tmp_path / 'lab'
    lab.mkdir()
    proc = subprocess.run(unshare + [sys.executable, os.path.join(HERE, 'files', 'prometheus_lab.py'), str(lab), RULES,
                                     str(leaky / 'textfile'), str(failed / 'textfile')],
                          capture_output=True, text=True, check=False, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = json.loads(proc.stdout)
    answers, (leaky_host, failed_host) = found['answers'], found['exporters']
    assert answers is not None, (lab / 'lab.log').read_text()[-4000:]

    def values(name):
        return dict((series['metric']['instance'], series['value'][1]) for series in answers[name])

    # node_exporter read both files; the names are the report's: checked, compliant, violations, connections
    assert values('textfile_errors') == {leaky_host: '0', failed_host: '0'}
    assert values('checked') == {leaky_host: '1', failed_host: '0'}
    assert values('compliant') == {leaky_host: '0'}  # a failed check claims nothing about compliance
    assert values('violations') == {leaky_host: '2'} and values('without_keepalive') == {leaky_host: '2'}
    assert answers['not_compliant_hosts'][0]['value'][1] == '1'
    firing = sorted((alert['labels']['alertname'], alert['labels']['instance']) for alert in answers['alerts']
                    if alert['state'] == 'firing')
    assert firing == [('KeepaliveCheckFailed', failed_host), ('KeepaliveHostNotCompliant', leaky_host)], answers['alerts']
