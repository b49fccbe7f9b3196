# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and change the keep-alive options of sockets that are already open in running processes.

Processes are selected by pid, name or systemd unit; their sockets are found through /proc/PID/fd
and filtered by state, direction and remote port with the same gathering code as keepalive_facts.
Each socket is borrowed with pidfd_getfd, read, changed if it differs from what is asked, read back,
and released. A failure is recorded for that socket or process and the others go on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._pidfd import PidfdError, ProcessSockets
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import SETTINGS
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._netns import namespace_of
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._socket_owners import read_comm, read_unit
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import unit_name


def thread_group(proc, pid):
    """The process (thread group) id of ``pid`` from /proc/PID/status, or None if it cannot be read."""
    try:
        with open('%s/%d/status' % (proc, pid)) as handle:
            for line in handle:
                if line.startswith('Tgid:'):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError):
        pass
    return None


def select_pids(pids=None, names=None, units=None, proc='/proc'):
    """Pids matching any of the given pids, process names (comm) or systemd units; and the misses."""
    selected = set()
    missing = []
    for pid in pids or []:
        if not os.path.isdir('%s/%d' % (proc, pid)):
            missing.append('pid %d: no such process' % pid)
            continue
        group = thread_group(proc, pid)
        if group is not None and group != pid:
            missing.append('pid %d: a thread of process %d, not a process; give pid %d' % (pid, group, group))
            continue
        selected.add(pid)
    names = set(names or [])
    units = set(unit_name(u) for u in units or [])
    if names or units:
        found_names, found_units = set(), set()
        for entry in os.listdir(proc):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if names:
                comm = read_comm(proc, pid)
                if comm in names:
                    selected.add(pid)
                    found_names.add(comm)
            if units:
                unit = read_unit(proc, pid)
                if unit in units:
                    selected.add(pid)
                    found_units.add(unit)
        missing.extend('process %s: no such process' % n for n in sorted(names - found_names))
        missing.extend('unit %s: no process in it' % u for u in sorted(units - found_units))
    return sorted(selected), missing


def unreachable_processes(pids, owners, proc='/proc'):
    """Selected processes whose sockets this module cannot see: [(pid, 'other_namespace' | 'unreadable', reason)].

    Sockets of a process in another network namespace are not in this namespace's socket table,
    and a process whose /proc/PID/fd cannot be read shows no socket at all: both would otherwise
    look like a process with nothing to fix.
    """
    found = []
    ours = namespace_of(proc, 'self')
    unreadable = set(owners.unreadable_pids)
    for pid in pids:
        if pid in unreadable:
            found.append((pid, 'unreadable', 'process %d: its descriptors (%s/%d/fd) cannot be read; root (or the '
                                             'same user with ptrace permission) is needed' % (pid, proc, pid)))
            continue
        theirs = namespace_of(proc, pid)
        if theirs is None and os.path.isdir('%s/%d' % (proc, pid)):
            found.append((pid, 'unreadable', 'process %d: its network namespace (%s/%d/ns/net) cannot be read, so '
                                             'its connections may not be seen from here; root with ptrace '
                                             'permission over it is needed' % (pid, proc, pid)))
        elif ours is not None and theirs is not None and theirs != ours:
            found.append((pid, 'other_namespace', 'process %d is in another network namespace (net:[%d]); its '
                                                  'connections are not seen from here: run the module in that '
                                                  'namespace (nsenter --net=/proc/%d/ns/net)' % (pid, theirs, pid)))
    return found


def read_settings(sock):
    return dict((s.name, sock.getsockopt(s.level, s.option)) for s in SETTINGS)


def target_settings(before, wanted):
    after = dict(before)
    if wanted.get('keepalive') is not None:
        after['keepalive'] = 1 if wanted['keepalive'] else 0
    for setting in SETTINGS[1:]:
        if wanted.get(setting.name) is not None:
            after[setting.name] = wanted[setting.name]
    return after


def apply_settings(sock, before, after):
    """Timing first, SO_KEEPALIVE last, so that a socket never probes with half its settings."""
    order = [s for s in SETTINGS if s.name != 'keepalive'] + [s for s in SETTINGS if s.name == 'keepalive']
    for setting in order:
        if after[setting.name] != before[setting.name]:
            sock.setsockopt(setting.level, setting.option, after[setting.name])


def process_sockets(connections, owners, wanted, inspect=False, check_mode=False):
    """Borrow each connection's socket from a process holding it; return one result per connection.

    ``connections`` are keepalive_facts entries; ``owners`` a SocketOwners scanned with fds.
    A result is the connection with pid, fd, status (changed, unchanged, failed, inspected) and
    reason, and the settings before and after.
    """
    by_pid = {}
    for conn in connections:
        holders = owners.fds_of(conn['inode'])
        if not holders:
            by_pid.setdefault(None, []).append((conn, None))
            continue
        pid, fd = holders[0]
        by_pid.setdefault(pid, []).append((conn, fd))
    results = []
    for pid in sorted(by_pid, key=lambda p: -1 if p is None else p):
        items = by_pid[pid]
        if pid is None:
            results.extend(_result(conn, None, None, 'failed', _no_holder(owners)) for conn, _fd in items)
            continue
        try:
            with ProcessSockets(pid) as proc:
                for conn, fd in items:
                    results.append(_one(proc, conn, fd, wanted, inspect, check_mode))
        except PidfdError as exc:
            results.extend(_result(conn, pid, fd, 'failed', exc.reason) for conn, fd in items)
    return results


def _no_holder(owners):
    """Why no process was found holding a socket: it was closed, or its holder could not be read."""
    unreadable = getattr(owners, 'unreadable', 0)
    if unreadable:
        return ('no process whose descriptors could be read holds this socket: the descriptors of %d process(es) '
                'could not be read (root is needed for other users\' processes)' % unreadable)
    return 'no selected process holds this socket any more'


def _one(proc, conn, fd, wanted, inspect, check_mode):
    try:
        with proc.borrow(fd, conn['inode']) as sock:
            before = read_settings(sock)
            if inspect:
                return _result(conn, proc.pid, fd, 'inspected', 'read only', before, before)
            after = target_settings(before, wanted)
            if after == before:
                return _result(conn, proc.pid, fd, 'unchanged', 'already as requested', before, after)
            if check_mode:
                return _result(conn, proc.pid, fd, 'changed', 'would be changed (check mode)', before, after)
            apply_settings(sock, before, after)
            return _result(conn, proc.pid, fd, 'changed', 'changed on the live socket', before, read_settings(sock))
    except PidfdError as exc:
        return _result(conn, proc.pid, fd, 'failed', exc.reason)
    except OSError as exc:
        return _result(conn, proc.pid, fd, 'failed', 'setsockopt/getsockopt failed: %s' % exc)


_RESULT_KEYS = ('family', 'state', 'direction', 'local_address', 'local_port', 'remote_address', 'remote_port',
                'inode', 'process', 'unit')


def _result(conn, pid, fd, status, reason, before=None, after=None):
    result = dict((k, conn.get(k)) for k in _RESULT_KEYS)
    result.update(pid=pid, fd=fd, status=status, reason=reason, before=before, after=after)
    return result


def add_settings(connections, owners):
    """Add each connection's live settings (``settings``, or ``settings_error``) in place.

    ``owners`` must have been scanned with_fds (snapshot() does so): without the descriptors no
    socket could be reached, and every one would wrongly read as held by no process.
    """
    if owners.fds is None:
        raise ValueError('add_settings needs owners scanned with_fds=True')
    read = dict((r['inode'], r) for r in process_sockets(connections, owners, {}, inspect=True))
    for conn in connections:
        result = read.get(conn['inode'])
        conn['settings'] = result['before'] if result else None
        if not result or result['status'] == 'failed':
            conn['settings_error'] = result['reason'] if result else 'no process holds this socket'
