"""Outcome-based compliance, proven behind two NATs (tests/rig/middlebox.py with a second path).

One client reaches two servers, each behind a router that forgets idle flows: after 6 s (path 0) and
after 15 s (path 1). The client holds real connections to both: one with keep-alive every 10 s, one
without. linuxnet.keepalive.paths, run on the client as a user runs it on a host, finds both
destinations from those connections, measures both paths, recommends a keep-alive time below the
shorter one, and judges the 10 s keep-alive too slow for the 6 s path and enough for the 15 s one.
Then the keepalive role applies the recommended values from the inventory the playbook wrote (with
the client's sysctl files in a mount namespace of their own), and a new connection to each server
survives an idle longer than its path keeps a flow (three times as long on the 6 s path, so that only
probes that keep coming carry it through), while one without keep-alive still dies.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import HERE, ROOT, namespace_env

sys.path.insert(0, os.path.join(ROOT, 'tests', 'rig'))
import middlebox  # noqa: E402  pylint: disable=wrong-import-position

FORGET = (6, 15)
IDLE = [3, 5, 8, 12, 18]
PORT = 7950
SANDBOX = os.path.join(HERE, 'files', 'sysctl_sandbox.sh')
ROLE = '''---
- name: The keepalive role, with the values linuxnet.keepalive.paths recommends
  hosts: all
  gather_facts: false
  roles:
    - role: linuxnet.keepalive.keepalive
'''


def playbook(lab, env, argv, prefix=()):
    proc = subprocess.run(lab.command(middlebox.CLIENT, list(prefix) + ['ansible-playbook'] + argv),
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def story(unshare, tmp_path_factory):
    """The whole story in one lab: the report, the role's run, and the outcome of new connections afterwards."""
    if not shutil.which('iptables') or not shutil.which('nsenter'):
        pytest.skip('needs iptables and nsenter')
    work = tmp_path_factory.mktemp('paths')
    env = dict(namespace_env(), ANSIBLE_NOCOLOR='1')
    found = {}
    with middlebox.Middlebox(forget_after=FORGET[0], mode='drop', more_paths=[(FORGET[1], 'drop')]) as lab:
        for path in (0, 1):
            middlebox.start_server(lab, PORT, path=path)
        # real connections, idle long: one that probes every 10 s (and retries slowly, so that it is still there
        # when the check runs), one without keep-alive
        for path in (0, 1):
            middlebox.start_client(lab, PORT, 300, keepidle=10, keepintvl=10, path=path)
            middlebox.start_client(lab, PORT, 300, path=path)
        variables = {'keepalive_paths_dir': str(work / 'report'), 'keepalive_path_idle': IDLE,
                     'keepalive_path_timeout': 2, 'keepalive_policy': {'kernel': {'time_max': 7200, 'persisted': False}}}
        found['status'], found['output'] = playbook(
            lab, env, ['-i', 'lab-client,', '-c', 'local', 'linuxnet.keepalive.paths', '-e', json.dumps(variables)])
        found['report'] = json.loads((work / 'report' / 'keepalive-paths.json').read_text()) \
            if (work / 'report' / 'keepalive-paths.json').exists() else None
        # the fleet's compliance, judged by the measured paths where there are some ('unmeasured' has none)
        fleet = dict(variables, keepalive_report_dir=str(work / 'fleet'))
        found['compliance_status'], found['compliance_output'] = playbook(
            lab, env, ['-i', 'lab-client,unmeasured,', '-c', 'local', 'linuxnet.keepalive.compliance',
                       '-e', json.dumps(fleet)])
        found['fleet'] = json.loads((work / 'fleet' / 'keepalive-report.json').read_text()) \
            if (work / 'fleet' / 'keepalive-report.json').exists() else {'hosts': []}
        # the role, with the recommended values: the one documented step
        for name in ('etc.sysctl.d', 'run.sysctl.d', 'usr.local.lib.sysctl.d', 'usr.lib.sysctl.d'):
            (work / name).mkdir()
        (work / 'sysctl.conf').write_text('')
        (work / 'role.yml').write_text(ROLE)
        found['role_status'], found['role_output'] = playbook(
            lab, env, ['-i', 'lab-client,', '-i', str(work / 'report' / 'recommended.yml'), '-c', 'local',
                       str(work / 'role.yml')], prefix=['unshare', '-m', '--', 'sh', SANDBOX, str(work)])
        # idle three times as long as the 6 s path keeps a flow: only probes that keep coming, each within the
        # time the path keeps, carry a connection through
        clients = {'keepalive on the 6 s path': middlebox.start_client(lab, PORT, 3 * FORGET[0], keepidle=-1, path=0),
                   'keepalive on the 15 s path': middlebox.start_client(lab, PORT, FORGET[1] + 4, keepidle=-1, path=1),
                   'none on the 6 s path': middlebox.start_client(lab, PORT, 3 * FORGET[0], path=0)}
        found['after'] = dict((name, middlebox.outcome(proc)) for name, (proc, _port) in clients.items())
        found['running'] = (work / 'running').read_text().split() if (work / 'running').exists() else None
    found['work'] = work
    return found


def test_both_destinations_are_found_from_the_real_connections_and_measured(story):
    assert story['status'] == 0, story['output'][-5000:]
    host = story['report']['hosts']['lab-client']
    paths = dict((d['address'], d) for d in host['destinations'])
    assert sorted(paths) == ['198.19.0.2', '198.19.1.2']
    for address in paths:
        assert paths[address]['port'] == PORT and paths[address]['connections'] == 2
        assert paths[address]['holders'][0]['process'].startswith('python')
        assert paths[address]['outcome'] == 'dropped'
    # the 6 s path kept 5 s and forgot by 8 s; the 15 s path kept 12 s and forgot by 18 s
    assert (paths['198.19.0.2']['survived_max'], paths['198.19.0.2']['forgot_min']) == (5, 8)
    assert (paths['198.19.1.2']['survived_max'], paths['198.19.1.2']['forgot_min']) == (12, 18)


def test_the_recommended_time_is_below_the_shorter_path(story):
    recommended = story['report']['recommended']['lab-client']
    assert recommended == {'keepalive_time': 4, 'keepalive_intvl': 4, 'keepalive_socket_idle': 4,
                           'keepalive_socket_interval': 4}
    inventory = yaml.safe_load((story['work'] / 'report' / 'recommended.yml').read_text())
    assert inventory == {'all': {'hosts': {'lab-client': recommended}}}


def test_the_check_flags_the_10_s_keepalive_on_the_6_s_path_and_passes_it_on_the_15_s_path(story):
    violations = story['report']['hosts']['lab-client']['violations']
    found = sorted((v['subject'].split(' -> ')[1], v['found']) for v in violations)
    assert found == [('198.19.0.2:%d' % PORT, 'keep-alive after 10 s idle (its TCP_KEEPIDLE)'),
                     ('198.19.0.2:%d' % PORT, 'no keep-alive: the program never set SO_KEEPALIVE'),
                     ('198.19.1.2:%d' % PORT, 'no keep-alive: the program never set SO_KEEPALIVE')]
    six = [v for v in violations if v['found'].startswith('keep-alive after 10 s')][0]
    assert six['expected'] == ('a keep-alive probe within 5 s idle, and every 5 s or sooner after it: the path to '
                               '198.19.0.2:%d forgets idle flows between 5 s and 8 s (dropped)' % PORT)
    markdown = (story['work'] / 'report' / 'keepalive-paths.md').read_text()
    assert '1 host(s), 2 destination(s) measured; 3 connection(s) would not survive their path.' in markdown
    assert '| lab-client | 4 | 4 | 4 | 4 | the path to 198.19.0.2:%d forgets idle flows between 5 s and 8 s' % PORT in markdown


def test_after_the_role_applies_them_a_new_connection_to_each_survives_its_path(story):
    assert story['role_status'] == 0, story['role_output'][-5000:]
    # the client's net.ipv4.tcp_keepalive_time and _intvl, set by the role
    assert story['running'][:2] == ['4', '4']
    assert story['after'] == {'keepalive on the 6 s path': 'alive', 'keepalive on the 15 s path': 'alive',
                              'none on the 6 s path': 'dead: no answer within 4 s'}


def test_the_fleet_report_judges_connections_by_the_measured_paths(story):
    """linuxnet.keepalive.compliance with keepalive_paths_dir: the rule connection_path in every format."""
    assert story['compliance_status'] == 0, story['compliance_output'][-5000:]
    rows = dict((r['host'], r) for r in story['fleet']['hosts'])
    assert rows['lab-client']['violations']['connection_path'] == 3 and rows['lab-client']['rules_skipped'] == {}
    assert rows['unmeasured']['rules_skipped'] == {
        'connection_path': 'no path measurements given (keepalive_check measurements, from linuxnet.keepalive.paths)'}
    junit = (story['work'] / 'fleet' / 'keepalive-report.junit.xml').read_text()
    assert 'skipped="1"' in junit and '<skipped message="no path measurements given' in junit
