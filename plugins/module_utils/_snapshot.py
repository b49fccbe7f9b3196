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

from ansible_collections.linuxnet.keepalive.plugins.module_utils._keepalive_facts import (
    GatherError, gather, open_records,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils._live_sockets import add_settings
from ansible_collections.linuxnet.keepalive.plugins.module_utils._socket_owners import SocketOwners


class Snapshot(object):
    """What snapshot() read: ``connections`` and ``summary`` (as gather() returns them), the scanned
    ``owners`` (or None), the ``source`` used (netlink or proc) and the /proc ``reader`` (or None)."""

    __slots__ = ('connections', 'summary', 'owners', 'source', 'reader')

    def __init__(self, connections, summary, owners, source, reader):
        self.connections = connections
        self.summary = summary
        self.owners = owners
        self.source = source
        self.reader = reader


def snapshot(source='auto', owners=True, inspect=False, pids=None, **filters):
    """Read every TCP socket once and return a Snapshot.

    ``owners``: look up the processes holding each socket (one scan of /proc/*/fd).
    ``inspect``: add each returned connection's live settings (``settings``), read with pidfd_getfd.
    ``pids``: scan only these processes, and return only the sockets they hold (the live fix then
    borrows them through the same owners).
    ``filters`` are gather()'s: states, directions, ports, remote_ports, processes, units, only_missing, limit.
    """
    for needs, given in (('inspect', inspect), ('processes', filters.get('processes')), ('units', filters.get('units')),
                         ('pids', pids is not None)):
        if given and not owners:
            raise GatherError('%s needs owners: true (each socket\'s owner must be looked up)' % needs)
    scanned = None
    if owners:
        # the descriptors are kept when a socket will be borrowed: to read its settings, or to change them
        scanned = SocketOwners(with_fds=bool(inspect) or pids is not None).scan(pids=pids)
        if pids is not None:
            filters['inodes'] = set(scanned.by_inode)
    records, used, reader = open_records(source)
    connections, summary = gather(records, owners=scanned, **filters)
    if inspect:
        add_settings(connections, scanned)
    return Snapshot(connections, summary, scanned, used, reader)
