"""The preload shim through the role and its module: built on the target, preloaded into services, everywhere, removed.

Each situation is made once, on every instance at once (converges and ad hoc modules run against all
instances in parallel), and everything a user would see of it is asserted on each; read-only checks go
through `podman exec`. Tests run in file order; the last one removes the role.
"""

import pytest

from conftest import rig

LIBRARY = '/usr/local/lib/keepalive/libkeepalive_shim.so'
DROPIN = '/etc/systemd/system/legacy-client.service.d/50-keepalive-shim.conf'
UNIT_PRELOAD = '/usr/lib/x86_64-linux-gnu/libz.so.1'
SETTINGS = {'keepalive': 1, 'idle': 45, 'interval': 10, 'count': 3, 'user_timeout': 75000}
CHECK = ('python3 -c "import socket; s = socket.socket(); '
         'print(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))"')


def hosts():
    return [rig.testinfra_host(name) for name in rig.instances()]


def state(host):
    """What a refused run must leave as it was."""
    return (host.file('/etc/keepalive-shim.conf').content_string, host.file(DROPIN).content_string,
            host.file(LIBRARY).sha256sum, host.file('/proc/sys/net/ipv4/tcp_keepalive_time').content_string)


@pytest.fixture(scope='module')
def converged():
    """The services' live sockets as keepalive_facts reads them (inspect) after converge: {instance: {unit: row}}."""
    found = {}
    for name, result in rig.module_all('linuxnet.keepalive.keepalive_facts', 'ports=7400 inspect=true').items():
        rows = result['ansible_facts']['keepalive']['connections']
        found[name] = dict((r['unit'], r) for r in rows if r['remote_port'] == 7400)
    return found


def test_library_is_installed_root_owned_from_the_collections_source():
    for host in hosts():
        library = host.file(LIBRARY)
        assert library.exists and library.user == 'root' and library.group == 'root' and library.mode == 0o755
        with open(rig.ROOT + '/roles/keepalive/files/keepalive_shim.c') as handle:
            assert host.file('/usr/local/src/keepalive-shim/keepalive_shim.c').content_string == handle.read()


def test_settings_file():
    for host in hosts():
        conf = host.file('/etc/keepalive-shim.conf')
        assert conf.mode == 0o644 and conf.user == 'root'
        lines = [line for line in conf.content_string.splitlines() if line and not line.startswith('#')]
        assert lines == ['KEEPIDLE=45', 'KEEPINTVL=10', 'KEEPCNT=3', 'KEEPALIVE_USER_TIMEOUT=75000']


def test_the_drop_in_preloads_the_shim_into_the_service():
    for host in hosts():
        assert host.file(DROPIN).exists
        environment = host.run('systemctl show -p Environment legacy-client.service').stdout
        assert 'LD_PRELOAD=' + LIBRARY in environment
        pid = host.run('systemctl show -p MainPID --value legacy-client.service').stdout.strip()
        assert LIBRARY in host.file('/proc/%s/maps' % pid).content_string


def test_the_unmodified_client_now_has_keepalive(converged):
    for host in hosts():
        assert converged[host.backend.name]['legacy-client.service']['settings'] == SETTINGS
        seen = rig.timers(host, 'legacy-client.service')
        assert seen['client'] is not None and seen['client'] <= 45, seen
        assert seen['server'] is None  # the server was not given the shim


def test_the_units_own_preload_is_kept_before_the_shim(converged):
    for host in hosts():
        # its unit file has a comment that looks like a file header before its own Environment= line
        environment = host.run('systemctl show -p Environment preloading-client.service').stdout
        assert 'LD_PRELOAD=%s %s' % (UNIT_PRELOAD, LIBRARY) in environment, environment
        pid = host.run('systemctl show -p MainPID --value preloading-client.service').stdout.strip()
        maps = host.file('/proc/%s/maps' % pid).content_string
        assert UNIT_PRELOAD in maps and LIBRARY in maps
        assert converged[host.backend.name]['preloading-client.service']['settings'] == SETTINGS


@pytest.mark.parametrize('library,problem', [
    ('/tmp/sticky/libk.so', '/tmp/sticky is owned by uid 0 with mode 1777'),
    ('/srv/userlib/libk.so', '/srv/userlib is owned by uid 65534 with mode 0755'),
    ('/opt/userlink/libk.so', '/srv/userlib is owned by uid 65534'),  # a root-owned link to a user's folder
    ('/srv/userlib/new/libk.so', '/srv/userlib is owned by uid 65534'),  # a folder it would make in a user's folder
])
def test_the_module_refuses_a_library_another_user_could_replace_and_changes_nothing(library, problem):
    before = {}
    for host in hosts():
        host.run('mkdir -p -m 1777 /tmp/sticky && install -d -o nobody -m 0755 /srv/userlib '
                 '&& ln -sfn /srv/userlib /opt/userlink')
        before[host.backend.name] = state(host)
    results = rig.module_all('linuxnet.keepalive.keepalive_shim', 'library=%s global=true units=legacy-client' % library)
    for host in hosts():
        result = results[host.backend.name]
        assert result['failed'] and not result['changed'], result
        assert result['msg'].startswith('library=%s is refused' % library) and problem in result['msg'], result['msg']
        assert 'Nothing was changed' in result['msg']
        assert state(host) == before[host.backend.name]
        assert host.run('ls -A /srv/userlib /tmp/sticky').stdout.split() == ['/srv/userlib:', '/tmp/sticky:']
        assert not host.file('/etc/ld.so.preload').exists or library not in host.file('/etc/ld.so.preload').content_string


def test_the_module_refuses_a_build_folder_another_user_could_change():
    before = {}
    for host in hosts():
        before[host.backend.name] = state(host)
        host.run('chgrp staff /usr/local/src && chmod 2775 /usr/local/src')
    try:
        results = rig.module_all('linuxnet.keepalive.keepalive_shim', 'units=legacy-client idle=46')
    finally:
        for host in hosts():
            host.run('chgrp root /usr/local/src && chmod 0755 /usr/local/src')
    for host in hosts():
        result = results[host.backend.name]
        assert result['failed'] and '/usr/local/src is owned by uid 0 with mode 2775' in result['msg'], result['msg']
        assert state(host) == before[host.backend.name]


def test_the_role_refuses_before_its_first_change():
    before = dict((host.backend.name, state(host)) for host in hosts())
    # the kernel default would be the first change: the shim is checked before it
    status, output, recaps = rig.converge_all({'keepalive_shim_library': '/tmp/sticky/libk.so', 'keepalive_time': 99})
    assert status != 0 and all(recaps[name]['changed'] == 0 and recaps[name]['failed'] == 1 for name in recaps), output
    assert 'library=/tmp/sticky/libk.so is refused' in output and 'Nothing was changed' in output
    status, output, _recaps = rig.converge_all({'keepalive_shim_library': '/usr/local/lib/a:b.so', 'keepalive_time': 99})
    assert status != 0 and "keepalive_shim_library='/usr/local/lib/a:b.so'" in output, output[-3000:]
    status, output, _recaps = rig.converge_all({'keepalive_shim_count': 500, 'keepalive_time': 99})
    assert status != 0 and 'keepalive_socket_count=500 (1 to 127)' in output and 'Nothing was changed' in output
    assert 'given through their deprecated names' in output and 'keepalive_shim_count' in output
    for host in hosts():
        assert state(host) == before[host.backend.name]


def test_global_mode_preloads_every_program_and_can_be_turned_off_with_the_shim_tag_alone():
    for host in hosts():
        assert host.run(CHECK).stdout.strip() == '0'
    status, output, recaps = rig.converge_all({'keepalive_shim_global': True, 'keepalive_time': 99},
                                              options=['--tags', 'shim'])
    assert status == 0, output[-3000:]
    for host in hosts():
        assert host.file('/etc/ld.so.preload').content_string.splitlines() == [LIBRARY]
        assert host.run(CHECK).stdout.strip() == '1'  # no LD_PRELOAD in its environment
        assert host.run('systemctl is-system-running').stdout.strip() == 'running'
        assert host.file('/proc/sys/net/ipv4/tcp_keepalive_time').content_string.strip() == '120'  # sysctl not tagged
    status, output, recaps = rig.converge_all({'keepalive_shim_global': True}, options=['--tags', 'shim'])
    assert status == 0 and all(recap['changed'] == 0 for recap in recaps.values()), output[-3000:]
    status, output, recaps = rig.converge_all({'keepalive_shim_global': False}, options=['--tags', 'shim'])
    assert status == 0, output[-3000:]
    for host in hosts():
        assert LIBRARY not in host.file('/etc/ld.so.preload').content_string
        assert host.run(CHECK).stdout.strip() == '0'


def test_the_module_ad_hoc_shows_in_check_mode_what_it_would_change_and_then_changes_only_that():
    args = 'units=legacy-client,preloading-client idle=%d interval=10 count=3 user_timeout=75000'
    before = dict((host.backend.name, state(host)) for host in hosts())
    checked = rig.module_all('linuxnet.keepalive.keepalive_shim', args % 46, options=['--check', '--diff'])
    for host in hosts():
        result = checked[host.backend.name]
        assert result['changed'] and 'would change' in result['msg'] and result['restarted'] == [], result
        assert '+KEEPIDLE=46' in result['_printed'] and '-KEEPIDLE=45' in result['_printed']
        assert state(host) == before[host.backend.name]
    changed = rig.module_all('linuxnet.keepalive.keepalive_shim', args % 46)
    for host in hosts():
        result = changed[host.backend.name]
        # the settings change; the drop-ins, the library and the running units do not
        assert result['changed'] and not result['built'] and result['restarted'] == [], result
        assert [f['path'] for f in result['files']] == ['/etc/keepalive-shim.conf']
        assert 'KEEPIDLE=46' in host.file('/etc/keepalive-shim.conf').content_string
    assert all(r['changed'] for r in rig.module_all('linuxnet.keepalive.keepalive_shim', args % 45).values())


def test_live_fix_reaches_a_running_service_without_a_restart():
    pids = {}
    for host in hosts():
        pids[host.backend.name] = host.run('systemctl show -p MainPID --value running-client.service').stdout.strip()
        assert rig.timers(host, 'running-client.service')['client'] is None
    fix = {'keepalive_live_fix': True, 'keepalive_live_fix_units': ['running-client']}
    status, output, _recaps = rig.converge_all(fix, options=['--tags', 'live_fix'])
    assert status == 0, output[-3000:]
    facts = rig.module_all('linuxnet.keepalive.keepalive_facts', 'ports=7400 inspect=true units=running-client')
    for host in hosts():
        rows = [r for r in facts[host.backend.name]['ansible_facts']['keepalive']['connections'] if r['remote_port'] == 7400]
        assert rows and rows[0]['settings']['keepalive'] == 1, rows
        seen = rig.timers(host, 'running-client.service')
        assert seen['client'] is not None and seen['client'] <= 45, seen
        assert seen['server'] is None
        assert host.run('systemctl show -p MainPID --value running-client.service').stdout.strip() == pids[host.backend.name]
        assert 'LD_PRELOAD' not in host.run('systemctl show -p Environment running-client.service').stdout
    status, output, recaps = rig.converge_all(fix, options=['--tags', 'live_fix'])
    assert status == 0 and all(recap['changed'] == 0 for recap in recaps.values()), output[-3000:]


def test_removal_leaves_nothing_behind():
    status, output, _recaps = rig.converge_all({'keepalive_state': 'absent'})
    assert status == 0, output[-3000:]
    facts = rig.module_all('linuxnet.keepalive.keepalive_facts', 'ports=7400 inspect=true units=legacy-client')
    for host in hosts():
        for path in (LIBRARY, '/usr/local/lib/keepalive', '/usr/local/src/keepalive-shim', '/etc/keepalive-shim.conf',
                     DROPIN, '/etc/sysctl.d/60-keepalive.conf'):
            assert not host.file(path).exists, path
        assert host.run('find /etc/systemd/system -name 50-keepalive-shim.conf').stdout == ''
        preload = host.file('/etc/ld.so.preload')
        assert not preload.exists or LIBRARY not in preload.content_string
        assert 'LD_PRELOAD' not in host.run('systemctl show -p Environment legacy-client.service').stdout
        rows = [r for r in facts[host.backend.name]['ansible_facts']['keepalive']['connections'] if r['remote_port'] == 7400]
        assert rows[0]['settings']['keepalive'] == 0  # restarted without the shim
        assert rig.timers(host, 'legacy-client.service')['client'] is None
