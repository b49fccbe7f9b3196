"""The default scenario: the rig itself, and the keepalive role applied to systemd containers.

Each situation is made once, on every instance at once (converges and ad hoc modules run against all
instances in parallel), and asserted on each; read-only checks go through `podman exec`. Tests run in
file order; the last one removes the role.
"""

import json
import os
import re
import subprocess
import time

import pytest

from conftest import rig

ROOT = rig.ROOT
PROBE = os.path.join(rig.scenario_dir(), 'files', 'connection_probe.py')
CONF = '/etc/sysctl.d/60-keepalive.conf'
ROLE_VALUES = {'time': '120', 'intvl': '30', 'probes': '4'}
KERNEL_DEFAULTS = {'time': '7200', 'intvl': '75', 'probes': '9'}


def running(host):
    return dict((k, host.file('/proc/sys/net/ipv4/tcp_keepalive_' + k).content_string.strip()) for k in ROLE_VALUES)


def wait_for_boot(host):
    state = ''
    for _attempt in range(150):
        state = host.run('systemctl is-system-running').stdout.strip()
        if state in ('running', 'degraded'):
            break
        time.sleep(0.2)
    return state


def ss_seconds(text):
    match = re.match(r'^(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?$', text)
    minutes, seconds, _ms = (int(x) if x else 0 for x in match.groups())
    return minutes * 60 + seconds


def test_systemd_booted_to_running():
    for host in hosts():
        assert host.run('systemctl is-system-running').stdout.strip() == 'running'


def test_collection_under_test_is_the_working_tree():
    listing = subprocess.run(['ansible-galaxy', 'collection', 'list', 'linuxnet.keepalive', '--format', 'json'],
                             capture_output=True, text=True, check=True)
    paths = [path for path, found in json.loads(listing.stdout).items() if 'linuxnet.keepalive' in found]
    # exactly one copy is visible, and it is this working tree
    assert [os.path.realpath(os.path.join(p, 'linuxnet', 'keepalive')) for p in paths] == [os.path.realpath(ROOT)]


def hosts():
    return [rig.testinfra_host(name) for name in rig.instances()]


def test_check_mode_with_the_shim_on_a_fresh_host_reports_and_changes_nothing():
    status, output, recaps = rig.converge_all({'keepalive_shim_enabled': True, 'keepalive_shim_global': True},
                                              options=['--check', '--diff'])
    assert status == 0, output[-3000:]
    assert all(recap['changed'] > 0 for recap in recaps.values()), output[-3000:]
    # the diff shows the library that would be built, its settings, and the preload entry
    assert '+++ after: /usr/local/lib/keepalive/libkeepalive_shim.so' in output, output[-3000:]
    assert '+(built from keepalive_shim.c' in output and '+KEEPIDLE=120' in output
    assert '+++ after: /etc/ld.so.preload' in output
    for host in hosts():
        for path in ('/usr/local/lib/keepalive', '/usr/local/src/keepalive-shim', '/etc/keepalive-shim.conf'):
            assert not host.file(path).exists, path
        assert not host.file('/etc/ld.so.preload').exists


def test_a_bad_kernel_default_is_named_by_its_role_variable_before_anything_changes():
    before = dict((host.backend.name, (running(host), host.file(CONF).content_string)) for host in hosts())
    status, output, _recaps = rig.converge_all({'keepalive_time': 60, 'keepalive_probes': 500})
    assert status != 0
    assert 'keepalive_probes=500 (1 to 127)' in output and 'Nothing was changed' in output, output[-3000:]
    assert 'probes must be from' not in output  # not the module's own option name
    for host in hosts():
        assert (running(host), host.file(CONF).content_string) == before[host.backend.name]


def test_role_set_the_running_kernel():
    for host in hosts():
        assert running(host) == ROLE_VALUES


def test_role_wrote_its_file():
    for host in hosts():
        conf = host.file(CONF)
        assert conf.exists and conf.user == 'root' and conf.group == 'root' and conf.mode == 0o644
        body = [line for line in conf.content_string.splitlines() if line and not line.startswith('#')]
        assert body == ['net.ipv4.tcp_keepalive_time = 120', 'net.ipv4.tcp_keepalive_intvl = 30',
                        'net.ipv4.tcp_keepalive_probes = 4']
        assert host.file('/etc/sysctl.conf').exists is False or 'keepalive' not in host.file('/etc/sysctl.conf').content_string


def test_host_keepalive_settings_unchanged():
    with open(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'host-keepalive-before.json')) as handle:
        before = json.load(handle)
    for key, value in before.items():
        with open('/proc/sys/net/ipv4/tcp_keepalive_' + key) as handle:
            assert handle.read().strip() == value, key


def test_values_survive_a_restart():
    subprocess.run(['podman', 'restart'] + rig.instances(), check=True, capture_output=True, timeout=180)
    for host in hosts():
        assert wait_for_boot(host) == 'running'
        assert host.service('systemd-sysctl').is_running or \
            host.run('systemctl show -p Result systemd-sysctl').stdout.strip() == 'Result=success'
        assert running(host) == ROLE_VALUES


@pytest.fixture(scope='module')
def probes():
    """On every instance, a transient systemd service holding a keep-alive and a plain connection, stopped afterwards:
    {instance: {'with_keepalive': port, 'without': port}}."""
    found = {}
    for host in hosts():
        subprocess.run(['podman', 'cp', PROBE, host.backend.name + ':/usr/local/bin/connection_probe.py'], check=True)
        host.run('rm -f /run/probe.ready /run/probe.stop')
        started = host.run('systemd-run --unit=connection-probe --collect '
                           'python3 /usr/local/bin/connection_probe.py 7300 /run/probe.ready /run/probe.stop')
        assert started.rc == 0, started.stderr
    for host in hosts():
        for _attempt in range(100):
            if host.file('/run/probe.ready').exists:
                break
            time.sleep(0.1)
        ports = [int(p) for p in host.file('/run/probe.ready').content_string.split()]
        found[host.backend.name] = {'with_keepalive': ports[0], 'without': ports[1]}
    yield found
    for host in hosts():
        host.run('touch /run/probe.stop')
    for host in hosts():
        for _attempt in range(50):
            if host.run('systemctl is-active connection-probe').stdout.strip() != 'active':
                break
            time.sleep(0.1)


def test_socket_with_only_so_keepalive_follows_keepalive_time(probes):
    for host in hosts():
        probe = probes[host.backend.name]
        out = host.run('ss -tnoH state established').stdout
        lines = dict((int(re.search(r'127\.0\.0\.1:(\d+)\s', line).group(1)), line) for line in out.splitlines() if line)
        timer = re.search(r'timer:\(keepalive,([^,]+),0\)', lines[probe['with_keepalive']])
        assert timer, lines[probe['with_keepalive']]
        assert 0 < ss_seconds(timer.group(1)) <= 120  # the role's 120 s, not the kernel's 2 hours
        assert 'timer:' not in lines[probe['without']]


def test_keepalive_facts_in_the_container(probes):
    for name, result in rig.module_all('linuxnet.keepalive.keepalive_facts', 'ports=7300').items():
        facts = result['ansible_facts']['keepalive']
        assert facts['defaults'] == {'time': 120, 'intvl': 30, 'probes': 4}
        rows = dict((c['local_port'], c) for c in facts['connections'] if c['direction'] == 'outbound')
        enabled, disabled = rows[probes[name]['with_keepalive']], rows[probes[name]['without']]
        assert (enabled['keepalive'], enabled['timer']) == ('enabled', 'keepalive')
        assert 0 < enabled['timer_expires'] <= 120
        assert (disabled['keepalive'], disabled['timer']) == ('disabled', 'off')
        assert disabled['unit'] == 'connection-probe.service' and disabled['process'] == 'python3'


def test_role_reports_conflicts_and_what_sysctls_cannot_fix(probes):
    for host in hosts():
        host.run("printf 'net.ipv4.tcp_keepalive_time = 7200\\n' > /etc/sysctl.d/70-conflict.conf")
    try:
        status, output, _recaps = rig.converge_all()
        assert status == 0, output[-3000:]
        assert 'other files would override these values at boot' in output
        assert '/etc/sysctl.d/70-conflict.conf sets net.ipv4.tcp_keepalive_time = 7200' in output
        assert 'connection(s) still run without keep-alive' in output
        assert 'connection-probe.service' in output
        status, output, recaps = rig.converge_all({'keepalive_on_conflict': 'fail'})
        assert status != 0 and '70-conflict.conf' in output and 'nothing was changed' in output
        assert all(recap['failed'] == 1 for recap in recaps.values())
    finally:
        for host in hosts():
            host.run('rm -f /etc/sysctl.d/70-conflict.conf')


def test_facts_see_a_connection_in_a_nested_network_namespace():
    holder = ('import socket, subprocess, time; subprocess.run(["ip", "link", "set", "lo", "up"]); '
              'l = socket.socket(); l.bind(("127.0.0.1", 7540)); l.listen(1); '
              'c = socket.create_connection(("127.0.0.1", 7540)); a = l.accept(); '
              'open("/run/nested.ready", "w").close(); time.sleep(60)')
    for host in hosts():
        host.run('rm -f /run/nested.ready; nohup unshare -n python3 -c %s >/dev/null 2>&1 &' % json.dumps(holder))
    for host in hosts():
        for _attempt in range(100):
            if host.file('/run/nested.ready').exists:
                break
            time.sleep(0.1)
    own = rig.module_all('linuxnet.keepalive.keepalive_facts', 'ports=7540')
    every = rig.module_all('linuxnet.keepalive.keepalive_facts', 'namespaces=all ports=7540 states=established')
    for host in hosts():
        name = host.backend.name
        assert own[name]['ansible_facts']['keepalive']['connections'] == []  # not in the container's own namespace
        rows = every[name]['ansible_facts']['keepalive']['connections']
        assert len(rows) == 2 and all(row['process'] == 'python3' for row in rows), rows
        nested = [e for e in every[name]['ansible_facts']['keepalive']['namespaces'] if e['netns'] == rows[0]['netns']]
        assert nested and nested[0]['defaults'] == {'time': 7200, 'intvl': 75, 'probes': 9}  # a new namespace's own
        assert every[name]['not_read'] == {'namespaces': 0, 'connections': 0}
        host.run('pkill -f /run/nested.ready')


def test_absent_leaves_no_trace():
    status, output, _recaps = rig.converge_all({'keepalive_state': 'absent'})
    assert status == 0, output[-3000:]
    for host in hosts():
        assert not host.file(CONF).exists
        assert running(host) == KERNEL_DEFAULTS
        assert host.run('grep -rl keepalive /etc/sysctl.d /etc/sysctl.conf').stdout == ''
    status, output, recaps = rig.converge_all({'keepalive_state': 'absent'})
    assert status == 0 and all(recap['changed'] == 0 for recap in recaps.values()), output[-3000:]
