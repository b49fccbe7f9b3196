# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils import _netns, _snapshot
from ansible_collections.linuxnet.keepalive.plugins.module_utils._netns import container_from_cgroup

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
    ('', None),
])
def test_containers_from_cgroup_paths(text, expected):
    assert container_from_cgroup(text) == expected


def test_a_namespace_that_vanished_is_skipped_and_counted(monkeypatch, tmp_path):
    own = os.stat('/proc/self/ns/net').st_ino
    monkeypatch.setattr(_netns, 'find', lambda: ({own: {'path': '/proc/self/ns/net', 'pid': os.getpid()},
                                                  1: {'path': str(tmp_path / 'gone'), 'pid': None}}, []))
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
