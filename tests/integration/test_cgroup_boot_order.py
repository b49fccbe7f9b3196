"""The unit files keepalive_cgroup writes, for every kind of unit it takes, verified by systemd itself.

`systemd-analyze verify` loads the rendered boot unit and drop-ins beside the system's own units (a
folder of ours first on SYSTEMD_UNIT_PATH, then the defaults) and builds the start transactions of the
boot's targets: an ordering cycle there is what would make systemd drop a job (local-fs.target, even)
at boot. Nothing is installed on the host and no systemd runs.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, '.cache', 'collections'))
from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup import _cgroup_plan, _sock_ops  # noqa: E402

UNITS = {
    # a service as most are
    'app.service': '[Service]\nExecStart=/bin/sleep 60\n',
    # an early service, ordered before local-fs.target, as fsck and remount helpers are
    'early.service': '[Unit]\nDefaultDependencies=no\nBefore=local-fs.target\n[Service]\nType=oneshot\nExecStart=/bin/true\n',
    # a slice of the user's with a service in it
    'apps.slice': '[Unit]\nDescription=Test slice\n',
    'sliced.service': '[Service]\nSlice=apps.slice\nExecStart=/bin/sleep 60\n',
}
# Each kind of unit taken: services (also early ones), slices made before the boot unit (system.slice) and after.
TARGETS = ['app.service', 'early.service', 'system.slice', 'machine.slice', 'apps.slice']
BOOT = ['sysinit.target', 'local-fs.target', 'basic.target', 'multi-user.target']


@pytest.fixture(scope='module')
def analyze():
    if not shutil.which('systemd-analyze'):
        pytest.fail('systemd-analyze is missing: the Makefile installs the systemd package')
    return shutil.which('systemd-analyze')


def render(folder, targets):
    """The boot unit and a drop-in per target, as keepalive_cgroup writes them, and the test's own units."""
    for name, text in UNITS.items():
        (folder / name).write_text(text)
    for unit in targets:
        dropin = folder / (unit + '.d')
        dropin.mkdir()
        pin = os.path.join(_sock_ops.PIN_DIR, _sock_ops.pin_name('/' + unit))
        (dropin / _cgroup_plan.DROPIN).write_text(_cgroup_plan.render_dropin(unit, pin, '/usr/bin/python3'))
    (folder / _cgroup_plan.BOOT_UNIT).write_text(_cgroup_plan.render_boot_unit('/usr/bin/python3'))


def verify(analyze, folder, units):
    env = dict(os.environ, SYSTEMD_UNIT_PATH='%s:' % folder, SYSTEMD_LOG_LEVEL='notice')
    proc = subprocess.run([analyze, 'verify', '--man=no'] + units, env=env, capture_output=True, text=True, check=False,
                          timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize('target', TARGETS)
def test_each_kind_of_unit_boots_without_an_ordering_cycle(analyze, tmp_path, target):
    render(tmp_path, [target])
    status, output = verify(analyze, tmp_path, [target, _cgroup_plan.BOOT_UNIT] + BOOT)
    assert 'cycle' not in output.lower() and 'deleted to break' not in output, output
    assert status == 0, output


def test_every_kind_at_once_boots_without_an_ordering_cycle(analyze, tmp_path):
    render(tmp_path, TARGETS + ['sliced.service'])
    status, output = verify(analyze, tmp_path, TARGETS + ['sliced.service', _cgroup_plan.BOOT_UNIT] + BOOT)
    assert 'cycle' not in output.lower(), output
    assert status == 0, output


def test_the_check_finds_the_cycle_a_drop_in_ordered_after_the_boot_unit_makes(analyze, tmp_path):
    """The test itself can fail: an After= on the boot unit in a slice's drop-in is seen as the cycle it is."""
    render(tmp_path, [])
    dropin = tmp_path / 'system.slice.d'
    dropin.mkdir()
    (dropin / 'cycle.conf').write_text('[Unit]\nWants=%s\nAfter=%s\n' % ((_cgroup_plan.BOOT_UNIT,) * 2))
    _status, output = verify(analyze, tmp_path, ['system.slice', _cgroup_plan.BOOT_UNIT] + BOOT)
    assert 'cycle' in output.lower(), output
