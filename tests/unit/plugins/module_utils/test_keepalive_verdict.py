# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils._keepalive_verdict import verdict
from ansible_collections.linuxnet.keepalive.plugins.module_utils._tcp_record import STATE_CODES


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


def test_reasons_tell_the_kernel_truth():
    disabled = verdict(STATE_CODES['established'], 0)[1]
    assert 'SO_KEEPALIVE' in disabled and 'cannot turn it on' in disabled
    assert 'never show a keep-alive timer' in verdict(STATE_CODES['listen'], 0)[1]
    assert 'retransmission' in verdict(STATE_CODES['established'], 1)[1]
    assert 'zero-window' in verdict(STATE_CODES['established'], 4)[1]
