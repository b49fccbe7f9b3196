# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What keepalive_shim changes: the preload shim built, installed and preloaded per unit or everywhere, or removed.

The shim's C source (the role's files/keepalive_shim.c, which the action plugin passes on) is compiled on
the target into BUILD_DIR, tried in a program, and copied to the library path. Its settings go to
CONFIG; each selected service gets a drop-in that sets LD_PRELOAD to the unit's own preloaded
libraries, read from systemd, with the shim last; global mode adds the library to /etc/ld.so.preload,
only after a program ran with the installed library. Everything is planned and checked (values, the
library's path, who could change the folders above it and above the build folder) before the first
change; the module supplies the system calls (``System``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import hashlib
import os
import re

from ansible_collections.linuxnet.keepalive.plugins.module_utils._owned_files import read_text, unsafe_folders
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import SHIM_KEYS
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import SAFE_PATH, parse_show, unit_name
from ansible_collections.linuxnet.keepalive.plugins.module_utils.shim._unit_environment import (
    preload_with, quote_environment, unit_preload,
)

MARKER = 'Managed by Ansible (linuxnet.keepalive.keepalive_shim)'
# What marks a file as ours: the marker, or the words of the role's templates before this module wrote them.
OWNED = (MARKER, 'Settings of the keep-alive preload shim', 'Preloads the keep-alive shim')
LIBRARY = '/usr/local/lib/keepalive/libkeepalive_shim.so'
OWN_DIR = '/usr/local/lib/keepalive'
BUILD_DIR = '/usr/local/src/keepalive-shim'
SOURCE_NAME = 'keepalive_shim.c'
BUILT_NAME = 'libkeepalive_shim.so'
CONFIG_PATH = '/etc/keepalive-shim.conf'
PRELOAD_PATH = '/etc/ld.so.preload'
UNIT_DIR = '/etc/systemd/system'
DROPIN = '50-keepalive-shim.conf'
COMPILE = ['-O2', '-fPIC', '-shared', '-pthread', '-Wall', '-Wextra', '-Werror']
# Prints 1 when a new TCP socket has SO_KEEPALIVE, which only a preloaded shim sets.
CHECK = ('import socket; s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); '
         'print(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))')

_LIBRARY = re.compile(r'^/[A-Za-z0-9_.+/-]+\.so$')
_SERVICE = re.compile(r'^[A-Za-z0-9_.:@\\-]+\.service$')


class ShimError(Exception):
    """The request is impossible here; the message says what and why, and nothing was changed."""


def check_library(path):
    """The library's path, or ShimError naming what is allowed: it goes unquoted into LD_PRELOAD (split on blanks
    and ':'), /etc/ld.so.preload and a unit's Environment= (where quotes, %, $ and \\ mean something)."""
    if not isinstance(path, str) or not _LIBRARY.match(path) or re.search(r'/\.\.?(/|$)|//', path) \
            or not SAFE_PATH.match(path):
        raise ShimError('library=%r is refused: give an absolute path to a .so file of letters, digits and . _ + - '
                        'only, without . or .. parts (blanks and \':\' split LD_PRELOAD, and quotes, \'%%\', \'$\' or '
                        '\'\\\\\' change a unit\'s Environment=). Nothing was changed.' % (path,))
    return path


def check_units(units):
    """Service names as systemd names them ('app' -> 'app.service'); ShimError for any other."""
    found = []
    for name in units or []:
        full = unit_name(name) if isinstance(name, str) and name else ''
        if not _SERVICE.match(full):
            raise ShimError('units: %r is not a service (letters, digits and _ . : @ \\ -): the shim is preloaded '
                            'through a service\'s Environment=. Nothing was changed.' % (name,))
        if full not in found:
            found.append(full)
    return found


def render_config(values, library):
    """/etc/keepalive-shim.conf: the shim's KEY=VALUE settings, read once by each program that loads it."""
    lines = ['# %s' % MARKER,
             '# Settings of the keep-alive preload shim (%s), read once when a program loads it.' % library,
             '# A program\'s environment (KEEPALIVE, KEEPIDLE, KEEPINTVL, KEEPCNT, KEEPALIVE_USER_TIMEOUT) wins.']
    lines += ['%s=%d' % (key, values[name]) for name, key in SHIM_KEYS if values.get(name) is not None]
    return '\n'.join(lines) + '\n'


def render_dropin(assignment):
    """A service's drop-in: LD_PRELOAD with the unit's own libraries first and the shim last."""
    return ('# %s\n'
            '# Preloads the keep-alive shim, which turns SO_KEEPALIVE on for this unit\'s TCP sockets, after the\n'
            '# libraries the unit preloads itself (as systemd showed its environment when this was written).\n'
            '[Service]\nEnvironment=%s\n' % (MARKER, assignment))


def preload_lines(text, library, wanted):
    """/etc/ld.so.preload's text with ``library`` present (``wanted``) or absent; every other line kept as it is."""
    lines = (text or '').splitlines()
    kept = [line for line in lines if line.strip() != library]
    if wanted:
        kept.append(library)
    return '\n'.join(kept) + '\n' if kept else ''


def source_stamp(source):
    return hashlib.sha256(source.encode('utf-8')).hexdigest()


class System:
    """What the plan needs from the host; the module gives the real one, tests a recording one."""

    def systemctl(self, *args):
        """Run systemctl with ``args``: (rc, stdout, stderr)."""
        raise NotImplementedError

    def run(self, argv, environ=None):
        """Run a command: (rc, stdout, stderr)."""
        raise NotImplementedError

    def compiler(self):
        """The C compiler's path, or None."""
        raise NotImplementedError

    def python(self):
        """An interpreter to try the shim in."""
        raise NotImplementedError

    def write(self, path, content, mode=0o644):
        """Write text or bytes atomically, root-owned."""
        raise NotImplementedError

    def has_systemd(self):
        return os.path.isdir('/run/systemd/system')

    def unsafe_folders(self, path, include_self=False):
        """Sentences naming each folder above ``path`` that a user other than root could change (see _owned_files)."""
        return unsafe_folders(path, include_self)


class Plan:
    """Everything keepalive_shim will do, worked out (and checked) before anything is done."""

    def __init__(self, system, state, values, units=(), everywhere=False, library=LIBRARY, restart=True, source=None,
                 build_dir=BUILD_DIR, config_path=CONFIG_PATH, preload_path=PRELOAD_PATH, unit_dir=UNIT_DIR,
                 own_dir=OWN_DIR):
        self.system = system
        self.state = state
        self.values = values
        self.everywhere = everywhere
        self.library = check_library(library)
        self.units = check_units(units)
        self.restart = restart
        self.source = source
        self.build_dir = build_dir
        self.config_path = config_path
        self.preload_path = preload_path
        self.unit_dir = unit_dir
        self.own_dir = own_dir
        self.files = []        # [{'path', 'before', 'after', 'mode', 'what'}]: text files written or removed
        self.dropins = []      # [{'unit', 'action', 'preload'}]
        self.build = False     # the library is (re)built and installed
        self.remove = []       # paths removed on absent: the library, the build folder
        self.folders = []      # missing folders above the library, made root-owned 0755
        self.applied = []
        self.warnings = []

    @property
    def source_path(self):
        return os.path.join(self.build_dir, SOURCE_NAME)

    def _dropin_path(self, unit):
        return os.path.join(self.unit_dir, unit + '.d', DROPIN)

    def make(self):
        """Work out every change; raise ShimError before anything changes when one is impossible."""
        self._check_folders()
        ours = sorted(glob.glob(os.path.join(self.unit_dir, '*.d', DROPIN)))
        keep = set()
        if self.state == 'present':
            if not self.source or 'socket(' not in self.source:
                raise ShimError('the shim\'s C source was not given: run the module through its action plugin '
                                '(linuxnet.keepalive.keepalive_shim), which reads it from the collection')
            built = read_text(self.source_path)
            self.build = built != self.source or not os.path.exists(self.library)
            self.folders = [f for f in self._folders_above(self.library) if not os.path.lexists(f)]
            self._file(self.config_path, render_config(self.values, self.library), 'settings')
            for unit in self.units:
                unit_id, assignment = self._unit_preload(unit)
                keep.add(self._dropin_path(unit_id))
                before = read_text(self._dropin_path(unit_id))
                after = render_dropin(assignment)
                self._file(self._dropin_path(unit_id), after, 'drop-in')
                self.dropins.append({'unit': unit_id, 'action': 'unchanged' if before == after else 'written',
                                     'preload': assignment})
        else:
            for path in (self.library, self.build_dir, self.config_path):
                if os.path.lexists(path):
                    self.remove.append(path)
        for path in ours:
            if path not in keep:
                unit = os.path.basename(os.path.dirname(path))[:-2]
                self._file(path, None, 'drop-in')
                self.dropins.append({'unit': unit, 'action': 'removed', 'preload': None})
        preload = read_text(self.preload_path)
        wanted = self.state == 'present' and self.everywhere
        if preload is not None or wanted:
            self._file(self.preload_path, preload_lines(preload, self.library, wanted), 'preload list')
        return self

    def _file(self, path, after, what):
        before = read_text(path)
        if before is not None and path != self.preload_path and not any(p in before for p in OWNED):
            raise ShimError('%s exists and was not written by keepalive_shim; it is left alone and nothing was '
                            'changed. Move it away first.' % path)
        if before != after:
            self.files.append({'path': path, 'before': before, 'after': after, 'what': what})

    def _unit_preload(self, unit):
        """(the unit's name as systemd gives it, the quoted LD_PRELOAD assignment of its drop-in)."""
        if not self.system.has_systemd():
            raise ShimError('units need systemd, which does not run here (no /run/systemd/system); use global mode, '
                            'or set LD_PRELOAD yourself')
        rc, out, err = self.system.systemctl('show', '--property=Id', '--property=LoadState', '--property=Environment',
                                             '--', unit)
        if rc != 0:
            raise ShimError('systemctl show %s failed: %s' % (unit, (err or out).strip()))
        properties = parse_show(out)
        if properties.get('LoadState') not in (None, 'loaded'):
            raise ShimError('unit %s is not loaded (LoadState=%s): there is no such unit. Nothing was changed.'
                            % (unit, properties.get('LoadState')))
        try:
            own = unit_preload(properties.get('Environment', ''), self.library)
        except ValueError as exc:
            raise ShimError('cannot read the environment of %s as systemd shows it: %s' % (unit, exc))
        return properties.get('Id') or unit, quote_environment('LD_PRELOAD', preload_with(own, self.library))

    @staticmethod
    def _folders_above(path):
        folders, current = [], ''
        for part in [p for p in os.path.dirname(path).split('/') if p]:
            current += '/' + part
            folders.append(current)
        return folders

    def _check_folders(self):
        """Refuse a library, or a build folder, in a folder that a user other than root could change."""
        problems = []
        for path in (self.library, self.source_path):
            problems += [p for p in self.system.unsafe_folders(path) if p not in problems]
        if os.path.exists(self.library):
            problems += [p for p in self.system.unsafe_folders(self.library, include_self=True) if p not in problems]
        if problems:
            raise ShimError('library=%s is refused: every folder above it, and above the folder it is built in (%s), '
                            'must be owned by root and writable by nobody else, or a user could put their own '
                            'library in its place and have every program that preloads the shim (setuid ones too, '
                            'in global mode) run it as root. Not so: %s. Nothing was changed. Choose a path under a '
                            'system library folder, such as the default %s.'
                            % (self.library, self.build_dir, '; '.join(problems), LIBRARY))

    # --- the outcome ---

    @property
    def changed(self):
        return bool(self.files or self.build or self.remove)

    def restarts(self):
        """The units to restart: those whose drop-in is written or removed."""
        if not self.restart:
            return []
        return [d['unit'] for d in self.dropins if d['action'] != 'unchanged']

    def apply(self):
        """Make the changes, in an order that never leaves a preload entry pointing at a missing library."""
        try:
            if self.state == 'present':
                self._install()
            else:
                self._uninstall()
        except (ShimError, OSError) as exc:
            if not self.applied:
                raise
            raise ShimError('%s; done before this failed: %s' % (exc, '; '.join(self.applied)))

    def _install(self):
        built = self._build() if self.build else None  # compiled and tried in the build folder: nothing changed yet
        for folder in self.folders:
            os.mkdir(folder, 0o755)
            os.chmod(folder, 0o755)
            self.applied.append('made %s' % folder)
        if built:
            with open(built, 'rb') as handle:
                self.system.write(self.library, handle.read(), 0o755)
            self.applied.append('built and installed %s' % self.library)
        for change in self.files:
            if change['path'] == self.preload_path:
                continue
            self._write_or_remove(change)
        self._reload_and_restart()
        for change in self.files:
            if change['path'] == self.preload_path:
                if self.everywhere:
                    self._try(self.library)  # the installed library, before every program loads it
                self._write_or_remove(change)

    def _uninstall(self):
        for change in self.files:
            if change['path'] == self.preload_path:
                self._write_or_remove(change)  # first: no entry may point at a missing library
        for change in self.files:
            if change['path'] != self.preload_path:
                self._write_or_remove(change)
        self._reload_and_restart()
        for path in self.remove:
            if os.path.isdir(path) and not os.path.islink(path):
                for name in os.listdir(path):
                    os.unlink(os.path.join(path, name))
                os.rmdir(path)
            else:
                os.unlink(path)
            self.applied.append('removed %s' % path)
        if os.path.dirname(self.library) == self.own_dir and os.path.isdir(self.own_dir) and not os.listdir(self.own_dir):
            os.rmdir(self.own_dir)
            self.applied.append('removed %s' % self.own_dir)

    def _build(self):
        """Compile the shim in the build folder and try it there; the built library's path."""
        compiler = self.system.compiler()
        if compiler is None:
            raise ShimError('no C compiler (cc) on the host to build the shim: install gcc and the C library headers '
                            '(Debian: gcc libc6-dev), as the role does with keepalive_shim_build_deps')
        if not os.path.isdir(self.build_dir):
            os.mkdir(self.build_dir, 0o755)
            os.chmod(self.build_dir, 0o755)
        self.system.write(self.source_path, self.source, 0o644)
        built = os.path.join(self.build_dir, BUILT_NAME)
        rc, out, err = self.system.run([compiler] + COMPILE + ['-o', built, self.source_path, '-ldl'])
        if rc != 0:
            os.unlink(self.source_path)  # so that the next run builds again
            raise ShimError('compiling the shim failed: %s' % (err or out).strip()[-2000:])
        self._try(built)
        return built

    def _try(self, library):
        """Run a program with ``library`` preloaded: it must start, and its new TCP socket must have keep-alive."""
        rc, out, err = self.system.run([self.system.python(), '-c', CHECK],
                                       environ={'LD_PRELOAD': library, 'KEEPALIVE': 'on'})
        if rc != 0 or out.strip() != '1':
            raise ShimError('a program run with %s preloaded %s: %s; it is not preloaded'
                            % (library, 'failed' if rc else 'got no keep-alive', (err or out).strip()[-2000:]))

    def _write_or_remove(self, change):
        if change['after'] is None:
            os.unlink(change['path'])
            folder = os.path.dirname(change['path'])
            if change['what'] == 'drop-in' and not os.listdir(folder):
                os.rmdir(folder)
            self.applied.append('removed %s' % change['path'])
        else:
            folder = os.path.dirname(change['path'])
            if not os.path.isdir(folder):
                os.mkdir(folder, 0o755)
            self.system.write(change['path'], change['after'], 0o644)
            self.applied.append('wrote %s' % change['path'])

    def _reload_and_restart(self):
        if not any(c['what'] == 'drop-in' for c in self.files):
            return
        self._systemctl('daemon-reload')
        for unit in self.restarts():
            self._systemctl('restart', unit)
            self.applied.append('restarted %s' % unit)

    def _systemctl(self, *args):
        rc, out, err = self.system.systemctl(*args)
        if rc != 0:
            raise ShimError('systemctl %s failed: %s' % (' '.join(args), (err or out).strip()))
