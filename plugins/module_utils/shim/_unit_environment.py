# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A systemd unit's LD_PRELOAD, read from systemd, and the preload list that keeps it.

A drop-in's ``Environment=LD_PRELOAD=...`` replaces the value the unit set before it, so a drop-in
that only named the shim would hide a unit's own preload (jemalloc, for example). The unit's
effective environment is asked of systemd (`systemctl show -p Environment --value UNIT`), which has
parsed every file of the unit, comments, quotes, continuation lines and specifiers included; the
shim is taken out of its LD_PRELOAD and appended to what is left: the loader loads the list in
order, so the unit's libraries keep their precedence. Once the shim's drop-in is in place, what
systemd shows is that drop-in's list, the unit's own libraries first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex


def environment_words(value):
    """The assignments of systemd's Environment property as `systemctl show` prints it ('A=1 "B=2 3"')."""
    lexer = shlex.shlex(value or '', posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ''
    return list(lexer)


def unit_preload(environment, library=None):
    """The LD_PRELOAD entries a unit runs with, ``library`` left out (a list), from `systemctl show -p Environment
    --value UNIT`. A value that cannot be unquoted raises ValueError."""
    value = None
    for word in environment_words(environment):
        if word.startswith('LD_PRELOAD='):
            value = word[len('LD_PRELOAD='):]
    if not value:
        return []
    return [entry for entry in re.split(r'[\s:]+', value) if entry and entry != library]


def quote_environment(name, value):
    """One quoted Environment= assignment: '"NAME=value"', with '\\', '"' and '%' escaped."""
    text = '%s=%s' % (name, value)
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"').replace('%', '%%')


def preload_with(entries, library):
    """The unit's entries, without ``library``, then ``library`` last: 'a.so b.so shim.so'."""
    return ' '.join([entry for entry in entries if entry != library] + [library])
