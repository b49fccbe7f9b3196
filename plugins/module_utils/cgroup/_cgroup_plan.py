# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What keepalive_cgroup changes: its groups resolved, compared with what is attached and persisted, and applied.

A target is a cgroup v2 group, given by path or as a systemd unit. Live, each target gets our sock_ops
program (_sock_ops). Persisted, the targets are written to CONFIG_PATH, which a boot unit applies with
this collection's own _sock_ops file installed at CODE_PATH, and each unit target gets a drop-in with
BPFProgram= and an ExecStartPre=, so that the pinned program is attached to the unit's new group whenever it
starts.
Every check is made before the first change; the module supplies the system calls (``System``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import sysconfig

from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup import _sock_ops
from ansible_collections.linuxnet.keepalive.plugins.module_utils._owned_files import read_text, unsafe_folders
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import SAFE_PATH, parse_show, unit_name

MARKER = _sock_ops.MARKER
CONFIG_PATH = '/etc/keepalive-cgroup.json'
CODE_PATH = '/usr/local/lib/keepalive/keepalive_sock_ops.py'
UNIT_DIR = '/etc/systemd/system'
BOOT_UNIT = 'keepalive-cgroup.service'
DROPIN = '50-keepalive-cgroup.conf'
VALUE_NAMES = _sock_ops.VALUE_NAMES
# The unit file section that takes BPFProgram=, by the unit types taken. Scopes are made anew by whoever
# starts them, so nothing persists for them (persist: false only).
SECTIONS = {'service': 'Service', 'slice': 'Slice'}
# The types refused, and why: their processes are helpers that make no connections of their own, and a
# drop-in that tied them to the boot unit could reorder the boot (a mount is needed before the boot unit runs).
REFUSED_TYPES = {
    'mount': 'a mount unit\'s group holds only mount helpers while they run',
    'swap': 'a swap unit\'s group holds only swapon while it runs',
    'socket': 'a socket unit\'s connections are accepted by the service it starts: give that service',
}

_PART = re.compile(r'^[A-Za-z0-9_.:@\\-]+$')
_UNIT = re.compile(r'^[A-Za-z0-9_.:@\\-]+\.(service|socket|slice|mount|swap|scope)$')


class CgroupError(Exception):
    """A target or the host makes the request impossible; the message says what and why, and nothing was changed."""


def check_cgroup(path):
    """A group path as systemd's ControlGroup shows it ('/system.slice/app.service', '/'); raises CgroupError."""
    parts = path.split('/')[1:] if isinstance(path, str) and path.startswith('/') else None
    if path == '/':
        return path
    if not parts or any(not _PART.match(p) or p in ('.', '..') for p in parts):
        raise CgroupError('cgroups: %r is not a cgroup path; give it from the cgroup2 root as systemd\'s ControlGroup '
                          'property shows it (/system.slice/app.service, or / for every process), of letters, '
                          'digits and _ . : @ \\ - only' % (path,))
    return path


def check_unit(name):
    """A unit name as systemd names it ('app' -> 'app.service'), of a type taken; raises CgroupError."""
    full = unit_name(name) if isinstance(name, str) and name else ''
    if not _UNIT.match(full):
        raise CgroupError('units: %r is not a systemd unit name (letters, digits and _ . : @ \\ -, of type service, '
                          'slice or scope)' % (name,))
    kind = full.rsplit('.', 1)[1]
    if kind in REFUSED_TYPES:
        raise CgroupError('units: %s is refused: %s. Units of type service, slice or scope are taken; for any other '
                          'group give its path as cgroups: instead. Nothing was changed.' % (full, REFUSED_TYPES[kind]))
    if full == '-.slice':
        raise CgroupError('units: -.slice is refused: it is the root of every group, made before anything could attach '
                          'a program to it by name; give cgroups: [/] instead (the role\'s keepalive_cgroup_global). '
                          'Nothing was changed.')
    return full


def unit_cgroup(unit, properties, cgroup_root):
    """The cgroup2 path of a running unit, from its `systemctl show` properties; raises CgroupError saying why not."""
    if properties.get('LoadState', 'loaded') != 'loaded':
        raise CgroupError('unit %s is not loaded (LoadState=%s): there is no such unit' % (unit, properties['LoadState']))
    path = properties.get('ControlGroup') or ''
    if not path:
        raise CgroupError('unit %s has no cgroup (ActiveState=%s): it is not running; start it first, since its group '
                          'is made when it starts' % (unit, properties.get('ActiveState') or 'unknown'))
    if not _sock_ops.group_exists(cgroup_root, path):
        raise CgroupError('the cgroup of unit %s (%s) is not in the cgroup2 hierarchy at %s: systemd keeps its units '
                          'on cgroup v1 here (legacy or hybrid mode without unit groups in cgroup2), so no sock_ops '
                          'program can be attached to the unit' % (unit, path, cgroup_root))
    return path


def dropin_path(unit, unit_dir=UNIT_DIR):
    return os.path.join(unit_dir, unit + '.d', DROPIN)


def command_line(python, code_path, *args):
    """The unit file command that runs _sock_ops.run(args) from the installed code: isolated (-I), writing no
    bytecode (-B), and without site (-S), so that nothing but the standard library is imported as root."""
    folder, name = os.path.split(code_path)
    entry = _sock_ops.ENTRY % (folder, os.path.splitext(name)[0])
    return '%s -I -B -S -c "%s" %s' % (python, entry, ' '.join(args))


def render_dropin(unit, pin_path, python, code_path=CODE_PATH, config_path=CONFIG_PATH):
    """A unit's drop-in: BPFProgram= for systemd, and for a service an ExecStartPre= that attaches the program itself.

    No ordering: every unit with a group is ordered after its slice, and mounts and early services come before
    the boot unit, so After= the boot unit would make a cycle for a slice, a mount or an early service, and
    systemd would break it by dropping a job (local-fs.target, even). Instead, a service's ExecStartPre=
    loads, pins and attaches the program itself when the boot unit has not yet (and where systemd does not:
    a hybrid hierarchy, systemd 252 after an automatic restart); a failure of it does not stop the unit. A
    slice's group made before the boot unit runs (system.slice) gets the program from the boot unit, by path;
    one made later, from BPFProgram= and the pin.
    """
    kind = unit.rsplit('.', 1)[1]
    text = ('# %s: keep-alive for the new TCP connections of this unit.\n'
            '# systemd attaches the program pinned below to the unit\'s cgroup each time it makes the group.\n'
            '[%s]\nBPFProgram=sock_ops:%s\n' % (MARKER, SECTIONS[kind], pin_path))
    if kind == 'service':
        text += 'ExecStartPre=-+%s\n' % command_line(python, code_path, '--unit', '%n', config_path)
    return text


def render_boot_unit(python, code_path=CODE_PATH, config_path=CONFIG_PATH):
    return ('# %s\n'
            '[Unit]\n'
            'Description=Keep-alive for new TCP connections: BPF sock_ops programs (linuxnet.keepalive)\n'
            'Documentation=https://github.com/linuxnet/keepalive\n'
            'DefaultDependencies=no\n'
            'After=local-fs.target\n'
            'Before=sysinit.target shutdown.target\n'
            'Conflicts=shutdown.target\n'
            'ConditionPathExists=%s\n\n'
            '[Service]\n'
            'Type=oneshot\n'
            'RemainAfterExit=yes\n'
            'ExecStart=%s\n\n'
            '[Install]\n'
            'WantedBy=sysinit.target\n' % (MARKER, config_path, command_line(python, code_path, '--boot', config_path)))


def boot_code():
    """The text of _sock_ops.py as this module carries it: the file the boot unit runs."""
    loader = getattr(_sock_ops, '__loader__', None)
    text = None
    if loader is not None and hasattr(loader, 'get_source'):
        try:
            text = loader.get_source(_sock_ops.__name__)
        except ImportError:
            text = None
    if isinstance(text, bytes):
        text = text.decode('utf-8')
    if text is None:
        text = read_text(_sock_ops.__file__)
    if not text or MARKER not in text:
        raise CgroupError('the collection\'s own sock_ops code could not be read from %s' % _sock_ops.__file__)
    return text


class System:
    """What the plan needs from the host; the module gives the real one, tests a recording one."""

    def systemctl(self, *args):
        """Run systemctl with ``args``: (rc, stdout, stderr)."""
        raise NotImplementedError

    def write(self, path, content, mode=0o644):
        raise NotImplementedError

    def has_systemd(self):
        return os.path.isdir('/run/systemd/system')

    def stdlib_folders(self):
        """The folders the boot unit's interpreter imports from (it runs without site, so the standard library's
        only): this interpreter's, which is the one the unit files name."""
        paths = sysconfig.get_paths()
        return sorted(set(p for p in (paths.get('stdlib'), paths.get('platstdlib'),
                                      os.path.join(paths.get('platstdlib') or '', 'lib-dynload')) if p and os.path.isdir(p)))


class Plan:
    """Everything keepalive_cgroup will do, worked out (and checked) before anything is done."""

    def __init__(self, system, state, values, cgroups=(), units=(), persist=True, exclusive=False, python=None,
                 mountinfo='/proc/self/mountinfo', pin_dir=_sock_ops.PIN_DIR, config_path=CONFIG_PATH, code_path=CODE_PATH,
                 unit_dir=UNIT_DIR):
        self.system = system
        self.state = state
        self.values = dict((k, values.get(k)) for k in VALUE_NAMES)
        self.persist = persist
        self.exclusive = exclusive
        self.python = python
        self.mountinfo = mountinfo
        self.pin_dir = pin_dir
        self.config_path = config_path
        self.code_path = code_path
        self.unit_dir = unit_dir
        self.warnings = []
        self.cgroups = [check_cgroup(c) for c in cgroups or []]
        self.units = [check_unit(u) for u in units or []]
        self.config_text = read_text(config_path)
        if self.config_text is not None and MARKER not in self.config_text:
            raise CgroupError('%s exists and was not written by keepalive_cgroup; it is left alone. Move it away first.'
                              % config_path)
        try:
            self.config = _sock_ops.parse_config(self.config_text) if self.config_text else []
        except ValueError as exc:
            raise CgroupError('%s cannot be read (%s); fix or remove it first' % (config_path, exc))
        self.cgroup_root = None
        self.rows = []
        self.files = []
        self.config_after = None
        self.applied = []

    # --- what is asked, and what is there ---

    def _root(self):
        if self.cgroup_root is None:
            try:
                self.cgroup_root = _sock_ops.cgroup2_mount(self.mountinfo)
            except _sock_ops.BpfError as exc:
                raise CgroupError(exc.reason)
        return self.cgroup_root

    def _has_ours(self):
        return bool(self.config) or bool(_sock_ops.ours(self.pin_dir))

    def _resolve_units(self):
        """[(unit, cgroup)] of the units asked for, each by the name systemd gives it (an alias, such as Debian's
        sshd.service for ssh.service, by its unit's Id: the name %n expands to in its drop-in); a unit being removed
        may be found in the configuration."""
        found = []
        known = dict((t['unit'], t['cgroup']) for t in self.config if t.get('unit'))
        for unit in self.units:
            if not self.system.has_systemd():
                if self.state == 'absent':
                    if unit in known:
                        found.append((unit, known[unit]))
                    continue
                raise CgroupError('units need systemd, which does not run here (no /run/systemd/system); give the '
                                  'group as cgroups instead')
            rc, out, err = self.system.systemctl('show', '--property=Id', '--property=LoadState', '--property=ActiveState',
                                                 '--property=ControlGroup', '--', unit)
            if rc != 0:
                raise CgroupError('systemctl show %s failed: %s' % (unit, (err or out).strip()))
            properties = parse_show(out)
            name = check_unit(properties.get('Id') or unit)
            if self.state == 'absent':
                if name in known:
                    found.append((name, known[name]))
                elif properties.get('ControlGroup'):
                    found.append((name, properties['ControlGroup']))
                continue
            found.append((name, unit_cgroup(name if name == unit else '%s (%s)' % (unit, name), properties,
                                            self._root())))
        return found

    def targets(self):
        """[{'cgroup', 'unit', values...}] asked for, one per group (a unit wins over a path to the same group)."""
        by_group = {}
        for cgroup in self.cgroups:
            by_group[cgroup] = dict(self.values, cgroup=cgroup, unit=None)
        for unit, cgroup in self._resolve_units():
            by_group[cgroup] = dict(self.values, cgroup=cgroup, unit=unit)
        return [by_group[c] for c in sorted(by_group)]

    def make(self):
        """Work out every change; raise CgroupError before anything changes when one is impossible."""
        if self.state == 'absent' and not self._has_ours():
            return self  # nothing of ours anywhere: no cgroup2, bpffs or systemd is needed to say so
        asked = self.targets()
        config_units = dict((t['cgroup'], t.get('unit')) for t in self.config)
        ours = set(_sock_ops.ours(self.pin_dir)) | set(config_units)
        if self.state == 'present':
            root = self._root()
            for target in asked:
                if target['unit'] is None and not _sock_ops.group_exists(root, target['cgroup']):
                    raise CgroupError('cgroup %s does not exist under %s (the cgroup2 hierarchy); nothing was attached'
                                      % (target['cgroup'], root))
            removed = sorted(ours - set(t['cgroup'] for t in asked)) if self.exclusive else []
        else:
            # the targets given (a unit neither running nor persisted has nothing of ours), or with none, all of ours
            removed = sorted(ours & set(t['cgroup'] for t in asked)) if self.cgroups or self.units else sorted(ours)
        for target in asked if self.state == 'present' else []:
            self.rows.append(self._present_row(target))
        for cgroup in removed:
            self.rows.append(self._removed_row(cgroup, config_units.get(cgroup)))
        self._plan_files(asked, removed)
        return self

    def _present_row(self, target):
        state = _sock_ops.group_state(self._root(), self.pin_dir, target['cgroup'])
        pinned = state['pinned']
        if pinned is not None and not pinned['ours']:
            raise CgroupError(_sock_ops.not_ours(pinned) + ' and nothing was attached')
        refusal = None if state['attached'] else _sock_ops.attach_refusal(self._root(), target['cgroup'])
        if refusal:
            raise CgroupError('%s%s; nothing was attached to any group. Detach that program, or leave the group out.'
                              % (refusal, ' (unit %s)' % target['unit'] if target['unit'] else ''))
        self._warn_orphans(target['cgroup'], state)
        same = pinned is not None and pinned['tag'] in _sock_ops.tags(_sock_ops.build(target))
        if same and state['attached']:
            action = 'unchanged'
        elif pinned is not None and state['attached']:
            action = 'replaced'
        else:
            action = 'added'
        before = (pinned['values'] or 'unknown') if pinned is not None and state['attached'] else None
        return dict(cgroup=target['cgroup'], unit=target['unit'], action=action, before=before,
                    after=dict((k, target[k]) for k in VALUE_NAMES), target=target,
                    program_id=pinned['id'] if pinned is not None else None, others=state['others'])

    def _removed_row(self, cgroup, unit):
        pinned = _sock_ops.pinned(self.pin_dir, cgroup)
        if pinned is not None and not pinned['ours']:
            raise CgroupError(_sock_ops.not_ours(pinned) + ' and nothing was changed')
        return dict(cgroup=cgroup, unit=unit, action='removed' if pinned is not None else 'unchanged',
                    before=(pinned['values'] or 'unknown') if pinned is not None else None, after=None, target=None,
                    program_id=pinned['id'] if pinned is not None else None, others=[])

    def _warn_orphans(self, cgroup, state):
        for other in state['others']:
            if other['name'] == _sock_ops.PROGRAM_NAME:
                self.warnings.append('cgroup %s has a sock_ops program named %s (id %d) that is not pinned at our path: '
                                     'not identifiable as ours, so it is left attached' % (cgroup, other['name'], other['id']))

    # --- the files that make it last ---

    def _plan_files(self, asked, removed):
        manage = self.persist or self.state == 'absent'
        if not manage:
            return
        gone = set(removed) | (set(t['cgroup'] for t in asked) if self.state == 'present' else set())
        after = [t for t in self.config if t['cgroup'] not in gone]
        if self.state == 'present':
            after += [dict((k, t[k]) for k in ('cgroup', 'unit') + VALUE_NAMES) for t in asked]
        self.config_after = after
        wanted = {}
        if after:
            if not self.system.has_systemd():
                raise CgroupError('persist: true needs systemd (no /run/systemd/system here), which runs the boot unit '
                                  'and attaches the programs of units when they restart; use persist: false')
            units = [t for t in after if t.get('unit')]
            for target in units:
                if target['unit'].endswith('.scope'):
                    raise CgroupError('unit %s is a scope, made anew by whoever starts it, so nothing can be persisted '
                                      'for it; give its slice, or use persist: false' % target['unit'])
            boot_unit = os.path.join(self.unit_dir, BOOT_UNIT)
            self._check_folders([self.config_path, self.code_path, boot_unit] +
                                [dropin_path(t['unit'], self.unit_dir) for t in units])
            python = self._python()
            for target in units:
                pin = os.path.join(self.pin_dir, _sock_ops.pin_name(target['cgroup']))
                wanted[dropin_path(target['unit'], self.unit_dir)] = render_dropin(target['unit'], pin, python,
                                                                                   self.code_path, self.config_path)
            wanted[self.config_path] = _sock_ops.render_config(after)
            wanted[self.code_path] = boot_code()
            wanted[boot_unit] = render_boot_unit(python, self.code_path, self.config_path)
        present = dict((path, read_text(path)) for path in self._our_files())
        for path in sorted(set(present) | set(wanted)):
            before, content = present.get(path), wanted.get(path)
            if before is not None and MARKER not in before:
                if content is None:
                    self.warnings.append('%s was not written by keepalive_cgroup; it is left alone' % path)
                    continue
                raise CgroupError('%s exists and was not written by keepalive_cgroup; it is left alone and nothing was '
                                  'changed. Move it away first.' % path)
            if before != content:
                self.files.append(dict(path=path, before=before, after=content))

    def _our_files(self):
        found = [self.config_path, self.code_path, os.path.join(self.unit_dir, BOOT_UNIT)]
        found += glob.glob(os.path.join(self.unit_dir, '*.d', DROPIN))
        return [p for p in found if os.path.lexists(p)]

    def _python(self):
        problems = unsafe_folders(self.python, include_self=True) if self.python else ['no interpreter path']
        for folder in self.system.stdlib_folders():
            problems += [p for p in unsafe_folders(folder, include_self=True) if p not in problems]
        if self.python and not SAFE_PATH.match(self.python):
            problems.append('its path has characters a unit file\'s ExecStart= would change (only letters, digits and '
                            '/ _ . + - are taken as they are)')
        if problems or not os.path.isabs(self.python or ''):
            raise CgroupError('the boot unit would run %s as root, but %s: choose an interpreter that only root can '
                              'change, with a standard library only root can change (ansible_python_interpreter, such '
                              'as /usr/bin/python3); nothing was changed'
                              % (self.python, '; '.join(problems) or 'it is not an absolute path'))
        return self.python

    def _check_folders(self, paths):
        problems = []
        for path in sorted(paths):
            problems += [p for p in unsafe_folders(path) if p not in problems]
        if problems:
            raise CgroupError('the files that keep the programs across reboots are run or read by root, but a user other '
                              'than root could change a folder above them: %s. Nothing was changed.' % '; '.join(problems))

    # --- the outcome ---

    @property
    def changed(self):
        return any(r['action'] != 'unchanged' for r in self.rows) or bool(self.files)

    def _needs_systemd_reload(self):
        return any(f['path'].startswith(self.unit_dir + '/') for f in self.files)

    def apply(self):
        """Make the changes: live first (after the kernel's self-test), then files, then removals.

        Every target was checked when planned; should a step still fail, ``applied`` tells what was done before
        it (the module reports it, with changed true when anything was)."""
        self.applied = []
        loads = [r for r in self.rows if r['action'] in ('added', 'replaced')]
        try:
            if loads:
                parent = os.path.dirname(self.pin_dir)
                if not _sock_ops.bpffs_mounted(parent, self.mountinfo):
                    _sock_ops.mount_bpffs(parent)
                    self.applied.append('mounted the BPF file system at %s' % parent)
                _sock_ops.self_test(self._root(), self.values)
                for row in loads:
                    done = _sock_ops.ensure(self._root(), self.pin_dir, row['cgroup'], row['target'])
                    self.applied.append('cgroup %s: %s' % (row['cgroup'], done))
            self._apply_files()
            for row in self.rows:
                if row['action'] == 'removed':
                    _sock_ops.remove(self._root(), self.pin_dir, row['cgroup'])
                    self.applied.append('cgroup %s: removed' % row['cgroup'])
            if os.path.isdir(self.pin_dir) and not os.listdir(self.pin_dir):
                os.rmdir(self.pin_dir)
        except (CgroupError, _sock_ops.BpfError, OSError) as exc:
            if not self.applied:
                raise
            raise CgroupError('%s; done before this failed: %s' % (getattr(exc, 'reason', exc), '; '.join(self.applied)))

    def _apply_files(self):
        if not self.files:
            return
        unit_path = os.path.join(self.unit_dir, BOOT_UNIT)
        if not self.config_after and any(f['path'] == unit_path and f['after'] is None for f in self.files):
            self._systemctl('disable', '--now', BOOT_UNIT)
        for change in self.files:
            if change['after'] is None:
                os.unlink(change['path'])
                self.applied.append('removed %s' % change['path'])
                folder = os.path.dirname(change['path'])
                own = folder == os.path.dirname(self.code_path) or (folder.endswith('.d')
                                                                    and os.path.dirname(folder) == self.unit_dir)
                if own and not os.listdir(folder):
                    os.rmdir(folder)
        for change in self.files:
            if change['after'] is not None:
                self.system.write(change['path'], change['after'], 0o644)
                self.applied.append('wrote %s' % change['path'])
        if self._needs_systemd_reload():
            self._systemctl('daemon-reload')
        if self.config_after:
            self._systemctl('enable', BOOT_UNIT)
            self._systemctl('restart', BOOT_UNIT)
        elif any(f['path'] == unit_path for f in self.files):
            self.system.systemctl('reset-failed', BOOT_UNIT)

    def _systemctl(self, *args):
        rc, out, err = self.system.systemctl(*args)
        if rc != 0:
            detail = (err or out).strip()
            if args[0] == 'restart':
                _rc, log, _err = self.system.systemctl('status', '--no-pager', '--lines=20', BOOT_UNIT)
                detail += '\n' + log
            raise CgroupError('systemctl %s failed: %s' % (' '.join(args), detail))

    def attached(self):
        """Every target of ours as it is now: [{'cgroup', 'unit', 'program_id', 'pin', 'attached', values...}]."""
        units = dict((t['cgroup'], t.get('unit')) for t in (self.config if self.config_after is None else self.config_after))
        units.update((r['cgroup'], r['unit']) for r in self.rows if r['action'] != 'removed')
        found = []
        for cgroup in _sock_ops.ours(self.pin_dir):
            state = _sock_ops.group_state(self._root(), self.pin_dir, cgroup)
            pinned = state['pinned'] or {}
            row = dict(cgroup=cgroup, unit=units.get(cgroup), program_id=pinned.get('id'), pin=pinned.get('pin'),
                       attached=state['attached'])
            row.update(pinned.get('values') or dict((k, None) for k in VALUE_NAMES))
            found.append(row)
        return found

    def predicted(self):
        """What attached() will show after the changes, for check mode."""
        acted = set(r['cgroup'] for r in self.rows)
        found = [row for row in self.attached() if row['cgroup'] not in acted]
        for row in self.rows:
            if row['action'] == 'removed' or not row['after']:  # nothing of ours there after the changes
                continue
            entry = dict(cgroup=row['cgroup'], unit=row['unit'],
                         program_id=row['program_id'] if row['action'] == 'unchanged' else None,
                         pin=os.path.join(self.pin_dir, _sock_ops.pin_name(row['cgroup'])), attached=True)
            entry.update(row['after'])
            found.append(entry)
        return sorted(found, key=lambda r: r['cgroup'])
