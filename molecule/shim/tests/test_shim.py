"""The preload shim through the role: built on the target, preloaded into a service, globally, removed.

Tests run in file order, each on every instance; the last one removes the role.
"""

import pytest

from conftest import rig

testinfra_hosts = rig.podman_hosts()
LIBRARY = '/usr/local/lib/keepalive/libkeepalive_shim.so'
DROPIN = '/etc/systemd/system/legacy-client.service.d/50-keepalive-shim.conf'
UNIT_PRELOAD = '/usr/lib/x86_64-linux-gnu/libz.so.1'
CHECK = ('python3 -c "import socket; s = socket.socket(); '
         'print(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))"')


def timers(host, unit='legacy-client.service'):
    return rig.timers(host, unit)


def live_settings(host, unit='legacy-client.service'):
    return rig.live_settings(host, unit)


def test_library_is_installed_root_owned_and_not_writable_by_others(host):
    library = host.file(LIBRARY)
    assert library.exists and library.user == 'root' and library.group == 'root' and library.mode == 0o755
    assert host.file('/usr/local/src/keepalive-shim/keepalive_shim.c').exists


def test_settings_file(host):
    conf = host.file('/etc/keepalive-shim.conf')
    assert conf.mode == 0o644 and conf.user == 'root'
    lines = [line for line in conf.content_string.splitlines() if line and not line.startswith('#')]
    assert lines == ['KEEPIDLE=45', 'KEEPINTVL=10', 'KEEPCNT=3', 'KEEPALIVE_USER_TIMEOUT=75000']


def test_the_drop_in_preloads_the_shim_into_the_service(host):
    assert host.file(DROPIN).exists
    environment = host.run('systemctl show -p Environment legacy-client.service').stdout
    assert 'LD_PRELOAD=' + LIBRARY in environment
    pid = host.run('systemctl show -p MainPID --value legacy-client.service').stdout.strip()
    assert LIBRARY in host.file('/proc/%s/maps' % pid).content_string


def test_the_unmodified_client_now_has_keepalive(host):
    client = live_settings(host)
    assert client['settings'] == {'keepalive': 1, 'idle': 45, 'interval': 10, 'count': 3, 'user_timeout': 75000}
    seen = timers(host)
    assert seen['client'] is not None and seen['client'] <= 45, seen
    assert seen['server'] is None  # the server was not given the shim


def test_global_mode_preloads_every_program_and_can_be_turned_off(host):
    assert host.run(CHECK).stdout.strip() == '0'
    status, output = rig.run_converge(host.backend.name, {'keepalive_shim_global': True})
    assert status == 0, output[-3000:]
    assert host.file('/etc/ld.so.preload').content_string.splitlines() == [LIBRARY]
    assert host.run(CHECK).stdout.strip() == '1'  # no LD_PRELOAD in its environment
    assert host.run('systemctl is-system-running').stdout.strip() == 'running'
    status, output = rig.run_converge(host.backend.name, {'keepalive_shim_global': True})
    assert status == 0 and 'changed=0' in output, output[-3000:]
    status, output = rig.run_converge(host.backend.name, {'keepalive_shim_global': False})
    assert status == 0, output[-3000:]
    assert LIBRARY not in host.file('/etc/ld.so.preload').content_string
    assert host.run(CHECK).stdout.strip() == '0'


def test_the_units_own_preload_is_kept_before_the_shim(host):
    environment = host.run('systemctl show -p Environment preloading-client.service').stdout
    assert 'LD_PRELOAD=%s %s' % (UNIT_PRELOAD, LIBRARY) in environment, environment
    pid = host.run('systemctl show -p MainPID --value preloading-client.service').stdout.strip()
    maps = host.file('/proc/%s/maps' % pid).content_string
    assert UNIT_PRELOAD in maps and LIBRARY in maps
    client = live_settings(host, 'preloading-client.service')
    assert client['settings']['keepalive'] == 1 and client['settings']['idle'] == 45


@pytest.mark.parametrize('library,problem', [
    ('/tmp/sticky/libk.so', '/tmp/sticky is a folder owned by root with mode 1777'),
    ('/srv/userlib/libk.so', '/srv/userlib is a folder owned by nobody with mode 0755'),
    ('/opt/userlink/libk.so', '/srv/userlib is a folder owned by nobody'),  # a root-owned link to a user's folder
    ('/srv/userlib/new/libk.so', '/srv/userlib is a folder owned by nobody'),  # a folder the role would create
])
def test_a_library_path_another_user_could_replace_is_refused_and_nothing_changes(host, library, problem):
    host.run('mkdir -p -m 1777 /tmp/sticky && install -d -o nobody -m 0755 /srv/userlib '
             '&& ln -sfn /srv/userlib /opt/userlink')
    before = host.file('/etc/keepalive-shim.conf').content_string, host.file(DROPIN).content_string
    status, output = rig.run_converge(host.backend.name, {'keepalive_shim_library': library,
                                                          'keepalive_shim_global': True})
    assert status != 0
    assert 'keepalive_shim_library=%s is refused' % library in output and problem in output, output[-3000:]
    assert 'Nothing was changed' in output
    assert (host.file('/etc/keepalive-shim.conf').content_string, host.file(DROPIN).content_string) == before
    assert host.file('/tmp/sticky').mode == 0o1777 and host.file('/tmp/sticky').user == 'root'
    assert host.file('/srv/userlib').user == 'nobody' and host.run('ls -A /srv/userlib /tmp/sticky').stdout.split() == [
        '/srv/userlib:', '/tmp/sticky:']
    assert not host.file('/etc/ld.so.preload').exists or library not in host.file('/etc/ld.so.preload').content_string


def test_a_build_folder_another_user_could_change_is_refused(host):
    before = host.file('/etc/keepalive-shim.conf').content_string, host.file(LIBRARY).sha256sum
    host.run('chgrp staff /usr/local/src && chmod 2775 /usr/local/src')
    try:
        status, output = rig.run_converge(host.backend.name, {'keepalive_shim_idle': 46})
    finally:
        host.run('chgrp root /usr/local/src && chmod 0755 /usr/local/src')
    assert status != 0 and '/usr/local/src is a folder owned by root with mode 2775' in output, output[-3000:]
    assert 'Nothing was changed' in output
    assert (host.file('/etc/keepalive-shim.conf').content_string, host.file(LIBRARY).sha256sum) == before


@pytest.mark.parametrize('library', ['/usr/local/lib/my lib.so', '/usr/local/lib/a:b.so', '/usr/local/lib/a%b.so',
                                     '/usr/local/lib/../lib/x.so', 'libk.so'])
def test_a_library_path_that_would_break_ld_preload_or_a_unit_is_refused(host, library):
    before = host.file('/etc/keepalive-shim.conf').content_string, host.file(DROPIN).content_string
    status, output = rig.run_converge(host.backend.name, {'keepalive_shim_library': library})
    assert status != 0 and "keepalive_shim_library='%s'" % library in output, output[-3000:]
    assert 'Nothing was changed' in output
    assert (host.file('/etc/keepalive-shim.conf').content_string, host.file(DROPIN).content_string) == before


def test_bad_values_fail_before_anything_changes(host):
    before = host.file('/etc/keepalive-shim.conf').content_string
    status, output = rig.run_converge(host.backend.name, {'keepalive_shim_count': 500})
    assert status != 0 and 'keepalive_socket_count=500 (1 to 127)' in output and 'Nothing was changed' in output
    assert 'given through their deprecated names' in output and 'keepalive_shim_count' in output
    assert host.file('/etc/keepalive-shim.conf').content_string == before


def test_live_fix_reaches_a_running_service_without_a_restart(host):
    pid = host.run('systemctl show -p MainPID --value running-client.service').stdout.strip()
    assert timers(host, 'running-client.service')['client'] is None
    status, output = rig.run_converge(host.backend.name, {'keepalive_live_fix': True,
                                                          'keepalive_live_fix_units': ['running-client']})
    assert status == 0, output[-3000:]
    assert live_settings(host, 'running-client.service')['settings']['keepalive'] == 1
    seen = timers(host, 'running-client.service')
    assert seen['client'] is not None and seen['client'] <= 45, seen
    assert seen['server'] is None
    assert host.run('systemctl show -p MainPID --value running-client.service').stdout.strip() == pid
    assert 'LD_PRELOAD' not in host.run('systemctl show -p Environment running-client.service').stdout
    status, output = rig.run_converge(host.backend.name, {'keepalive_live_fix': True,
                                                          'keepalive_live_fix_units': ['running-client']})
    assert status == 0 and 'changed=0' in output, output[-3000:]


def test_tags_run_the_shim_steps_alone(host):
    status, output = rig.run_converge(host.backend.name, {'keepalive_shim_idle': 46, 'keepalive_time': 99},
                                      options=['--tags', 'shim'])
    assert status == 0, output[-3000:]
    assert 'KEEPIDLE=46' in host.file('/etc/keepalive-shim.conf').content_string
    assert host.file('/proc/sys/net/ipv4/tcp_keepalive_time').content_string.strip() == '120'  # sysctl not tagged
    status, output = rig.run_converge(host.backend.name, {'keepalive_shim_idle': 500000}, options=['--tags', 'shim'])
    assert status != 0 and 'keepalive_socket_idle=500000' in output  # validation runs with any tag
    status, output = rig.run_converge(host.backend.name)
    assert status == 0 and 'KEEPIDLE=45' in host.file('/etc/keepalive-shim.conf').content_string, output[-3000:]


def test_removal_leaves_nothing_behind(host):
    status, output = rig.run_converge(host.backend.name, {'keepalive_state': 'absent'})
    assert status == 0, output[-3000:]
    for path in (LIBRARY, '/usr/local/lib/keepalive', '/usr/local/src/keepalive-shim', '/etc/keepalive-shim.conf',
                 DROPIN, '/etc/sysctl.d/60-keepalive.conf'):
        assert not host.file(path).exists, path
    assert host.run('find /etc/systemd/system -name 50-keepalive-shim.conf').stdout == ''
    preload = host.file('/etc/ld.so.preload')
    assert not preload.exists or LIBRARY not in preload.content_string
    assert 'LD_PRELOAD' not in host.run('systemctl show -p Environment legacy-client.service').stdout
    assert live_settings(host)['settings']['keepalive'] == 0  # restarted without the shim
    assert timers(host)['client'] is None
