"""keepalive_facts namespaces=all: the connections of every network namespace of a host, from the host.

files/namespaces_lab.py runs alone in a PID, network and mount namespace of its own, so that the modules see
the processes it started and nothing of the machine's: three processes, each in its own `unshare -n`
namespace with its own tcp_keepalive_time, hold a connection without keep-alive and one with SO_KEEPALIVE on
the same port; the modules run from yet another namespace (the lab's own), as on a container host. A Podman
container, which runs outside any such namespace, is looked for from the machine's own view.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import HERE, namespace_env


@pytest.fixture(scope='module')
def lab(unshare):
    proc = subprocess.run(['unshare', '--pid', '--fork', '--mount-proc', '--net', '--mount', '--', sys.executable,
                           os.path.join(HERE, 'files', 'namespaces_lab.py')], env=namespace_env(), capture_output=True,
                          text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_all_namespaces_are_read_each_from_inside(lab):
    result = lab['facts_all']
    keepalive = result['ansible_facts']['keepalive']
    by_ns = dict((entry['netns'], entry) for entry in keepalive['namespaces'])
    for holder in lab['holders']:
        entry = by_ns[holder['netns']]
        assert entry['defaults']['time'] == holder['time'] and entry['pid'] == holder['pid']
        mine = dict((c['local_port'], c) for c in keepalive['connections'] if c['netns'] == holder['netns'])
        assert mine[holder['plain']]['keepalive'] == 'disabled' and mine[holder['kept']]['keepalive'] == 'enabled'
        assert mine[holder['plain']]['pids'] == [holder['pid']] and mine[holder['plain']]['container'] is None
        assert mine[holder['kept']]['timer_expires'] <= holder['time']
    # the lab's own namespace, and the holders': nothing else on this host, and nothing left unread
    assert len(keepalive['namespaces']) == 4
    assert keepalive['summary']['outbound_without_keepalive'] == 3
    assert result['namespaces_vanished'] == 0 and result['not_read'] == {'namespaces': 0, 'connections': 0}


def test_the_default_sees_only_its_own_namespace(lab):
    assert lab['facts_self']['ansible_facts']['keepalive']['connections'] == []
    assert 'namespaces' not in lab['facts_self']['ansible_facts']['keepalive']


def test_check_holds_every_namespace_to_the_kernel_limits(lab):
    result = lab['check']
    found = sorted((v['netns'], v['found']) for v in result['violations'] if v['rule'] == 'kernel_time')
    holders = set(h['netns'] for h in lab['holders'])
    expected = sorted((h['netns'], 'net.ipv4.tcp_keepalive_time = %d' % h['time']) for h in lab['holders'] if h['time'] > 300)
    assert [item for item in found if item[0] in holders] == expected
    # and the lab's own namespace, a new one at the kernel's 7200
    assert [item[1] for item in found if item[0] not in holders] == ['net.ipv4.tcp_keepalive_time = 7200']
    assert not result['compliant'] and result['summary']['by_rule']['kernel_time'] == 3
    assert result['namespaces_not_read'] == 0 and result['not_examined'] == 0


def test_sysctl_sets_another_namespaces_live_values(lab):
    holder = lab['holders'][0]
    result = lab['sysctl']
    assert result['changed'] and result['after']['time'] == 123 and result['before']['time'] == holder['time'], result
    assert lab['sysctl_inside'] == '123'
    refused = lab['sysctl_refused']
    assert refused['failed'] and 'use it with persist: false' in refused['msg'] and '--sysctl' in refused['msg']


def test_reading_every_namespace_leaves_no_descriptor_and_comes_home(lab):
    """In one process: one snapshot of every namespace, twenty times; no fd is left, and it is back home."""
    mine = sorted(h['netns'] for h in lab['holders'])
    assert lab['snapshots']['seen'] == [mine] * 20
    assert lab['snapshots']['fds_left'] == [] and lab['snapshots']['home']


def facts(unshare, args):
    """keepalive_facts from the machine's own view (a network namespace of the test's, every process visible)."""
    runner = (r'import subprocess, sys; subprocess.run(["ip", "link", "set", "lo", "up"], check=True); '
              r'proc = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "linuxnet.keepalive.keepalive_facts", '
              r'"-a", sys.argv[1]], capture_output=True, text=True, timeout=300); '
              r'sys.stdout.write(proc.stdout); sys.stderr.write(proc.stderr)')
    proc = subprocess.run(unshare + [sys.executable, '-c', runner, args], env=namespace_env(), capture_output=True,
                          text=True, check=False, timeout=300)
    marker = 'localhost | SUCCESS => '
    assert marker in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index(marker) + len(marker):])[0]


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
