"""The rig itself: systemd containers, the working tree as the collection, the host left alone."""

import json
import os
import re
import subprocess
import time

import pytest

from conftest import SCENARIO, podman_hosts, run_module

testinfra_hosts = podman_hosts()
ROOT = os.path.dirname(os.path.dirname(SCENARIO))
PROBE = os.path.join(SCENARIO, 'files', 'connection_probe.py')


def test_systemd_booted_to_running(host):
    assert host.run('systemctl is-system-running').stdout.strip() == 'running'


def test_container_has_its_own_keepalive_default(host):
    assert host.file('/proc/sys/net/ipv4/tcp_keepalive_time').content_string.strip() == '600'


def test_host_keepalive_settings_unchanged(host):
    with open(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'host-keepalive-before.json')) as handle:
        before = json.load(handle)
    for key, value in before.items():
        with open('/proc/sys/net/ipv4/tcp_keepalive_' + key) as handle:
            assert handle.read().strip() == value, key


def test_collection_under_test_is_the_working_tree(host):
    listing = subprocess.run(['ansible-galaxy', 'collection', 'list', 'linuxnet.keepalive', '--format', 'json'],
                             capture_output=True, text=True, check=True)
    paths = [path for path, found in json.loads(listing.stdout).items() if 'linuxnet.keepalive' in found]
    assert paths, listing.stdout
    # exactly one copy is visible, and it is this working tree
    assert [os.path.realpath(os.path.join(p, 'linuxnet', 'keepalive')) for p in paths] == [os.path.realpath(ROOT)]


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


def test_socket_with_so_keepalive_shows_its_timer(host, probe):
    out = host.run('ss -tnoH state established').stdout
    lines = dict((int(re.search(r'127\.0\.0\.1:(\d+)\s', line).group(1)), line) for line in out.splitlines() if line)
    timer = re.search(r'timer:\(keepalive,(\d+)min', lines[probe['with_keepalive']])
    assert timer, lines[probe['with_keepalive']]
    assert int(timer.group(1)) <= 10  # the container's own 600 s, not the host's default of 2 hours
    assert 'timer:' not in lines[probe['without']]


def test_keepalive_facts_in_the_container(host, probe):
    result = run_module(host.backend.name, 'linuxnet.keepalive.keepalive_facts', 'ports=7300')
    facts = result['ansible_facts']['keepalive']
    rows = dict((c['local_port'], c) for c in facts['connections'] if c['direction'] == 'outbound')
    enabled, disabled = rows[probe['with_keepalive']], rows[probe['without']]
    assert (enabled['keepalive'], enabled['timer']) == ('enabled', 'keepalive')
    assert 500 < enabled['timer_expires'] <= 600
    assert (disabled['keepalive'], disabled['timer']) == ('disabled', 'off')
    assert disabled['unit'] == 'connection-probe.service' and disabled['process'] == 'python3'
    culprits = facts['summary']['culprits']
    assert {'process': 'python3', 'unit': 'connection-probe.service'} in [
        {'process': c['process'], 'unit': c['unit']} for c in culprits]
