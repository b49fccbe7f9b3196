# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_cgroup's main(): what a user reads (msg, diff, the failure's words) when there is nothing to do, in check
mode, and for each refusal, on the fake host of the plan's tests (tests/unit/plugins/module_utils/cgroup). Attaching
for real is proven in the integration tests and the Molecule scenario cgroup."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.linuxnet.keepalive.plugins.modules import keepalive_cgroup
from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup import _cgroup_plan, _sock_ops
from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup._cgroup_plan import Plan
from ansible_collections.linuxnet.keepalive.tests.unit.plugins.module_utils.cgroup.test_cgroup_plan import (
    VALUES, Recorder, persisted,
)


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = Recorder()
    monkeypatch.setattr(keepalive_cgroup, 'ModuleSystem', lambda module: fake)
    monkeypatch.setattr(keepalive_cgroup, 'Plan', functools.partial(
        Plan, config_path=str(tmp_path / 'etc' / 'keepalive-cgroup.json'), code_path=str(tmp_path / 'lib' / 'code.py'),
        unit_dir=str(tmp_path / 'units'), pin_dir=str(tmp_path / 'bpf' / 'keepalive'),
        mountinfo=str(tmp_path / 'mountinfo')))
    return fake


def run(capsys, check_mode=False, diff=False, **args):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            keepalive_cgroup.main()
    return json.loads(capsys.readouterr().out)


def test_absent_with_nothing_of_ours_says_so(host, capsys):
    result = run(capsys, state='absent')
    assert not result['changed'] and result['msg'] == 'no group has our sock_ops program; nothing to change'
    assert result['targets'] == [] and result['files'] == [] and result['attached'] == []


def test_absent_in_check_mode_names_the_files_it_would_remove_and_removes_none(tmp_path, host, capsys):
    persisted(tmp_path, [dict(VALUES, cgroup='/system.slice/app.service', unit='app.service')])
    dropin = tmp_path / 'units' / 'app.service.d' / _cgroup_plan.DROPIN
    dropin.parent.mkdir(parents=True)
    dropin.write_text(_cgroup_plan.render_dropin('app.service', '/p', '/usr/bin/python3'))
    result = run(capsys, check_mode=True, diff=True, state='absent')
    assert result['changed'] and result['msg'].endswith('; 2 file(s) would change')
    assert sorted(f['path'] for f in result['files']) == sorted([str(tmp_path / 'etc' / 'keepalive-cgroup.json'),
                                                                str(dropin)])
    assert all(f['action'] == 'removed' for f in result['files'])
    assert [d['after'] for d in result['diff'] if d['after_header'] == str(dropin)] == ['']
    assert dropin.exists() and (tmp_path / 'etc' / 'keepalive-cgroup.json').exists()


@pytest.mark.parametrize('args,words', [
    ({'state': 'present'}, 'state=present needs at least one target: cgroups'),
    ({'cgroups': ['/'], 'idle': 0}, 'idle'),
    ({'cgroups': ['/'], 'count': 128}, 'count'),
    ({'units': ['x.target']}, 'is not a systemd unit name'),
    ({'cgroups': ['system.slice']}, 'is not a cgroup path'),
])
def test_bad_input_is_named_and_nothing_is_changed(tmp_path, host, capsys, args, words):
    result = run(capsys, **args)
    assert result['failed'] and words in result['msg'] and 'Nothing was changed' in result['msg']
    assert not result.get('changed') and not os.path.exists(str(tmp_path / 'etc'))


def test_a_configuration_file_it_did_not_write_is_left_alone_and_named(tmp_path, host, capsys):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc' / 'keepalive-cgroup.json').write_text('{"targets": []}')
    result = run(capsys, state='absent')
    assert result['failed'] and 'was not written by keepalive_cgroup; it is left alone' in result['msg']
    assert (tmp_path / 'etc' / 'keepalive-cgroup.json').read_text() == '{"targets": []}'
    assert _sock_ops.MARKER not in result['msg']
