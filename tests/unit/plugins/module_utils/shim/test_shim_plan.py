# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_shim's plan on a fake host: what it builds, writes, restarts and removes, and what it refuses."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils import _owned_files
from ansible_collections.linuxnet.keepalive.plugins.module_utils.shim._shim_plan import (
    MARKER, Plan, ShimError, System, check_library, check_units, preload_lines, render_config,
)

VALUES = {'idle': 45, 'interval': 10, 'count': 3, 'user_timeout': 75000}
SOURCE = '/* the shim */\nint socket(int domain, int type, int protocol);\n'
JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'


class Host(System):
    """A host under a folder of the test's: systemd answers from ``environments``; the compiler and the try succeed
    unless told otherwise; folders are judged from the test's folder down (the folders above it are the test's)."""

    def __init__(self, root, environments=None, compiles=True, keepalive='1'):
        self.root, self.environments = str(root), environments or {}
        self.compiles, self.keepalive = compiles, keepalive
        self.calls = []

    def systemctl(self, *args):
        self.calls.append(('systemctl',) + args)
        if args[0] == 'show':
            unit = args[-1]
            if unit not in self.environments:
                return 0, 'Id=%s\nLoadState=not-found\nEnvironment=\n' % unit, ''
            return 0, 'Id=%s\nLoadState=loaded\nEnvironment=%s\n' % (unit, self.environments[unit]), ''
        return 0, '', ''

    def run(self, argv, environ=None):
        self.calls.append(tuple(argv[:1]) + (('LD_PRELOAD=%s' % environ['LD_PRELOAD'],) if environ else ()))
        if '-o' in argv:
            if not self.compiles:
                return 1, '', 'keepalive_shim.c:1: error: expected'
            with open(argv[argv.index('-o') + 1], 'wb') as handle:
                handle.write(b'\x7fELF shim')
            return 0, '', ''
        return 0, self.keepalive + '\n', ''

    def compiler(self):
        return '/usr/bin/cc'

    def python(self):
        return '/usr/bin/python3'

    def write(self, path, content, mode=0o644):
        with open(path, 'wb' if isinstance(content, bytes) else 'w') as handle:
            handle.write(content)
        os.chmod(path, mode)

    def has_systemd(self):
        return True

    def unsafe_folders(self, path, include_self=False):
        found = _owned_files.unsafe_folders(path, include_self)
        return [p for p in found if p.split(' ')[0].startswith(self.root)]


@pytest.fixture
def host(tmp_path):
    for folder in ('etc', 'units', 'src', 'lib'):
        (tmp_path / folder).mkdir()
        os.chmod(str(tmp_path / folder), 0o755)
    return Host(tmp_path, {'legacy.service': 'OTHER=1', 'jemalloc.service': '"LD_PRELOAD=%s" A=1' % JEMALLOC})


def plan(tmp_path, system, state='present', **kwargs):
    paths = dict(library=str(tmp_path / 'lib' / 'keepalive' / 'libkeepalive_shim.so'),
                 build_dir=str(tmp_path / 'src' / 'keepalive-shim'), config_path=str(tmp_path / 'etc' / 'keepalive-shim.conf'),
                 preload_path=str(tmp_path / 'etc' / 'ld.so.preload'), unit_dir=str(tmp_path / 'units'),
                 own_dir=str(tmp_path / 'lib' / 'keepalive'), source=SOURCE)
    paths.update(kwargs)
    return Plan(system, state, VALUES, **paths).make()


def dropin(tmp_path, unit):
    return tmp_path / 'units' / (unit + '.d') / '50-keepalive-shim.conf'


@pytest.mark.parametrize('library', ['/usr/local/lib/my lib.so', '/usr/local/lib/a:b.so', '/usr/local/lib/a%b.so',
                                     '/usr/local/lib/../lib/x.so', 'libk.so', '/usr/lib/x.so.1', '/a/$x.so', '/a//b.so'])
def test_a_library_path_that_would_break_ld_preload_or_a_unit_is_refused(library):
    with pytest.raises(ShimError) as err:
        check_library(library)
    assert 'library=%r is refused' % library in str(err.value) and 'Nothing was changed' in str(err.value)


def test_only_services_are_taken():
    assert check_units(['legacy', 'a@b.service', 'legacy.service']) == ['legacy.service', 'a@b.service']
    for bad in ('x.socket', 'a b', '../x'):
        with pytest.raises(ShimError, match='is not a service'):
            check_units([bad])


def test_a_fresh_host_gets_the_shim_built_tried_installed_and_preloaded_after_the_units_own(tmp_path, host):
    found = plan(tmp_path, host, units=['legacy', 'jemalloc'], everywhere=True)
    assert found.build and found.changed and found.folders == [str(tmp_path / 'lib' / 'keepalive')]
    found.apply()
    library = str(tmp_path / 'lib' / 'keepalive' / 'libkeepalive_shim.so')
    assert open(library, 'rb').read() == b'\x7fELF shim' and oct(os.stat(library).st_mode & 0o777) == '0o755'
    assert open(str(tmp_path / 'src' / 'keepalive-shim' / 'keepalive_shim.c')).read() == SOURCE
    assert (tmp_path / 'etc' / 'keepalive-shim.conf').read_text().splitlines()[3:] == [
        'KEEPIDLE=45', 'KEEPINTVL=10', 'KEEPCNT=3', 'KEEPALIVE_USER_TIMEOUT=75000']
    assert 'Environment="LD_PRELOAD=%s %s"\n' % (JEMALLOC, library) in dropin(tmp_path, 'jemalloc.service').read_text()
    assert 'Environment="LD_PRELOAD=%s"\n' % library in dropin(tmp_path, 'legacy.service').read_text()
    assert (tmp_path / 'etc' / 'ld.so.preload').read_text() == library + '\n'
    # built, tried as built, reloaded, restarted, then tried as installed before it went into ld.so.preload
    built = str(tmp_path / 'src' / 'keepalive-shim' / 'libkeepalive_shim.so')
    assert host.calls[-6:] == [('/usr/bin/cc',), ('/usr/bin/python3', 'LD_PRELOAD=' + built),
                               ('systemctl', 'daemon-reload'), ('systemctl', 'restart', 'legacy.service'),
                               ('systemctl', 'restart', 'jemalloc.service'), ('/usr/bin/python3', 'LD_PRELOAD=' + library)]
    again = plan(tmp_path, Host(tmp_path, {'legacy.service': 'OTHER=1 "LD_PRELOAD=%s"' % library,
                                           'jemalloc.service': '"LD_PRELOAD=%s %s" A=1' % (JEMALLOC, library)}),
                 units=['legacy', 'jemalloc'], everywhere=True)
    assert not again.changed and [d['action'] for d in again.dropins] == ['unchanged', 'unchanged']


def test_a_unit_no_longer_given_loses_its_drop_in_and_global_off_removes_only_our_line(tmp_path, host):
    plan(tmp_path, host, units=['legacy', 'jemalloc'], everywhere=True).apply()
    preload = tmp_path / 'etc' / 'ld.so.preload'
    preload.write_text('/opt/apm/libapm.so\n' + preload.read_text())
    host.calls = []
    found = plan(tmp_path, host, units=['jemalloc'])
    assert [(d['unit'], d['action']) for d in found.dropins] == [
        ('jemalloc.service', 'unchanged'), ('legacy.service', 'removed')]
    found.apply()
    assert not dropin(tmp_path, 'legacy.service').exists() and not (tmp_path / 'units' / 'legacy.service.d').exists()
    assert preload.read_text() == '/opt/apm/libapm.so\n'
    assert ('systemctl', 'restart', 'legacy.service') in host.calls


def test_absent_takes_it_out_of_ld_so_preload_first_and_leaves_nothing(tmp_path, host):
    plan(tmp_path, host, units=['legacy'], everywhere=True).apply()
    found = plan(tmp_path, host, state='absent')
    assert found.changed
    found.apply()
    for path in ('lib/keepalive', 'src/keepalive-shim', 'etc/keepalive-shim.conf', 'units/legacy.service.d'):
        assert not (tmp_path / path).exists(), path
    assert (tmp_path / 'etc' / 'ld.so.preload').read_text() == ''
    assert found.applied[0] == 'wrote %s' % (tmp_path / 'etc' / 'ld.so.preload')
    assert not plan(tmp_path, host, state='absent').changed


def test_check_mode_plans_and_changes_nothing(tmp_path, host):
    found = plan(tmp_path, host, units=['legacy'], everywhere=True)
    assert found.changed and found.build and found.restarts() == ['legacy.service']
    assert sorted(os.listdir(str(tmp_path / 'etc'))) == [] and os.listdir(str(tmp_path / 'lib')) == []


@pytest.mark.parametrize('where', ['lib', 'src'])
def test_a_folder_another_user_could_change_above_the_library_or_the_build_folder_is_refused(tmp_path, host, where):
    os.chmod(str(tmp_path / where), 0o777)
    with pytest.raises(ShimError) as err:
        plan(tmp_path, host, units=['legacy'])
    assert 'is refused: every folder above it, and above the folder it is built in' in str(err.value)
    assert '%s is owned by uid %d with mode 0777' % (tmp_path / where, os.getuid()) in str(err.value)
    assert 'Nothing was changed' in str(err.value)


def test_a_link_to_a_folder_another_user_could_change_is_refused(tmp_path, host):
    (tmp_path / 'shared').mkdir()
    os.chmod(str(tmp_path / 'shared'), 0o777)
    os.symlink(str(tmp_path / 'shared'), str(tmp_path / 'lib' / 'link'))
    with pytest.raises(ShimError) as err:
        plan(tmp_path, host, library=str(tmp_path / 'lib' / 'link' / 'libk.so'))
    assert '%s is owned by uid %d with mode 0777' % (tmp_path / 'shared', os.getuid()) in str(err.value)


def test_files_it_did_not_write_are_left_alone(tmp_path, host):
    (tmp_path / 'etc' / 'keepalive-shim.conf').write_text('KEEPIDLE=5\n')
    with pytest.raises(ShimError, match='was not written by keepalive_shim'):
        plan(tmp_path, host)


def test_a_shim_that_does_not_compile_or_gives_no_keepalive_is_not_installed(tmp_path, host):
    host.compiles = False
    with pytest.raises(ShimError, match='compiling the shim failed: keepalive_shim.c:1: error'):
        plan(tmp_path, host, units=['legacy']).apply()
    assert not (tmp_path / 'lib' / 'keepalive' / 'libkeepalive_shim.so').exists()
    host.compiles, host.keepalive = True, '0'
    with pytest.raises(ShimError) as err:
        plan(tmp_path, host, units=['legacy'], everywhere=True).apply()
    assert 'got no keep-alive' in str(err.value) and 'it is not preloaded' in str(err.value)
    assert not (tmp_path / 'etc' / 'ld.so.preload').exists()


def test_a_unit_that_is_not_loaded_is_refused(tmp_path, host):
    with pytest.raises(ShimError, match='unit nothere.service is not loaded'):
        plan(tmp_path, host, units=['nothere'])


def test_the_settings_and_preload_lines():
    assert render_config(dict(VALUES, user_timeout=None), '/x.so').startswith('# %s\n' % MARKER)
    assert 'KEEPALIVE_USER_TIMEOUT=' not in render_config(dict(VALUES, user_timeout=None), '/x.so')
    assert preload_lines('/a.so\n/x.so\n', '/x.so', False) == '/a.so\n'
    assert preload_lines(None, '/x.so', True) == '/x.so\n' and preload_lines('/x.so\n', '/x.so', True) == '/x.so\n'
