# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd as the collection meets it: unit names, the unit a cgroup path belongs to, `systemctl show` output,
and the paths a unit file takes as they are.

Shared by the features that read units (the owners of sockets, the reports) and those that write
drop-ins (the cgroup program, the preload shim).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# What a path may hold so that it survives a unit file's ExecStart= and Environment= unquoted and
# unescaped, and the loader's LD_PRELOAD (which splits on blanks and ':').
SAFE_PATH = re.compile(r'^/[A-Za-z0-9_.+/-]+$')


def unit_name(name):
    """A systemd unit as systemd names it: a name without a type is a service ('nginx' -> 'nginx.service')."""
    return name if '.' in name else name + '.service'


def systemd_path(text):
    """The path of the systemd hierarchy in /proc/PID/cgroup text: the cgroup2 line ('0::'), else the
    name=systemd line of a hybrid host; None when there is neither."""
    path = None
    for line in (text or '').splitlines():
        parts = line.split(':', 2)
        if len(parts) == 3 and (parts[0] == '0' or parts[1] == 'name=systemd'):
            path = parts[2]
            if parts[0] == '0':
                break
    return path or None


def unit_prefix(path):
    """The part of a cgroup path that systemd vouches for: up to and including its first service or scope.

    systemd delegates what lies below a unit's group to the unit (user@UID.service, Delegate=yes
    services, container scopes): any name can appear there, so a group called backup.service or
    docker-<id>.scope below it proves nothing. Returns (prefix, unit or None).
    """
    parts = []
    for part in (path or '').split('/'):
        if not part:
            continue
        parts.append(part)
        if part.endswith('.service') or part.endswith('.scope'):
            return '/' + '/'.join(parts), part
    return '/' + '/'.join(parts), None


def unit_from_cgroup(text):
    """The systemd unit from /proc/PID/cgroup text: the first service or scope in the path.

    '0::/system.slice/nginx.service' -> 'nginx.service'; '0::/init.scope' -> 'init.scope';
    a user's own units, '0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service',
    -> 'user@1000.service' (below it the user names the groups); '0::/' (a container without
    systemd, or a kernel thread) -> None.
    """
    return unit_prefix(systemd_path(text))[1]


def slices_from_cgroup(text):
    """The slices of the unit from /proc/PID/cgroup text, outermost first: '0::/apps.slice/x.service' -> ['apps.slice']."""
    prefix, _unit = unit_prefix(systemd_path(text))
    return [part for part in prefix.split('/') if part.endswith('.slice')]


def parse_show(text):
    """`systemctl show -p ...` output as a dict."""
    return dict(line.split('=', 1) for line in (text or '').splitlines() if '=' in line)


class ModuleSystemctl(object):
    """systemctl run through an AnsibleModule, in the C locale and without a pager: mixed into the System a module
    gives its plan (``class ModuleSystem(ModuleSystemctl, System)``)."""

    def __init__(self, module):
        self.module = module

    def systemctl(self, *args):
        return self.module.run_command([self.module.get_bin_path('systemctl', required=True)] + list(args),
                                       environ_update={'LC_ALL': 'C', 'SYSTEMD_PAGER': ''})
