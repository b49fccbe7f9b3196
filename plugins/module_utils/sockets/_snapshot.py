# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One read of the host's TCP sockets, the way every module needs it: owners, records, gathering, settings.

The steps depend on each other in ways a caller should not have to know: reading a socket's live
settings needs the owners' descriptors (a scan with_fds), listeners must stream before the
connections they accepted, and selecting processes by pid limits both the scan and the sockets
returned. snapshot() takes those decisions once for keepalive_facts, keepalive_check and
keepalive_sockets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _netns
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._hidden_sockets import unlisted
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._gather import (
    GatherError, gather, merge_summaries, needs_owners, open_records, read_defaults,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._live_sockets import add_settings
from ansible_collections.linuxnet.keepalive.plugins.module_utils._report_text import printable
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._socket_owners import SocketOwners, read_cgroup
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._tcp_record import INODE


class Snapshot(object):
    """What snapshot() read: ``connections`` and ``summary`` (as gather() returns them), the scanned
    ``owners`` (or None), the ``source`` used (netlink or proc) and the /proc ``reader`` (or None)."""

    __slots__ = ('connections', 'summary', 'owners', 'source', 'reader', 'namespaces', 'vanished', 'refused', 'changed',
                 'unlisted')

    def __init__(self, connections, summary, owners, source, reader):
        self.connections = connections
        self.summary = summary
        self.owners = owners
        self.source = source
        self.reader = reader
        self.namespaces = []  # with namespaces='all': one entry per network namespace read
        self.vanished = 0     # namespaces that went away while being read
        self.refused = []     # namespaces that could not be entered, with why
        self.changed = []     # namespaces that were something else when entered, with what
        self.unlisted = None  # with namespaces='all' and owners: TCP connections no namespace read lists

    def not_read(self):
        """With namespaces='all': what could not be examined, {'namespaces': refused or changed ones,
        'connections': TCP connections held in namespaces that were not read}."""
        return {'namespaces': len(self.refused) + len(self.changed),
                'connections': (self.unlisted or {}).get('count', 0)}

    def not_read_warnings(self):
        """Sentences for a person: each namespace not read, and the connections no namespace read lists."""
        lines = ['network namespace not read: %s' % printable(reason) for reason in self.refused]
        lines += [printable(reason) for reason in self.changed]
        hidden = self.unlisted or {}
        if hidden.get('count'):
            held = []
            for holder in hidden['held_by']:
                name = '%s[%d]' % (printable(holder['process']) or '?', holder['pid'])
                if name not in held:
                    held.append(name)
            held = ', '.join(held)
            lines.append('%d TCP socket(s) are held by processes (%s%s) in network namespaces that were not read: '
                         'not examined%s' % (hidden['count'], held, ', ...' if hidden['count'] > len(hidden['held_by']) else '',
                                             '' if not hidden['unverified'] else ' (%d of them could not be looked at '
                                             'closely, so they are counted)' % hidden['unverified']))
        return lines


def snapshot(source='auto', owners=True, inspect=False, pids=None, namespaces='self', **filters):
    """Read every TCP socket once and return a Snapshot.

    ``owners``: look up the processes holding each socket (one scan of /proc/*/fd).
    ``inspect``: add each returned connection's live settings (``settings``), read with pidfd_getfd.
    ``pids``: scan only these processes, and return only the sockets they hold (the live fix then
    borrows them through the same owners).
    ``namespaces``: ``self`` reads the module's own network namespace; ``all`` every one on the host,
    each from inside it (see _netns), with one owner scan for them all (socket inodes are unique on
    the host). Each connection then carries ``netns`` and ``container``.
    ``filters`` are gather()'s: states, directions, ports, remote_ports, processes, units, only_missing, limit.
    """
    # before anything is read, and before any namespace is entered (where gather() would say it too late)
    needs_owners(bool(owners), inspect=inspect, pids=pids is not None, processes=filters.get('processes'),
                 units=filters.get('units'))
    scanned = None
    if owners:
        # the descriptors are kept when a socket will be borrowed: to read its settings, or to change them
        scanned = SocketOwners(with_fds=bool(inspect) or pids is not None, first_fd=namespaces == 'all').scan(pids=pids)
        if pids is not None:
            filters['inodes'] = set(scanned.by_inode)
    if namespaces == 'all':
        found = _every_namespace(source, scanned, filters)
    else:
        records, used, reader = open_records(source)
        connections, summary = gather(records, owners=scanned, **filters)
        found = Snapshot(connections, summary, scanned, used, reader)
        _tag(found.connections, scanned, _netns.own(), None)
    if inspect:
        add_settings(found.connections, scanned)
    return found


def _tag(connections, owners, netns, sample_container):
    """Each connection's namespace inode and container (from its owner's cgroup, else the namespace's)."""
    for conn in connections:
        conn['netns'] = netns
        pids = conn.get('pids') or []
        conn['container'] = owners.container(pids[0]) if owners is not None and pids else sample_container


def _listing(records, listed):
    """The records, each one's inode added to ``listed`` as it passes."""
    add = listed.add
    for rec in records:
        add(rec[INODE])
        yield rec


def _every_namespace(source, owners, filters):
    limit = filters.pop('limit', 1000)
    found, unreadable = _netns.find()
    connections, summaries, entries = [], [], []
    result = Snapshot(connections, None, owners, None, None)
    result.refused = ['%s: permission denied (root is needed)' % path for path in unreadable]
    listed = set() if owners is not None else None
    queue, read = sorted(found), set()
    while queue:
        inode = queue.pop(0)
        if inode in read:
            continue
        done = changed = None
        for path, pid in found[inode]['paths']:
            try:
                with _netns.entered(path, inode=inode):
                    defaults = read_defaults()
                    records, used, reader = open_records(source)
                    if listed is not None:
                        records = _listing(records, listed)
                    rows, summary = gather(records, owners=owners, limit=max(0, limit - len(connections)), **filters)
            except _netns.NamespaceError as exc:
                if exc.changed is not None:
                    changed = str(exc)
                    if exc.changed not in found:  # found late, where this one was: read it too
                        found[exc.changed] = {'path': path, 'pid': pid, 'paths': [(path, pid)]}
                        queue.append(exc.changed)
                    continue
                if exc.vanished:
                    continue
                result.refused.append(str(exc))
                done = False
                break
            except GatherError as exc:
                result.refused.append('%s: %s' % (path, exc))
                done = False
                break
            done = (path, pid, defaults, used, reader, rows, summary)
            break
        if done is None:
            if changed:
                result.changed.append('network namespace %d changed while it was being read (%s)' % (inode, changed))
            else:
                result.vanished += 1
            continue
        if done is False:
            continue
        read.add(inode)
        path, pid, defaults, used, reader, rows, summary = done
        container = _netns.container_from_cgroup(read_cgroup('/proc', pid)) if pid else None
        result.source = result.source or used
        result.reader = result.reader or reader
        _tag(rows, owners, inode, container)
        connections.extend(rows)
        summaries.append(summary)
        entries.append({'netns': inode, 'container': container, 'pid': pid, 'path': path,
                        'defaults': defaults, 'total': summary['total'], 'by_verdict': summary['by_verdict'],
                        'outbound_without_keepalive': summary['outbound_without_keepalive']})
    result.summary = merge_summaries(summaries)
    if result.summary is not None:
        result.summary['returned'] = len(connections)
        result.summary['left_out'] = result.summary['matched'] - len(connections)
    result.namespaces = entries
    if owners is not None:
        result.unlisted = unlisted(owners, listed, read)
    return result
