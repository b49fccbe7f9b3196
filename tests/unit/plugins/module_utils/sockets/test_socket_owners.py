# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._socket_owners import SocketOwners
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import slices_from_cgroup, unit_from_cgroup


def fake_process(proc, pid, comm, cgroup, links):
    base = proc / str(pid)
    (base / 'fd').mkdir(parents=True)
    (base / 'comm').write_text(comm + '\n')
    (base / 'cgroup').write_text(cgroup)
    for fd, target in links.items():
        os.symlink(target, str(base / 'fd' / str(fd)))


@pytest.mark.parametrize('text,unit', [
    ('0::/system.slice/nginx.service\n', 'nginx.service'),
    ('0::/init.scope\n', 'init.scope'),
    # below user@UID.service the user names the groups: such processes are that user's units
    ('0::/user.slice/user-1000.slice/user@1000.service/app.slice/worker.service\n', 'user@1000.service'),
    ('0::/user.slice/user-65534.slice/user@65534.service/backup.service\n', 'user@65534.service'),
    # a delegated service's own subgroups are not units of the host's systemd
    ('0::/system.slice/runner.service/payload/sshd.service\n', 'runner.service'),
    # systemd rooted below a container runtime's group (a container with the host's cgroup namespace)
    ('0::/libpod_parent/libpod-abc/system.slice/app.service\n', 'app.service'),
    ('12:pids:/x\n1:name=systemd:/system.slice/cron.service\n', 'cron.service'),
    ('0::/\n', None),
    ('', None),
])
def test_unit_from_cgroup(text, unit):
    assert unit_from_cgroup(text) == unit


@pytest.mark.parametrize('text,slices', [
    ('0::/apps.slice/worker.service\n', ['apps.slice']),
    ('0::/system.slice/system-getty.slice/getty@tty1.service\n', ['system.slice', 'system-getty.slice']),
    ('0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n', ['user.slice', 'user-1000.slice']),
    ('0::/\n', []),
])
def test_slices_of_a_unit(text, slices):
    assert slices_from_cgroup(text) == slices


def test_scan_maps_inodes_to_every_holder(tmp_path):
    fake_process(tmp_path, 10, 'nginx', '0::/system.slice/nginx.service\n',
                 {0: '/dev/null', 3: 'socket:[100]', 4: 'socket:[200]', 5: 'pipe:[9]'})
    fake_process(tmp_path, 11, 'nginx', '0::/system.slice/nginx.service\n', {3: 'socket:[100]'})
    fake_process(tmp_path, 20, 'curl', '0::/user.slice/session-1.scope\n', {7: 'socket:[300]'})
    (tmp_path / 'self').mkdir()
    owners = SocketOwners(proc=str(tmp_path)).scan()
    assert owners.pids(100) == [10, 11]
    assert owners.pids(200) == [10]
    assert owners.pids(300) == [20]
    assert owners.pids(999) == []
    assert owners.process(20) == ('curl', 'session-1.scope')
    assert owners.process(12345) == (None, None)  # exited


def test_processes_without_fd_access_are_counted(tmp_path):
    (tmp_path / '30').mkdir()  # no fd directory: vanished mid-scan
    owners = SocketOwners(proc=str(tmp_path)).scan()
    assert owners.by_inode == {} and owners.vanished == 1


def test_processes_whose_descriptors_are_refused_are_named(tmp_path, monkeypatch):
    fake_process(tmp_path, 40, 'sshd', '0::/system.slice/ssh.service\n', {3: 'socket:[400]'})
    fake_process(tmp_path, 41, 'curl', '0::/\n', {3: 'socket:[401]'})
    real_open = os.open

    def refusing(path, *args, **kwargs):
        if str(path).endswith('/40/fd'):
            raise OSError(13, 'Permission denied')
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(os, 'open', refusing)
    owners = SocketOwners(proc=str(tmp_path)).scan()
    assert owners.unreadable == 1 and owners.unreadable_pids == [40]
    assert owners.pids(400) == [] and owners.pids(401) == [41]
