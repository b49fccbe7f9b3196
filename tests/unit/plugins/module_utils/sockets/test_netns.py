# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _netns, _snapshot
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._netns import container_from_cgroup

ID = 'a' * 64


@pytest.mark.parametrize('text,expected', [
    ('0::/machine.slice/libpod-%s.scope/container\n' % ID, {'runtime': 'podman', 'id': ID, 'pod_uid': None}),
    ('0::/machine.slice/libpod-conmon-%s.scope\n' % ID, None),
    ('0::/system.slice/docker-%s.scope\n' % ID, {'runtime': 'docker', 'id': ID, 'pod_uid': None}),
    ('12:pids:/docker/%s\n' % ID, {'runtime': 'docker', 'id': ID, 'pod_uid': None}),
    ('0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_1111_2222_333344445555.slice/'
     'cri-containerd-%s.scope\n' % ID,
     {'runtime': 'containerd', 'id': ID, 'pod_uid': '1b2c3d4e-0000-1111-2222-333344445555'}),
    ('0::/kubepods.slice/kubepods-pod1b2c3d4e_0000_1111_2222_333344445555.slice/crio-%s.scope\n' % ID,
     {'runtime': 'cri-o', 'id': ID, 'pod_uid': '1b2c3d4e-0000-1111-2222-333344445555'}),
    ('0::/system.slice/nginx.service\n', None),
    # a user's delegated subtree may name its groups anything: no container is taken from there
    ('0::/user.slice/user-65534.slice/user@65534.service/docker-%s.scope\n' % ID, None),
    ('0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-%s.scope\n' % ID, None),
    ('0::/system.slice/app.service/docker-%s.scope\n' % ID, None),
    # a container's own groups below the runtime's: the outermost, the runtime's, is the container
    ('0::/system.slice/docker-%s.scope/docker-%s.scope\n' % (ID, 'b' * 64), {'runtime': 'docker', 'id': ID, 'pod_uid': None}),
    ('0::/docker/%s/docker-%s.scope\n' % (ID, 'b' * 64), {'runtime': 'docker', 'id': ID, 'pod_uid': None}),
    ('0::/libpod_parent/libpod-%s\n' % ID, {'runtime': 'podman', 'id': ID, 'pod_uid': None}),
    ('', None),
])
def test_containers_from_cgroup_paths(text, expected):
    assert container_from_cgroup(text) == expected


def entry(path, pid):
    return {'path': path, 'pid': pid, 'paths': [(path, pid)]}


def test_a_namespace_that_vanished_is_skipped_and_counted(monkeypatch, tmp_path):
    own = os.stat('/proc/self/ns/net').st_ino
    monkeypatch.setattr(_netns, 'find', lambda: ({own: entry('/proc/self/ns/net', os.getpid()),
                                                  1: entry(str(tmp_path / 'gone'), None)}, []))
    monkeypatch.setattr(_snapshot, 'open_records', lambda source: (iter([]), 'netlink', None))
    found = _snapshot.snapshot(owners=False, namespaces='all')
    assert found.vanished == 1 and [entry['netns'] for entry in found.namespaces] == [own]
    assert found.summary['total'] == 0 and found.refused == []


def test_we_are_back_home_after_an_error_inside():
    home = os.stat('/proc/thread-self/ns/net').st_ino
    with pytest.raises(RuntimeError):
        with _netns.entered('/proc/self/ns/net'):
            raise RuntimeError('inside')
    assert os.stat('/proc/thread-self/ns/net').st_ino == home
    with pytest.raises(_netns.NamespaceError) as err:
        with _netns.entered('/nonexistent/ns'):
            pass
    assert err.value.vanished


def fake_task(proc, pid, tid, namespace):
    """/proc/PID/task/TID/ns/net as a hard link to a file standing for ``namespace`` (same inode, same namespace)."""
    folder = proc / str(pid) / 'task' / str(tid) / 'ns'
    folder.mkdir(parents=True)
    os.link(str(proc / 'ns' / namespace), str(folder / 'net'))
    if pid == tid:
        (proc / str(pid) / 'ns').mkdir()
        os.link(str(proc / 'ns' / namespace), str(proc / str(pid) / 'ns' / 'net'))


def test_a_namespace_only_a_thread_is_in_is_found(tmp_path):
    (tmp_path / 'ns').mkdir()
    for name in ('host', 'mine'):
        (tmp_path / 'ns' / name).write_text(name)
    fake_task(tmp_path, 10, 10, 'host')
    fake_task(tmp_path, 10, 11, 'mine')  # a thread that unshared its network namespace alone
    fake_task(tmp_path, 20, 20, 'host')
    found, unreadable = _netns.find(proc=str(tmp_path), named_dirs=())
    by_name = dict(((tmp_path / 'ns' / name).stat().st_ino, name) for name in ('host', 'mine'))
    assert sorted(by_name[inode] for inode in found) == ['host', 'mine'] and unreadable == []
    mine = found[(tmp_path / 'ns' / 'mine').stat().st_ino]
    assert mine['pid'] == 10 and mine['path'] == '%s/10/task/11/ns/net' % tmp_path
    host = found[(tmp_path / 'ns' / 'host').stat().st_ino]
    assert host['paths'] == [('%s/10/ns/net' % tmp_path, 10), ('%s/20/ns/net' % tmp_path, 20)]


def test_a_path_that_leads_to_another_namespace_is_not_entered():
    home = os.stat('/proc/thread-self/ns/net').st_ino
    with pytest.raises(_netns.NamespaceError) as err:
        with _netns.entered('/proc/self/ns/net', inode=home + 1):
            raise AssertionError('entered a namespace that is not the one found')
    assert err.value.changed == home and not err.value.vanished
    assert os.stat('/proc/thread-self/ns/net').st_ino == home


def test_a_namespace_that_changed_is_named_and_the_one_found_there_is_read_once(monkeypatch):
    own = os.stat('/proc/self/ns/net').st_ino
    # the process recorded in namespace 1 is in ours by the time it is entered; ours is found through it too
    monkeypatch.setattr(_netns, 'find', lambda: ({1: entry('/proc/self/ns/net', os.getpid())}, []))
    monkeypatch.setattr(_snapshot, 'open_records', lambda source: (iter([]), 'netlink', None))
    found = _snapshot.snapshot(owners=False, namespaces='all')
    assert [e['netns'] for e in found.namespaces] == [own] and found.vanished == 0
    assert len(found.changed) == 1 and 'network namespace 1 changed while it was being read' in found.changed[0]
    assert found.not_read() == {'namespaces': 1, 'connections': 0}
