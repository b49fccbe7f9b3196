# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.path._path_probe import (
    PathError, deadline, judge, measure, recommend, refined, validate,
)


def test_nothing_is_told_before_the_probe_is_due():
    assert judge(10, 9.9, 5) is None


def test_an_answered_probe_survived():
    # 10.3 s after the handshake, the last ACK came 0.2 s ago: after the probe due at 10 s
    assert judge(10, 10.3, 5, probes=0, last_ack_ms=200)[0] == 'survived'


def test_no_ack_since_the_handshake_is_not_survival_but_waits_for_the_timeout():
    assert judge(10, 10.3, 5, probes=1, last_ack_ms=10300) is None
    outcome, detail = judge(10, 15.0, 5, probes=3, last_ack_ms=15000)
    assert outcome == 'dropped' and '3 probe(s) unanswered' in detail
    assert judge(10, 15.0, 5, probes=0, last_ack_ms=15000)[0] == 'dropped'  # the probe never got an answer


@pytest.mark.parametrize('event,at,outcome', [
    ('fin', 3.0, 'closed'),          # the server's own idle timeout, before the probe
    ('fin', 11.0, 'closed'),
    ('reset', 3.0, 'closed'),        # the server reset before any probe: not the path
    ('reset', 10.1, 'reset'),        # a reset answering the probe: the path forgot the flow
    ('timeout', 14.0, 'dropped'),    # the kernel gave up on unanswered probes
    ('unreachable', 12.0, 'dropped'),
])
def test_events(event, at, outcome):
    assert judge(10, at, 5, event=event, event_at=at)[0] == outcome


def results(**outcomes):
    return [{'idle': int(idle[1:]), 'outcome': outcome} for idle, outcome in sorted(outcomes.items())]


def test_recommend_between_the_last_survived_and_the_first_failed():
    assert recommend(results(i60='survived', i120='survived', i230='survived', i340='dropped', i590='dropped')) == (
        230, 'path forgets idle flows between 230 s and 340 s (dropped silently): use keepalive_time and keepalive_intvl <= 230')
    assert recommend(results(i2='survived', i7='reset'))[1].endswith('(a reset): use keepalive_time and keepalive_intvl <= 2')


def test_a_survival_above_a_failure_is_not_recommended():
    assert recommend(results(i60='survived', i120='dropped', i230='survived'))[0] == 60


def test_everything_survived_or_nothing_did():
    assert recommend(results(i60='survived', i590='survived')) == (
        590, 'idle flows survived up to 590 s, the longest tried: keepalive_time and keepalive_intvl <= 590 keep them '
        'on this path')
    assert recommend(results(i60='dropped', i120='reset')) == (
        None, 'path forgets idle flows in less than 60 s: try shorter idle values')


def test_an_application_timeout_is_told_apart_from_the_path():
    recommended, msg = recommend(results(i60='survived', i120='closed', i230='closed'))
    assert recommended == 60
    assert 'the server itself closed connections idle 120 s or longer' in msg and 'keep-alive does not prevent' in msg


def test_refine_tries_values_between_the_answer_and_the_first_failure():
    assert refined(results(i230='survived', i340='dropped'), 3) == [258, 285, 312]
    assert refined(results(i230='survived', i340='dropped'), 0) == []
    assert refined(results(i230='survived'), 3) == []


@pytest.mark.parametrize('arguments,message', [
    (([], 80, 5, 0), 'idle must list at least one'),
    (([0, 40000, 60], 80, 5, 0), 'idle values must be from 1 to 32767 seconds (the range of TCP_KEEPIDLE); not allowed: 0, 40000'),
    (([60], 0, 5, 0), 'port must be from 1 to 65535, not 0'),
    (([60], 80, 0, 0), 'timeout must be 1 second or more'),
    (([60], 80, 5, -1), 'refine must be 0 or more'),
])
def test_bad_options_are_named(arguments, message):
    with pytest.raises(PathError, match=message.replace('(', r'\(').replace(')', r'\)')):
        validate(*arguments)
    assert validate([340, 60, 60], 80, 5, 0) == [60, 340]


def test_a_refused_port_fails_naming_host_and_port():
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(PathError, match='cannot connect to 127.0.0.1:%d: Connection refused' % port):
        measure('127.0.0.1', port, [1], timeout=2)


def test_every_outcome_is_decided_by_the_longest_idle_the_timeout_and_a_second():
    assert deadline([60, 590], 5) == 596 and deadline([2], 1) == 4


def test_inconclusive_values_are_left_out_of_the_answer_and_named():
    results = [{'idle': 60, 'outcome': 'survived'}, {'idle': 120, 'outcome': 'inconclusive'},
               {'idle': 230, 'outcome': 'dropped'}]
    recommended, msg = recommend(results)
    assert recommended == 60 and msg.startswith('path forgets idle flows between 60 s and 230 s')
    assert 'inconclusive at 120 s' in msg
    assert recommend([{'idle': 60, 'outcome': 'inconclusive'}]) == (None, (
        "nothing could be measured; inconclusive at 60 s (see each result's detail: a server that sends data by itself "
        "never lets a connection idle; measure against a port whose server stays silent)"))
