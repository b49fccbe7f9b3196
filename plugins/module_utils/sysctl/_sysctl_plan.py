# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What keepalive_sysctl changes: the running values and the one file it owns, planned and checked before any change.

The plan reads the running values, the file (refused when it is not ours, a folder or a link) and, when the
values are persisted, every file that would override them at boot; it works out the running values and the
file's text, and applies them (the file through the module's atomic writer, then the running values).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.linuxnet.keepalive.plugins.module_utils._owned_files import read_text
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import (
    PROC_SYS, SYSCTL_KEYS, proc_path, read_running, values_text, write_running,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sysctl._sysctl_config import (
    CONFIG_DIRS, SYSCTL_CONF, SysctlConfigError, boot_values, by_key, by_option, check_path, conflicts,
    previous_values, render,
)

MARKER = 'Managed by Ansible (linuxnet.keepalive.keepalive_sysctl)'


def describe(found):
    """The conflicts in a sentence: '/etc/sysctl.d/99-x.conf sets net.ipv4.tcp_keepalive_time = 7200; ...'."""
    return '; '.join('%s sets %s = %s' % (c['file'], c['key'], c['value']) if not c['masks']
                     else '%s masks our file (same name, read first)' % c['file'] for c in found)


class SysctlPlan(object):
    """The running values and the file, as they are and as they will be. ``wanted``: {sysctl key: value}."""

    def __init__(self, state, wanted, path, apply=True, persist=True, on_conflict='warn', proc_sys=PROC_SYS,
                 dirs=CONFIG_DIRS, sysctl_conf=SYSCTL_CONF):
        self.state, self.wanted, self.path = state, wanted, path
        self.apply_running, self.persist, self.on_conflict = apply, persist, on_conflict
        self.proc_sys, self.dirs, self.sysctl_conf = proc_sys, dirs, sysctl_conf
        self.current = self.content = None
        self.before = self.target = None
        self.conflicts = []
        self.running_change = {}
        self.file_change = False

    def make(self):
        """Work everything out; raise SysctlConfigError, naming what is wrong, before anything changes."""
        check_path(self.path, self.dirs)
        if self.state == 'absent' and self.wanted:
            raise SysctlConfigError('state=absent takes no time, intvl or probes: it removes %s' % self.path)
        path = self.path
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isfile(path)):
            raise SysctlConfigError('%s is %s, not a file this module wrote; it is left alone. Choose another path.'
                                    % (path, 'a folder' if os.path.isdir(path) and not os.path.islink(path)
                                       else 'a link' if os.path.islink(path) else 'not a regular file'))
        self.current = read_text(path)
        if self.current is not None and MARKER not in self.current:
            raise SysctlConfigError('%s exists and was not written by this module; it is left alone. Choose another '
                                    'path, or move that file away first.' % path)
        try:
            self.before = by_key(read_running(self.proc_sys))
        except (IOError, OSError, ValueError) as exc:
            raise SysctlConfigError('cannot read the running keep-alive settings: %s' % exc)
        if self.state == 'present':
            # keys written by an earlier run stay in the file unless given again
            persisted = dict(previous_values(self.current), **self.wanted)
            self.content = render(persisted) if self.persist else self.current
            self.target = dict(self.before, **self.wanted) if self.apply_running else dict(self.before)
            if self.persist:
                self.conflicts = conflicts(path, persisted, self.dirs, self.sysctl_conf)
                if self.conflicts and self.on_conflict == 'fail':
                    raise SysctlConfigError('other files would override these values at boot, so nothing was changed: '
                                            '%s' % describe(self.conflicts))
            self.file_change = self.persist and self.content != self.current
        else:
            self.target = boot_values(SYSCTL_KEYS, skip=path, dirs=self.dirs, sysctl_conf=self.sysctl_conf) \
                if self.apply_running else dict(self.before)
            self.file_change = self.current is not None
        self.running_change = dict((k, v) for k, v in self.target.items() if self.before.get(k) != v)
        for key in self.running_change:
            if not os.access(proc_path(key, self.proc_sys), os.W_OK):
                raise SysctlConfigError('%s is read-only here (an unprivileged container, or /proc/sys mounted '
                                        'read-only), so the running kernel cannot be changed. Use apply: false to '
                                        'write the configuration file only.' % proc_path(key, self.proc_sys))
        return self

    @property
    def changed(self):
        return bool(self.running_change) or bool(self.file_change)

    def apply(self, write):
        """The file first (with ``write(path, text)``, atomic), then the running values."""
        if self.state == 'present' and self.file_change:
            write(self.path, self.content)
        elif self.state == 'absent' and self.file_change:
            os.unlink(self.path)
        write_running(by_option(self.running_change), self.proc_sys)

    def summary(self, check_mode):
        """What was done, or would be, in one line."""
        ordered = sorted(self.target.items(), key=lambda item: SYSCTL_KEYS.index(item[0]))
        values = ', '.join('%s %d' % (key.rsplit('_', 1)[1], value) for key, value in ordered)
        would = 'would be ' if check_mode else ''
        if self.state == 'absent':
            text = ('%s %sremoved; ' % (self.path, would) if self.file_change else '%s is not there; ' % self.path)
            text += 'running values %s%s' % ('%sset to what the rest of the configuration gives: ' % would
                                             if self.running_change else 'already ', values)
        else:
            text = 'keep-alive defaults %s%s' % ('%sset: ' % would if self.running_change else 'already ', values)
            if self.persist:
                text += '; %s %s' % (self.path, ('%swritten' % would) if self.file_change else 'up to date')
        if self.conflicts:
            text += '; other files would override them at boot: %s' % describe(self.conflicts)
        return text

    def diff(self):
        return [
            dict(before_header='running kernel', after_header='running kernel',
                 before=values_text(self.before, SYSCTL_KEYS), after=values_text(self.target, SYSCTL_KEYS)),
            dict(before_header=self.path, after_header=self.path, before=self.current or '',
                 after=(self.content or '') if self.persist or self.state == 'absent' else self.current or ''),
        ]
