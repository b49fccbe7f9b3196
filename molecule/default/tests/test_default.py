"""The default scenario: the rig itself, and the keepalive role applied to systemd containers.

Tests run in file order, each on every instance; the last one removes the role.
"""

import json
import os
import re
import subprocess
import time

import pytest

from conftest import rig

testinfra_hosts = rig.podman_hosts()
run_module, run_converge, ROOT = rig.run_module, rig.run_converge, rig.ROOT
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


def test_systemd_booted_to_running(host):
    assert host.run('systemctl is-system-running').stdout.strip() == 'running'


def test_collection_under_test_is_the_working_tree(host):
    listing = subprocess.run(['ansible-galaxy', 'collection', 'list', 'linuxnet.keepalive', '--format', 'json'],
                             capture_output=True, text=True, check=True)
    paths = [path for path, found in json.loads(listing.stdout).items() if 'linuxnet.keepalive' in found]
    # exactly one copy is visible, and it is this working tree
    assert [os.path.realpath(os.path.join(p, 'linuxnet', 'keepalive')) for p in paths] == [os.path.realpath(ROOT)]


def test_check_mode_with_the_shim_on_a_fresh_host_reports_and_changes_nothing(host):
    status, output = run_converge(host.backend.name, {'keepalive_shim_enabled': True, 'keepalive_shim_global': True},
                                  options=['--check', '--diff'])
    assert status == 0, output[-3000:]
    assert re.search(r'changed=[1-9]', output), output[-3000:]
    # the diff shows the library that would be built, its settings, and the preload entry
    assert '+++ after: /usr/local/lib/keepalive/libkeepalive_shim.so' in output, output[-3000:]
    assert '+(built from keepalive_shim.c' in output and '+KEEPIDLE=120' in output
    assert '+++ after: /etc/ld.so.preload' in output
    for path in ('/usr/local/lib/keepalive', '/usr/local/src/keepalive-shim', '/etc/keepalive-shim.conf'):
        assert not host.file(path).exists, path
    assert not host.file('/etc/ld.so.preload').exists


def test_a_bad_kernel_default_is_named_by_its_role_variable_before_anything_changes(host):
    before = (running(host), host.file(CONF).content_string)
    status, output = run_converge(host.backend.name, {'keepalive_time': 60, 'keepalive_probes': 500})
    assert status != 0
    assert 'keepalive_probes=500 (1 to 127)' in output and 'Nothing was changed' in output, output[-3000:]
    assert 'probes must be from' not in output  # not the module's own option name
    assert (running(host), host.file(CONF).content_string) == before


def test_role_set_the_running_kernel(host):
    assert running(host) == ROLE_VALUES


def test_role_wrote_its_file(host):
    conf = host.file(CONF)
    assert conf.exists and conf.user == 'root' and conf.group == 'root' and conf.mode == 0o644
    body = [line for line in conf.content_string.splitlines() if line and not line.startswith('#')]
    assert body == ['net.ipv4.tcp_keepalive_time = 120', 'net.ipv4.tcp_keepalive_intvl = 30',
                    'net.ipv4.tcp_keepalive_probes = 4']
    assert host.file('/etc/sysctl.conf').exists is False or 'keepalive' not in host.file('/etc/sysctl.conf').content_string


def test_host_keepalive_settings_unchanged(host):
    with open(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'host-keepalive-before.json')) as handle:
        before = json.load(handle)
    for key, value in before.items():
        with open('/proc/sys/net/ipv4/tcp_keepalive_' + key) as handle:
            assert handle.read().strip() == value, key


def test_values_survive_a_restart(host):
    subprocess.run(['podman', 'restart', host.backend.name], check=True, capture_output=True)
    assert wait_for_boot(host) == 'running'
    assert host.service('systemd-sysctl').is_running or host.run('systemctl show -p Result systemd-sysctl').stdout.strip() == 'Result=success'
    assert running(host) == ROLE_VALUES


@pytest.fixture
def probe(host):
    """A transient systemd service holding a keep-alive and a plain connection, stopped afterwards."""
    name = host.backend.name
    subprocess.run(['podman', 'cp', PROBE, name + ':/usr/local/bin/connection_probe.py'], check=True)
    host.run('rm -f /run/probe.ready /run/probe.stop')
    started = host.run('systemd-run --unit=connection-probe --collect '
                       'python3 /usr/local/bin/connection_probe.py 7300 /run/probe.ready /run/probe.stop')
    assert started.rc == 0, started.stderr
    for _attempt in range(100):
        if host.file('/run/probe.ready').exists:
            break
        time.sleep(0.1)
    ports = [int(p) for p in host.file('/run/probe.ready').content_string.split()]
    yield {'with_keepalive': ports[0], 'without': ports[1]}
    host.run('touch /run/probe.stop')
    for _attempt in range(50):
        if host.run('systemctl is-active connection-probe').stdout.strip() != 'active':
            break
        time.sleep(0.1)


def test_socket_with_only_so_keepalive_follows_keepalive_time(host, probe):
    out = host.run('ss -tnoH state established').stdout
    lines = dict((int(re.search(r'127\.0\.0\.1:(\d+)\s', line).group(1)), line) for line in out.splitlines() if line)
    timer = re.search(r'timer:\(keepalive,([^,]+),0\)', lines[probe['with_keepalive']])
    assert timer, lines[probe['with_keepalive']]
    assert 0 < ss_seconds(timer.group(1)) <= 120  # the role's 120 s, not the kernel's 2 hours
    assert 'timer:' not in lines[probe['without']]


def test_keepalive_facts_in_the_container(host, probe):
    result = run_module(host.backend.name, 'linuxnet.keepalive.keepalive_facts', 'ports=7300')
    facts = result['ansible_facts']['keepalive']
    assert facts['defaults'] == {'time': 120, 'intvl': 30, 'probes': 4}
    rows = dict((c['local_port'], c) for c in facts['connections'] if c['direction'] == 'outbound')
    enabled, disabled = rows[probe['with_keepalive']], rows[probe['without']]
    assert (enabled['keepalive'], enabled['timer']) == ('enabled', 'keepalive')
    assert 0 < enabled['timer_expires'] <= 120
    assert (disabled['keepalive'], disabled['timer']) == ('disabled', 'off')
    assert disabled['unit'] == 'connection-probe.service' and disabled['process'] == 'python3'


def test_role_reports_conflicts_and_what_sysctls_cannot_fix(host, probe):
    host.run("printf 'net.ipv4.tcp_keepalive_time = 7200\\n' > /etc/sysctl.d/70-conflict.conf")
    try:
        status, output = run_converge(host.backend.name)
        assert status == 0, output[-3000:]
        assert 'other files would override these values at boot' in output
        assert '/etc/sysctl.d/70-conflict.conf sets net.ipv4.tcp_keepalive_time = 7200' in output
        assert 'connection(s) still run without keep-alive' in output
        assert 'connection-probe.service' in output
        status, output = run_converge(host.backend.name, {'keepalive_on_conflict': 'fail'})
        assert status != 0 and '70-conflict.conf' in output and 'nothing was changed' in output
    finally:
        host.run('rm -f /etc/sysctl.d/70-conflict.conf')


def test_facts_see_a_connection_in_a_nested_network_namespace(host):
    holder = ('import socket, subprocess, time; subprocess.run(["ip", "link", "set", "lo", "up"]); '
              'l = socket.socket(); l.bind(("127.0.0.1", 7540)); l.listen(1); '
              'c = socket.create_connection(("127.0.0.1", 7540)); a = l.accept(); '
              'open("/run/nested.ready", "w").close(); time.sleep(60)')
    host.run('rm -f /run/nested.ready; nohup unshare -n python3 -c %s >/dev/null 2>&1 &' % json.dumps(holder))
    for _attempt in range(100):
        if host.file('/run/nested.ready').exists:
            break
        time.sleep(0.1)
    own = run_module(host.backend.name, 'linuxnet.keepalive.keepalive_facts', 'ports=7540')
    assert own['ansible_facts']['keepalive']['connections'] == []  # not in the container's own namespace
    every = run_module(host.backend.name, 'linuxnet.keepalive.keepalive_facts', 'namespaces=all ports=7540 states=established')
    rows = every['ansible_facts']['keepalive']['connections']
    assert len(rows) == 2 and all(row['process'] == 'python3' for row in rows), rows
    nested = [entry for entry in every['ansible_facts']['keepalive']['namespaces'] if entry['netns'] == rows[0]['netns']]
    assert nested and nested[0]['defaults'] == {'time': 7200, 'intvl': 75, 'probes': 9}  # a new namespace's own
    host.run('pkill -f /run/nested.ready')


def test_absent_leaves_no_trace(host):
    status, output = run_converge(host.backend.name, {'keepalive_state': 'absent'})
    assert status == 0, output[-3000:]
    assert not host.file(CONF).exists
    assert running(host) == KERNEL_DEFAULTS
    assert host.run('grep -rl keepalive /etc/sysctl.d /etc/sysctl.conf').stdout == ''
    status, output = run_converge(host.backend.name, {'keepalive_state': 'absent'})
    assert status == 0 and 'changed=0' in output, output[-3000:]
