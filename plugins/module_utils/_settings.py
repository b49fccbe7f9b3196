# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keep-alive settings, one row each: every module, the role's checks and the shim follow this table.

A row names a setting by its per-socket word (``idle``, ``interval``, ``count``: the socket options'
words) and, where the kernel has a default for it, by the sysctl's word (``time``, ``intvl``,
``probes``) and key. The limits are the socket option's (setsockopt answers EINVAL outside them);
the sysctls accept wider values but are kept within these, so that a socket could take them too.
The running sysctls are read and written here and nowhere else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os
import socket

SOL_SOCKET, IPPROTO_TCP = socket.SOL_SOCKET, socket.IPPROTO_TCP
TCP_USER_TIMEOUT = getattr(socket, 'TCP_USER_TIMEOUT', 18)
PROC_SYS = '/proc/sys'

Setting = collections.namedtuple('Setting', 'name sysctl_option sysctl_key level option low high default unit')

SETTINGS = (
    Setting('keepalive', None, None, SOL_SOCKET, socket.SO_KEEPALIVE, 0, 1, 0, ''),
    Setting('idle', 'time', 'net.ipv4.tcp_keepalive_time', IPPROTO_TCP, socket.TCP_KEEPIDLE, 1, 32767, 7200, 'seconds'),
    Setting('interval', 'intvl', 'net.ipv4.tcp_keepalive_intvl', IPPROTO_TCP, socket.TCP_KEEPINTVL, 1, 32767, 75,
            'seconds'),
    Setting('count', 'probes', 'net.ipv4.tcp_keepalive_probes', IPPROTO_TCP, socket.TCP_KEEPCNT, 1, 127, 9, ''),
    Setting('user_timeout', None, None, IPPROTO_TCP, TCP_USER_TIMEOUT, 0, 2147483647, 0, 'milliseconds'),
)
BY_NAME = dict((s.name, s) for s in SETTINGS)
# The settings the kernel has a sysctl default for, in the table's order.
SYSCTLS = tuple(s for s in SETTINGS if s.sysctl_key)
BY_SYSCTL_OPTION = dict((s.sysctl_option, s) for s in SYSCTLS)
SYSCTL_KEYS = tuple(s.sysctl_key for s in SYSCTLS)
KERNEL_DEFAULTS = dict((s.sysctl_key, s.default) for s in SYSCTLS)
# The names of the per-socket settings, in the order they are shown.
NAMES = tuple(s.name for s in SETTINGS)


def proc_path(key, proc_sys=PROC_SYS):
    """'net.ipv4.tcp_keepalive_time' -> '/proc/sys/net/ipv4/tcp_keepalive_time'."""
    return os.path.join(proc_sys, key.replace('.', '/'))


def read_running(proc_sys=PROC_SYS):
    """The running kernel's keep-alive defaults of this network namespace: {'time': 7200, 'intvl': 75, 'probes': 9}.

    Raises OSError (IOError) or ValueError naming the file that could not be read.
    """
    values = {}
    for setting in SYSCTLS:
        path = proc_path(setting.sysctl_key, proc_sys)
        try:
            with open(path) as handle:
                values[setting.sysctl_option] = int(handle.read().strip())
        except ValueError as exc:
            raise ValueError('%s: %s' % (path, exc))
    return values


def write_running(values, proc_sys=PROC_SYS):
    """Set running sysctls: {'time': 120, ...}, in the table's order."""
    for setting in SYSCTLS:
        if setting.sysctl_option in values:
            with open(proc_path(setting.sysctl_key, proc_sys), 'w') as handle:
                handle.write('%d\n' % values[setting.sysctl_option])


def describe_range(setting):
    """'from 1 to 32767 seconds' for a setting's limits."""
    return 'from %d to %d%s' % (setting.low, setting.high, ' ' + setting.unit if setting.unit else '')


def validate_socket_values(wanted):
    """wanted: {'keepalive': bool, 'idle': int or None, ...}; raises ValueError naming every value out of its limits."""
    problems = []
    for setting in SETTINGS:
        value = wanted.get(setting.name)
        if value is None or setting.name == 'keepalive':
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not setting.low <= value <= setting.high:
            problems.append('%s must be an integer %s, not %r' % (setting.name, describe_range(setting), value))
    if problems:
        raise ValueError('; '.join(problems))


def values_text(values, names=NAMES):
    """'idle = 60\ninterval = 15\n...' for a diff: the given names in order, those without a value left out."""
    return ''.join('%s = %s\n' % (name, values[name]) for name in names if values and values.get(name) is not None)
