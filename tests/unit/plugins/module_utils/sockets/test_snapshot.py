# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _snapshot
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._gather import GatherError
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._live_sockets import add_settings
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._socket_owners import SocketOwners

LO = socket.inet_pton(socket.AF_INET, '127.0.0.1') + b'\0' * 12


def rec(state, timer, lport, rport, inode):
    return (0, 0, socket.AF_INET, state, timer, 0, socket.htons(lport), socket.htons(rport), LO, LO, 0, 0, 0, 0, inode)


TABLE = [rec(10, 0, 8080, 0, 1), rec(1, 0, 50000, 8080, 2), rec(1, 0, 50001, 8080, 3)]


class Owners:
    """Records how snapshot() scanned: with or without descriptors, and which pids."""
    made = []

    def __init__(self, with_fds=False, first_fd=False):
        self.with_fds = with_fds
        self.fds = {} if with_fds else None
        self.first_fd = {} if first_fd else None
        self.by_inode = {}
        self.unreadable_pids = []
        self.unreadable = 0
        self.scanned = None
        Owners.made.append(self)

    def scan(self, pids=None):
        self.scanned = pids
        self.by_inode = {2: 77} if pids else {2: 77, 3: 88}
        if self.fds is not None:
            self.fds = {2: [(77, 5)]} if pids else {2: [(77, 5)], 3: [(88, 6)]}
        return self

    def pids(self, inode):
        held = self.by_inode.get(inode)
        return [held] if held else []

    def fds_of(self, inode):
        return sorted((self.fds or {}).get(inode, []))

    @staticmethod
    def process(pid):
        return ('app%d' % pid, None)

    @staticmethod
    def slices(pid):
        return []

    @staticmethod
    def container(pid):
        return {'runtime': 'podman', 'id': 'c%d' % pid, 'pod_uid': None} if pid == 88 else None


@pytest.fixture
def fake(monkeypatch):
    Owners.made = []
    monkeypatch.setattr(_snapshot, 'SocketOwners', Owners)
    monkeypatch.setattr(_snapshot, 'open_records', lambda source: (iter(TABLE), 'netlink', None))
    read = []
    monkeypatch.setattr(_snapshot, 'add_settings', lambda connections, owners: read.append((connections, owners)))
    return read


def test_facts_without_inspect_scan_without_descriptors(fake):
    found = _snapshot.snapshot()
    assert not Owners.made[0].with_fds and Owners.made[0].scanned is None
    assert [c['inode'] for c in found.connections] == [1, 2, 3] and found.source == 'netlink'
    assert [c['container'] for c in found.connections] == [None, None, {'runtime': 'podman', 'id': 'c88', 'pod_uid': None}]
    assert len(set(c['netns'] for c in found.connections)) == 1
    assert fake == []


def test_inspect_scans_with_descriptors_and_reads_settings(fake):
    found = _snapshot.snapshot(inspect=True, only_missing=True)
    assert Owners.made[0].with_fds
    assert fake == [(found.connections, found.owners)] and [c['inode'] for c in found.connections] == [2, 3]


def test_pids_limit_the_scan_and_the_sockets_and_keep_descriptors(fake):
    found = _snapshot.snapshot(pids=[77], directions=['outbound'])
    assert Owners.made[0].with_fds and Owners.made[0].scanned == [77]
    assert [c['inode'] for c in found.connections] == [2] and found.owners.fds_of(2) == [(77, 5)]


@pytest.mark.parametrize('arguments,needs', [({'inspect': True}, 'inspect'), ({'processes': ['x']}, 'processes'),
                                             ({'pids': [1]}, 'pids')])
def test_what_needs_owners_says_so(fake, arguments, needs):
    with pytest.raises(GatherError, match='%s needs owners: true' % needs):
        _snapshot.snapshot(owners=False, **arguments)


def test_settings_cannot_be_read_through_owners_scanned_without_descriptors():
    with pytest.raises(ValueError, match='with_fds'):
        add_settings([{'inode': 1}], SocketOwners(proc='/nonexistent'))
