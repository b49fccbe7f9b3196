# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A systemd unit's LD_PRELOAD, read from `systemctl cat`, and the preload list that keeps it.

A drop-in's ``Environment=LD_PRELOAD=...`` replaces the value the unit set before it, so a drop-in
that only named the shim would hide a unit's own preload (jemalloc, for example). The unit's own
value is read from every file `systemctl cat` prints except the shim's drop-in, and the shim is
appended to it: the loader loads the list in order, so the unit's libraries keep their precedence.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex



def environment_words(value):
    """The assignments of one Environment= value, unquoted as systemd does ('A=1 "B=2 3"')."""
    lexer = shlex.shlex(value.replace('%%', '\0'), posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ''
    return [word.replace('\0', '%') for word in lexer]


def unit_preload(cat_output, skip_file=None):
    """The LD_PRELOAD entries a unit sets (a list), from `systemctl cat UNIT` output.

    Files are separated by '# /path' header lines; the file whose path ends with ``skip_file``
    (the shim's own drop-in) is left out. Only [Service] Environment= lines count; an empty
    ``Environment=`` resets the list, as in systemd. A value that cannot be unquoted raises ValueError.
    """
    value = None
    skipping = False
    section = None
    pending = ''
    for raw in (cat_output or '').splitlines():
        if raw.startswith('# /') and not pending:
            skipping = bool(skip_file) and raw[2:].strip().endswith('/' + skip_file)
            section = None
            continue
        line = pending + raw.strip()
        pending = ''
        if line.endswith('\\'):
            pending = line[:-1] + ' '
            continue
        if skipping or not line or line[0] in '#;':
            continue
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1]
            continue
        if section != 'Service' or '=' not in line:
            continue
        key, rest = line.split('=', 1)
        if key.strip() != 'Environment':
            continue
        if not rest.strip():
            value = None
            continue
        for word in environment_words(rest):
            if word.startswith('LD_PRELOAD='):
                value = word[len('LD_PRELOAD='):]
    if not value:
        return []
    return [entry for entry in re.split(r'[\s:]+', value) if entry]


def quote_environment(name, value):
    """One quoted Environment= assignment: '"NAME=value"', with '\\', '"' and '%' escaped."""
    text = '%s=%s' % (name, value)
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"').replace('%', '%%')


def preload_with(entries, library):
    """The unit's entries, without ``library``, then ``library`` last: 'a.so b.so shim.so'."""
    return ' '.join([entry for entry in entries if entry != library] + [library])
