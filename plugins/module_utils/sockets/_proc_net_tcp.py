# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decode /proc/net/tcp and /proc/net/tcp6 into records (see _tcp_record).

A line reads (include/net/tcp.h, net/ipv4/tcp_ipv4.c get_tcp4_sock):

    sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...

Addresses are 32-bit words printed in host byte order, ports big-endian hex, ``tm->when`` is in
USER_HZ ticks, ``retrnsmt`` counts retransmits and ``timeout`` counts probes sent (the value that
sock_diag and `ss` report for the keep-alive and zero-window-probe timers).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import sys

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._tcp_record import TIMER_KEEPALIVE, TIMER_PERSIST

PROC_FILES = ((socket.AF_INET, '/proc/net/tcp'), (socket.AF_INET6, '/proc/net/tcp6'))
_LITTLE = sys.byteorder == 'little'
_ZERO12 = b'\0' * 12


_DECODED = {}


def _address(hexwords):
    """'0100007F' -> b'\\x7f\\x00\\x00\\x01' + 12 zero bytes; 32 hex digits -> 16 bytes.

    A host has few distinct addresses, so decoded ones are remembered (up to 65536 of them).
    """
    raw = _DECODED.get(hexwords)
    if raw is None:
        raw = _decode_address(hexwords)
        if len(_DECODED) < 65536:
            _DECODED[hexwords] = raw
    return raw


def _decode_address(hexwords):
    raw = bytes.fromhex(hexwords.decode('ascii') if isinstance(hexwords, bytes) else hexwords)
    if _LITTLE:
        raw = b''.join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) == 4:
        return raw + _ZERO12
    if len(raw) != 16:
        raise ValueError('address of %d bytes' % len(raw))
    return raw


def parse_line(family, line, ticks_per_second):
    """One /proc/net/tcp* line (bytes) to a record. Raises ValueError on a malformed line."""
    if not isinstance(line, bytes):
        line = line.encode('ascii')
    fields = line.split()
    if len(fields) < 10:
        raise ValueError('%d fields, expected at least 10' % len(fields))
    lhex, lport = fields[1].split(b':')
    rhex, rport = fields[2].split(b':')
    timer, when = fields[5].split(b':')
    timer, state = int(timer, 16), int(fields[3], 16)
    if timer > 15 or not 0 < state < 16:
        raise ValueError('state %d or timer %d out of range' % (state, timer))
    lport, rport = int(lport, 16), int(rport, 16)
    if lport > 0xffff or rport > 0xffff:
        raise ValueError('port %d or %d out of range' % (lport, rport))
    retrans = int(fields[8]) if timer in (TIMER_KEEPALIVE, TIMER_PERSIST) else int(fields[6], 16)
    ticks = int(when, 16)
    if ticks >= 1 << 63:  # a negative clock_t printed as unsigned: the timer is already due
        ticks = 0
    return (
        0, 0, family, state, timer, retrans,
        socket.htons(lport), socket.htons(rport),
        _address(lhex), _address(rhex),
        ticks * 1000 // ticks_per_second if timer else 0, 0, 0, int(fields[7]), int(fields[9]),
    )


class ProcNetTcp:
    """Read /proc/net/tcp and /proc/net/tcp6, line by line, without holding the whole table.

    ``records()`` yields records; a line that cannot be decoded is skipped and counted in
    ``malformed`` (with a few samples in ``malformed_samples``) instead of failing the read.
    """

    def __init__(self, files=PROC_FILES, ticks_per_second=None):
        self.files = files
        self.ticks_per_second = ticks_per_second or os.sysconf('SC_CLK_TCK')
        self.malformed = 0
        self.malformed_samples = []
        self.missing = []

    def records(self):
        hz = self.ticks_per_second
        for family, path in self.files:
            try:
                handle = open(path, 'rb')
            except (IOError, OSError):
                # No IPv6 in this kernel, or no /proc: nothing to read from this file.
                self.missing.append(path)
                continue
            with handle:
                handle.readline()  # the header
                for line in handle:
                    try:
                        yield parse_line(family, line, hz)
                    except (ValueError, IndexError, OverflowError) as exc:
                        self.malformed += 1
                        if len(self.malformed_samples) < 3:
                            self.malformed_samples.append('%s: %s (%r)' % (path, exc, line[:60]))
