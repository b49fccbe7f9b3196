# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record every socket source shares: names as `ss` shows them, and addresses as people write them."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _tcp_record


@pytest.mark.parametrize('family,text', [
    (socket.AF_INET, '127.0.0.1'),
    (socket.AF_INET, '10.20.30.40'),
    (socket.AF_INET6, '::1'),
    (socket.AF_INET6, '2001:db8::5'),
    (socket.AF_INET6, '::ffff:10.0.0.1'),
])
def test_addresses_read_as_people_write_them(family, text):
    raw = socket.inet_pton(family, text)
    raw += b'\0' * (16 - len(raw))  # a record holds 16 bytes; an IPv4 address uses the first four
    assert _tcp_record.format_address(family, raw) == text
    assert _tcp_record.format_address(family, raw) == text  # the same from the cache


def test_an_ipv4_address_ignores_the_bytes_after_its_four():
    raw = socket.inet_pton(socket.AF_INET, '192.0.2.7') + b'\xff' * 12
    assert _tcp_record.format_address(socket.AF_INET, raw) == '192.0.2.7'


def test_the_address_cache_stays_bounded():
    for n in range(5000):
        _tcp_record.format_address(socket.AF_INET6, n.to_bytes(16, 'big'))
    assert len(_tcp_record._ADDRESS_TEXT) <= 4096
    assert _tcp_record.format_address(socket.AF_INET6, (4999).to_bytes(16, 'big')) == '::1387'


def test_states_and_timers_are_named_as_the_kernel_and_ss_name_them():
    assert _tcp_record.STATE_NAMES[_tcp_record.ESTABLISHED] == 'established'
    assert _tcp_record.STATE_NAMES[_tcp_record.LISTEN] == 'listen'
    assert _tcp_record.STATE_CODES['time_wait'] == _tcp_record.TIME_WAIT == 6
    assert _tcp_record.STATE_CODES['close_wait'] == _tcp_record.CLOSE_WAIT == 8
    assert len(_tcp_record.STATE_CODES) == len(_tcp_record.STATE_NAMES) == 12
    assert [_tcp_record.TIMER_NAMES[code] for code in range(5)] == ['off', 'on', 'keepalive', 'timewait', 'persist']
    assert _tcp_record.FAMILY_NAMES == {socket.AF_INET: 'inet', socket.AF_INET6: 'inet6'}
