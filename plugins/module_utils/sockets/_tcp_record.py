# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One TCP socket as the kernel reports it, in a shape shared by every source.

Both readers (/proc/net/tcp* and netlink sock_diag) yield plain tuples laid out like the netlink
message they come from, so that the fast path can hand the kernel's bytes on without copying:

    (nlmsg_len, nlmsg_type, family, state, timer, retrans, sport, dport, src, dst,
     expires_ms, rqueue, wqueue, uid, inode)

``sport``/``dport`` are the port's two bytes in network order read as a native unsigned short
(``socket.ntohs`` gives the number); ``src``/``dst`` are 16 bytes in network order (an IPv4
address uses the first four); ``expires_ms`` is the time until the pending timer fires.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

# Field positions in a record.
FAMILY, STATE, TIMER, RETRANS, SPORT, DPORT, SRC, DST, EXPIRES, UID, INODE = 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14

# include/net/tcp_states.h, named as netstat and the kernel name them (lower case).
STATE_NAMES = {
    1: 'established', 2: 'syn_sent', 3: 'syn_recv', 4: 'fin_wait1', 5: 'fin_wait2', 6: 'time_wait',
    7: 'close', 8: 'close_wait', 9: 'last_ack', 10: 'listen', 11: 'closing', 12: 'new_syn_recv',
}
STATE_CODES = dict((name, code) for code, name in STATE_NAMES.items())
ESTABLISHED, TIME_WAIT, CLOSE_WAIT, LISTEN = 1, 6, 8, 10

# The timer codes of /proc/net/tcp and sock_diag, named as `ss -o` names them.
TIMER_NAMES = {0: 'off', 1: 'on', 2: 'keepalive', 3: 'timewait', 4: 'persist'}
TIMER_OFF, TIMER_ON, TIMER_KEEPALIVE, TIMER_TIMEWAIT, TIMER_PERSIST = 0, 1, 2, 3, 4

FAMILY_NAMES = {socket.AF_INET: 'inet', socket.AF_INET6: 'inet6'}

ntohs = socket.ntohs


_ADDRESS_TEXT = {}


def format_address(family, raw):
    """Usual text for a 16-byte network-order address: '127.0.0.1', '::1', '::ffff:10.0.0.1'."""
    text = _ADDRESS_TEXT.get((family, raw))
    if text is None:
        if family == socket.AF_INET:
            text = socket.inet_ntop(socket.AF_INET, raw[:4])
        else:
            text = socket.inet_ntop(socket.AF_INET6, raw)
        if len(_ADDRESS_TEXT) < 4096:
            _ADDRESS_TEXT[(family, raw)] = text
    return text
