# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keep-alive settings, one row each: every module, the role's checks and the shim follow this table.

A row names a setting by its per-socket word (``idle``, ``interval``, ``count``: the socket options'
words) and, where the kernel has a default for it, by the sysctl's word (``time``, ``intvl``,
``probes``) and key, and by the key the preload shim reads (libkeepalive's ``KEEPIDLE``...). The
limits are the socket option's (setsockopt answers EINVAL outside them); the sysctls accept wider
values but are kept within these, so that a socket could take them too.
The running sysctls are read and written here and nowhere else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import json
import textwrap
import os
import socket

SOL_SOCKET, IPPROTO_TCP = socket.SOL_SOCKET, socket.IPPROTO_TCP
TCP_USER_TIMEOUT = getattr(socket, 'TCP_USER_TIMEOUT', 18)
PROC_SYS = '/proc/sys'

_FIELDS = 'name sysctl_option sysctl_key level option low high default unit shim_key ours meaning'
Setting = collections.namedtuple('Setting', _FIELDS)

# default: the kernel's (a new socket's, or the sysctl's); ours: what the collection sets on sockets by default
# (the shim, the cgroup program), to probe before the shortest common middlebox idle timeout (240 s).
SETTINGS = (
    Setting('keepalive', None, None, SOL_SOCKET, socket.SO_KEEPALIVE, 0, 1, 0, '', None, 1, 'C(SO_KEEPALIVE)'),
    Setting('idle', 'time', 'net.ipv4.tcp_keepalive_time', IPPROTO_TCP, socket.TCP_KEEPIDLE, 1, 32767, 7200, 'seconds',
            'KEEPIDLE', 120, 'C(TCP_KEEPIDLE), seconds idle before the first probe'),
    Setting('interval', 'intvl', 'net.ipv4.tcp_keepalive_intvl', IPPROTO_TCP, socket.TCP_KEEPINTVL, 1, 32767, 75,
            'seconds', 'KEEPINTVL', 30, 'C(TCP_KEEPINTVL), seconds between probes'),
    Setting('count', 'probes', 'net.ipv4.tcp_keepalive_probes', IPPROTO_TCP, socket.TCP_KEEPCNT, 1, 127, 9, '', 'KEEPCNT',
            4, 'C(TCP_KEEPCNT), unanswered probes before the connection is dropped'),
    Setting('user_timeout', None, None, IPPROTO_TCP, TCP_USER_TIMEOUT, 0, 2147483647, 0, 'milliseconds',
            'KEEPALIVE_USER_TIMEOUT', None, 'C(TCP_USER_TIMEOUT), milliseconds that data or probes may stay '
            'unacknowledged before the connection is dropped, 0 for the kernel\'s own behaviour'),
)
BY_NAME = dict((s.name, s) for s in SETTINGS)
# The settings the kernel has a sysctl default for, in the table's order.
SYSCTLS = tuple(s for s in SETTINGS if s.sysctl_key)
BY_SYSCTL_OPTION = dict((s.sysctl_option, s) for s in SYSCTLS)
SYSCTL_KEYS = tuple(s.sysctl_key for s in SYSCTLS)
KERNEL_DEFAULTS = dict((s.sysctl_key, s.default) for s in SYSCTLS)
# The names of the per-socket settings, in the order they are shown.
NAMES = tuple(s.name for s in SETTINGS)
# The shim's configuration keys (libkeepalive's) of the per-socket values: (name, key).
SHIM_KEYS = tuple((s.name, s.shim_key) for s in SETTINGS if s.shim_key)


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


# The per-socket values a module takes as options, in order.
SOCKET_VALUES = tuple(s for s in SETTINGS if s.name != 'keepalive')


def socket_value_options(ours=True):
    """The argument spec of the per-socket values: with ``ours``, the collection's defaults (a program that sets
    every new socket); without, none (unset keeps a socket's own value)."""
    return dict((s.name, dict(type='int', default=s.ours) if ours and s.ours is not None else dict(type='int'))
                for s in SOCKET_VALUES)


def socket_value_docs(ours=True):
    """The options documentation of socket_value_options(), as a doc fragment's YAML text."""
    lines = ['options:']
    for setting in SOCKET_VALUES:
        text = '%s (%d to %d)' % (setting.meaning, setting.low, setting.high)
        if not ours:
            text += '. Unset keeps the socket\'s value'
        elif setting.ours is None:
            text += '. Unset, it is left alone'
        quoted = textwrap.wrap(json.dumps(text + '.'), 100, break_long_words=False, break_on_hyphens=False)
        lines += ['  %s:' % setting.name, '    description:', '      - ' + '\n        '.join(quoted), '    type: int']
        if ours and setting.ours is not None:
            lines.append('    default: %d' % setting.ours)
    return '\n'.join(lines) + '\n'


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
