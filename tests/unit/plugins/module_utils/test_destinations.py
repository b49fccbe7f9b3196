# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outcome-based keep-alive: the grouping of connections into destinations, the judgement of a connection against its
measured path (its own values, the defaults, none), and the recommended time."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils import _destinations
from ansible_collections.linuxnet.keepalive.plugins.module_utils._destinations import (
    DestinationError, effective_idle, effective_interval, group, judge, outcome, parse_networks, recommend, summary_line,
)

DEFAULTS = {'time': 7200, 'intvl': 75, 'probes': 9}


def conn(remote='198.19.0.2', port=7950, process='python3', unit='orders.service', direction='outbound',
         keepalive='disabled', idle=None, local_port=40000, interval=None):
    found = {'direction': direction, 'remote_address': remote, 'remote_port': port, 'local_address': '198.18.0.2',
             'local_port': local_port, 'process': process, 'unit': unit, 'keepalive': keepalive}
    if idle is not None:
        found['settings'] = {'idle': idle, 'interval': interval}
    return found


def path(survived_max, forgot_min, how='dropped', address='198.19.0.2', port=7950):
    return {'address': address, 'port': port, 'direction': 'outbound', 'survived_max': survived_max,
            'forgot_min': forgot_min, 'outcome': how if forgot_min is not None else 'survived'}


def test_destinations_are_grouped_counted_with_their_holders_and_the_busiest_come_first():
    connections = ([conn()] * 3 + [conn(process='java', unit=None)] + [conn(remote='198.19.1.2')] * 2
                   + [conn(remote='10.0.0.9', port=5432, process='p%d' % n) for n in range(7)])
    found, left_out = group(connections, limit=2)
    assert left_out == 1
    assert [(d['address'], d['port'], d['connections']) for d in found] == [
        ('10.0.0.9', 5432, 7), ('198.19.0.2', 7950, 4)]
    assert len(found[0]['holders']) == 5  # at most five holders named
    assert found[1]['holders'] == [{'process': 'python3', 'unit': 'orders.service', 'connections': 3},
                                   {'process': 'java', 'unit': None, 'connections': 1}]
    assert len(group(connections, limit=0)[0]) == 3


def test_an_inbound_destination_is_the_peer_and_the_local_port_it_reached():
    found, _left = group([conn(direction='inbound', remote='203.0.113.5', port=51234, local_port=443)] * 2)
    assert [(d['address'], d['port'], d['direction'], d['connections']) for d in found] == [
        ('203.0.113.5', 443, 'inbound', 2)]
    assert group([dict(conn(), direction='listen')])[0] == []


def test_networks_select_destinations_and_an_ipv4_mapped_address_counts_as_ipv4():
    nets = parse_networks(['198.19.0.0/24', '2001:db8::1'])
    found, _left = group([conn(), conn(remote='198.19.1.2'), conn(remote='::ffff:198.19.0.7'), conn(remote='2001:db8::1')],
                         nets)
    assert sorted(d['address'] for d in found) == ['198.19.0.2', '2001:db8::1', '::ffff:198.19.0.7']
    with pytest.raises(DestinationError) as err:
        parse_networks(['10.0.0.0/8', 'db.internal', '10.0.0.0/33'])
    assert "not: 'db.internal', '10.0.0.0/33'" in str(err.value) and 'such as 10.0.0.0/8' in str(err.value)


@pytest.mark.parametrize('connection,idle,where', [
    (conn(), None, 'no keep-alive: the program never set SO_KEEPALIVE'),
    (conn(keepalive='enabled', idle=10), 10, 'its TCP_KEEPIDLE'),
    (conn(keepalive='enabled'), 7200, "net.ipv4.tcp_keepalive_time, as its own value could not be read"),
    (conn(keepalive='unknown'), None, 'no keep-alive: the program never set SO_KEEPALIVE'),
])
def test_the_effective_idle_is_the_sockets_own_else_the_namespaces_default_else_none(connection, idle, where):
    assert effective_idle(connection, DEFAULTS) == (idle, where)


def test_a_connection_survives_a_path_that_keeps_its_idle_and_dies_on_one_that_forgets_it_sooner():
    ten = conn(keepalive='enabled', idle=10, interval=10)
    assert judge(ten, path(12, 18), DEFAULTS) is None            # the 15 s path: probed at 10 s, kept at 12 s
    found, expected = judge(ten, path(5, 8), DEFAULTS)         # the 6 s path: 10 s is too slow
    assert found == 'keep-alive after 10 s idle (its TCP_KEEPIDLE)'
    assert expected == ('a keep-alive probe within 5 s idle, and every 5 s or sooner after it: the path to '
                        '198.19.0.2:7950 forgets idle flows between 5 s and 8 s (dropped)')
    assert judge(conn(keepalive='enabled', idle=5, interval=5), path(5, 8), DEFAULTS) is None  # exactly what it kept
    assert judge(conn(), path(12, 18), DEFAULTS)[0] == 'no keep-alive: the program never set SO_KEEPALIVE'
    assert judge(conn(keepalive='enabled'), path(5, 8, 'reset'), DEFAULTS)[0].startswith('keep-alive after 7200 s')


def test_a_connection_probed_in_time_dies_when_its_next_probes_come_later_than_the_path_keeps():
    # an answered probe is followed by the next after the longer of the idle time and the interval
    found, expected = judge(conn(keepalive='enabled', idle=4, interval=30), path(5, 8), DEFAULTS)
    assert found == 'keep-alive after 4 s idle, then every 30 s (its TCP_KEEPINTVL)'
    assert expected.startswith('a keep-alive probe within 5 s idle, and every 5 s or sooner after it: ')
    found, _expected = judge(conn(keepalive='enabled', idle=4), path(5, 8), DEFAULTS)
    assert found == ('keep-alive after 4 s idle, then every 75 s (net.ipv4.tcp_keepalive_intvl, as its own value '
                     'could not be read)')
    assert judge(conn(keepalive='enabled', idle=4, interval=2), path(5, 8), DEFAULTS) is None


@pytest.mark.parametrize('connection,interval,where', [
    (conn(keepalive='enabled', idle=10, interval=3), 3, 'its TCP_KEEPINTVL'),
    (conn(keepalive='enabled', idle=10), 75, 'net.ipv4.tcp_keepalive_intvl, as its own value could not be read'),
    (conn(keepalive='enabled'), 75, 'net.ipv4.tcp_keepalive_intvl, as its own value could not be read'),
])
def test_the_effective_interval_is_the_sockets_own_else_the_namespaces_default(connection, interval, where):
    assert effective_interval(connection, DEFAULTS) == (interval, where)


def test_no_finding_without_a_measurement_or_on_a_path_that_kept_every_idle():
    assert judge(conn(), None, DEFAULTS) is None
    assert judge(conn(), path(590, None), DEFAULTS) is None


def test_a_path_that_forgot_even_the_shortest_idle_fails_every_connection():
    found = judge(conn(keepalive='enabled', idle=1), path(None, 2), DEFAULTS)
    assert found[1] == ('a keep-alive probe sooner than any idle value tried: the path to 198.19.0.2:7950 forgets idle '
                        'flows in less than 2 s (dropped)')


def test_the_recommendation_keeps_the_tightest_path_alive_with_a_margin():
    measured = [path(5, 8), path(12, 18, address='198.19.1.2'), path(590, None, address='10.0.0.9')]
    assert recommend(measured) == {
        'keepalive_time': 4, 'keepalive_intvl': 4, 'keepalive_socket_idle': 4, 'keepalive_socket_interval': 4,
        'because': 'the path to 198.19.0.2:7950 forgets idle flows between 5 s and 8 s (dropped); 20% margin'}
    assert recommend(measured, margin=0)['keepalive_time'] == 5
    assert recommend([path(1, 2)], margin=50)['keepalive_time'] == 1  # never 0
    assert recommend([path(590, None)]) is None and recommend([]) is None


def test_a_path_too_short_to_measure_is_named_and_the_rest_still_recommend():
    found = recommend([path(None, 2, address='198.19.5.5'), path(230, 340, address='10.0.0.9', port=443)])
    assert (found['keepalive_time'], found['keepalive_intvl']) == (184, 30)  # the collection's own interval
    assert (found['keepalive_socket_idle'], found['keepalive_socket_interval']) == (184, 30)
    assert found['because'].endswith('not measured short enough: the path to 198.19.5.5:7950 forgets idle flows in '
                                     'less than 2 s (dropped)')
    assert recommend([path(None, 2)]) is None


def test_unmeasured_and_inbound_destinations_do_not_count():
    assert recommend([dict(path(5, 8), outcome='not_measured'), dict(path(5, 8), direction='inbound')]) is None
    assert _destinations.index([dict(path(5, 8), direction='inbound')]) == {}


@pytest.mark.parametrize('results,survived,forgot,word', [
    ([{'idle': 2, 'outcome': 'survived'}, {'idle': 8, 'outcome': 'reset'}], 2, 8, 'reset'),
    ([{'idle': 2, 'outcome': 'survived'}, {'idle': 8, 'outcome': 'closed'}], 2, None, 'closed'),
    ([{'idle': 2, 'outcome': 'survived'}], 2, None, 'survived'),
    ([{'idle': 2, 'outcome': 'survived'}, {'idle': 8, 'outcome': 'inconclusive'}], 2, None, 'inconclusive'),
])
def test_a_destinations_outcome_says_how_its_path_ended(results, survived, forgot, word):
    assert outcome(results, survived, forgot) == word


def test_the_summary_line_counts_outcomes_and_gives_the_recommendation():
    measured = [path(5, 8), path(12, 18, address='198.19.1.2'), dict(path(None, None), outcome='not_measured')]
    assert summary_line(measured, 3, recommend(measured)) == (
        '3 destination(s): 2 dropped, 1 not_measured (3 more left out by max_destinations); '
        'keepalive_time and keepalive_intvl <= 4 keep every measured path alive (the path to 198.19.0.2:7950 forgets idle flows between '
        '5 s and 8 s (dropped); 20% margin)')
    assert summary_line([], 0, None) == 'no established connection matched: nothing to measure'
