# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _pidfd
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._live_sockets import (
    process_sockets, select_pids, target_settings, unreachable_processes,
)

BEFORE = {'keepalive': 0, 'idle': 7200, 'interval': 75, 'count': 9, 'user_timeout': 0}


def test_target_settings_changes_only_what_is_asked():
    assert target_settings(BEFORE, {'keepalive': True, 'idle': 60}) == dict(BEFORE, keepalive=1, idle=60)
    assert target_settings(BEFORE, {'keepalive': None}) == BEFORE
    assert target_settings(dict(BEFORE, keepalive=1), {'keepalive': False}) == BEFORE


def fake_proc(tmp_path, pid, comm, cgroup):
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / 'comm').write_text(comm + '\n')
    (tmp_path / str(pid) / 'cgroup').write_text(cgroup)


def test_select_pids_by_pid_name_and_unit(tmp_path):
    fake_proc(tmp_path, 10, 'java', '0::/system.slice/app.service\n')
    fake_proc(tmp_path, 11, 'java', '0::/system.slice/batch.service\n')
    fake_proc(tmp_path, 12, 'curl', '0::/system.slice/app.service\n')
    fake_proc(tmp_path, 13, 'sshd', '0::/system.slice/ssh.service\n')
    assert select_pids(names=['java'], proc=str(tmp_path)) == ([10, 11], [])
    assert select_pids(units=['app'], proc=str(tmp_path)) == ([10, 12], [])
    assert select_pids(pids=[13, 99], units=['nope.service'], proc=str(tmp_path)) == (
        [13], ['pid 99: no such process', 'unit nope.service: no process in it'])


@pytest.mark.parametrize('code,words', [
    (errno.ESRCH, 'has exited'),
    (errno.ENOSYS, 'Linux 5.6 or later'),
    (errno.EPERM, 'ptrace'),
    (errno.EBADF, 'was closed'),
])
def test_pidfd_errors_read_as_reasons(code, words):
    assert words in _pidfd._explain(OSError(code, 'x'), 42, 'pidfd_getfd').reason


class _Owners:
    def __init__(self, unreadable_pids=()):
        self.unreadable_pids = list(unreadable_pids)
        self.unreadable = len(self.unreadable_pids)

    @staticmethod
    def fds_of(inode):
        return []


def test_a_socket_whose_holder_could_not_be_read_says_so():
    (result,) = process_sockets([{'inode': 5}], _Owners([10, 11]), {}, inspect=True)
    assert result['status'] == 'failed'
    assert 'the descriptors of 2 process(es) could not be read' in result['reason']
    (result,) = process_sockets([{'inode': 5}], _Owners(), {}, inspect=True)
    assert result['reason'] == 'no selected process holds this socket any more'


def test_processes_out_of_reach_are_named(tmp_path):
    for pid in ('self', '20', '30', '40'):
        (tmp_path / pid / 'ns').mkdir(parents=True)
    (tmp_path / 'self' / 'ns' / 'net').write_text('')
    (tmp_path / '30' / 'ns' / 'net').write_text('')  # another inode: another namespace
    os.link(str(tmp_path / 'self' / 'ns' / 'net'), str(tmp_path / '20' / 'ns' / 'net'))  # the same namespace
    found = unreachable_processes([20, 30, 40], _Owners([40]), proc=str(tmp_path))
    assert [(pid, kind) for pid, kind, _reason in found] == [(30, 'other_namespace'), (40, 'unreadable')]
    assert 'process 30 is in another network namespace' in found[0][2]
    assert 'cannot be read' in found[1][2]


def test_a_thread_id_is_not_a_process(tmp_path):
    (tmp_path / '101').mkdir()
    (tmp_path / '101' / 'status').write_text('Name:\tworker\nTgid:\t100\nPid:\t101\n')
    (tmp_path / '100').mkdir()
    (tmp_path / '100' / 'status').write_text('Name:\tmain\nTgid:\t100\nPid:\t100\n')
    assert select_pids([100, 101], proc=str(tmp_path)) == (
        [100], ['pid 101: a thread of process 100, not a process; give pid 100'])
