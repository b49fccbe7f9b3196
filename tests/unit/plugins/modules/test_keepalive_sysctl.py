# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_sysctl's main(): every branch of state, persist and apply, on a fake /proc/sys and config tree."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.linuxnet.keepalive.plugins.modules import keepalive_sysctl

TIME = 'net.ipv4.tcp_keepalive_time'


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake host: /proc/sys with the kernel's defaults, five sysctl.d folders and a sysctl.conf."""
    proc = tmp_path / 'proc'
    (proc / 'net' / 'ipv4').mkdir(parents=True)
    for key, value in (('time', 7200), ('intvl', 75), ('probes', 9)):
        (proc / 'net' / 'ipv4' / ('tcp_keepalive_' + key)).write_text('%d\n' % value)
    dirs = tuple(str(tmp_path / name) for name in ('etc', 'run', 'usrlocal', 'usr', 'lib'))
    for directory in dirs:
        os.mkdir(directory)
    (tmp_path / 'sysctl.conf').write_text('')
    monkeypatch.setattr(keepalive_sysctl, 'PROC_SYS', str(proc))
    monkeypatch.setattr(keepalive_sysctl, 'CONFIG_DIRS', dirs)
    monkeypatch.setattr(keepalive_sysctl, 'SYSCTL_CONF', str(tmp_path / 'sysctl.conf'))

    class Host:
        ours = os.path.join(dirs[0], '60-keepalive.conf')

        @staticmethod
        def running():
            return dict((k, int((proc / 'net' / 'ipv4' / ('tcp_keepalive_' + k)).read_text()))
                        for k in ('time', 'intvl', 'probes'))

        @staticmethod
        def write(directory, name, text):
            path = os.path.join(dirs[('etc', 'run', 'usrlocal', 'usr', 'lib').index(directory)], name)
            with open(path, 'w') as handle:
                handle.write(text)
    return Host


def run(capsys, check_mode=False, diff=False, **args):
    args = dict(args, path=args.get('path', keepalive_sysctl.CONFIG_DIRS[0] + '/60-keepalive.conf'),
                _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            keepalive_sysctl.main()
    return json.loads(capsys.readouterr().out)


def test_present_sets_and_persists_then_changes_nothing(host, capsys):
    result = run(capsys, time=120, intvl=30, probes=4, diff=True)
    assert result['changed'] and result['after'] == {'time': 120, 'intvl': 30, 'probes': 4}
    assert result['msg'] == 'keep-alive defaults set: time 120, intvl 30, probes 4; %s written' % host.ours
    assert host.running() == {'time': 120, 'intvl': 30, 'probes': 4}
    assert '%s = 120' % TIME in open(host.ours).read() and oct(os.stat(host.ours).st_mode & 0o777) == '0o644'
    assert result['diff'][0]['before'].startswith('%s = 7200' % TIME)
    assert not run(capsys, time=120, intvl=30, probes=4)['changed']


def test_check_mode_changes_nothing(host, capsys):
    result = run(capsys, time=120, check_mode=True)
    assert result['changed'] and result['after']['time'] == 120
    assert result['msg'] == ('keep-alive defaults would be set: time 120, intvl 75, probes 9; %s would be written'
                             % host.ours)
    assert host.running()['time'] == 7200 and not os.path.exists(host.ours)


def test_apply_false_only_persists_and_persist_false_only_applies(host, capsys):
    result = run(capsys, time=120, apply=False)
    assert result['changed'] and host.running()['time'] == 7200 and os.path.exists(host.ours)
    os.unlink(host.ours)
    result = run(capsys, time=90, persist=False)
    assert result['changed'] and host.running()['time'] == 90 and not os.path.exists(host.ours)


def test_a_conflict_fails_before_anything_changes_or_warns(host, capsys):
    host.write('usr', '90-vendor.conf', '%s = 7200\n' % TIME)
    result = run(capsys, time=120, on_conflict='fail')
    assert result['failed'] and '90-vendor.conf sets %s = 7200' % TIME in result['msg']
    assert host.running()['time'] == 7200 and not os.path.exists(host.ours)
    result = run(capsys, time=120)
    assert result['changed'] and not result.get('failed')
    assert [c['file'] for c in result['conflicts']] == [os.path.join(keepalive_sysctl.CONFIG_DIRS[3], '90-vendor.conf')]


def test_absent_removes_the_file_and_restores_what_boot_gives(host, capsys):
    host.write('run', '10-early.conf', '%s = 300\n' % TIME)
    run(capsys, time=120, intvl=30)
    result = run(capsys, state='absent')
    assert result['changed'] and result['after'] == {'time': 300, 'intvl': 75, 'probes': 9}
    assert host.running() == {'time': 300, 'intvl': 75, 'probes': 9} and not os.path.exists(host.ours)
    assert not run(capsys, state='absent')['changed']


@pytest.mark.parametrize('args,message', [
    ({}, 'state is present but any of the following are missing: time, intvl, probes'),
    ({'state': 'absent', 'time': 120}, 'state=absent takes no time, intvl or probes'),
    ({'time': 0, 'probes': 200}, 'time must be from 1 to 32767 seconds, not 0; probes must be from 1 to 127, not 200'),
    ({'time': 120, 'path': '/etc/sysctl.conf'}, 'path must be a .conf file directly in one of'),
])
def test_bad_input_fails_and_changes_nothing(host, capsys, args, message):
    result = run(capsys, **args)
    assert result['failed'] and message in result['msg'], result['msg']
    assert host.running() == {'time': 7200, 'intvl': 75, 'probes': 9} and not os.path.exists(host.ours)


def test_a_file_it_did_not_write_is_left_alone(host, capsys):
    host.write('etc', '60-keepalive.conf', '%s = 60\n' % TIME)
    for args in ({'time': 120}, {'state': 'absent'}):
        result = run(capsys, **args)
        assert result['failed'] and 'not written by this module' in result['msg']
    assert open(host.ours).read() == '%s = 60\n' % TIME
