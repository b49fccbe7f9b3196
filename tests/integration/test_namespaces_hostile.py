"""namespaces=all against users who try to hide connections: a thread's own namespace, sockets passed out of a
namespace no process is in, a process flipping between namespaces, and a check without the right to enter any.

Each test runs in a PID, network and mount namespace of its own (files/hostile_namespaces.py), so the check
sees the processes the test started and nothing of the host; the hiders run as nobody.
"""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import HERE, namespace_env

DRIVER = os.path.join(HERE, 'files', 'hostile_namespaces.py')
PORTS = {'thread': 7601, 'passed': 7602, 'flipping': 7603, 'unit': 7604, 'container': 7605}
CHECK = ['keepalive_check', {'namespaces': 'all', 'policy': {'kernel': {'persisted': False, 'time_max': 7200}}}]


@pytest.fixture(scope='module')
def alone(unshare):
    probe = subprocess.run(['unshare', '--pid', '--fork', '--mount-proc', '--net', '--mount', 'true'], check=False)
    if probe.returncode != 0:
        pytest.skip('a PID namespace of its own is not permitted here')
    return ['unshare', '--pid', '--fork', '--mount-proc', '--net', '--mount', '--']


def run(alone, spec):
    proc = subprocess.run(alone + [sys.executable, DRIVER, json.dumps(spec)], env=namespace_env(), capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_connection_in_a_threads_own_namespace_is_checked(alone):
    out = run(alone, {'hiders': ['thread'], 'module': CHECK})
    result, hider = out['module'], out['hiders']['thread']
    assert result['compliant'] is False, result
    found = [v for v in result['violations'] if v['rule'] == 'connection_keepalive']
    assert [v['netns'] for v in found] == [hider['netns']], result['violations']
    assert found[0]['subject'].endswith('127.0.0.1:%d' % PORTS['thread']) and found[0]['pids'] == [hider['pid']]


def test_connections_passed_out_of_a_namespace_no_process_is_in_are_not_examined_and_named(alone):
    out = run(alone, {'hiders': ['passed'], 'module': CHECK})
    result, hider = out['module'], out['hiders']['passed']
    assert result['compliant'] is False and result['not_examined'] == 2, result
    assert re.search(r'2 TCP socket\(s\) are held by processes \(python3?\[%d\]\) in network namespaces that were not '
                     r'read' % hider['pid'], result['_stderr']), result['_stderr']
    assert 'not examined' in result['_stderr'] and 'not reported compliant' in result['_stderr']


def test_the_same_check_without_hiders_is_compliant(alone):
    result = run(alone, {'module': CHECK})['module']
    assert result['compliant'] is True and result['not_examined'] == 0 and result['namespaces_not_read'] == 0, result


def test_a_namespace_that_flips_is_never_read_under_another_number(alone):
    out = run(alone, {'hiders': ['flipping'], 'snapshots': 40})
    mine = out['hiders']['flipping']['netns']
    for read in out['snapshots']:
        namespaces = dict((int(k), v) for k, v in read['namespaces'].items())
        rows = [row for row in read['rows'] if PORTS['flipping'] in row[:2]]
        if mine in namespaces:
            # read from inside: its three sockets, under its own number
            assert namespaces[mine] == 3 and len(rows) == 3 and all(row[2] == mine for row in rows), read
        else:
            # not read this time (the process was elsewhere whenever it was entered): counted, never lost
            assert rows == [] and read['not_read'] and read['not_read']['connections'] == 3, read
        assert all(total == 0 for netns, total in namespaces.items() if netns != mine)


def test_without_the_right_to_enter_any_namespace_the_check_fails_and_says_why(alone):
    result = run(alone, {'module': CHECK, 'as_nobody': True})['module']
    assert result.get('failed') is True, result
    assert 'namespaces=all: no network namespace could be read' in result['msg'], result
    assert 'CAP_SYS_ADMIN' in result['msg']


@pytest.fixture
def test_group():
    """A cgroup of the test's own at the cgroup2 root, removed (child first) afterwards."""
    mount = [line.split(' - ')[0].split()[4] for line in open('/proc/self/mountinfo')
             if line.split(' - ')[1].split()[0] == 'cgroup2' and line.split()[3] == '/'][0]
    name = 'keepalive-test-%d' % os.getpid()
    os.mkdir(os.path.join(mount, name))
    yield name
    for _attempt in range(100):
        done = subprocess.run(['find', os.path.join(mount, name), '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';'],
                              capture_output=True, check=False)
        if not os.path.exists(os.path.join(mount, name)):
            break
        time.sleep(0.1)
    assert not os.path.exists(os.path.join(mount, name)), done.stderr


def test_names_in_a_users_delegated_cgroups_are_that_users_not_a_system_unit_or_a_container(alone, test_group):
    policy = {'kernel': {'persisted': False, 'time_max': 7200}, 'exceptions': {'units': ['backup.service']}}
    out = run(alone, {'hiders': ['unit', 'container'], 'cgroup': test_group,
                      'module': ['keepalive_check', {'namespaces': 'all', 'policy': policy}]})
    result = out['module']
    assert result['compliant'] is False, result  # the exception for backup.service does not cover a user's own group
    found = dict((v['subject'].rsplit(':', 1)[1], v) for v in result['violations'] if v['rule'] == 'connection_keepalive')
    assert sorted(found) == [str(PORTS['unit']), str(PORTS['container'])], result['violations']
    for violation in found.values():
        assert violation['unit'] == 'user@65534.service' and violation['container'] is None, violation
