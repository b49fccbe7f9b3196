# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the collection owns: read, written atomically root-owned, and placed only where root alone can change them.

Whatever root runs or loads from a file must sit in folders that nobody else can write to; otherwise
a user could swap the file (or a folder above it) for their own. unsafe_folders() names every such
folder on a path, as given and with symbolic links resolved.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import tempfile


def read_text(path):
    """A file's text (bytes that are not UTF-8 shown as U+FFFD), or None when there is no file."""
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def write_atomic(module, path, content, mode=0o644):
    """Write ``content`` (text, or bytes) to ``path`` through a temporary file in the same folder and one rename,
    root-owned."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'wb' if isinstance(content, bytes) else 'w') as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        if os.geteuid() == 0:
            os.chown(tmp, 0, 0)
        module.atomic_move(tmp, path)
        os.chmod(path, mode)  # atomic_move gives a new file the default mode
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _folders(path):
    """'/usr/local/lib/x' -> ['/', '/usr', '/usr/local', '/usr/local/lib']."""
    folders, current = ['/'], ''
    for part in [p for p in os.path.dirname(path).split('/') if p]:
        current += '/' + part
        folders.append(current)
    return folders


def unsafe_folders(path, include_self=False):
    """Sentences naming each existing folder above ``path`` (and ``path`` itself with include_self) that a
    user other than root could change: not owned by root, or writable by its group or by others."""
    found = []
    paths = _folders(path) + _folders(os.path.realpath(path))
    if include_self:
        paths += [path, os.path.realpath(path)]
    seen = set()
    for folder in paths:
        if folder in seen:
            continue
        seen.add(folder)
        try:
            info = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue  # the resolved path is checked as well
        if info.st_uid != 0 or info.st_mode & 0o022:
            found.append('%s is owned by uid %d with mode %04o' % (folder, info.st_uid, info.st_mode & 0o7777))
    return found
