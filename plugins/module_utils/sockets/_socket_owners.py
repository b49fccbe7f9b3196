# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which processes hold which sockets: socket inodes matched to /proc/PID/fd links.

A socket's file descriptor links to ``socket:[INODE]``. One scan of every process's fd table
maps inodes to pids; a socket shared after fork() maps to several pids. Processes that exit
mid-scan are skipped; fd tables that may not be read (another user's process without root) are
counted so that the caller can say why some sockets show no owner.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._netns import container_from_cgroup
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import slices_from_cgroup, unit_from_cgroup

_SOCKET_PREFIX = 'socket:['


class SocketOwners:
    """inode -> pid (int) or tuple of pids, built by ``scan()``.

    With ``with_fds``, also inode -> [(pid, fd)], the descriptors through which a process holds
    each socket (what pidfd_getfd needs); with ``first_fd``, inode -> the descriptor of its first
    holder (by_inode's first pid), which is enough to look at a socket once.
    """

    def __init__(self, proc='/proc', with_fds=False, first_fd=False):
        self.proc = proc
        self.by_inode = {}
        self.fds = {} if with_fds else None
        self.first_fd = {} if first_fd else None
        self.unreadable = 0
        self.vanished = 0
        self.unreadable_pids = []
        self._process = {}
        self._cgroups = {}
        self._containers = {}

    def scan(self, pids=None):
        """Scan every process, or only ``pids``."""
        by_inode = self.by_inode
        fds_by_inode = self.fds
        first_fd = self.first_fd
        readlink = os.readlink
        prefix = _SOCKET_PREFIX
        if pids is not None:
            entries = [str(pid) for pid in pids]
        else:
            try:
                entries = os.listdir(self.proc)
            except OSError:
                return self
        for name in entries:
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                fd_dir = os.open('%s/%s/fd' % (self.proc, name), os.O_RDONLY | os.O_DIRECTORY)
            except OSError as exc:
                self._count_failure(exc, pid)
                continue
            try:
                try:
                    fds = os.listdir(fd_dir)
                except OSError as exc:
                    self._count_failure(exc, pid)
                    continue
                for fd in fds:
                    try:
                        link = readlink(fd, dir_fd=fd_dir)
                    except OSError:
                        continue  # closed since the listing
                    if link.startswith(prefix):
                        inode = int(link[8:-1])
                        held = by_inode.get(inode)
                        if held is None:
                            by_inode[inode] = pid
                            if first_fd is not None:
                                first_fd[inode] = int(fd)
                        elif held != pid and (isinstance(held, int) or pid not in held):
                            by_inode[inode] = (held, pid) if isinstance(held, int) else held + (pid,)
                        if fds_by_inode is not None:
                            fds_by_inode.setdefault(inode, []).append((pid, int(fd)))
            finally:
                os.close(fd_dir)
        return self

    def _count_failure(self, exc, pid):
        if getattr(exc, 'errno', None) in (1, 13):  # EPERM, EACCES
            self.unreadable += 1
            if len(self.unreadable_pids) < 1000:
                self.unreadable_pids.append(pid)
        else:
            self.vanished += 1

    def pids(self, inode):
        held = self.by_inode.get(inode)
        if held is None:
            return []
        if isinstance(held, int):
            return [held]
        return sorted(set(held))

    def fds_of(self, inode):
        """[(pid, fd)] holding the socket; needs with_fds."""
        return sorted(self.fds.get(inode, [])) if self.fds is not None else []

    def process(self, pid):
        """(name, systemd unit or None) of a pid; (None, None) if it has exited."""
        info = self._process.get(pid)
        if info is None:
            info = (read_comm(self.proc, pid), unit_from_cgroup(self._cgroup(pid) or ''))
            self._process[pid] = info
        return info

    def slices(self, pid):
        """The systemd slices a pid's unit is in, outermost first: ['system.slice'], or []."""
        return slices_from_cgroup(self._cgroup(pid))

    def container(self, pid):
        """The container a pid runs in ({'runtime', 'id', 'pod_uid'}), or None; worked out once per pid."""
        if pid not in self._containers:
            self._containers[pid] = container_from_cgroup(self._cgroup(pid))
        return self._containers[pid]

    def _cgroup(self, pid):
        """/proc/PID/cgroup, read once per pid (None once it has exited)."""
        if pid not in self._cgroups:
            self._cgroups[pid] = read_cgroup(self.proc, pid)
        return self._cgroups[pid]


def read_comm(proc, pid):
    try:
        with open('%s/%d/comm' % (proc, pid), 'rb') as handle:
            return handle.read().decode('utf-8', 'replace').rstrip('\n')
    except (IOError, OSError):
        return None


def read_cgroup(proc, pid):
    """A process's /proc/PID/cgroup text, or None if it has exited."""
    try:
        with open('%s/%d/cgroup' % (proc, pid), 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def read_unit(proc, pid):
    return unit_from_cgroup(read_cgroup(proc, pid) or '')
