# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather every TCP socket's keep-alive state: stream the records, count everything, keep a few.

Hosts with 100,000 connections must not cost more than the kernel's own dump: the loop below
touches each record once, counts it in a flat table keyed by (state, timer, direction), and only
builds a dictionary for the connections it will return (at most ``limit``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import socket

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _sock_diag
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._keepalive_verdict import (
    DISABLED, VERDICTS, verdict,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._proc_net_tcp import ProcNetTcp
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import PROC_SYS, read_running
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import unit_name
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._tcp_record import (
    DPORT, DST, ESTABLISHED, EXPIRES, FAMILY, FAMILY_NAMES, INODE, LISTEN, RETRANS, SPORT, SRC, STATE, STATE_CODES,
    STATE_NAMES, TIMER, TIMER_NAMES, UID, format_address, ntohs,
)

DIRECTIONS = ('inbound', 'outbound', 'listen')
SOURCES = ('auto', 'netlink', 'proc')
_KEYS = 512  # (state < 16, timer < 16, inbound bit)


class GatherError(Exception):
    """An option or the host makes gathering impossible; the message says what to change."""


def needs_owners(have_owners, **given):
    """Refuse options that need each socket's owner when owners are not looked up; names the first."""
    for name in sorted(given):
        if given[name] and not have_owners:
            raise GatherError('%s needs owners: true (each socket\'s owner must be looked up)' % name)


def read_defaults(proc_sys=PROC_SYS):
    """The kernel's keep-alive defaults of this network namespace: {'time', 'intvl', 'probes'}."""
    try:
        return read_running(proc_sys)
    except (IOError, OSError, ValueError) as exc:
        raise GatherError('cannot read the keep-alive sysctls: %s' % exc)


def _key_direction(key):
    state = key >> 5
    if state == LISTEN:
        return 'listen'
    return 'inbound' if key & 1 else 'outbound'


def _key_verdict(key):
    state = key >> 5
    return verdict(state, (key >> 1) & 15, inbound=bool(key & 1) and state != LISTEN)


def open_records(source='auto'):
    """(records, source used, reader) with every listening socket before any other socket.

    Listeners come first so that a connection can be told inbound (its local port is a listening
    port) or outbound as it streams past. sock_diag is asked for listeners, then the rest; the
    kernel prints /proc/net/tcp* in that order already.
    """
    if source not in SOURCES:
        raise GatherError('source must be one of %s, not %r' % (', '.join(SOURCES), source))
    if source in ('auto', 'netlink'):
        if _sock_diag.probe():
            listen = 1 << LISTEN
            rest = _sock_diag.ALL_STATES & ~listen
            records = itertools.chain(
                _sock_diag.dump(socket.AF_INET, listen), _sock_diag.dump(socket.AF_INET6, listen),
                _sock_diag.dump(socket.AF_INET, rest), _sock_diag.dump(socket.AF_INET6, rest),
            )
            return records, 'netlink', None
        if source == 'netlink':
            raise GatherError('source=netlink: this kernel does not answer NETLINK_SOCK_DIAG '
                              '(inet_diag/tcp_diag not available); use source=auto or source=proc')
    reader = ProcNetTcp()
    return reader.records(), 'proc', reader


def gather(records, owners=None, states=None, directions=None, ports=None, processes=None,
           only_missing=False, limit=1000, remote_ports=None, inodes=None, units=None):
    """Count every record and return (connections, summary).

    ``records`` must list listening sockets before the connections they accepted (see
    open_records). ``owners`` is a scanned SocketOwners or None. The filters select what is
    returned in ``connections`` (``ports`` matches either end, ``remote_ports`` the remote end,
    ``processes`` and ``units`` the owners' names and systemd units, ``inodes`` a set of socket
    inodes); ``summary`` always counts every socket read.
    """
    needs_owners(owners is not None, processes=processes, units=units)
    state_codes = set(STATE_CODES[s] for s in states) if states else None
    wanted_dirs = set(directions) if directions else None

    # Which keys pass the filters that depend only on (state, timer, direction), and which keys are
    # established outbound connections without keep-alive (the culprits).
    key_ok = bytearray(_KEYS)
    culprit_key = bytearray(_KEYS)
    for key in range(_KEYS):
        state = key >> 5
        if state not in STATE_NAMES:
            continue
        direction = _key_direction(key)
        if state == LISTEN and key & 1:
            continue  # listeners are never counted as inbound
        the_verdict = _key_verdict(key)[0]
        key_ok[key] = ((state_codes is None or state in state_codes)
                       and (wanted_dirs is None or direction in wanted_dirs)
                       and (not only_missing or the_verdict == DISABLED))
        culprit_key[key] = state == ESTABLISHED and direction == 'outbound' and the_verdict == DISABLED
    raw_ports = set(socket.htons(p) for p in ports) if ports else None
    raw_remote = set(socket.htons(p) for p in remote_ports) if remote_ports else None
    names = set(processes) if processes else None
    unit_names = set(unit_name(u) for u in units) if units else None
    by_inode = owners.by_inode if owners is not None else None

    counts = [0] * _KEYS
    listening = set()
    culprits = {}
    entries = []
    matched = 0
    # The record's field positions, as locals: the loop below runs once per socket on the host.
    state_at, timer_at, sport_at, dport_at, inode_at = STATE, TIMER, SPORT, DPORT, INODE
    for rec in records:
        state = rec[state_at]
        if state == LISTEN:
            listening.add(rec[sport_at])
            key = (state << 5) | (rec[timer_at] << 1)
        else:
            key = (state << 5) | (rec[timer_at] << 1) | (rec[sport_at] in listening)
        counts[key] += 1
        if culprit_key[key] and by_inode is not None:
            held = by_inode.get(rec[inode_at])
            culprits[held] = culprits.get(held, 0) + 1
        if key_ok[key]:
            if raw_ports is not None and rec[sport_at] not in raw_ports and rec[dport_at] not in raw_ports:
                continue
            if raw_remote is not None and rec[dport_at] not in raw_remote:
                continue
            if inodes is not None and rec[inode_at] not in inodes:
                continue
            if names is not None and not _owned_by(owners, rec[inode_at], names, 0):
                continue
            if unit_names is not None and not _owned_by(owners, rec[inode_at], unit_names, 1):
                continue
            matched += 1
            if matched <= limit:
                entries.append(_entry(rec, key, owners))

    summary = _summary(counts, culprits, owners, matched, len(entries))
    return entries, summary


def _owned_by(owners, inode, names, field):
    """Whether a process holding ``inode`` has its name (``field`` 0) or its unit (1) in ``names``."""
    for pid in owners.pids(inode):
        if owners.process(pid)[field] in names:
            return True
    return False


def _entry(rec, key, owners):
    family = rec[FAMILY]
    the_verdict, reason = _key_verdict(key)
    timer = rec[TIMER]
    entry = {
        'family': FAMILY_NAMES.get(family, str(family)),
        'state': STATE_NAMES.get(rec[STATE], str(rec[STATE])),
        'local_address': format_address(family, rec[SRC]),
        'local_port': ntohs(rec[SPORT]),
        'remote_address': format_address(family, rec[DST]),
        'remote_port': ntohs(rec[DPORT]),
        'direction': _key_direction(key),
        'timer': TIMER_NAMES.get(timer, 'unknown'),
        'timer_expires': rec[EXPIRES] // 1000 if timer else 0,
        'retrans': rec[RETRANS] if timer else 0,
        'uid': rec[UID],
        'inode': rec[INODE],
        'keepalive': the_verdict,
        'reason': reason,
    }
    if owners is not None:
        pids = owners.pids(rec[INODE])
        entry['pids'] = pids
        entry['process'], entry['unit'] = owners.process(pids[0]) if pids else (None, None)
    return entry


def _summary(counts, culprits, owners, matched, returned):
    by_direction = dict((d, 0) for d in DIRECTIONS)
    by_verdict = dict((v, 0) for v in VERDICTS)
    by_direction_verdict = dict((d, dict((v, 0) for v in VERDICTS)) for d in DIRECTIONS)
    by_state = {}
    for key, count in enumerate(counts):
        if not count:
            continue
        direction = _key_direction(key)
        the_verdict = _key_verdict(key)[0]
        state = STATE_NAMES.get(key >> 5, str(key >> 5))
        by_direction[direction] += count
        by_verdict[the_verdict] += count
        by_direction_verdict[direction][the_verdict] += count
        by_state[state] = by_state.get(state, 0) + count
    summary = {
        'total': sum(counts),
        'by_direction': by_direction,
        'by_verdict': by_verdict,
        'by_direction_verdict': by_direction_verdict,
        'by_state': by_state,
        'matched': matched,
        'returned': returned,
        'left_out': matched - returned,
        'outbound_without_keepalive': by_direction_verdict['outbound'][DISABLED],
    }
    summary['culprits'], summary['culprits_without_owner'] = _culprits(culprits, owners)
    return summary


def _culprits(tally, owners):
    """Group established outbound connections without keep-alive by process name and unit."""
    if owners is None:
        return [], 0
    unowned = tally.pop(None, 0)
    found = []
    for held, count in tally.items():
        pids = [held] if isinstance(held, int) else sorted(set(held))
        name, unit = owners.process(pids[0])
        found.append((name, unit, pids, count, owners.slices(pids[0])))
    return _join_culprits(found), unowned


def _join_culprits(found):
    """[(process, unit, pids, connections, slices)] -> culprits grouped by process name and unit, most connections
    first; ``slices`` are the slices the unit is in (a unit's are the same for all its processes)."""
    groups = {}
    for name, unit, pids, count, slices in found:
        group = groups.setdefault((name, unit), {'process': name, 'unit': unit, 'slices': slices, 'pids': set(),
                                                 'connections': 0})
        group['pids'].update(pids)
        group['connections'] += count
    result = []
    for group in groups.values():
        group['pids'] = sorted(group['pids'])
        result.append(group)
    result.sort(key=lambda g: (-g['connections'], g['process'] or '', g['unit'] or ''))
    return result


def merge_summaries(summaries):
    """One summary over several gather() summaries (one per network namespace): counts add up, culprits join."""
    merged = None
    found = []
    for summary in summaries:
        if merged is None:
            merged = dict((k, v) for k, v in summary.items() if k != 'culprits')
            merged['by_direction_verdict'] = dict((d, dict(v)) for d, v in summary['by_direction_verdict'].items())
            for key in ('by_direction', 'by_verdict', 'by_state'):
                merged[key] = dict(summary[key])
        else:
            for key in ('total', 'matched', 'returned', 'left_out', 'outbound_without_keepalive', 'culprits_without_owner'):
                merged[key] += summary[key]
            for key in ('by_direction', 'by_verdict', 'by_state'):
                for name, count in summary[key].items():
                    merged[key][name] = merged[key].get(name, 0) + count
            for direction, verdicts in summary['by_direction_verdict'].items():
                for name, count in verdicts.items():
                    merged['by_direction_verdict'][direction][name] += count
        found.extend((c['process'], c['unit'], c['pids'], c['connections'], c['slices']) for c in summary['culprits'])
    if merged is None:
        return None
    merged['culprits'] = _join_culprits(found)
    return merged
