# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._gather import (
    GatherError, gather, read_defaults,
)

LO = socket.inet_pton(socket.AF_INET, '127.0.0.1') + b'\0' * 12
ANY = b'\0' * 16


def rec(state, timer, lport, rport, inode, expires_ms=0, laddr=LO, raddr=LO, family=socket.AF_INET):
    return (0, 0, family, state, timer, 0, socket.htons(lport), socket.htons(rport), laddr, raddr,
            expires_ms, 0, 0, 0, inode)


LISTENER = rec(10, 0, 8080, 0, 1, raddr=ANY)
TABLE = [
    LISTENER,
    rec(1, 0, 8080, 50000, 2),             # inbound, no keep-alive
    rec(1, 0, 50000, 8080, 3),             # outbound, no keep-alive
    rec(1, 2, 50002, 8080, 4, 59000),      # outbound with keep-alive
    rec(1, 1, 50004, 443, 5, 200),         # outbound, retransmit pending: unknown
    rec(6, 3, 50006, 8080, 0, 60000),      # time_wait
    rec(1, 0, 50008, 5432, 6),             # outbound, no keep-alive, other process
]


class FakeOwners:
    def __init__(self, by_inode, processes):
        self.by_inode = by_inode
        self._processes = processes

    def pids(self, inode):
        held = self.by_inode.get(inode)
        return [] if held is None else [held] if isinstance(held, int) else sorted(held)

    def process(self, pid):
        return self._processes.get(pid, (None, None))

    def slices(self, pid):
        return ['system.slice'] if self.process(pid)[1] else []


OWNERS = FakeOwners({1: 100, 2: 100, 3: 200, 4: 200, 5: 200, 6: (300, 301)},
                    {100: ('nginx', 'nginx.service'), 200: ('python3', 'app.service'),
                     300: ('psql', None), 301: ('psql', None)})


def test_directions_verdicts_and_summary():
    connections, summary = gather(iter(TABLE), owners=OWNERS)
    got = dict((c['inode'] or 'tw', (c['direction'], c['keepalive'], c['timer'])) for c in connections)
    assert got == {
        1: ('listen', 'not_applicable', 'off'), 2: ('inbound', 'disabled', 'off'),
        3: ('outbound', 'disabled', 'off'), 4: ('outbound', 'enabled', 'keepalive'),
        5: ('outbound', 'unknown', 'on'), 'tw': ('outbound', 'not_applicable', 'timewait'),
        6: ('outbound', 'disabled', 'off'),
    }
    assert summary['total'] == 7
    assert summary['by_direction'] == {'inbound': 1, 'outbound': 5, 'listen': 1}
    assert summary['by_verdict'] == {'enabled': 1, 'disabled': 3, 'unknown': 1, 'not_applicable': 2}
    assert summary['outbound_without_keepalive'] == 2
    assert summary['culprits'] == [
        {'process': 'psql', 'unit': None, 'slices': [], 'pids': [300, 301], 'connections': 1},
        {'process': 'python3', 'unit': 'app.service', 'slices': ['system.slice'], 'pids': [200], 'connections': 1},
    ]
    keepalive = [c for c in connections if c['inode'] == 4][0]
    assert keepalive['timer_expires'] == 59
    assert (keepalive['local_address'], keepalive['local_port'], keepalive['remote_port']) == ('127.0.0.1', 50002, 8080)
    assert keepalive['pids'] == [200] and keepalive['unit'] == 'app.service'


def test_limit_counts_what_was_left_out():
    connections, summary = gather(iter(TABLE), owners=None, limit=2)
    assert len(connections) == 2 and summary['left_out'] == 5 and summary['total'] == 7
    assert 'pids' not in connections[0]
    assert summary['culprits'] == []


@pytest.mark.parametrize('options,inodes', [
    ({'only_missing': True}, [2, 3, 6]),
    ({'directions': ['outbound'], 'states': ['established']}, [3, 4, 5, 6]),
    ({'ports': [5432]}, [6]),
    ({'processes': ['nginx']}, [1, 2]),
    ({'states': ['listen']}, [1]),
])
def test_filters(options, inodes):
    connections, summary = gather(iter(TABLE), owners=OWNERS, **options)
    assert [c['inode'] for c in connections] == inodes
    assert summary['total'] == 7 and summary['matched'] == len(inodes)


def test_processes_filter_needs_owners():
    with pytest.raises(GatherError, match='owners: true'):
        gather(iter(TABLE), owners=None, processes=['nginx'])


def test_read_defaults(tmp_path):
    (tmp_path / 'net' / 'ipv4').mkdir(parents=True)
    for key, value in (('time', '120'), ('intvl', '30'), ('probes', '4')):
        (tmp_path / 'net' / 'ipv4' / ('tcp_keepalive_' + key)).write_text(value + '\n')
    assert read_defaults(str(tmp_path)) == {'time': 120, 'intvl': 30, 'probes': 4}
    (tmp_path / 'net' / 'ipv4' / 'tcp_keepalive_probes').write_text('x\n')
    with pytest.raises(GatherError, match='tcp_keepalive_probes'):
        read_defaults(str(tmp_path))
