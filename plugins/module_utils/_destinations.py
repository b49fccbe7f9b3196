# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outcome-based keep-alive: the destinations a host really talks to, what measuring their paths found, whether
each connection would survive its path, and the keep-alive time that keeps every measured path alive.

A measured path (``measured`` below) is keepalive_path's answer for one destination:
  {'address', 'port', 'outcome', 'survived_max', 'forgot_min', ...}
``survived_max`` is the longest idle that survived below every one that failed; ``forgot_min`` the shortest idle
after which the path forgot the flow (dropped or reset it), or None when it kept every idle value tried.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import BY_NAME

HOLDERS = 5  # holders named per destination, the most connections first
# The role's variables a recommendation sets, in the order reports show them.
RECOMMENDED = ('keepalive_time', 'keepalive_intvl', 'keepalive_socket_idle', 'keepalive_socket_interval')
OUTCOMES = ('survived', 'dropped', 'reset', 'closed', 'inconclusive', 'not_measured')


class DestinationError(Exception):
    """Bad input: the message names the option, the value and what is allowed."""


def parse_networks(texts):
    """The networks of ``texts`` ('10.0.0.0/8', '2001:db8::/32', a bare address), or DestinationError naming each
    one that is not."""
    found, bad = [], []
    for text in texts or []:
        try:
            found.append(ipaddress.ip_network(str(text), strict=False))
        except ValueError:
            bad.append(repr(text))
    if bad:
        raise DestinationError('networks must be addresses or networks such as 10.0.0.0/8 or 2001:db8::/32; not: %s'
                               % ', '.join(bad))
    return found


def in_networks(address, networks):
    """Whether ``address`` (text; an IPv4-mapped IPv6 address counts as its IPv4 address) is in any of ``networks``."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, 'ipv4_mapped', None)
    return any(ip in net or (mapped is not None and mapped in net) for net in networks)


def group(connections, networks=(), limit=10):
    """The destinations of ``connections`` (keepalive_facts entries), the busiest first: (destinations, left out).

    An outbound connection's destination is its remote address and port; an inbound one's is the peer's address
    and the local port it reached (a peer does not listen on its port, so its path cannot be probed from here).
    Each destination: {'address', 'port', 'direction', 'connections', 'holders': [{'process', 'unit',
    'connections'}]}, ``port`` being the remote port (outbound) or the local one (inbound). ``networks`` keeps the
    destinations whose address is in one of them (parse_networks()); ``limit`` caps the destinations returned
    (0: all); the second value counts those left out.
    """
    found = {}
    for conn in connections:
        outbound = conn['direction'] == 'outbound'
        if conn['direction'] not in ('outbound', 'inbound'):
            continue
        if networks and not in_networks(conn['remote_address'], networks):
            continue
        key = (conn['remote_address'], conn['remote_port'] if outbound else conn['local_port'], conn['direction'])
        entry = found.get(key)
        if entry is None:
            entry = found[key] = {'address': key[0], 'port': key[1], 'direction': key[2], 'connections': 0,
                                  'holders': {}}
        entry['connections'] += 1
        holder = (conn.get('process'), conn.get('unit'))
        entry['holders'][holder] = entry['holders'].get(holder, 0) + 1
    ranked = sorted(found.values(),
                    key=lambda d: (-d['connections'], d['direction'] != 'outbound', d['address'], d['port']))
    kept = ranked[:limit] if limit else ranked
    for entry in kept:
        holders = sorted(entry['holders'].items(), key=lambda item: (-item[1], str(item[0])))
        entry['holders'] = [{'process': process, 'unit': unit, 'connections': count}
                            for (process, unit), count in holders[:HOLDERS]]
    return kept, len(ranked) - len(kept)


def outcome(results, survived_max, forgot_min):
    """A destination's outcome in one word, from its results: how the path forgot (dropped, reset), closed (the
    server's own idle timeout), survived (every idle value), or inconclusive."""
    if forgot_min is not None:
        return [r['outcome'] for r in results if r['idle'] == forgot_min][0]
    outcomes = set(r['outcome'] for r in results)
    if 'closed' in outcomes:
        return 'closed'
    if outcomes == set(['survived']):
        return 'survived'
    return 'inconclusive'


def effective_idle(conn, defaults):
    """(seconds of idle before the connection's first probe, where that comes from), or (None, why there is none).

    A socket's own TCP_KEEPIDLE where it was read (``settings``, with keepalive_facts' inspect), else the
    namespace's net.ipv4.tcp_keepalive_time (``defaults``), which the socket uses unless it set its own."""
    if conn.get('keepalive') != 'enabled':
        return None, 'no keep-alive: the program never set SO_KEEPALIVE'
    idle = (conn.get('settings') or {}).get('idle')
    if idle is not None:
        return idle, 'its TCP_KEEPIDLE'
    return defaults['time'], 'net.ipv4.tcp_keepalive_time, as its own value could not be read'


def effective_interval(conn, defaults):
    """(seconds between probes, where that comes from) of a connection with keep-alive: its own TCP_KEEPINTVL where
    it was read, else the namespace's net.ipv4.tcp_keepalive_intvl."""
    interval = (conn.get('settings') or {}).get('interval')
    if interval is not None:
        return interval, 'its TCP_KEEPINTVL'
    return defaults['intvl'], 'net.ipv4.tcp_keepalive_intvl, as its own value could not be read'


def path_text(measured):
    """'the path to 198.19.0.2:7950 forgets idle flows between 5 s and 8 s (dropped)'."""
    where = '%s:%s' % (('[%s]' % measured['address']) if ':' in measured['address'] else measured['address'],
                       measured['port'])
    if measured['survived_max'] is None:
        return 'the path to %s forgets idle flows in less than %d s (%s)' % (
            where, measured['forgot_min'], measured['outcome'])
    return 'the path to %s forgets idle flows between %d s and %d s (%s)' % (
        where, measured['survived_max'], measured['forgot_min'], measured['outcome'])


def judge(conn, measured, defaults):
    """None when ``conn`` will survive its measured path, else (what was found, what is expected).

    An answered probe keeps the flow in every middlebox's table. The kernel sends the first probe after the idle
    time, and each next one after the longer of the idle time and the probe interval (the keep-alive timer is
    armed with the interval after every probe), so both must be within the longest idle the path was measured to
    keep. A path that kept every idle value tried gives no finding (nothing was seen to forget)."""
    if measured is None or measured.get('forgot_min') is None:
        return None
    idle, where = effective_idle(conn, defaults)
    safe = measured.get('survived_max')
    if idle is None:
        found = where
    elif safe is not None and idle <= safe:
        interval, interval_where = effective_interval(conn, defaults)
        if interval <= safe:
            return None
        found = 'keep-alive after %d s idle, then every %d s (%s)' % (idle, interval, interval_where)
    else:
        found = 'keep-alive after %d s idle (%s)' % (idle, where)
    expected = ('a keep-alive probe within %d s idle, and every %d s or sooner after it: %s'
                % (safe, safe, path_text(measured)) if safe is not None
                else 'a keep-alive probe sooner than any idle value tried: %s' % path_text(measured))
    return found, expected


def index(measurements):
    """{(address, port): measured path} of the outbound destinations measured."""
    return dict(((m['address'], m['port']), m) for m in measurements or []
                if m.get('direction', 'outbound') == 'outbound' and m.get('outcome') != 'not_measured')


def recommend(measurements, margin=20):
    """The role's values that keep every measured path alive, or None when no measured path forgot a flow:
    {'keepalive_time', 'keepalive_intvl', 'keepalive_socket_idle', 'keepalive_socket_interval', 'because'}.

    The time is the longest idle the tightest path kept, less ``margin`` percent (at least 1 s). Probes follow each
    other after the longer of the time and the interval (see judge()), so the interval is the collection's own
    (30 s) or that time, whichever is shorter. The per-socket values of the preload shim, the cgroup program and
    the live fix are the same. A path that forgot even the shortest idle tried gives no safe value: it is named
    in ``because``, and the recommendation rests on the others."""
    forgetting = [m for m in index(measurements).values() if m.get('forgot_min') is not None]
    known = [m for m in forgetting if m.get('survived_max') is not None]
    if not known:
        return None
    tightest = min(known, key=lambda m: m['survived_max'])
    value = max(1, int(tightest['survived_max'] * (100 - margin) // 100))
    interval = min(value, BY_NAME['interval'].ours)
    because = '%s; %d%% margin' % (path_text(tightest), margin)
    unsafe = [m for m in forgetting if m.get('survived_max') is None]
    if unsafe:
        because += '; not measured short enough: %s' % ', '.join(path_text(m) for m in unsafe)
    return dict(zip(RECOMMENDED, (value, interval, value, interval)), because=because)


def summary_line(destinations, left_out, recommended):
    """keepalive_path's msg with discover=true: what was measured, the tightest path, the recommendation."""
    counts = {}
    for destination in destinations:
        counts[destination['outcome']] = counts.get(destination['outcome'], 0) + 1
    if not destinations:
        return 'no established connection matched: nothing to measure'
    line = '%d destination(s): %s' % (len(destinations), ', '.join('%d %s' % (n, outcome_name)
                                                                   for outcome_name, n in sorted(counts.items())))
    if left_out:
        line += ' (%d more left out by max_destinations)' % left_out
    if recommended:
        line += '; keepalive_time and keepalive_intvl <= %d keep every measured path alive (%s)' % (
            recommended['keepalive_time'], recommended['because'])
    else:
        line += '; no measured path forgot an idle flow'
    return line


def measurements_from(value):
    """keepalive_check's measurements: a list of measured destinations (keepalive_path's ``destinations``), or the
    path of a JSON file on the host that holds one, alone or as ``destinations`` (keepalive_path's result, or a
    host's file of the paths report). Each entry is checked; DestinationError names the first that is wrong."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            with open(value) as handle:
                value = json.load(handle)
        except (IOError, OSError) as exc:
            raise DestinationError('measurements: cannot read %s: %s' % (value, exc.strerror or exc))
        except ValueError as exc:
            raise DestinationError('measurements: %s is not JSON: %s' % (value, exc))
        if isinstance(value, dict):
            value = value.get('destinations')
    if not isinstance(value, list):
        raise DestinationError('measurements must be a list of measured destinations (keepalive_path\'s destinations) '
                               'or the path of a JSON file of them, not %s' % type(value).__name__)
    for number, entry in enumerate(value):
        problem = _entry_problem(entry)
        if problem:
            raise DestinationError('measurements[%d]: %s' % (number, problem))
    return value


def _entry_problem(entry):
    if not isinstance(entry, dict):
        return 'not a dictionary'
    if not isinstance(entry.get('address'), str):
        return 'address must be an address, not %r' % (entry.get('address'),)
    try:
        ipaddress.ip_address(entry['address'])
    except ValueError:
        return 'address must be an address, not %r' % (entry['address'],)
    port = entry.get('port')
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return 'port must be from 1 to 65535, not %r' % (port,)
    for key in ('survived_max', 'forgot_min'):
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return '%s must be a number of seconds or null, not %r' % (key, value)
    if entry.get('outcome') not in OUTCOMES:
        return 'outcome must be one of %s, not %r' % (', '.join(OUTCOMES), entry.get('outcome'))
    return None
