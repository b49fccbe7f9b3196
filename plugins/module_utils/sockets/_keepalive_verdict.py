# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a socket's state and pending timer say about its keep-alive, and why.

The kernel does not report the SO_KEEPALIVE flag itself, only the one timer that is pending.
An established (or close-wait) socket with SO_KEEPALIVE always has its keep-alive timer armed
unless a retransmission or zero-window probe timer is pending, which then shows instead.
So: timer 2 there means enabled, no timer means the program never set SO_KEEPALIVE, and timers
1 and 4 hide the answer. In other states keep-alive does not apply: listeners never show a
timer (the sockets they accept inherit the flag), and in FIN_WAIT2 timer 2 is the orphan timer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._tcp_record import (
    CLOSE_WAIT, ESTABLISHED, LISTEN, STATE_NAMES, TIME_WAIT,
    TIMER_KEEPALIVE, TIMER_OFF, TIMER_ON, TIMER_PERSIST,
)

ENABLED, DISABLED, UNKNOWN, NOT_APPLICABLE = 'enabled', 'disabled', 'unknown', 'not_applicable'
VERDICTS = (ENABLED, DISABLED, UNKNOWN, NOT_APPLICABLE)

# Each connection carries one of these codes as its ``reason``; the sentences are returned once, as a legend.
REASONS = {
    'enabled': 'keep-alive timer armed: the program set SO_KEEPALIVE on this socket',
    'inherited': ('keep-alive timer armed: this accepted connection inherited SO_KEEPALIVE from the listening '
                  'socket that accepted it'),
    'disabled': ('no keep-alive timer: the program never set SO_KEEPALIVE on this socket; the '
                 'net.ipv4.tcp_keepalive_* sysctls are only defaults for sockets that set it and '
                 'cannot turn it on'),
    'not_inherited': ('no keep-alive timer: the listening socket that accepted this connection never set '
                      'SO_KEEPALIVE (accepted connections inherit it), and the program did not set it since; the '
                      'sysctls cannot turn it on'),
    'retransmit': ('a retransmission timer is pending and hides any keep-alive timer; '
                   'look again once the data is acknowledged'),
    'persist': ('a zero-window probe timer is pending (the peer is not reading) and hides any '
                'keep-alive timer; look again later'),
    'other_timer': 'an unexpected timer is pending and hides any keep-alive timer',
    'listen': ('listening sockets never show a keep-alive timer; the connections they accept '
               'inherit SO_KEEPALIVE and show it'),
    'time_wait': 'the connection is closed; only its TIME_WAIT timer remains',
    'handshake': 'the handshake is not complete; keep-alive applies once the connection is established',
    'closing': 'the connection is closing; keep-alive no longer applies',
}


def verdict(state, timer, inbound=False):
    """(verdict, reason code) for a socket's state code and timer code; REASONS[code] says it in a sentence.

    ``inbound``: the connection was accepted from a local listener, whose SO_KEEPALIVE it inherits.
    """
    if state in (ESTABLISHED, CLOSE_WAIT):
        if timer == TIMER_KEEPALIVE:
            return ENABLED, 'inherited' if inbound else 'enabled'
        if timer == TIMER_OFF:
            return DISABLED, 'not_inherited' if inbound else 'disabled'
        if timer == TIMER_ON:
            return UNKNOWN, 'retransmit'
        if timer == TIMER_PERSIST:
            return UNKNOWN, 'persist'
        return UNKNOWN, 'other_timer'
    if state == LISTEN:
        return NOT_APPLICABLE, 'listen'
    if state == TIME_WAIT:
        return NOT_APPLICABLE, 'time_wait'
    if STATE_NAMES.get(state) in ('syn_sent', 'syn_recv', 'new_syn_recv'):
        return NOT_APPLICABLE, 'handshake'
    return NOT_APPLICABLE, 'closing'
