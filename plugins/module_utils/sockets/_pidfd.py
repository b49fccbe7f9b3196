# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reach another process's socket: pidfd_open(2) and pidfd_getfd(2), Linux 5.6 and later.

pidfd_getfd returns a new descriptor in this process for the target's descriptor, sharing its
open file description: a setsockopt on it changes the live socket in the target. It needs
ptrace-level permission over the target (root, within the limits of kernel.yama.ptrace_scope,
seccomp and LSMs). The syscall numbers are the same on every architecture (unified table).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import os
import socket
import stat

SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438

_LIBC = {}


class PidfdError(Exception):
    """Why a socket could not be reached; ``reason`` is a sentence for the user."""

    def __init__(self, reason, code=None):
        super(PidfdError, self).__init__(reason)
        self.reason = reason
        self.code = code


def _syscall(number, *args):
    libc = _LIBC.get('c')
    if libc is None:
        libc = _LIBC['c'] = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(result)


def _explain(exc, pid, what):
    code = getattr(exc, 'errno', None)
    if code == errno.ESRCH:
        return PidfdError('process %d has exited' % pid, code)
    if code == errno.ENOSYS:
        return PidfdError('the kernel does not offer %s (Linux 5.6 or later is needed)' % what, code)
    if code in (errno.EPERM, errno.EACCES):
        return PidfdError('the kernel refused access to process %d (%s): root with ptrace permission over it is '
                          'needed, and kernel.yama.ptrace_scope, seccomp or an LSM may forbid it' % (pid, what), code)
    if code == errno.EBADF:
        return PidfdError('the socket was closed by process %d' % pid, code)
    return PidfdError('%s failed for process %d: %s' % (what, pid, exc), code)


def open_pid(pid):
    """A pidfd for ``pid``; the caller closes it."""
    try:
        if hasattr(os, 'pidfd_open'):
            return os.pidfd_open(pid)
        return _syscall(SYS_PIDFD_OPEN, pid, 0)
    except OSError as exc:
        raise _explain(exc, pid, 'pidfd_open')


def get_fd(pidfd, pid, target_fd):
    """A descriptor of our own for the target's ``target_fd``; the caller closes it."""
    try:
        return _syscall(SYS_PIDFD_GETFD, pidfd, target_fd, 0)
    except OSError as exc:
        raise _explain(exc, pid, 'pidfd_getfd')


class ProcessSockets:
    """Borrow sockets of one process, one at a time; every borrowed descriptor is closed.

    with ProcessSockets(pid) as proc:
        with proc.borrow(fd, inode) as sock: sock.setsockopt(...)
    """

    def __init__(self, pid):
        self.pid = pid
        self.pidfd = None

    def __enter__(self):
        self.pidfd = open_pid(self.pid)
        return self

    def __exit__(self, *exc_info):
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        return False

    def borrow(self, target_fd, inode):
        return _Borrowed(self, target_fd, inode)


class _Borrowed:
    def __init__(self, process, target_fd, inode):
        self.process = process
        self.target_fd = target_fd
        self.inode = inode
        self.sock = None

    def __enter__(self):
        fd = get_fd(self.process.pidfd, self.process.pid, self.target_fd)
        try:
            info = os.fstat(fd)
            if not stat.S_ISSOCK(info.st_mode) or info.st_ino != self.inode:
                raise PidfdError('descriptor %d of process %d no longer holds this socket (it was closed or reused)'
                                 % (self.target_fd, self.process.pid))
            self.sock = socket.socket(fileno=fd)
        except BaseException:
            os.close(fd)
            raise
        return self.sock

    def __exit__(self, *exc_info):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        return False
