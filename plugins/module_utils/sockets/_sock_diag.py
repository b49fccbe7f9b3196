# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TCP sockets from the kernel's netlink sock_diag interface (what `ss` uses).

A SOCK_DIAG_BY_FAMILY dump request (struct inet_diag_req_v2) per address family returns one
struct inet_diag_msg per socket (linux/inet_diag.h). The timer codes are the ones /proc/net/tcp
uses; ``idiag_expires`` is in milliseconds; ``idiag_retrans`` holds probes for the keep-alive and
zero-window-probe timers and retransmits otherwise. Records are yielded straight from the receive
buffer in the layout described in _tcp_record.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket
import struct

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
IPPROTO_TCP = 6
ALL_STATES = 0xffffffff & ~(1 << 12)  # every state but NEW_SYN_RECV, which the kernel shows as SYN_RECV

# nlmsghdr (16 bytes) followed by struct inet_diag_msg (72 bytes): family, state, timer, retrans,
# sockid {sport, dport, src[16], dst[16], if, cookie[2]}, expires, rqueue, wqueue, uid, inode.
MESSAGE = struct.Struct('=IH10xBBBBHH16s16s12xIIIII')
_HEADER = struct.Struct('=IH')
_ERROR = struct.Struct('=i')
_REQUEST = struct.Struct('=IHHII' + 'BBBxI' + '48x')
_BUFFER_SIZE = 1 << 16


class SockDiagUnavailable(Exception):
    """The kernel does not offer (or refuses) the sock_diag dump."""


def dump(family, states=ALL_STATES, seq=1):
    """Yield a record for every TCP socket of ``family`` in ``states`` (a bit mask of 1 << state).

    Raises SockDiagUnavailable when the netlink socket cannot be opened or the request is refused
    before any socket was reported.
    """
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    except (OSError, AttributeError, ValueError) as exc:
        raise SockDiagUnavailable('cannot open a NETLINK_SOCK_DIAG socket: %s' % exc)
    try:
        request = _REQUEST.pack(_REQUEST.size, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0,
                                family, IPPROTO_TCP, 0, states)
        try:
            sock.send(request)
        except OSError as exc:
            raise SockDiagUnavailable('sock_diag request refused: %s' % exc)
        buf = bytearray(_BUFFER_SIZE)
        unpack_from = MESSAGE.unpack_from
        header_from = _HEADER.unpack_from
        body = MESSAGE.size
        while True:
            size = sock.recv_into(buf)
            if size == 0:
                return
            offset = 0
            while offset < size:
                length, kind = header_from(buf, offset)
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    code = -_ERROR.unpack_from(buf, offset + 16)[0]
                    if code in (errno.ENOENT, errno.EAFNOSUPPORT):
                        return  # this family is not built into the kernel: no sockets
                    raise SockDiagUnavailable('sock_diag dump failed: %s' % os.strerror(code))
                if kind == SOCK_DIAG_BY_FAMILY and length >= body:
                    yield unpack_from(buf, offset)
                if length < 16:
                    raise SockDiagUnavailable('sock_diag returned a malformed message')
                offset += (length + 3) & ~3
    finally:
        sock.close()


def probe():
    """True when this kernel answers a sock_diag TCP dump (checked with a LISTEN-only request)."""
    try:
        for _record in dump(socket.AF_INET, states=1 << 10):
            break
        return True
    except SockDiagUnavailable:
        return False
