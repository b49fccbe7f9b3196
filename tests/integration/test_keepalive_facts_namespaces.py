"""keepalive_facts namespaces=all: the connections of every network namespace on the host, from the host.

Three processes, each in its own `unshare -n` namespace with its own tcp_keepalive_time, hold a
connection without keep-alive and one with SO_KEEPALIVE on the same port. The module runs from
yet another namespace (the test's own `unshare -n`), as it would run on a container host.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, namespace_env

HOLDER = r'''
import socket, subprocess, sys, time
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
open("/proc/sys/net/ipv4/tcp_keepalive_time", "w").write(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 7510))
listener.listen(8)
plain = socket.create_connection(("127.0.0.1", 7510))
kept = socket.socket()
kept.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
kept.connect(("127.0.0.1", 7510))
accepted = [listener.accept()[0] for _ in range(2)]
print("%d %d" % (plain.getsockname()[1], kept.getsockname()[1]), flush=True)
sys.stdin.read()
'''
RUN = r'''
import json, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
args = sys.argv[1]
proc = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "linuxnet.keepalive.keepalive_facts", "-a", args],
                      capture_output=True, text=True, timeout=300)
sys.stdout.write(proc.stdout)
sys.stderr.write(proc.stderr)
'''


@pytest.fixture(scope='module')
def holders(unshare):
    started = []
    try:
        for time_ in (300, 600, 900):
            proc = subprocess.Popen(['unshare', '-n', '--', sys.executable, '-c', HOLDER, str(time_)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            plain, kept = (int(p) for p in proc.stdout.readline().split())
            started.append({'proc': proc, 'pid': proc.pid, 'time': time_, 'plain': plain, 'kept': kept,
                            'netns': os.stat('/proc/%d/ns/net' % proc.pid).st_ino})
        yield started
    finally:
        for holder in started:
            holder['proc'].stdin.close()
            holder['proc'].wait(timeout=30)


def facts(unshare, args):
    proc = subprocess.run(unshare + [sys.executable, '-c', RUN, args], env=namespace_env(), capture_output=True,
                          text=True, check=False, timeout=300)
    marker = 'localhost | SUCCESS => '
    assert marker in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index(marker) + len(marker):])[0]


def test_all_namespaces_are_read_each_from_inside(unshare, holders):
    result = facts(unshare, 'namespaces=all ports=7510 states=established directions=outbound limit=1000')
    keepalive = result['ansible_facts']['keepalive']
    by_ns = dict((entry['netns'], entry) for entry in keepalive['namespaces'])
    for holder in holders:
        entry = by_ns[holder['netns']]
        assert entry['defaults']['time'] == holder['time'] and entry['pid'] == holder['pid']
        mine = dict((c['local_port'], c) for c in keepalive['connections'] if c['netns'] == holder['netns'])
        assert mine[holder['plain']]['keepalive'] == 'disabled' and mine[holder['kept']]['keepalive'] == 'enabled'
        assert mine[holder['plain']]['pids'] == [holder['pid']] and mine[holder['plain']]['container'] is None
        assert mine[holder['kept']]['timer_expires'] <= holder['time']
    assert keepalive['summary']['outbound_without_keepalive'] >= 3
    assert result['namespaces_vanished'] == 0


def test_the_default_sees_only_its_own_namespace(unshare, holders):
    result = facts(unshare, 'ports=7510')
    assert result['ansible_facts']['keepalive']['connections'] == []
    assert 'namespaces' not in result['ansible_facts']['keepalive']


def run_module(unshare, module, args):
    runner = RUN.replace('linuxnet.keepalive.keepalive_facts', module)
    proc = subprocess.run(unshare + [sys.executable, '-c', runner, args], env=namespace_env(), capture_output=True,
                          text=True, check=False, timeout=300)
    for marker in ('localhost | SUCCESS => ', 'localhost | CHANGED => ', 'localhost | FAILED! => '):
        if marker in proc.stdout:
            result = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index(marker) + len(marker):])[0]
            result['_warnings'] = ' '.join(proc.stderr.split())
            result.setdefault('failed', 'FAILED' in marker)
            return result
    raise AssertionError(proc.stdout[-3000:] + proc.stderr[-3000:])


def test_check_holds_every_namespace_to_the_kernel_limits(unshare, holders):
    result = run_module(unshare, 'linuxnet.keepalive.keepalive_check',
                        'namespaces=all policy={"kernel":{"time_max":300,"persisted":false},"connections":{"require_keepalive":false}}')
    found = sorted((v['netns'], v['found']) for v in result['violations'] if v['rule'] == 'kernel_time')
    expected = sorted((h['netns'], 'net.ipv4.tcp_keepalive_time = %d' % h['time']) for h in holders if h['time'] > 300)
    assert [item for item in found if item[0] in set(h['netns'] for h in holders)] == expected
    assert not result['compliant']


def test_sysctl_sets_another_namespaces_live_values(unshare, holders):
    holder = holders[0]
    result = run_module(unshare, 'linuxnet.keepalive.keepalive_sysctl', 'time=123 persist=false netns=%d' % holder['pid'])
    assert result['changed'] and result['after']['time'] == 123 and result['before']['time'] == holder['time'], result
    inside = subprocess.run(['nsenter', '-t', str(holder['pid']), '-n', 'cat', '/proc/sys/net/ipv4/tcp_keepalive_time'],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert inside == '123'
    refused = run_module(unshare, 'linuxnet.keepalive.keepalive_sysctl', 'time=123 netns=%d' % holder['pid'])
    assert refused['failed'] and 'use it with persist: false' in refused['msg'] and '--sysctl' in refused['msg']


def test_reading_every_namespace_leaves_no_descriptor_and_comes_home(unshare, holders):
    """In this process: one snapshot of every namespace, twenty times; no fd is left, and we are back home."""
    sys.path.insert(0, os.path.join(ROOT, '.cache', 'collections'))
    from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import snapshot

    home = os.stat('/proc/thread-self/ns/net').st_ino
    before = sorted(os.listdir('/proc/self/fd'))
    for _round in range(20):
        found = snapshot(namespaces='all', ports=[7510], states=['established'])
        assert set(h['netns'] for h in holders) <= set(entry['netns'] for entry in found.namespaces)
    assert sorted(os.listdir('/proc/self/fd')) == before
    assert os.stat('/proc/thread-self/ns/net').st_ino == home


def test_a_podman_container_is_found_by_its_id(unshare):
    image = 'localhost/linuxnet-keepalive-debian:bookworm'
    if subprocess.run(['podman', 'image', 'exists', image], check=False).returncode != 0:
        pytest.fail('the test image is missing: make images builds it')
    name = 'keepalive-netns-test-%d' % os.getpid()
    program = ('import socket, time; l = socket.socket(); l.bind(("127.0.0.1", 7520)); l.listen(1); '
               'c = socket.create_connection(("127.0.0.1", 7520)); a = l.accept(); print("ready", flush=True); '
               'time.sleep(120)')
    container = subprocess.Popen(['podman', 'run', '--rm', '--name', name, '--network', 'none', image,
                                  'python3', '-c', program], stdout=subprocess.PIPE, text=True)
    try:
        assert container.stdout.readline().strip() == 'ready'
        ident = subprocess.run(['podman', 'inspect', '--format', '{{.Id}}', name], capture_output=True, text=True,
                               check=True).stdout.strip()
        result = facts(unshare, 'namespaces=all ports=7520 states=established')
        rows = result['ansible_facts']['keepalive']['connections']
        assert len(rows) == 2, rows
        assert all(row['container'] == {'runtime': 'podman', 'id': ident, 'pod_uid': None} for row in rows), rows
        assert all(row['netns'] != os.stat('/proc/self/ns/net').st_ino for row in rows)
    finally:
        subprocess.run(['podman', 'rm', '-f', '-t', '0', name], capture_output=True, check=False)
        container.wait(timeout=60)
