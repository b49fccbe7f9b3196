# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils import _pidfd
from ansible_collections.linuxnet.keepalive.plugins.module_utils._live_sockets import (
    select_pids, target_settings, validate,
)

BEFORE = {'keepalive': 0, 'idle': 7200, 'interval': 75, 'count': 9, 'user_timeout': 0}


def test_validate_names_every_problem():
    validate({'keepalive': True, 'idle': 60, 'interval': 10, 'count': 4, 'user_timeout': 0})
    with pytest.raises(ValueError) as err:
        validate({'idle': 0, 'interval': 40000, 'count': 128, 'user_timeout': -1})
    for text in ('idle must be an integer from 1 to 32767 seconds, not 0',
                 'interval must be an integer from 1 to 32767 seconds, not 40000',
                 'count must be an integer from 1 to 127, not 128',
                 'user_timeout must be an integer from 0 to 2147483647 milliseconds, not -1'):
        assert text in str(err.value)


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
