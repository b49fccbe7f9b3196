"""The outcome itself, behind a NAT that forgets idle flows (tests/rig/middlebox.py).

A router in its own network namespace forgets an idle flow after FORGET seconds and then drops
(or resets) its next packet. Clients in the client namespace stay idle longer than that, then send
a line and wait for the echo: without keep-alive the connection is dead; each of the collection's
fixes keeps one alive. keepalive_path then measures the path, in drop and reset modes, and tells an
application's own idle timeout apart from the path's.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT, namespace_env

sys.path.insert(0, os.path.join(ROOT, 'tests', 'rig'))
import middlebox  # noqa: E402  pylint: disable=wrong-import-position

FORGET = 4
IDLE = FORGET + 3
SHIM_SOURCE = os.path.join(ROOT, 'roles', 'keepalive', 'files', 'keepalive_shim.c')


@pytest.fixture(scope='module')
def lab_env(unshare):
    if not shutil.which('iptables') or not shutil.which('nsenter'):
        pytest.skip('needs iptables and nsenter')
    return dict(namespace_env(), ANSIBLE_NOCOLOR='1')


module = middlebox.run_module


@pytest.fixture(scope='module')
def outcomes(lab_env, tmp_path_factory):
    """Every client of the story at once, in one lab in drop mode: {name: 'alive' or 'dead: ...'}."""
    shim = str(tmp_path_factory.mktemp('lab') / 'libkeepalive_shim.so')
    subprocess.run(['gcc', '-O2', '-fPIC', '-shared', '-pthread', '-o', shim, SHIM_SOURCE, '-ldl'], check=True)
    with middlebox.Middlebox(forget_after=FORGET, mode='drop') as lab:
        middlebox.start_server(lab, 7910)
        # the kernel defaults of the client's namespace, set by the collection: read when a socket arms its timer
        sysctl = module(lab, 'linuxnet.keepalive.keepalive_sysctl', 'time=2 intvl=1 probes=5 persist=false', lab_env)
        assert sysctl['changed'] and not sysctl.get('failed'), sysctl
        clients = {
            'plain': middlebox.start_client(lab, 7910, IDLE),
            'so_keepalive_and_sysctl': middlebox.start_client(lab, 7910, IDLE, keepidle=-1),
            'live_fix': middlebox.start_client(lab, 7910, IDLE),
            'preload_shim': middlebox.start_client(lab, 7910, IDLE, env=dict(os.environ, LD_PRELOAD=shim, KEEPIDLE='2',
                                                                             KEEPINTVL='1')),
        }
        fixed = module(lab, 'linuxnet.keepalive.keepalive_sockets',
                       'pid=%d idle=2 interval=1 count=5' % clients['live_fix'][0].pid, lab_env)
        assert fixed['summary']['changed'] == 1, fixed
        found = dict((name, middlebox.outcome(proc)) for name, (proc, _port) in clients.items())
    return found


def test_an_idle_connection_without_keepalive_dies_behind_the_nat(outcomes):
    assert outcomes['plain'] == 'dead: no answer within 4 s'


def test_the_sysctls_alone_do_not_save_a_program_that_never_set_so_keepalive(outcomes):
    # the same namespace had tcp_keepalive_time=2 the whole time
    assert outcomes['plain'].startswith('dead')


def test_so_keepalive_with_the_collections_sysctl_keeps_it_alive(outcomes):
    assert outcomes['so_keepalive_and_sysctl'] == 'alive'


def test_the_live_fix_applied_while_it_idles_keeps_it_alive(outcomes):
    assert outcomes['live_fix'] == 'alive'


def test_the_preload_shim_keeps_it_alive(outcomes):
    assert outcomes['preload_shim'] == 'alive'


def test_a_reset_path_kills_the_idle_connection_and_keepalive_path_measures_it(lab_env):
    with middlebox.Middlebox(forget_after=FORGET, mode='reset') as lab:
        middlebox.start_server(lab, 7911)
        plain = middlebox.start_client(lab, 7911, IDLE)[0]
        started = time.monotonic()
        result = module(lab, 'linuxnet.keepalive.keepalive_path',
                        'host=%s port=7911 idle=2,%d timeout=3' % (middlebox.SERVER_ADDRESS, IDLE), lab_env)
        took = time.monotonic() - started
        assert middlebox.outcome(plain) == 'dead: Connection reset by peer'
    assert not result['changed'] and not result.get('failed'), result
    assert [(r['idle'], r['outcome']) for r in result['results']] == [(2, 'survived'), (IDLE, 'reset')]
    assert result['recommended_time'] == 2
    assert result['msg'] == 'path forgets idle flows between 2 s and %d s (a reset): use keepalive_time and keepalive_intvl <= 2' % IDLE
    assert took < IDLE + 3 + 10  # the connections run in parallel, not one after another


def test_keepalive_path_in_drop_mode_and_with_a_second_round(lab_env):
    with middlebox.Middlebox(forget_after=FORGET, mode='drop') as lab:
        middlebox.start_server(lab, 7912)
        result = module(lab, 'linuxnet.keepalive.keepalive_path',
                        'host=%s port=7912 idle=2,%d timeout=2 refine=1' % (middlebox.SERVER_ADDRESS, IDLE), lab_env)
    outcomes = [(r['idle'], r['outcome']) for r in result['results']]
    assert outcomes[0] == (2, 'survived') and outcomes[-1] == (IDLE, 'dropped'), result
    assert len(outcomes) == 3 and 2 < outcomes[1][0] < IDLE  # the second round's value, between the two
    expected = 'survived' if outcomes[1][0] < FORGET else 'dropped'
    assert outcomes[1][1] == expected, result
    assert result['recommended_time'] == (outcomes[1][0] if expected == 'survived' else 2)
    assert '(dropped silently)' in result['msg']


def test_keepalive_path_tells_a_servers_own_idle_timeout_from_the_path(lab_env):
    with middlebox.Middlebox(forget_after=30, mode='drop') as lab:
        middlebox.start_server(lab, 7913, close_after=2)
        result = module(lab, 'linuxnet.keepalive.keepalive_path',
                        'host=%s port=7913 idle=1,5 timeout=2' % middlebox.SERVER_ADDRESS, lab_env)
    assert [(r['idle'], r['outcome']) for r in result['results']] == [(1, 'survived'), (5, 'closed')], result
    assert 'the server itself closed connections idle 5 s or longer' in result['msg']


def test_a_port_that_refuses_fails_naming_host_and_port(lab_env):
    with middlebox.Middlebox(forget_after=FORGET, mode='drop') as lab:
        result = module(lab, 'linuxnet.keepalive.keepalive_path',
                        'host=%s port=7914 idle=2' % middlebox.SERVER_ADDRESS, lab_env)
        bad = module(lab, 'linuxnet.keepalive.keepalive_path',
                     'host=%s port=7914 idle=0,2' % middlebox.SERVER_ADDRESS, lab_env)
    assert result['failed'] and result['msg'] == 'cannot connect to %s:7914: Connection refused' % middlebox.SERVER_ADDRESS
    assert bad['failed'] and 'idle values must be from 1 to 32767 seconds' in bad['msg']
