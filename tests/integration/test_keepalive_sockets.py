"""keepalive_sockets and keepalive_facts(inspect) on real running processes, in a private network namespace.

The processes (tests/integration/files/live_zoo.py) keep their connections open throughout; `ss`
after each module call shows what changed on the live sockets.
"""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import HERE, ROOT, namespace_env

SOCKETS = 'linuxnet.keepalive.keepalive_sockets'
STEPS = [
    {'args': 'process=plainclient idle=40 interval=10 count=3', 'options': ['--check', '--diff']},
    {'args': 'process=plainclient idle=40 interval=10 count=3', 'options': ['--diff']},
    {'args': 'process=plainclient idle=40 interval=10 count=3'},
    {'args': 'process=ownsettings'},
    {'args': 'pid={gone},{plainclient} idle=40 interval=10 count=3'},
    {'args': 'pid={plainclient} inspect=true'},
    {'args': 'process=plainclient idle=0 count=500'},
    {'args': 'process=nosuchprocess idle=40'},
    {'module': 'linuxnet.keepalive.keepalive_facts', 'args': 'processes=ownsettings,plainclient inspect=true'},
    {'args': 'pid={outside},{plainclient} idle=40 interval=10 count=3'},
    {'args': 'pid={thread} idle=40'},
]


@pytest.fixture(scope='module')
def run(unshare):
    proc = subprocess.run(unshare + [sys.executable, os.path.join(HERE, 'files', 'live_zoo.py'), json.dumps(STEPS),
                                     os.path.join(ROOT, 'tests', 'rig')],
                          env=namespace_env(), capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def timer(lines, local_port):
    """Keep-alive timer seconds of the socket with this local port in `ss -tnoH state established`."""
    for line in lines:
        if line.split()[2] == '127.0.0.1:%d' % local_port:
            match = re.search(r'timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:sec|\.))?', line)
            return int(match.group(1) or 0) * 60 + int(match.group(2) or 0) if match else None
    raise AssertionError('no connection from port %d' % local_port)


def test_check_mode_reports_and_changes_nothing(run):
    step = run['steps'][0]
    result = step['result']
    assert result['changed'] and result['summary']['changed'] == 2
    assert all(s['status'] == 'changed' and 'check mode' in s['reason'] for s in result['sockets'])
    assert '-keepalive = 0' in result['_printed'] and '+idle = 40' in result['_printed']  # --diff
    for port in run['ports']['plainclient']:
        assert timer(step['ss'], port) is None


def test_apply_turns_keepalive_on_for_the_selected_sockets_only(run):
    step = run['steps'][1]
    result = step['result']
    assert result['changed'] and result['summary'] == {'changed': 2, 'unchanged': 0, 'failed': 0, 'inspected': 0,
                                                       'processes': [run['pids']['plainclient']],
                                                       'other_namespace': [], 'unreadable': []}
    assert '[WARNING]' not in result['_warnings']
    for sock in result['sockets']:
        assert sock['after'] == {'keepalive': 1, 'idle': 40, 'interval': 10, 'count': 3, 'user_timeout': 0}
        assert sock['before']['keepalive'] == 0 and sock['direction'] == 'outbound'
        assert sock['process'] == 'plainclient' and sock['remote_port'] == 7600
    for port in run['ports']['plainclient']:
        assert 30 <= timer(step['ss'], port) <= 40
    assert timer(step['ss'], run['ports']['bystander'][0]) is None
    assert all('timer:' not in line for line in step['ss'] if line.split()[2] == '127.0.0.1:7600')  # inbound side


def test_second_run_changes_nothing(run):
    result = run['steps'][2]['result']
    assert not result['changed']
    assert [s['status'] for s in result['sockets']] == ['unchanged', 'unchanged']


def test_a_socket_with_its_own_values_is_left_as_it_is(run):
    result = run['steps'][3]['result']
    assert not result['changed']
    (sock,) = result['sockets']
    assert sock['status'] == 'unchanged' and sock['before']['idle'] == 33 and sock['before']['keepalive'] == 1
    assert timer(run['steps'][3]['ss'], run['ports']['ownsettings'][0]) <= 33


def test_a_process_that_is_gone_is_reported_not_fatal(run):
    result = run['steps'][4]['result']
    assert not result.get('failed')
    assert result['not_found'] == ['pid %d: no such process' % run['pids']['gone']]
    assert [s['status'] for s in result['sockets']] == ['unchanged', 'unchanged']


def test_inspect_reads_without_changing(run):
    result = run['steps'][5]['result']
    assert not result['changed']
    assert [s['before'] for s in result['sockets']] == [{'keepalive': 1, 'idle': 40, 'interval': 10, 'count': 3,
                                                         'user_timeout': 0}] * 2
    assert all(s['status'] == 'inspected' for s in result['sockets'])


def test_bad_values_fail_with_the_allowed_range(run):
    result = run['steps'][6]['result']
    assert result['failed']
    assert 'idle must be an integer from 1 to 32767 seconds, not 0' in result['msg']
    assert 'count must be an integer from 1 to 127, not 500' in result['msg']


def test_nothing_selected_is_not_an_error(run):
    result = run['steps'][7]['result']
    assert not result.get('failed') and not result['changed'] and result['sockets'] == []
    assert result['not_found'] == ['process nosuchprocess: no such process']


def test_facts_inspect_shows_so_keepalive_itself(run):
    facts = run['steps'][8]['result']['ansible_facts']['keepalive']
    rows = dict((c['local_port'], c) for c in facts['connections'] if c['direction'] == 'outbound')
    own = rows[run['ports']['ownsettings'][0]]
    assert own['settings'] == {'keepalive': 1, 'idle': 33, 'interval': 75, 'count': 9, 'user_timeout': 0}
    fixed = rows[run['ports']['plainclient'][0]]
    assert fixed['settings']['idle'] == 40 and fixed['keepalive'] == 'enabled'


def test_a_process_in_another_network_namespace_is_named_not_passed_over(run):
    result = run['steps'][9]['result']
    outside = run['pids']['outside']
    assert not result.get('failed') and result['summary']['other_namespace'] == [outside]
    assert [s['status'] for s in result['sockets']] == ['unchanged', 'unchanged']  # plainclient, in this namespace
    assert 'process %d is in another network namespace' % outside in result['_warnings'], result['_warnings']
    assert 'nsenter --net=/proc/%d/ns/net' % outside in result['_warnings']


def test_a_thread_id_is_refused_with_its_process(run):
    result = run['steps'][10]['result']
    assert result['sockets'] == [] and not result['changed']
    assert result['not_found'] == ['pid %d: a thread of process %d, not a process; give pid %d'
                                   % (run['pids']['thread'], run['pids']['zoo'], run['pids']['zoo'])]


def test_no_descriptor_is_left_open(unshare):
    """The library, called in this process on a real process in another namespace, leaves no fd behind."""
    sys.path.insert(0, os.path.join(ROOT, '.cache', 'collections'))
    from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._live_sockets import process_sockets
    from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._socket_owners import SocketOwners

    holder = subprocess.Popen(unshare + ['/usr/bin/python3', '-c',
                                         'import socket, subprocess, sys; subprocess.run(["ip", "link", "set", "lo", "up"]); '
                                         'l = socket.socket(); l.bind(("127.0.0.1", 7601)); l.listen(4); '
                                         'c = [socket.create_connection(("127.0.0.1", 7601)) for _ in range(3)]; '
                                         'print("ready", flush=True); sys.stdin.read()'],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'ready'
        # unshare execs the command: it is the process holding the sockets
        pid = holder.pid
        owners = SocketOwners(with_fds=True).scan(pids=[pid])
        connections = [{'inode': inode} for inode in owners.by_inode]
        before = sorted(os.listdir('/proc/self/fd'))
        for _round in range(20):
            results = process_sockets(connections, owners, {'keepalive': True, 'idle': 50})
            assert results and all(r['status'] in ('changed', 'unchanged') for r in results), results
        time.sleep(0.1)
        assert sorted(os.listdir('/proc/self/fd')) == before
        assert all(r['after']['idle'] == 50 for r in results if r['after'])
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_a_process_that_exits_during_the_run_is_reported(monkeypatch):
    """pidfd_open answering ESRCH (the process exited after it was selected) fails only its sockets."""
    sys.path.insert(0, os.path.join(ROOT, '.cache', 'collections'))
    from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _pidfd, _live_sockets

    class Owners:
        @staticmethod
        def fds_of(inode):
            return [(999999, 3)] if inode == 1 else []

    def gone(pid):
        raise _pidfd._explain(OSError(3, 'No such process'), pid, 'pidfd_open')
    monkeypatch.setattr(_pidfd, 'open_pid', gone)
    results = _live_sockets.process_sockets([{'inode': 1}, {'inode': 2}], Owners(), {'keepalive': True})
    assert [(r['status'], r['reason']) for r in results] == [
        ('failed', 'no selected process holds this socket any more'),
        ('failed', 'process 999999 has exited'),
    ]
