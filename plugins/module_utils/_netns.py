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
    """A namespace could not be entered; ``vanished`` tells an exited one from a refused one."""

    def __init__(self, message, vanished=False):
        super(NamespaceError, self).__init__(message)
        self.vanished = vanished


def container_from_cgroup(text):
    """{'runtime', 'id', 'pod_uid'} from /proc/PID/cgroup text, or None for a process in no container."""
    found = None
    pod = _POD.search(text or '')
    for pattern, runtime in _CONTAINER_PATTERNS:
        match = pattern.search(text or '')
        if match:
            found = {'runtime': runtime, 'id': match.group(1), 'pod_uid': None}
            break
    if pod:
        uid = (pod.group(1) or pod.group(2)).replace('_', '-')
        if found is None:
            found = {'runtime': 'kubernetes', 'id': None, 'pod_uid': uid}
        else:
            found['pod_uid'] = uid
    return found


def find(proc='/proc', named_dirs=NAMED_DIRS):
    """The host's network namespaces: ({inode: {'path', 'pid'}}, [paths that could not be read]).

    ``pid`` is a process in the namespace (None for a named namespace no process is in).
    """
    found, unreadable = {}, []
    try:
        entries = os.listdir(proc)
    except OSError:
        entries = []
    for name in sorted((e for e in entries if e.isdigit()), key=int):
        path = '%s/%s/ns/net' % (proc, name)
        try:
            inode = os.stat(path).st_ino
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                unreadable.append(path)
            continue
        if inode not in found:
            found[inode] = {'path': path, 'pid': int(name)}
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
            if inode not in found:
                found[inode] = {'path': path, 'pid': None}
    return found, unreadable


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
def entered(path, proc='/proc'):
    """Run the body inside the network namespace at ``path``, and return to this one afterwards."""
    home = os.open('%s/thread-self/ns/net' % proc, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise NamespaceError('%s: %s' % (path, exc.strerror), vanished=exc.errno in (errno.ENOENT, errno.ESRCH))
        try:
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
