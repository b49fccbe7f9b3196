# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every network namespace of the host, entered one at a time; and the container a process runs in.

Namespaces are found from every process (/proc/PID/ns/net) and from the folders where `ip netns`
and container runtimes pin named ones; each is identified by its inode. entered() moves this
(single-threaded) module into one with setns(2) and always moves it back, also on errors: netlink
sockets opened and /proc/sys/net files read in between belong to that namespace. A container is
recognised from a process's cgroup path (Podman, Docker, containerd, CRI-O, Kubernetes pods).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ctypes
import errno
import os
import re

from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import systemd_path, unit_prefix

CLONE_NEWNET = 0x40000000
NAMED_DIRS = ('/run/netns', '/var/run/netns', '/run/docker/netns', '/var/run/docker/netns')
_LIBC = {}

_CONTAINER_PATTERNS = (
    (re.compile(r'libpod-(?!conmon-)([0-9a-f]{12,64})\.scope'), 'podman'),
    (re.compile(r'/libpod_parent/libpod-([0-9a-f]{12,64})'), 'podman'),
    (re.compile(r'docker-([0-9a-f]{12,64})\.scope'), 'docker'),
    (re.compile(r'/docker/([0-9a-f]{12,64})(?:/|$)'), 'docker'),
    (re.compile(r'cri-containerd-([0-9a-f]{12,64})\.scope'), 'containerd'),
    (re.compile(r'crio-(?!conmon-)([0-9a-f]{12,64})\.scope'), 'cri-o'),
)
_POD = re.compile(r'kubepods[^/]*?-pod([0-9a-f_-]{36})\.slice|/kubepods/(?:[a-z]+/)?pod([0-9a-f-]{36})')


class NamespaceError(Exception):
    """A namespace could not be entered; ``vanished`` tells an exited one from a refused one, ``changed`` is
    the inode of another namespace found where this one was."""

    def __init__(self, message, vanished=False, changed=None):
        super(NamespaceError, self).__init__(message)
        self.vanished = vanished
        self.changed = changed


def container_from_cgroup(text):
    """{'runtime', 'id', 'pod_uid'} from /proc/PID/cgroup text, or None for a process in no container.

    Only the part of the path that systemd vouches for counts (up to its first service or scope,
    see _systemd.unit_prefix): runtimes put a container's group there (system.slice/docker-ID.scope,
    machine.slice/libpod-ID.scope, a pod's slice), or at the root with their cgroupfs driver
    (/docker/ID); a process below a user@UID.service or a container's own scope could name its
    groups anything. Of several matches the outermost wins.
    """
    prefix = unit_prefix(systemd_path(text) or _first_path(text))[0]
    found, where = None, None
    for pattern, runtime in _CONTAINER_PATTERNS:
        match = pattern.search(prefix)
        if match and (where is None or match.start() < where):
            found, where = {'runtime': runtime, 'id': match.group(1), 'pod_uid': None}, match.start()
    pod = _POD.search(prefix)
    if pod:
        uid = (pod.group(1) or pod.group(2)).replace('_', '-')
        if found is None:
            found = {'runtime': 'kubernetes', 'id': None, 'pod_uid': uid}
        else:
            found['pod_uid'] = uid
    return found


def _first_path(text):
    """The path of the first line of /proc/PID/cgroup text (a cgroup v1 controller's, without a systemd line)."""
    for line in (text or '').splitlines():
        parts = line.split(':', 2)
        if len(parts) == 3:
            return parts[2]
    return None


# Ways into one namespace kept per inode: when the first has changed or gone, the next is tried.
CANDIDATES = 16


def find(proc='/proc', named_dirs=NAMED_DIRS):
    """The host's network namespaces: ({inode: {'path', 'pid', 'paths'}}, [paths that could not be read]).

    A namespace belongs to a task, not a process: a thread can make one of its own, so every task of
    every process is looked at (/proc/PID/task/TID/ns/net). ``pid`` is a process in the namespace
    (None for a named namespace no process is in), ``path`` the first way in, and ``paths`` up to
    CANDIDATES ways in as [(path, pid)], the main threads first.
    """
    found, unreadable = {}, []
    try:
        entries = os.listdir(proc)
    except OSError:
        entries = []
    for name in sorted((e for e in entries if e.isdigit()), key=int):
        pid = int(name)
        try:
            tasks = sorted(os.listdir('%s/%s/task' % (proc, name)), key=lambda t: (t != name, int(t) if t.isdigit() else 0))
        except OSError:
            tasks = [name]
        refused = False
        for tid in tasks:
            path = '%s/%s/ns/net' % (proc, name) if tid == name else '%s/%s/task/%s/ns/net' % (proc, name, tid)
            try:
                inode = os.stat(path).st_ino
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM) and not refused:
                    unreadable.append(path)
                    refused = True
                continue
            _add(found, inode, path, pid)
    for directory in named_dirs:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                inode = os.stat(path).st_ino
            except OSError:
                continue
            _add(found, inode, path, None)
    return found, unreadable


def _add(found, inode, path, pid):
    entry = found.get(inode)
    if entry is None:
        found[inode] = {'path': path, 'pid': pid, 'paths': [(path, pid)]}
    elif len(entry['paths']) < CANDIDATES:
        entry['paths'].append((path, pid))


def namespace_of(proc, pid):
    """The inode of a process's network namespace (/proc/PID/ns/net), or None if it cannot be read."""
    try:
        return os.stat('%s/%s/ns/net' % (proc, pid)).st_ino
    except OSError:
        return None


def own(proc='/proc'):
    """The inode of this process's network namespace."""
    return os.stat('%s/self/ns/net' % proc).st_ino


def _setns(fd):
    if hasattr(os, 'setns'):
        os.setns(fd, CLONE_NEWNET)
        return
    libc = _LIBC.get('c')
    if libc is None:
        libc = _LIBC['c'] = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


@contextlib.contextmanager
def entered(path, proc='/proc', inode=None):
    """Run the body inside the network namespace at ``path``, and return to this one afterwards.

    With ``inode``, the namespace opened must be that one: a process can change namespace, or exit
    and have its pid reused, between finding a namespace and entering it. NamespaceError ``changed``
    then gives the inode found there instead.
    """
    home = os.open('%s/thread-self/ns/net' % proc, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise NamespaceError('%s: %s' % (path, exc.strerror), vanished=exc.errno in (errno.ENOENT, errno.ESRCH))
        try:
            now = os.fstat(target).st_ino
            if inode is not None and now != inode:
                raise NamespaceError('%s is no longer network namespace %d but %d' % (path, inode, now), changed=now)
            try:
                _setns(target)
            except OSError as exc:
                raise NamespaceError('cannot enter %s: %s (root is needed)' % (path, exc.strerror))
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)
