# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sysctl._sysctl_config import (
    SysctlConfigError, boot_order, boot_sources, boot_values, check_path, conflicts, parse, previous_values, render,
    sets_key, validate,
)

TIME, INTVL, PROBES = 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'


@pytest.fixture
def tree(tmp_path):
    """Five configuration directories and a sysctl.conf, in boot-order precedence."""
    dirs = tuple(str(tmp_path / name) for name in ('etc', 'run', 'usrlocal', 'usr', 'lib'))
    for directory in dirs:
        os.mkdir(directory)
    conf = tmp_path / 'sysctl.conf'
    conf.write_text('')

    def write(directory, name, text):
        path = os.path.join(dirs[('etc', 'run', 'usrlocal', 'usr', 'lib').index(directory)], name)
        with open(path, 'w') as handle:
            handle.write(text)
        return path
    return dirs, str(conf), write


def test_validate_accepts_integers_and_digit_strings():
    assert validate({'time': 120, 'intvl': '30', 'probes': None}) == {TIME: 120, INTVL: 30}


def test_validate_names_every_problem():
    with pytest.raises(SysctlConfigError) as err:
        validate({'time': 0, 'intvl': 'x', 'probes': 200})
    message = str(err.value)
    assert 'time must be from 1 to 32767 seconds, not 0' in message
    assert "intvl must be an integer from 1 to 32767 seconds, not 'x'" in message
    assert 'probes must be from 1 to 127, not 200' in message


@pytest.mark.parametrize('value', [True, 1.0, '1e3', '', [1]])
def test_validate_refuses_non_integers(value):
    with pytest.raises(SysctlConfigError, match='must be an integer'):
        validate({'time': value})


def test_parse_handles_comments_slashes_and_dashes():
    text = '# comment\n; also\n\n-net.ipv4.tcp_keepalive_time = 60\nnet/ipv4/tcp_keepalive_intvl=5\nnot a line\n'
    assert parse(text) == [(TIME, '60'), (INTVL, '5')]


def test_glob_keys_match():
    assert sets_key('net.ipv4.tcp_keepalive_*', TIME) and not sets_key('net.ipv4.tcp_fin*', TIME)


def test_boot_order_masks_by_name_and_sorts_by_name(tree):
    dirs, conf, write = tree
    write('usr', '10-a.conf', '')
    write('etc', '10-a.conf', '')  # masks the one in usr
    write('lib', '05-b.conf', '')
    write('run', '20-c.conf', '')
    write('etc', 'README', '')  # not a .conf
    order = boot_order(dirs, conf)
    assert [p.replace(os.path.dirname(dirs[0]) + '/', '') for p in order] == [
        'lib/05-b.conf', 'etc/10-a.conf', 'run/20-c.conf', 'sysctl.conf']


def test_conflicts_are_later_files_with_other_values(tree):
    dirs, conf, write = tree
    ours = os.path.join(dirs[0], '60-keepalive.conf')
    write('usr', '10-early.conf', TIME + ' = 1\n')
    later = write('usr', '70-late.conf', TIME + ' = 7200\n' + PROBES + ' = 4\n')
    write('run', '80-glob.conf', 'net.ipv4.tcp_keepalive_* = 4\n')
    with open(conf, 'w') as handle:
        handle.write(INTVL + ' = 75\n')
    found = conflicts(ours, {TIME: 120, PROBES: 4, INTVL: 30}, dirs, conf)
    assert [(os.path.basename(c['file']), c['key'], c['value']) for c in found] == [
        ('70-late.conf', TIME, '7200'),
        ('80-glob.conf', INTVL, '4'), ('80-glob.conf', TIME, '4'),
        ('sysctl.conf', INTVL, '75'),
    ]
    assert found[0]['file'] == later


def test_our_file_masked_by_an_earlier_directory(tree):
    dirs, conf, write = tree
    masking = write('etc', '60-keepalive.conf', '')
    found = conflicts(os.path.join(dirs[3], '60-keepalive.conf'), {TIME: 120}, dirs, conf)
    assert found == [{'file': masking, 'key': TIME, 'value': None, 'masks': True}]


def test_boot_values_fall_back_to_kernel_defaults(tree):
    dirs, conf, write = tree
    ours = write('etc', '60-keepalive.conf', TIME + ' = 120\n')
    write('usr', '30-x.conf', INTVL + ' = 20\n')
    assert boot_values([TIME, INTVL, PROBES], skip=ours, dirs=dirs, sysctl_conf=conf) == {
        TIME: 7200, INTVL: 20, PROBES: 9}
    assert boot_values([TIME], dirs=dirs, sysctl_conf=conf) == {TIME: 120}


def test_boot_sources_name_the_file_that_wins(tree):
    dirs, conf, write = tree
    write('usr', '30-x.conf', INTVL + ' = 20\n')
    late = write('run', '90-y.conf', INTVL + ' = 25\n')
    assert boot_sources([TIME, INTVL], dirs=dirs, sysctl_conf=conf) == {TIME: (7200, None), INTVL: (25, late)}


def test_render_writes_exactly_the_given_keys_in_a_fixed_order():
    body = [line for line in render({PROBES: 4, TIME: 120}).splitlines() if not line.startswith('#')]
    assert body == [TIME + ' = 120', PROBES + ' = 4']


@pytest.mark.parametrize('path', ['/etc/sysctl.conf', 'relative.conf', '/etc/sysctl.d/x.txt', '/tmp/60-keepalive.conf',
                                  '/etc/sysctl.d/sub/60.conf'])
def test_check_path_refuses_files_not_read_at_boot(path):
    with pytest.raises(SysctlConfigError, match='path must be a .conf file'):
        check_path(path)


def test_check_path_accepts_config_directories():
    check_path('/etc/sysctl.d/60-keepalive.conf')
    check_path('/run/sysctl.d/60-keepalive.conf')


def test_a_value_written_another_way_is_no_conflict(tree):
    dirs, conf, write = tree
    write('usr', '70-late.conf', TIME + ' = 0120\n' + INTVL + '=30 \n' + PROBES + ' = 5\n')
    found = conflicts(os.path.join(dirs[0], '60-keepalive.conf'), {TIME: 120, INTVL: 30, PROBES: 4}, dirs, conf)
    assert [(c['key'], c['value']) for c in found] == [(PROBES, '5')]


def test_a_file_reached_twice_through_a_link_is_reported_once(tree):
    dirs, conf, write = tree
    with open(conf, 'w') as handle:
        handle.write(TIME + ' = 7200\n')
    os.symlink(conf, os.path.join(dirs[0], '99-sysctl.conf'))  # as Debian ships it
    found = conflicts(os.path.join(dirs[0], '60-keepalive.conf'), {TIME: 120}, dirs, conf)
    assert [(os.path.basename(c['file']), c['key']) for c in found] == [('99-sysctl.conf', TIME)]


def test_hidden_files_are_never_read_at_boot_and_never_ours(tree):
    dirs, conf, write = tree
    write('etc', '.90-hidden.conf', TIME + ' = 7200\n')
    assert boot_order(dirs, conf) == [conf]
    assert conflicts(os.path.join(dirs[0], '60-keepalive.conf'), {TIME: 120}, dirs, conf) == []
    for path in ('/etc/sysctl.d/.conf', '/etc/sysctl.d/.60-keepalive.conf'):
        with pytest.raises(SysctlConfigError, match='hidden file'):
            check_path(path)


def test_previous_values_reads_only_our_keys():
    text = render({TIME: 120, PROBES: 4}) + 'kernel.x = 1\n' + INTVL + ' = soon\n'
    assert previous_values(text) == {TIME: 120, PROBES: 4}
    assert previous_values(None) == {}
