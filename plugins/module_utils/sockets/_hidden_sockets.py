# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TCP connections that processes hold but that no network namespace read lists.

A namespace lives as long as anything refers to it: a socket passed out over a unix socket keeps its
namespace, and its connection, alive after the last process in it has gone; no /proc/PID/ns/net
names that namespace any more. Socket inodes are unique on the host, so every socket descriptor in
/proc/*/fd whose inode no namespace listed is looked at: its protocol (the sockfs attribute
system.sockprotoname), and for a TCP socket its state (TCP_INFO) and namespace (SIOCGSKNS), through a
borrowed descriptor (pidfd_getfd). A socket that is not connected (state CLOSE, which no dump lists)
is no connection; one in a namespace that was read appeared after the read. Every other one is a
connection that nobody examined.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import os
import socket

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._pidfd import PidfdError, ProcessSockets

TCP_PROTOCOLS = frozenset([b'TCP', b'TCPv6', b'MPTCP', b'MPTCPv6'])
SIOCGSKNS = 0x894C
TCP_CLOSE = 7
TCP_INFO = getattr(socket, 'TCP_INFO', 11)
LISTED = 20


def protocol(pid, fd):
    """The protocol name of the socket a process holds at ``fd`` (b'TCP', b'UNIX-STREAM' ...), or None when gone."""
    try:
        return os.getxattr('/proc/%d/fd/%d' % (pid, fd), 'system.sockprotoname').rstrip(b'\0')
    except OSError:
        return None


def _state_and_namespace(pid, fd, inode):
    """(TCP state, inode of the socket's network namespace) through a borrowed descriptor."""
    with ProcessSockets(pid) as process:
        with process.borrow(fd, inode) as sock:
            state = bytearray(sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 1))[0]
            ns_fd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
            try:
                return state, os.fstat(ns_fd).st_ino
            finally:
                os.close(ns_fd)


def unlisted(owners, listed, namespaces):
    """The TCP connections in ``owners`` (a SocketOwners scanned with first_fd) whose inode is not in ``listed``.

    ``namespaces``: the inodes of the namespaces that were read. Returns {'count', 'unverified', 'held_by':
    [{'pid', 'process', 'unit', 'netns', 'inode'}] (at most LISTED)}; ``unverified`` counts TCP sockets whose
    state and namespace could not be read (borrowing refused): they are counted too, since nothing shows
    that they are not connections.
    """
    found = {'count': 0, 'unverified': 0, 'held_by': []}
    for inode, held in owners.by_inode.items():
        if inode in listed:
            continue
        pid = held if isinstance(held, int) else held[0]
        fd = owners.first_fd.get(inode)
        if fd is None or protocol(pid, fd) not in TCP_PROTOCOLS:
            continue
        try:
            state, netns = _state_and_namespace(pid, fd, inode)
        except (PidfdError, OSError):
            state, netns = None, None
            found['unverified'] += 1
        if state == TCP_CLOSE or (netns is not None and netns in namespaces):
            continue
        found['count'] += 1
        if len(found['held_by']) < LISTED:
            name, unit = owners.process(pid)
            found['held_by'].append({'pid': pid, 'process': name, 'unit': unit, 'netns': netns, 'inode': inode})
    return found
