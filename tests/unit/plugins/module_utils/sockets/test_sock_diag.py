# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import socket
import struct

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _sock_diag

DIAG = struct.Struct('=IHHII' + 'BBBBHH16s16sI8sIIIII')


def message(state, timer, sport, inode, expires=0, retrans=0, extra=b''):
    src = socket.inet_pton(socket.AF_INET, '127.0.0.1') + b'\0' * 12
    body = DIAG.pack(DIAG.size + len(extra), _sock_diag.SOCK_DIAG_BY_FAMILY, 2, 1, 0,
                     socket.AF_INET, state, timer, retrans, socket.htons(sport), socket.htons(80),
                     src, src, 0, b'\0' * 8, expires, 0, 0, 1000, inode)
    return body + extra


def control(kind, code=0):
    return struct.pack('=IHHIIi', 20, kind, 0, 1, 0, code)


class FakeNetlink:
    """Plays back datagrams as the kernel would hand them to recv_into()."""

    def __init__(self, datagrams):
        self.datagrams = list(datagrams)
        self.sent = []
        self.closed = False

    def send(self, data):
        self.sent.append(data)

    def recv_into(self, buf):
        data = self.datagrams.pop(0) if self.datagrams else b''
        buf[:len(data)] = data
        return len(data)

    def close(self):
        self.closed = True


@pytest.fixture
def kernel(monkeypatch):
    holder = {}

    def factory(datagrams):
        fake = FakeNetlink(datagrams)
        holder['socket'] = fake
        monkeypatch.setattr(_sock_diag.socket, 'socket', lambda *args: fake)
        return fake
    return factory


def test_layout_matches_the_kernel_structs():
    assert _sock_diag.MESSAGE.size == 16 + 72
    assert struct.calcsize('=IHHII' + 'BBBxI' + '48x') == 16 + 56


def test_dump_decodes_messages_across_datagrams(kernel):
    # attributes after the message (8 bytes here) are skipped by nlmsg_len
    fake = kernel([message(1, 2, 40000, 11, expires=59000, retrans=1, extra=b'\x08\0\x08\0\0\0\0\0')
                   + message(10, 0, 80, 12),
                   message(1, 0, 40002, 13) + control(_sock_diag.NLMSG_DONE)])
    records = list(_sock_diag.dump(socket.AF_INET))
    assert [(r[3], r[4], socket.ntohs(r[6]), r[14]) for r in records] == [(1, 2, 40000, 11), (10, 0, 80, 12), (1, 0, 40002, 13)]
    assert (records[0][5], records[0][10], records[0][13]) == (1, 59000, 1000)
    assert fake.closed
    request = fake.sent[0]
    assert struct.unpack_from('=IHH', request) == (72, 20, 0x301)
    assert struct.unpack_from('=BB', request, 16) == (socket.AF_INET, 6)


def test_missing_family_is_empty(kernel):
    kernel([control(_sock_diag.NLMSG_ERROR, -errno.ENOENT)])
    assert list(_sock_diag.dump(socket.AF_INET6)) == []


def test_refused_dump_raises(kernel):
    kernel([control(_sock_diag.NLMSG_ERROR, -errno.EPERM)])
    with pytest.raises(_sock_diag.SockDiagUnavailable, match='not permitted'):
        list(_sock_diag.dump(socket.AF_INET))
