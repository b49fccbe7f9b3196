"""The preload shim (roles/keepalive/files/keepalive_shim.c) with real, unmodified clients.

The shim is compiled here with warnings as errors. Clients run in private network namespaces
against local servers; `ss -tno` shows what the kernel does with their sockets. The host's
files and settings are not touched: configuration files are passed with KEEPALIVE_SHIM_CONF.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import HERE, ROOT

SOURCE = os.path.join(ROOT, 'roles', 'keepalive', 'files', 'keepalive_shim.c')
PROBE = os.path.join(HERE, 'files', 'shim_probe.c')
EARLY = os.path.join(HERE, 'files', 'early_socket.c')
CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror']


def compile_shim(out, extra=()):
    subprocess.run(['gcc'] + CFLAGS + list(extra) + ['-fPIC', '-shared', '-pthread', '-o', out, SOURCE, '-ldl'], check=True)
    return out


@pytest.fixture(scope='module')
def build(tmp_path_factory):
    if not shutil.which('gcc'):
        pytest.skip('needs gcc')
    work = tmp_path_factory.mktemp('shim')
    shim = compile_shim(str(work / 'libkeepalive_shim.so'))
    probe = str(work / 'probe')
    subprocess.run(['gcc'] + CFLAGS + ['-pthread', '-o', probe, PROBE], check=True)
    # A program linked with a library whose constructor opens a socket before the shim's constructor runs.
    subprocess.run(['gcc'] + CFLAGS + ['-fPIC', '-shared', '-o', str(work / 'libearly.so'), EARLY], check=True)
    (work / 'early_main.c').write_text('void early_socket_linked(void);\nint main(void) { early_socket_linked(); return 0; }\n')
    early = str(work / 'early')
    link = ['-L', str(work), '-learly', '-Wl,-rpath,' + str(work)]
    subprocess.run(['gcc'] + CFLAGS + ['-o', early, str(work / 'early_main.c')] + link, check=True)
    return {'shim': shim, 'probe': probe, 'early': early, 'work': work}


def run_probe(build, env=None, probe=None, wrapper=()):
    full = dict(os.environ)
    full.pop('LD_PRELOAD', None)
    full.update(env or {})
    proc = subprocess.run(list(wrapper) + [probe or build['probe']], env=full, capture_output=True, text=True,
                          check=False, timeout=300)
    lines = dict(line.split(' ', 1) for line in proc.stdout.splitlines())
    return proc, lines


def fields(text):
    return dict(item.split('=') for item in text.split())


def in_namespace(unshare, spec):
    out = subprocess.run(unshare + [sys.executable, os.path.join(HERE, 'files', 'netns_run.py'), json.dumps(spec)],
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def timer_of(lines, local_port=None, peer_port=None):
    """The keep-alive timer seconds of the socket whose local (or peer) port is given, or None."""
    for line in lines:
        cols = line.split()
        local, peer = cols[2].rsplit(':', 1)[1], cols[3].rsplit(':', 1)[1]
        if (local_port and local == str(local_port)) or (peer_port and peer == str(peer_port)):
            match = re.search(r'timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:sec|\.))?', line)
            if not match:
                return None
            return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
    raise AssertionError('no socket with port %s/%s in %s' % (local_port, peer_port, lines))


PY_CLIENT = ('import socket, time; s = socket.create_connection(("127.0.0.1", {port})); '
             'print(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)); time.sleep(1.5)')


def test_python_client_gets_keepalive_with_the_configured_idle(unshare, build):
    env = {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '45'}
    seen = in_namespace(unshare, {'port': 7200, 'client': ['python3', '-c', PY_CLIENT.format(port=7200)], 'env': env})
    assert seen['stdout'].strip() == '1'
    assert 40 <= timer_of(seen['ss'], peer_port=7200) <= 45
    assert timer_of(seen['ss'], local_port=7200) is None  # the server was not preloaded


def test_without_the_shim_python_has_no_timer(unshare, build):
    seen = in_namespace(unshare, {'port': 7201, 'client': ['python3', '-c', PY_CLIENT.format(port=7201)]})
    assert seen['stdout'].strip() == '0' and timer_of(seen['ss'], peer_port=7201) is None


def test_keepalive_off_disables_the_shim(unshare, build):
    env = {'LD_PRELOAD': build['shim'], 'KEEPALIVE': 'off', 'KEEPIDLE': '45'}
    seen = in_namespace(unshare, {'port': 7202, 'client': ['python3', '-c', PY_CLIENT.format(port=7202)], 'env': env})
    assert seen['stdout'].strip() == '0' and timer_of(seen['ss'], peer_port=7202) is None


def test_curl_gets_keepalive(unshare, build):
    if not shutil.which('curl'):
        pytest.skip('needs curl')
    client = ['curl', '-s', '--no-keepalive', 'http://127.0.0.1:7203/']
    plain = in_namespace(unshare, {'port': 7203, 'server': 'http-slow', 'client': client})
    assert plain['stdout'] == 'ok\n' and timer_of(plain['ss'], peer_port=7203) is None
    seen = in_namespace(unshare, {'port': 7203, 'server': 'http-slow', 'client': client,
                                  'env': {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '50'}})
    assert seen['stdout'] == 'ok\n'
    assert 45 <= timer_of(seen['ss'], peer_port=7203) <= 50


def test_java_dual_stack_client_gets_keepalive(unshare, build):
    if not shutil.which('java'):
        pytest.skip('java is not installed')
    client = ['java', os.path.join(HERE, 'files', 'HoldConnection.java'), '::1', '7204']
    seen = in_namespace(unshare, {'port': 7204, 'ipv6': True, 'client': client,
                                  'env': {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '55'}})
    assert seen['returncode'] == 0, seen['stderr'][-2000:]
    assert 'keepalive=true' in seen['stdout']
    assert 45 <= timer_of(seen['ss'], peer_port=7204) <= 55


def test_a_preloaded_listener_passes_keepalive_to_accepted_sockets(unshare, build):
    server = ('import socket, time; l = socket.socket(); l.bind(("127.0.0.1", 7205)); l.listen(1); '
              'c, _ = l.accept(); c.recv(1); time.sleep(0.5)')
    seen = in_namespace(unshare, {'port': 7205, 'server': 'none', 'connect': True, 'client': ['python3', '-c', server],
                                  'env': {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '30'}})
    assert 25 <= timer_of(seen['ss'], local_port=7205) <= 30  # the inbound, accepted socket
    assert timer_of(seen['ss'], peer_port=7205) is None  # our own client was not preloaded


def test_only_tcp_sockets_are_touched(build):
    proc, lines = run_probe(build, {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '60', 'KEEPINTVL': '10',
                                    'KEEPCNT': '3', 'KEEPALIVE_USER_TIMEOUT': '5000'})
    assert proc.returncode == 0, proc.stderr
    for kind in ('tcp4', 'tcp4_ipproto', 'tcp6'):
        assert fields(lines[kind]) == {'keepalive': '1', 'idle': '60', 'intvl': '10', 'cnt': '3', 'user_timeout': '5000'}
    assert fields(lines['tcp4_flags'])['keepalive'] == '1'  # SOCK_NONBLOCK | SOCK_CLOEXEC masked off
    for kind in ('udp4', 'raw4', 'seqpacket_unix', 'stream_unix'):
        assert fields(lines[kind]) == {'keepalive': '0'}, kind
    assert lines['threads'] == 'ok=4000 of 4000'
    assert lines['next_fd'] == '3'


def test_mptcp_stream_sockets_get_keepalive_even_though_they_refuse_a_user_timeout(build):
    _proc, plain = run_probe(build)
    if 'unavailable' in plain['mptcp4']:
        pytest.skip('this kernel has no MPTCP: %s' % plain['mptcp4'])
    assert fields(plain['mptcp4'])['keepalive'] == '0'
    env = {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '60', 'KEEPINTVL': '10', 'KEEPCNT': '3'}
    for user_timeout in (None, '5000'):
        full = dict(env, KEEPALIVE_USER_TIMEOUT=user_timeout) if user_timeout else env
        proc, lines = run_probe(build, dict(full, KEEPALIVE_DEBUG='1'))
        assert proc.returncode == 0, proc.stderr
        for kind in ('mptcp4', 'mptcp6'):
            got = fields(lines[kind])
            assert (got['keepalive'], got['idle'], got['intvl'], got['cnt']) == ('1', '60', '10', '3'), (kind, got)
        # TCP sockets of the same program still get the user timeout
        assert fields(lines['tcp4'])['user_timeout'] == (user_timeout or '0')
    assert 'refuses TCP_USER_TIMEOUT' in proc.stderr


def test_a_socket_opened_by_an_earlier_constructor_gets_the_settings(build):
    proc, lines = run_probe(build, {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '77'}, probe=build['early'])
    assert proc.returncode == 0, proc.stderr
    assert fields(lines['early']) == {'keepalive': '1', 'idle': '77'}
    proc, lines = run_probe(build, {'LD_PRELOAD': build['shim'], 'KEEPALIVE': 'off', 'KEEPIDLE': '77'},
                            probe=build['early'])
    assert fields(lines['early'])['keepalive'] == '0'


def test_a_large_configuration_file_is_read_whole_or_refused_never_cut(build, tmp_path):
    conf = tmp_path / 'keepalive-shim.conf'
    # KEEPIDLE=30000 straddles the 8 KiB mark: a reader that cut the file there would set 30
    padding = '# ' + 'x' * 77 + '\n'
    head = padding * (8180 // len(padding))
    head += '#' * (8180 - len(head) - 1) + '\n'
    conf.write_text(head + 'KEEPIDLE=30000\n' + padding * 10)
    assert conf.read_text().index('KEEPIDLE=30000') == 8180 and conf.stat().st_size > 8192
    env = {'LD_PRELOAD': build['shim'], 'KEEPALIVE_SHIM_CONF': str(conf), 'KEEPALIVE_DEBUG': '1'}
    _proc, lines = run_probe(build, env)
    assert fields(lines['tcp4'])['idle'] == '30000'
    conf.write_text(padding * 1000 + 'KEEPIDLE=30000\nKEEPALIVE=off\n')  # 80 KiB: too large to be read
    proc, lines = run_probe(build, env)
    assert 'ignoring %s: larger than 65536 bytes' % conf in proc.stderr
    assert fields(lines['tcp4'])['keepalive'] == '1' and fields(lines['tcp4'])['idle'] != '30000'


def test_errno_and_return_values_are_preserved(build):
    plain = run_probe(build)[1]
    _proc, shimmed = run_probe(build, {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '60'})
    assert shimmed['errno_success'] == '4242'
    assert shimmed['errno_failure'] == plain['errno_failure'] and plain['errno_failure'].endswith('fd=-1')


def test_bad_values_are_ignored_one_by_one_and_reported_only_in_debug(build):
    env = {'LD_PRELOAD': build['shim'], 'KEEPIDLE': 'soon', 'KEEPINTVL': '20', 'KEEPCNT': '500',
           'KEEPALIVE_USER_TIMEOUT': '-1'}
    proc, lines = run_probe(build, env)
    tcp = fields(lines['tcp4'])
    assert tcp['keepalive'] == '1' and tcp['intvl'] == '20' and tcp['user_timeout'] == '0'
    assert tcp['idle'] != 'soon' and tcp['cnt'] != '500'
    assert proc.stderr == ''
    proc, _lines = run_probe(build, dict(env, KEEPALIVE_DEBUG='1'))
    assert 'ignoring KEEPIDLE=soon' in proc.stderr and 'ignoring KEEPCNT=500' in proc.stderr
    assert 'from 1 to 127' in proc.stderr


def test_configuration_file_with_environment_winning(build, tmp_path):
    conf = tmp_path / 'keepalive-shim.conf'
    conf.write_text('# written by the role\nKEEPIDLE = 100\nKEEPCNT=3\nKEEPINTVL=oops\n')
    _proc, lines = run_probe(build, {'LD_PRELOAD': build['shim'], 'KEEPALIVE_SHIM_CONF': str(conf), 'KEEPIDLE': '50'})
    tcp = fields(lines['tcp4'])
    assert (tcp['idle'], tcp['cnt']) == ('50', '3')
    conf.write_text('KEEPALIVE=off\n')
    _proc, lines = run_probe(build, {'LD_PRELOAD': build['shim'], 'KEEPALIVE_SHIM_CONF': str(conf)})
    assert fields(lines['tcp4'])['keepalive'] == '0'


def test_clean_under_address_sanitizer(build):
    work = build['work']
    shim = compile_shim(str(work / 'libkeepalive_shim_asan.so'), ['-g', '-fsanitize=address,undefined'])
    probe = str(work / 'probe_asan')
    subprocess.run(['gcc'] + CFLAGS + ['-g', '-fsanitize=address,undefined', '-pthread', '-o', probe, PROBE], check=True)
    runtimes = [subprocess.run(['gcc', '-print-file-name=%s.so' % lib], capture_output=True, text=True,
                               check=True).stdout.strip() for lib in ('libasan', 'libubsan')]
    # the sanitizer runtimes must come first in the list of preloaded libraries
    proc, lines = run_probe(build, {'LD_PRELOAD': ' '.join(runtimes + [shim]), 'KEEPIDLE': '60',
                                    'KEEPALIVE_DEBUG': '1', 'KEEPCNT': 'x',
                                    'ASAN_OPTIONS': 'detect_leaks=1:halt_on_error=1', 'UBSAN_OPTIONS': 'halt_on_error=1'},
                            probe=probe)
    assert proc.returncode == 0 and 'ERROR: AddressSanitizer' not in proc.stderr, proc.stderr[-3000:]
    assert 'runtime error' not in proc.stderr
    assert fields(lines['tcp4'])['idle'] == '60'


def test_clean_under_valgrind(build):
    if not shutil.which('valgrind'):
        pytest.skip('needs valgrind')
    proc, lines = run_probe(build, {'LD_PRELOAD': build['shim'], 'KEEPIDLE': '60'},
                            wrapper=['valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
                                     '--errors-for-leak-kinds=definite'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fields(lines['tcp4'])['idle'] == '60'


NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']


@pytest.fixture
def shared(build):
    """A folder any user can read, with a copy of the shim: a hostile configuration is tried as nobody."""
    folder = tempfile.mkdtemp(prefix='keepalive-shim-', dir='/tmp')
    os.chmod(folder, 0o755)
    shutil.copy(build['shim'], os.path.join(folder, 'libkeepalive_shim.so'))
    os.chmod(os.path.join(folder, 'libkeepalive_shim.so'), 0o755)
    yield folder
    shutil.rmtree(folder)


def as_nobody(folder, conf, argv, stdin=None):
    env = {'PATH': '/usr/bin:/bin', 'LD_PRELOAD': os.path.join(folder, 'libkeepalive_shim.so'),
           'KEEPALIVE_SHIM_CONF': conf, 'KEEPALIVE_DEBUG': '1'}
    return subprocess.run(NOBODY + ['env', '-i'] + ['%s=%s' % item for item in env.items()] + argv, input=stdin,
                          capture_output=True, text=True, check=False, timeout=30, cwd=folder)


def test_a_fifo_as_the_configuration_does_not_hang_the_program(shared):
    fifo = os.path.join(shared, 'fifo')
    os.mkfifo(fifo, 0o666)
    # timeout(1) loads the shim too: a shim that waited for a writer would hang before timeout could act
    proc = as_nobody(shared, fifo, ['timeout', '5', '/bin/true'])
    assert proc.returncode == 0, proc.stderr
    assert 'ignoring %s: not a regular file, so it is not read at all' % fifo in proc.stderr


def test_standard_input_as_the_configuration_is_left_to_the_program(build):
    env = {'PATH': '/usr/bin:/bin', 'LD_PRELOAD': build['shim'], 'KEEPALIVE_SHIM_CONF': '/dev/stdin',
           'KEEPALIVE_DEBUG': '1'}
    proc = subprocess.run(['cat'], input='a\nb\n', env=env, capture_output=True, text=True, check=False, timeout=30)
    assert proc.stdout == 'a\nb\n' and proc.returncode == 0
    assert 'ignoring /dev/stdin: not a regular file' in proc.stderr


def test_a_configuration_that_cannot_be_opened_is_said_so_in_debug_mode(shared):
    conf = os.path.join(shared, 'keepalive-shim.conf')
    with open(conf, 'w') as handle:
        handle.write('KEEPIDLE=30\n')
    os.chmod(conf, 0o600)  # root's: nobody cannot read it
    proc = as_nobody(shared, conf, ['/bin/true'])
    assert 'cannot open %s: Permission denied; its settings are not used' % conf in proc.stderr


def test_the_parser_refuses_a_file_with_a_nul_byte_whole(build, tmp_path):
    conf = tmp_path / 'keepalive-shim.conf'
    conf.write_bytes(b'KEEPIDLE=30\0junk\nKEEPALIVE=off\n')
    env = {'LD_PRELOAD': build['shim'], 'KEEPALIVE_SHIM_CONF': str(conf), 'KEEPALIVE_DEBUG': '1'}
    proc, lines = run_probe(build, env)
    assert 'ignoring %s: it holds a NUL byte, so none of it is used' % conf in proc.stderr
    tcp = fields(lines['tcp4'])
    assert tcp['keepalive'] == '1' and tcp['idle'] != '30'  # neither the part before the NUL nor after it


def test_a_preload_whose_open_calls_socket_does_not_deadlock_the_shim(build):
    audit = str(build['work'] / 'libreentering.so')
    subprocess.run(['gcc'] + CFLAGS + ['-fPIC', '-shared', '-o', audit, os.path.join(HERE, 'files', 'reentering_preload.c'),
                                       '-ldl'], check=True)
    # the auditing library first, as in /etc/ld.so.preload: the shim's open() reaches its wrapper
    proc, lines = run_probe(build, {'LD_PRELOAD': '%s %s' % (audit, build['shim']), 'KEEPIDLE': '60'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fields(lines['tcp4'])['keepalive'] == '1' and fields(lines['tcp4'])['idle'] == '60'


def test_each_debug_line_is_written_in_one_piece(build):
    if not shutil.which('strace'):
        pytest.fail('strace is missing: the Makefile installs it')
    env = dict(os.environ, LD_PRELOAD=build['shim'], KEEPIDLE='soon', KEEPCNT='500', KEEPALIVE_DEBUG='1')
    trace = str(build['work'] / 'writes.trace')
    subprocess.run(['strace', '-f', '-qq', '-o', trace, '-e', 'trace=write', '-e', 'signal=none', '-s', '300',
                    build['probe']], env=env, capture_output=True, text=True, check=False, timeout=120)
    with open(trace) as handle:
        writes = [line for line in handle if re.search(r'write\(2, ', line)]
    assert len(writes) >= 2, writes
    for line in writes:
        text = re.search(r'write\(2, "(.*)", \d+\)', line).group(1)  # the whole line, in one write
        assert text.startswith('keepalive_shim: ') and text.endswith('\\n') and text.count('\\n') == 1, line
