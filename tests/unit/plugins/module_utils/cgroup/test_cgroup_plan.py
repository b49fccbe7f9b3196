# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_cgroup's targets, the unit files it writes, and the checks made before anything changes."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex
import subprocess
import sys

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup import _cgroup_plan, _sock_ops
from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup._cgroup_plan import (
    CgroupError, Plan, System, check_cgroup, check_unit, parse_show, render_boot_unit, render_dropin, unit_cgroup,
)

VALUES = {'idle': 60, 'interval': 15, 'count': 4, 'user_timeout': None}


@pytest.mark.parametrize('path', ['/', '/system.slice/app.service', '/machine.slice/libpod-1a.scope/container',
                                  '/system.slice/system-getty.slice/getty@tty1.service', '/a\\x2db'])
def test_group_paths_as_systemd_shows_them_are_taken(path):
    assert check_cgroup(path) == path


@pytest.mark.parametrize('path', ['', 'system.slice', '//x', '/x/', '/x/../y', '/./x', '/a b', '/a;b', None, 5])
def test_other_group_paths_are_refused_naming_what_is_allowed(path):
    with pytest.raises(CgroupError) as err:
        check_cgroup(path)
    assert 'is not a cgroup path' in str(err.value) and '/system.slice/app.service' in str(err.value)


def test_unit_names_get_their_type_and_bad_ones_are_refused():
    assert check_unit('app') == 'app.service'
    assert check_unit('getty@tty1.service') == 'getty@tty1.service'
    assert check_unit('machine.slice') == 'machine.slice'
    for bad in ('a/b', 'x.target', '', 'a b', '../x.service'):
        with pytest.raises(CgroupError) as err:
            check_unit(bad)
        assert 'is not a systemd unit name' in str(err.value)


def test_a_units_group_is_found_or_the_reason_it_has_none_is_given(tmp_path):
    (tmp_path / 'system.slice' / 'app.service').mkdir(parents=True)
    show = parse_show('LoadState=loaded\nActiveState=active\nControlGroup=/system.slice/app.service\n')
    assert unit_cgroup('app.service', show, str(tmp_path)) == '/system.slice/app.service'
    cases = [
        ('LoadState=not-found\nActiveState=inactive\nControlGroup=\n', 'is not loaded (LoadState=not-found)'),
        ('LoadState=loaded\nActiveState=inactive\nControlGroup=\n', 'has no cgroup (ActiveState=inactive): it is not running'),
        ('LoadState=loaded\nActiveState=active\nControlGroup=/system.slice/other.service\n',
         'is not in the cgroup2 hierarchy at %s: systemd keeps its units on cgroup v1 here' % tmp_path),
    ]
    for text, words in cases:
        with pytest.raises(CgroupError) as err:
            unit_cgroup('app.service', parse_show(text), str(tmp_path))
        assert words in str(err.value)


def test_the_drop_in_uses_the_units_section_and_orders_nothing():
    text = render_dropin('app.service', '/sys/fs/bpf/keepalive/cg-system_dslice-app_dservice', '/usr/bin/python3')
    assert _sock_ops.MARKER in text
    # no Wants=/After= on the boot unit: for a slice, a mount or an early service that is an ordering cycle
    assert '[Unit]' not in text and 'After=' not in text and 'Wants=' not in text
    assert '[Service]\nBPFProgram=sock_ops:/sys/fs/bpf/keepalive/cg-system_dslice-app_dservice\n' in text
    # the unit's start attaches it where the boot unit or systemd did not; '-' ignores a failure
    assert 'ExecStartPre=-+/usr/bin/python3 -I -B -S -c "import sys; sys.path[:0] = [\'/usr/local/lib/keepalive\']; ' \
        in text
    assert '" --unit %n /etc/keepalive-cgroup.json\n' in text
    assert text.count('\n[') == 1 and text.count('[Service]') == 1  # one section
    assert render_dropin('machine.slice', '/p', '/usr/bin/python3').endswith('\n[Slice]\nBPFProgram=sock_ops:/p\n')


@pytest.mark.parametrize('unit,words', [
    ('var-lib-x.mount', 'a mount unit\'s group holds only mount helpers'),
    ('app.socket', 'accepted by the service it starts: give that service'),
    ('dev-vdb.swap', 'swapon'),
    ('-.slice', 'give cgroups: [/] instead'),
])
def test_units_whose_type_cannot_be_served_are_refused_pointing_at_cgroups(unit, words):
    with pytest.raises(CgroupError) as err:
        check_unit(unit)
    assert words in str(err.value) and 'cgroups' in str(err.value) and 'Nothing was changed' in str(err.value)


def test_the_boot_unit_runs_the_installed_code_isolated_before_other_units():
    text = render_boot_unit('/usr/bin/python3')
    assert 'ExecStart=/usr/bin/python3 -I -B -S -c "import sys; sys.path[:0] = [\'/usr/local/lib/keepalive\']; ' \
        'import keepalive_sock_ops as code; ' in text
    assert '" --boot /etc/keepalive-cgroup.json\n' in text
    for line in ('DefaultDependencies=no', 'Before=sysinit.target shutdown.target', 'WantedBy=sysinit.target',
                 'Type=oneshot', 'RemainAfterExit=yes', 'ConditionPathExists=/etc/keepalive-cgroup.json'):
        assert line + '\n' in text


def test_the_code_the_boot_unit_runs_is_the_collections_own_file():
    with open(_sock_ops.__file__) as handle:
        assert _cgroup_plan.boot_code() == handle.read()


def test_the_unit_files_command_runs_the_installed_copy_alone(tmp_path):
    folder = tmp_path / 'lib'
    folder.mkdir()
    (folder / 'keepalive_sock_ops.py').write_text(_cgroup_plan.boot_code())
    config = tmp_path / 'keepalive-cgroup.json'
    config.write_text(_sock_ops.render_config([dict(VALUES, cgroup='/system.slice/a.service', unit='a.service')]))
    line = _cgroup_plan.command_line(sys.executable, str(folder / 'keepalive_sock_ops.py'), '--unit', 'b.service',
                                     str(config))
    # systemd splits the line as a shell would here: no $, % or \\ in it
    assert not set('$%\\') & set(line)
    found = subprocess.run(shlex.split(line), capture_output=True, text=True, check=False, cwd=str(tmp_path))
    assert found.returncode == 1
    assert found.stdout == 'keepalive: unit b.service: not in %s, nothing to attach\n' % config


class Recorder(System):
    def __init__(self, systemd=True):
        self.calls, self.systemd = [], systemd

    def systemctl(self, *args):
        self.calls.append(args)
        return 0, '', ''

    def has_systemd(self):
        return self.systemd


def plan(tmp_path, system=None, **kwargs):
    paths = dict(config_path=str(tmp_path / 'etc' / 'keepalive-cgroup.json'),
                 code_path=str(tmp_path / 'lib' / 'keepalive_sock_ops.py'), unit_dir=str(tmp_path / 'units'),
                 pin_dir=str(tmp_path / 'bpf' / 'keepalive'), mountinfo=str(tmp_path / 'mountinfo'))
    paths.update(kwargs)
    return Plan(system or Recorder(), 'absent', VALUES, python=sys.executable, **paths)


def test_absent_with_nothing_of_ours_needs_no_cgroup2_bpffs_or_systemd(tmp_path):
    found = plan(tmp_path, Recorder(systemd=False)).make()
    assert not found.changed and found.rows == [] and found.files == [] and found.attached() == []


def test_a_configuration_file_the_module_did_not_write_is_refused(tmp_path):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc' / 'keepalive-cgroup.json').write_text('{"targets": []}')
    with pytest.raises(CgroupError) as err:
        plan(tmp_path)
    assert 'was not written by keepalive_cgroup; it is left alone' in str(err.value)


def persisted(tmp_path, targets):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc' / 'keepalive-cgroup.json').write_text(_sock_ops.render_config(targets))
    (tmp_path / 'mountinfo').write_text('41 31 0:38 / %s rw - cgroup2 cgroup2 rw\n' % (tmp_path / 'cgroup'))
    (tmp_path / 'cgroup').mkdir()


def test_absent_removes_our_files_and_leaves_a_drop_in_it_did_not_write(tmp_path):
    persisted(tmp_path, [dict(VALUES, cgroup='/system.slice/app.service', unit='app.service')])
    ours = tmp_path / 'units' / 'app.service.d' / _cgroup_plan.DROPIN
    theirs = tmp_path / 'units' / 'other.service.d' / _cgroup_plan.DROPIN
    ours.parent.mkdir(parents=True)
    theirs.parent.mkdir(parents=True)
    ours.write_text(render_dropin('app.service', '/p', '/usr/bin/python3'))
    theirs.write_text('[Service]\nBPFProgram=sock_ops:/theirs\n')
    found = plan(tmp_path).make()
    config = str(tmp_path / 'etc' / 'keepalive-cgroup.json')
    assert sorted((f['path'], f['after']) for f in found.files) == [(config, None), (str(ours), None)]
    assert any('other.service.d' in w and 'left alone' in w for w in found.warnings)
    assert [(r['cgroup'], r['action']) for r in found.rows] == [('/system.slice/app.service', 'unchanged')]


def test_files_are_refused_under_a_folder_someone_else_could_change(tmp_path):
    folder = tmp_path / 'shared'
    folder.mkdir()
    os.chmod(str(folder), 0o777)
    persisted(tmp_path, [])
    (tmp_path / 'cgroup' / 'x').mkdir()
    found = Plan(Recorder(), 'present', VALUES, cgroups=['/x'], python=sys.executable,
                 config_path=str(tmp_path / 'etc' / 'keepalive-cgroup.json'), code_path=str(folder / 'code.py'),
                 unit_dir=str(tmp_path / 'units'), pin_dir=str(tmp_path / 'bpf' / 'keepalive'),
                 mountinfo=str(tmp_path / 'mountinfo'))
    with pytest.raises(CgroupError) as err:
        found._plan_files(found.targets(), [])
    assert '%s is owned by uid %d with mode 0777' % (folder, os.getuid()) in str(err.value)
    assert 'Nothing was changed' in str(err.value)


def test_persisting_needs_systemd_and_scopes_cannot_be_persisted(tmp_path):
    persisted(tmp_path, [])
    found = plan(tmp_path, Recorder(systemd=False))
    found.state = 'present'
    with pytest.raises(CgroupError) as err:
        found._plan_files([dict(VALUES, cgroup='/', unit=None)], [])
    assert 'persist: true needs systemd' in str(err.value)
    found = plan(tmp_path)
    found.state = 'present'
    with pytest.raises(CgroupError) as err:
        found._plan_files([dict(VALUES, cgroup='/x/a.scope', unit='a.scope')], [])
    assert 'is a scope' in str(err.value)


def test_the_boot_unit_refuses_an_interpreter_others_could_replace(tmp_path):
    found = plan(tmp_path)
    found.python = str(tmp_path / 'python3')
    (tmp_path / 'python3').write_text('')
    os.chmod(str(tmp_path / 'python3'), 0o777)
    with pytest.raises(CgroupError) as err:
        found._python()
    assert 'the boot unit would run %s as root' % found.python in str(err.value)
    assert '%s is owned by uid %d with mode 0777' % (found.python, os.getuid()) in str(err.value)
    found.python = '/usr/bin/py%sthon3'
    with pytest.raises(CgroupError) as err:
        found._python()
    assert "characters a unit file's ExecStart= would change" in str(err.value)


class Systemd(Recorder):
    """systemctl show as systemd answers it: an alias by its unit's Id."""

    def __init__(self, cgroup_root, ids):
        super(Systemd, self).__init__()
        self.root, self.ids = cgroup_root, ids

    def systemctl(self, *args):
        self.calls.append(args)
        if args[0] != 'show':
            return 0, '', ''
        name = self.ids.get(args[-1], args[-1])
        return 0, 'Id=%s\nLoadState=loaded\nActiveState=active\nControlGroup=/system.slice/%s\n' % (name, name), ''


def test_a_unit_given_by_an_alias_is_stored_under_the_name_its_drop_in_expands_to(tmp_path):
    persisted(tmp_path, [])
    (tmp_path / 'cgroup' / 'system.slice' / 'ssh.service').mkdir(parents=True)
    found = Plan(Systemd(tmp_path, {'sshd.service': 'ssh.service'}), 'present', VALUES, units=['sshd'],
                 python=sys.executable, config_path=str(tmp_path / 'etc' / 'keepalive-cgroup.json'),
                 unit_dir=str(tmp_path / 'units'), pin_dir=str(tmp_path / 'bpf' / 'keepalive'),
                 mountinfo=str(tmp_path / 'mountinfo'))
    assert found.targets() == [dict(VALUES, cgroup='/system.slice/ssh.service', unit='ssh.service')]


def test_the_boot_unit_refuses_a_standard_library_others_could_change(tmp_path):
    library = tmp_path / 'lib' / 'python3'
    library.mkdir(parents=True)
    os.chmod(str(library), 0o777)
    system = Recorder()
    system.stdlib_folders = lambda: [str(library)]
    found = plan(tmp_path, system)
    with pytest.raises(CgroupError) as err:
        found._python()
    assert '%s is owned by uid %d with mode 0777' % (library, os.getuid()) in str(err.value)
    assert 'a standard library only root can change' in str(err.value)


def test_the_boot_units_interpreter_imports_the_standard_library_only():
    # -I: no PYTHON* variables or user site; -S: no site, so no .pth file of any site-packages runs
    line = _cgroup_plan.command_line('/usr/bin/python3', '/usr/local/lib/keepalive/keepalive_sock_ops.py', '--boot', 'x')
    assert line.startswith('/usr/bin/python3 -I -B -S -c ')
    assert System().stdlib_folders() and all(os.path.isdir(f) for f in System().stdlib_folders())


def test_a_step_that_fails_after_others_says_what_was_done(tmp_path, monkeypatch):
    persisted(tmp_path, [])
    found = plan(tmp_path)
    found.state = 'present'
    found.rows = [dict(cgroup=c, unit=None, action='added', target=dict(VALUES, cgroup=c)) for c in ('/a', '/b')]
    monkeypatch.setattr(_sock_ops, 'bpffs_mounted', lambda *args: True)
    monkeypatch.setattr(_sock_ops, 'self_test', lambda *args: None)

    def ensure(root, pin_dir, cgroup, values):
        if cgroup == '/b':
            raise _sock_ops.BpfError('cgroup /b: attaching the program: Operation not permitted')
        return 'added'
    monkeypatch.setattr(_sock_ops, 'ensure', ensure)
    with pytest.raises(CgroupError) as err:
        found.apply()
    assert str(err.value) == ('cgroup /b: attaching the program: Operation not permitted; done before this failed: '
                              'cgroup /a: added')
    assert found.applied == ['cgroup /a: added']
