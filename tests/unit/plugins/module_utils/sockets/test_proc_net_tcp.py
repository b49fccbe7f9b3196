# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._proc_net_tcp import ProcNetTcp, parse_line
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._tcp_record import format_address

HEADER = ('  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout '
          'inode\n')
# 127.0.0.1:7100 -> 127.0.0.1:54178, established, keep-alive timer due in 95909 ticks, 2 probes out
V4_KEEPALIVE = ('   0: 0100007F:1BBC 0100007F:D3A2 01 00000000:00000000 02:000176A5 00000000  1000        2 '
                '48213 1 0000000000000000 20 4 30 10 -1\n')
# 10.1.2.3:43512 -> 192.168.10.20:5432, established, retransmit timer, 3 retransmits
V4_RETRANSMIT = ('   1: 0302010A:A9F8 140AA8C0:1538 01 00000010:00000000 01:0000001E 00000003     0        0 '
                 '777 1 0000000000000000 20 4 30 10 -1\n')
# [::1]:7106 listening
V6_LISTEN = ('   0: 00000000000000000000000001000000:1BC2 00000000000000000000000000000000:0000 0A '
             '00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n')
# [::ffff:127.0.0.1]:7106 <- [::ffff:127.0.0.1]:40000, established, no timer
V6_MAPPED = ('   1: 0000000000000000FFFF00000100007F:1BC2 0000000000000000FFFF00000100007F:9C40 01 '
             '00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1\n')


def test_ipv4_line_decodes_like_ss_shows_it():
    rec = parse_line(socket.AF_INET, V4_KEEPALIVE, 100)
    assert format_address(rec[2], rec[8]) == '127.0.0.1'
    assert socket.ntohs(rec[6]) == 7100 and socket.ntohs(rec[7]) == 54178
    assert rec[3] == 1 and rec[4] == 2
    assert rec[10] == 959090  # 95909 ticks of 1/100 s, in ms
    assert rec[5] == 2  # probes out, not retransmits, for the keep-alive timer
    assert (rec[13], rec[14]) == (1000, 48213)


def test_retransmit_timer_reports_retransmits():
    rec = parse_line(socket.AF_INET, V4_RETRANSMIT, 100)
    assert format_address(rec[2], rec[8]) == '10.1.2.3'
    assert format_address(rec[2], rec[9]) == '192.168.10.20'
    assert (rec[4], rec[5], rec[10]) == (1, 3, 300)


def test_ticks_follow_user_hz():
    assert parse_line(socket.AF_INET, V4_RETRANSMIT, 1000)[10] == 30


def test_ipv6_and_mapped_addresses():
    listen = parse_line(socket.AF_INET6, V6_LISTEN, 100)
    assert format_address(socket.AF_INET6, listen[8]) == '::1'
    assert format_address(socket.AF_INET6, listen[9]) == '::'
    assert listen[3] == 10
    mapped = parse_line(socket.AF_INET6, V6_MAPPED, 100)
    assert format_address(socket.AF_INET6, mapped[8]) == '::ffff:127.0.0.1'
    assert socket.ntohs(mapped[7]) == 40000


def test_negative_when_means_due_now():
    line = V4_KEEPALIVE.replace('02:000176A5', '02:FFFFFFFFFFFFFFF6')
    assert parse_line(socket.AF_INET, line, 100)[10] == 0


@pytest.mark.parametrize('line', [
    '   0: 0100007F:1BBC\n',                                        # truncated
    V4_KEEPALIVE.replace('0100007F:1BBC', '0100007G:1BBC'),          # not hex
    V4_KEEPALIVE.replace('0100007F:1BBC', '01007F:1BBC'),            # odd address length
    V4_KEEPALIVE.replace(' 01 00000000', ' 1F 00000000'),            # no such state
    V4_KEEPALIVE.replace('02:000176A5', '02000176A5'),               # no tr:when separator
    V4_KEEPALIVE.replace('0100007F:1BBC', '0100007F:1FFFF'),         # local port out of range
    V4_KEEPALIVE.replace('0100007F:D3A2', '0100007F:FFFFFFFFF'),     # remote port out of range
])
def test_malformed_lines_raise(line):
    with pytest.raises(ValueError):
        parse_line(socket.AF_INET, line, 100)


def test_reader_skips_and_counts_bad_lines_and_missing_files(tmp_path):
    tcp = tmp_path / 'tcp'
    tcp.write_text(HEADER + V4_KEEPALIVE + 'garbage line\n' + '   2: 0100007F:1BBC\n'
                   + V4_KEEPALIVE.replace('0100007F:1BBC', '0100007F:10000') + V4_RETRANSMIT)
    reader = ProcNetTcp(files=((socket.AF_INET, str(tcp)), (socket.AF_INET6, str(tmp_path / 'tcp6'))),
                        ticks_per_second=100)
    records = list(reader.records())
    assert [r[14] for r in records] == [48213, 777]
    assert reader.malformed == 3
    assert len(reader.malformed_samples) == 3 and 'garbage' in reader.malformed_samples[0]
    assert 'port' in reader.malformed_samples[2]
    assert reader.missing == [str(tmp_path / 'tcp6')]
