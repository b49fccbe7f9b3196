# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Borrowing another process's socket with real processes and real sockets: the socket is the live one, every
borrowed descriptor is closed whatever happens, and each refusal names why."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import socket

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets import _pidfd


def own_descriptors():
    return set(os.listdir('/proc/self/fd'))


@pytest.fixture
def holder():
    """A child process that holds one end of a socket pair, as its descriptor ``fd``; the test keeps the other end
    and a copy of the child's (the same socket). Yields (pid, fd, inode, our copy)."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        signal.pause()
        os._exit(0)
    try:
        try:
            pidfd = _pidfd.open_pid(pid)
        except _pidfd.PidfdError as exc:
            pytest.skip('pidfd_open is not available here: %s' % exc.reason)
        os.close(pidfd)
        yield pid, theirs.fileno(), os.fstat(theirs.fileno()).st_ino, theirs
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        ours.close()
        theirs.close()


def test_a_borrowed_socket_is_the_live_socket_and_is_closed_after(holder):
    pid, fd, inode, copy = holder
    before = own_descriptors()
    try:
        with _pidfd.ProcessSockets(pid) as process:
            with process.borrow(fd, inode) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    except _pidfd.PidfdError as exc:
        pytest.skip('pidfd_getfd is not permitted here: %s' % exc.reason)
    assert copy.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1  # the change reached the child's socket
    assert own_descriptors() == before  # the pidfd and the borrowed descriptor are closed


def test_a_descriptor_that_holds_another_socket_now_is_refused_and_closed(holder):
    pid, fd, inode, _copy = holder
    before = own_descriptors()
    with pytest.raises(_pidfd.PidfdError) as caught:
        with _pidfd.ProcessSockets(pid) as process:
            with process.borrow(fd, inode + 1):
                pass
    if 'refused access' in caught.value.reason:
        pytest.skip('pidfd_getfd is not permitted here')
    assert caught.value.reason == ('descriptor %d of process %d no longer holds this socket (it was closed or reused)'
                                   % (fd, pid))
    assert own_descriptors() == before


def test_a_descriptor_the_process_does_not_hold_is_named(holder):
    pid, _fd, _inode, _copy = holder
    with pytest.raises(_pidfd.PidfdError) as caught:
        with _pidfd.ProcessSockets(pid) as process:
            with process.borrow(999, 1):
                pass
    if 'refused access' in caught.value.reason:
        pytest.skip('pidfd_getfd is not permitted here')
    assert caught.value.reason == 'the socket was closed by process %d' % pid


def test_a_process_that_has_exited_is_named():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    with pytest.raises(_pidfd.PidfdError) as caught:
        _pidfd.open_pid(pid)
    if 'does not offer' in caught.value.reason:
        pytest.skip(caught.value.reason)
    assert caught.value.reason == 'process %d has exited' % pid
