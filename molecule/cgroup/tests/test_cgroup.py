"""The cgroup program through the role: units, restarts, global mode, a container restart, removal.

Each situation is made once, on every instance at once (converges run against all instances in parallel),
and asserted on each. Tests run in file order; the last one removes the role. What is attached where is read
with bpftool (Debian's), connections with `ss -o` and from their live sockets.
"""

import hashlib
import json
import os
import subprocess
import time

import pytest

from conftest import rig

SETTINGS = {'keepalive': 1, 'idle': 45, 'interval': 10, 'count': 3, 'user_timeout': 75000}
# A socket without keep-alive reads the container's kernel defaults, which the role set to 120, 30 and 4.
NONE = {'keepalive': 0, 'idle': 120, 'interval': 30, 'count': 4, 'user_timeout': 0}
CODE = '/usr/local/lib/keepalive/keepalive_sock_ops.py'
CONFIG = '/etc/keepalive-cgroup.json'
BOOT_UNIT = '/etc/systemd/system/keepalive-cgroup.service'
PIN_DIR = '/sys/fs/bpf/keepalive'
UNITS = ('legacy-client.service', 'static-client.service')
SLICE = 'apps.slice'  # a slice the role is given, holding sliced-client.service
# A connection opened by a process started with `podman exec`: in the container's root cgroup, in no unit.
AD_HOC = ('python3 -c "import json, socket; c = socket.create_connection((\'127.0.0.1\', 7400)); '
          'print(json.dumps([c.getsockopt(6, o) for o in (4, 5, 6, 18)] + [c.getsockopt(1, 9)]))"')


def programs(host, group):
    """[(name, id)] of the sock_ops programs attached to a group itself, as bpftool shows them."""
    out = host.run('bpftool -j cgroup show /sys/fs/cgroup%s' % group)
    assert out.rc == 0, out.stderr
    return [(p.get('name'), p['id']) for p in json.loads(out.stdout.strip() or '[]')
            if p['attach_type'] in ('sock_ops', 'cgroup_sock_ops')]  # the name bpftool 7 uses


def ours(host, group):
    return [p for p in programs(host, group) if p[0] == 'lnx_keepalive']


def ad_hoc(host):
    idle, interval, count, user_timeout, keepalive = json.loads(host.check_output(AD_HOC))
    return dict(keepalive=keepalive, idle=idle, interval=interval, count=count, user_timeout=user_timeout)


def restart(host, unit):
    host.run('systemctl restart %s' % unit)
    for _attempt in range(50):
        if host.run('systemctl is-active %s' % unit).stdout.strip() == 'active':
            return
        time.sleep(0.1)
    raise AssertionError('%s did not restart' % unit)


def wait_running(host):
    state = ''
    for _attempt in range(120):
        state = host.run('systemctl is-system-running').stdout.strip()
        if state in ('running', 'degraded'):
            return state
        time.sleep(0.5)
    raise AssertionError('systemd did not finish booting: %s' % state)


def test_the_boot_unit_runs_the_collections_own_code_from_root_owned_files():
    for host in hosts():
        with open(os.path.join(rig.ROOT, 'plugins', 'module_utils', 'cgroup', '_sock_ops.py'), 'rb') as handle:
            assert host.file(CODE).sha256sum == hashlib.sha256(handle.read()).hexdigest()
        for path in (CODE, CONFIG, BOOT_UNIT) + tuple('/etc/systemd/system/%s.d/50-keepalive-cgroup.conf' % u for u in UNITS):
            found = host.file(path)
            assert found.user == 'root' and found.group == 'root' and found.mode == 0o644, path
        assert host.file('/usr/local/lib/keepalive').mode == 0o755
        assert host.run('systemctl is-enabled keepalive-cgroup.service').stdout.strip() == 'enabled'
        assert host.run('systemctl is-active keepalive-cgroup.service').stdout.strip() == 'active'
        targets = json.loads(host.file(CONFIG).content_string)['targets']
        assert [(t['cgroup'], t['unit'], t['idle'], t['user_timeout']) for t in targets] == [('/%s' % SLICE, SLICE, 45, 75000)] + [
            ('/system.slice/%s' % u, u, 45, 75000) for u in UNITS]
        dropin = host.file('/etc/systemd/system/legacy-client.service.d/50-keepalive-cgroup.conf').content_string
        assert 'BPFProgram=sock_ops:%s/cg-system_dslice-legacy_mclient_dservice' % PIN_DIR in dropin
        assert "ExecStartPre=-+/usr/bin/python3 -I -B -S -c \"import sys; sys.path[:0] = ['/usr/local/lib/keepalive']" in dropin
        assert 'After=' not in dropin  # nothing is ordered after the boot unit: no cycle for any kind of unit
        assert host.file('/etc/systemd/system/%s.d/50-keepalive-cgroup.conf' % SLICE).content_string.endswith(
            '[Slice]\nBPFProgram=sock_ops:%s/cg-apps_dslice\n' % PIN_DIR)
        assert '" --unit %%n %s' % CONFIG in dropin
        assert host.file('/usr/local/lib/keepalive').listdir() == ['keepalive_sock_ops.py']  # no bytecode written


def test_each_units_group_has_exactly_one_of_ours_and_other_groups_none():
    for host in hosts():
        for unit in UNITS:
            assert len(ours(host, '/system.slice/' + unit)) == 1, unit
        assert ours(host, '/system.slice/bystander.service') == [] and ours(host, '/') == []
        assert len(ours(host, '/' + SLICE)) == 1 and ours(host, '/%s/sliced-client.service' % SLICE) == []
        pins = ['cg-apps_dslice', 'cg-system_dslice-legacy_mclient_dservice', 'cg-system_dslice-static_mclient_dservice']
        assert sorted(host.file(PIN_DIR).listdir()) == pins


def hosts():
    return [rig.testinfra_host(name) for name in rig.instances()]


def test_the_report_names_the_connections_opened_before_the_program_was_attached():
    for host in hosts():
        assert rig.live_settings(host, 'legacy-client.service')['settings'] == NONE  # opened in prepare, before it
    status, output, recaps = rig.converge_all()
    assert status == 0 and all(recap['changed'] == 0 for recap in recaps.values()), output[-3000:]
    assert 'cgroup program: in its groups, but opened before it was attached' in output
    assert 'cgroup program: out of its reach (not in keepalive_cgroup_units): python3 (bystander.service) 1' in output


@pytest.mark.parametrize('unit', UNITS)
def test_a_restarted_unit_gets_the_program_from_systemd_on_its_new_group(unit):
    for host in hosts():
        before = ours(host, '/system.slice/' + unit)
        restart(host, unit)
        after = ours(host, '/system.slice/' + unit)
        assert after == before  # the same pinned program, attached to the new group by BPFProgram=
        assert rig.live_settings(host, unit)['settings'] == SETTINGS
        seen = rig.timers(host, unit)
        assert seen['client'] is not None and 0 < seen['client'] <= 45, seen  # the program's 45 s, not the kernel's 120
        assert seen['server'] is None  # the server is in no selected group


def test_a_service_in_a_selected_slice_gets_the_slices_program():
    for host in hosts():
        restart(host, 'sliced-client.service')
        assert ours(host, '/%s/sliced-client.service' % SLICE) == []  # the slice's own program reaches it
        assert rig.live_settings(host, 'sliced-client.service')['settings'] == SETTINGS


def test_a_unit_that_crashes_gets_it_again_when_systemd_restarts_it():
    for host in hosts():
        pid = host.check_output('systemctl show -p MainPID --value static-client.service')
        host.run('kill -KILL %s' % pid)
        for _attempt in range(50):
            now = host.check_output('systemctl show -p MainPID --value static-client.service')
            if now not in (pid, '0') and host.run('systemctl is-active static-client.service').stdout.strip() == 'active':
                break
            time.sleep(0.2)
        assert int(host.check_output('systemctl show -p NRestarts --value static-client.service')) >= 1
        assert len(ours(host, '/system.slice/static-client.service')) == 1
        assert rig.live_settings(host, 'static-client.service')['settings'] == SETTINGS


def test_a_unit_that_was_not_selected_gets_nothing():
    for host in hosts():
        restart(host, 'bystander.service')
        assert rig.live_settings(host, 'bystander.service')['settings'] == NONE
        assert ad_hoc(host) == NONE


def test_check_mode_reports_new_values_and_changes_nothing():
    before = dict((h.backend.name, ([ours(h, '/system.slice/' + u) for u in UNITS], h.file(CONFIG).content_string))
                  for h in hosts())
    status, output, _recaps = rig.converge_all({'keepalive_socket_idle': 50}, options=['--check', '--diff'])
    assert status == 0 and '-idle = 45' in output and '+idle = 50' in output, output[-3000:]
    for host in hosts():
        assert ([ours(host, '/system.slice/' + u) for u in UNITS], host.file(CONFIG).content_string) == \
            before[host.backend.name]


def test_bad_values_fail_before_anything_changes():
    before = dict((host.backend.name, host.file(CONFIG).content_string) for host in hosts())
    status, output, _recaps = rig.converge_all({'keepalive_socket_count': 500})
    assert status != 0 and 'keepalive_socket_count=500 (1 to 127)' in output and 'Nothing was changed' in output
    status, output, _recaps = rig.converge_all({'keepalive_cgroup_units': ['no-such-unit']})
    assert status != 0 and 'unit no-such-unit.service is not loaded' in output, output[-3000:]
    for host in hosts():
        assert host.file(CONFIG).content_string == before[host.backend.name]


def test_global_mode_reaches_every_process_and_survives_a_container_restart():
    status, output, _recaps = rig.converge_all({'keepalive_cgroup_global': True})
    assert status == 0, output[-3000:]
    for host in hosts():
        assert len(ours(host, '/')) == 1
        assert ad_hoc(host) == SETTINGS  # a process in no unit
        restart(host, 'bystander.service')
        assert rig.live_settings(host, 'bystander.service')['settings'] == SETTINGS

    subprocess.run(['podman', 'restart'] + rig.instances(), check=True, capture_output=True, timeout=180)
    for host in hosts():
        wait_running(host)
        assert host.run('systemctl is-active keepalive-cgroup.service').stdout.strip() == 'active'
        journal = host.run('journalctl -b -u keepalive-cgroup.service --no-pager').stdout
        assert journal.count('added') >= 1 and 'SO_KEEPALIVE=1 (self-test)' in journal, journal
        assert len(ours(host, '/')) == 1
        # the slice was made at boot after the boot unit pinned its program, and got it from BPFProgram=
        assert len(ours(host, '/' + SLICE)) == 1
        assert host.run('systemctl is-system-running').stdout.strip() == 'running'  # no cycle, no failed unit
        assert ad_hoc(host) == SETTINGS
        for unit in UNITS + ('bystander.service',):  # started at boot, after the boot unit pinned the programs
            assert rig.live_settings(host, unit)['settings'] == SETTINGS, unit
        seen = rig.timers(host, 'static-client.service')
        assert seen['client'] is not None and 0 < seen['client'] <= 45, seen  # the program's 45 s, not the kernel's 120
    status, output, recaps = rig.converge_all({'keepalive_cgroup_global': True})
    assert status == 0 and all(recap['changed'] == 0 for recap in recaps.values()), output[-3000:]


def test_absent_leaves_nothing_pinned_attached_or_installed():
    status, output, _recaps = rig.converge_all({'keepalive_state': 'absent'})
    assert status == 0, output[-3000:]
    kernel = {'keepalive': 0, 'idle': 7200, 'interval': 75, 'count': 9, 'user_timeout': 0}  # the role's sysctls are gone too
    for host in hosts():
        assert not host.file(PIN_DIR).exists
        for group in ('/', '/' + SLICE) + tuple('/system.slice/' + u for u in UNITS):
            assert ours(host, group) == [], group
        for path in (CODE, CONFIG, BOOT_UNIT, '/usr/local/lib/keepalive') + tuple(
                '/etc/systemd/system/%s.d/50-keepalive-cgroup.conf' % u for u in UNITS):
            assert not host.file(path).exists, path
        assert host.run('find /etc/systemd/system -name "keepalive-cgroup*"').stdout == ''
        assert host.run('systemctl is-enabled keepalive-cgroup.service').stdout.strip() in ('not-found', '')
        assert ad_hoc(host) == kernel
        restart(host, 'legacy-client.service')
        assert rig.live_settings(host, 'legacy-client.service')['settings'] == kernel
    status, output, recaps = rig.converge_all({'keepalive_state': 'absent'})
    assert status == 0 and all(recap['changed'] == 0 for recap in recaps.values()), output[-3000:]
