# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._keepalive_verdict import REASONS, verdict
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._tcp_record import STATE_CODES


@pytest.mark.parametrize('state,timer,expected', [
    ('established', 2, 'enabled'),
    ('established', 0, 'disabled'),
    ('established', 1, 'unknown'),
    ('established', 4, 'unknown'),
    ('close_wait', 2, 'enabled'),
    ('close_wait', 0, 'disabled'),
    ('listen', 0, 'not_applicable'),
    ('time_wait', 3, 'not_applicable'),
    ('syn_sent', 1, 'not_applicable'),
    ('syn_recv', 1, 'not_applicable'),
    ('fin_wait2', 2, 'not_applicable'),  # the orphan FIN_WAIT2 timer is not keep-alive
    ('last_ack', 1, 'not_applicable'),
])
def test_verdicts(state, timer, expected):
    assert verdict(STATE_CODES[state], timer)[0] == expected


def reason(state, timer, inbound=False):
    return REASONS[verdict(STATE_CODES[state], timer, inbound)[1]]


def test_reasons_tell_the_kernel_truth():
    disabled = reason('established', 0)
    assert 'SO_KEEPALIVE' in disabled and 'cannot turn it on' in disabled
    assert 'never show a keep-alive timer' in reason('listen', 0)
    assert 'retransmission' in reason('established', 1)
    assert 'zero-window' in reason('established', 4)


def test_accepted_connections_inherit_keepalive_from_their_listener():
    assert verdict(STATE_CODES['established'], 2, inbound=True) == ('enabled', 'inherited')
    assert 'inherited SO_KEEPALIVE from the listening socket' in reason('established', 2, inbound=True)
    assert verdict(STATE_CODES['established'], 0, inbound=True) == ('disabled', 'not_inherited')
    assert 'the listening socket that accepted this connection never set SO_KEEPALIVE' in reason('established', 0, True)
    assert verdict(STATE_CODES['established'], 2) == ('enabled', 'enabled')


def test_every_code_has_a_sentence():
    codes = set(verdict(state, timer, inbound)[1] for state in STATE_CODES.values() for timer in range(5)
                for inbound in (False, True))
    assert codes <= set(REASONS) and all(len(REASONS[code]) > 20 for code in codes)
