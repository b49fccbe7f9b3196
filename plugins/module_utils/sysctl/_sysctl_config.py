# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's keep-alive sysctls: limits, the boot-time configuration order, and conflicts.

At boot, systemd-sysctl (and `sysctl --system`) collect the *.conf files of /etc/sysctl.d,
/run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and /lib/sysctl.d. A file name found in
an earlier directory masks the same name in a later one (a link to /dev/null masks it entirely).
Hidden files (names starting with '.') are never read. The files are applied in the lexical order
of their names, and /etc/sysctl.conf after them all (that last step is procps `sysctl --system`'s;
on Debian, /etc/sysctl.d/99-sysctl.conf links to it, so a file reached twice is read once here).
The last assignment of a key wins. This module reproduces that order to find the files that
would set a keep-alive key after ours, so that our value would not be in force after a reboot.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import re

from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import (
    BY_SYSCTL_OPTION, KERNEL_DEFAULTS, SYSCTLS,
)

CONFIG_DIRS = ('/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d')
SYSCTL_CONF = '/etc/sysctl.conf'
HEADER = ('# Managed by Ansible (linuxnet.keepalive.keepalive_sysctl): kernel keep-alive defaults.\n'
          '# They apply only to sockets that set SO_KEEPALIVE; they never turn keep-alive on.\n')


class SysctlConfigError(Exception):
    """Bad input; the message names the option, the value and what is allowed."""


def _as_int(value):
    """An int, or a string of digits; anything else (bool, float, text) raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r'^\s*[+-]?\d+\s*$', value):
        return int(value)
    raise ValueError(value)


def validate(values):
    """{'time': 120, ...} (None for unset) -> {'net.ipv4.tcp_keepalive_time': 120, ...}.

    Every value is checked before anything is returned, and every problem is named at once.
    """
    wanted = {}
    problems = []
    for setting in SYSCTLS:
        option, key, low, high = setting.sysctl_option, setting.sysctl_key, setting.low, setting.high
        value = values.get(option)
        if value is None:
            continue
        unit = ' ' + setting.unit if setting.unit else ''
        try:
            number = _as_int(value)
        except ValueError:
            problems.append('%s must be an integer from %d to %d%s, not %r' % (option, low, high, unit, value))
            continue
        if not low <= number <= high:
            problems.append('%s must be from %d to %d%s, not %d' % (option, low, high, unit, number))
            continue
        wanted[key] = number
    if problems:
        raise SysctlConfigError('; '.join(problems))
    return wanted


def by_key(values):
    """{'time': 120} -> {'net.ipv4.tcp_keepalive_time': 120}."""
    return dict((BY_SYSCTL_OPTION[option].sysctl_key, value) for option, value in values.items())


def by_option(values):
    """{'net.ipv4.tcp_keepalive_time': 120} -> {'time': 120}."""
    return dict((s.sysctl_option, values[s.sysctl_key]) for s in SYSCTLS if s.sysctl_key in values)


def parse(text):
    """Assignments of a sysctl.d file, in order: [(key, value)].

    Comments start with '#' or ';'; a key may use '/' for '.', and a leading '-' (ignore
    errors) is dropped; lines without '=' are ignored as systemd-sysctl ignores them.
    """
    assignments = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in '#;' or '=' not in line:
            continue
        key, value = line.split('=', 1)
        key = key.strip().lstrip('-').strip()
        if '/' in key:
            # 'net/ipv4/tcp_keepalive_time': '/' separates, and a '.' is part of a name
            key = key.replace('.', '\0').replace('/', '.').replace('\0', '/')
        assignments.append((key, value.strip()))
    return assignments


def sets_key(pattern, key):
    return pattern == key or (any(c in pattern for c in '*?[') and fnmatch.fnmatchcase(key, pattern))


def boot_order(dirs=CONFIG_DIRS, sysctl_conf=SYSCTL_CONF, extra=None):
    """The files systemd-sysctl would apply, in order: [path].

    ``extra`` is a path to count as present (our file, before it is written).
    """
    by_name = {}
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            names = []
        if extra and os.path.dirname(extra) == directory:
            names = list(names) + [os.path.basename(extra)]
        for name in names:
            if name.endswith('.conf') and not name.startswith('.') and name not in by_name:
                by_name[name] = os.path.join(directory, name)
    ordered = [by_name[name] for name in sorted(by_name)]
    if sysctl_conf:
        ordered.append(sysctl_conf)
    return ordered


def read_assignments(path):
    try:
        with open(path) as handle:
            return parse(handle.read())
    except (IOError, OSError, UnicodeDecodeError):
        return []


def conflicts(path, wanted, dirs=CONFIG_DIRS, sysctl_conf=SYSCTL_CONF):
    """Files that would set one of ``wanted``'s keys after ``path`` at boot, to another value.

    Returns [{'file', 'key', 'value'}]. If another file of the same name in an earlier directory
    masks ``path``, that file is reported for every key (our file would never be read).
    """
    order = boot_order(dirs, sysctl_conf, extra=path)
    found = []
    if path not in order:
        masking = [p for p in order if os.path.basename(p) == os.path.basename(path)]
        for key in sorted(wanted):
            found.append({'file': masking[0] if masking else path, 'key': key, 'value': None,
                          'masks': True})
        return found
    seen = set([os.path.realpath(path)])
    for later in order[order.index(path) + 1:]:
        real = os.path.realpath(later)
        if real in seen:
            continue  # a link to a file already read, such as Debian's 99-sysctl.conf -> ../sysctl.conf
        seen.add(real)
        for pattern, value in read_assignments(later):
            for key, ours in sorted(wanted.items()):
                if sets_key(pattern, key) and not same_value(value, ours):
                    found.append({'file': later, 'key': key, 'value': value, 'masks': False})
    return found


def same_value(text, number):
    """Whether a file's value sets the same number ('0120' and 120 do: the kernel reads both as 120)."""
    try:
        return int(text.strip(), 10) == number
    except ValueError:
        return False


def boot_sources(keys, skip=None, dirs=CONFIG_DIRS, sysctl_conf=SYSCTL_CONF):
    """{key: (value at boot, file that sets it, or None for the kernel default)}, ignoring ``skip``."""
    found = dict((key, (KERNEL_DEFAULTS[key], None)) for key in keys)
    for path in boot_order(dirs, sysctl_conf):
        if skip and os.path.realpath(path) == os.path.realpath(skip):
            continue
        for pattern, value in read_assignments(path):
            for key in keys:
                if sets_key(pattern, key):
                    try:
                        found[key] = (int(value), path)
                    except ValueError:
                        pass
    return found


def boot_values(keys, skip=None, dirs=CONFIG_DIRS, sysctl_conf=SYSCTL_CONF):
    """What the configuration sets these keys to at boot, ignoring ``skip``; kernel defaults otherwise."""
    return dict((key, value) for key, (value, _path) in boot_sources(keys, skip, dirs, sysctl_conf).items())


def render(wanted):
    """The content of our file: a header and exactly the given keys, in a fixed order."""
    lines = [HEADER]
    for setting in SYSCTLS:
        if setting.sysctl_key in wanted:
            lines.append('%s = %d\n' % (setting.sysctl_key, wanted[setting.sysctl_key]))
    return ''.join(lines)


def check_path(path, dirs=CONFIG_DIRS):
    """Our file must be a *.conf directly in a directory that is read at boot, and not hidden."""
    if not os.path.isabs(path) or not path.endswith('.conf') or os.path.dirname(path) not in dirs:
        raise SysctlConfigError('path must be a .conf file directly in one of %s (files elsewhere are not '
                                'read at boot, and /etc/sysctl.conf is not ours to change), not %r'
                                % (', '.join(dirs), path))
    if os.path.basename(path).startswith('.'):
        raise SysctlConfigError('path must not name a hidden file (a name starting with "."): such files are never '
                                'read at boot, not %r' % path)


def previous_values(text):
    """The keep-alive keys an earlier run wrote to our file: {sysctl key: int}."""
    values = {}
    for key, value in parse(text or ''):
        if key in KERNEL_DEFAULTS:
            try:
                values[key] = int(value, 10)
            except ValueError:
                pass
    return values
