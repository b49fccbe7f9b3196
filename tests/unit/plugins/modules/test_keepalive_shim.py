# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_shim's main(): what a user reads (msg, diff, the failure's words) in check mode, on a real run, a second
run and each refusal, on the fake host of the plan's tests (tests/unit/plugins/module_utils/shim)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.linuxnet.keepalive.plugins.modules import keepalive_shim
from ansible_collections.linuxnet.keepalive.plugins.module_utils.shim._shim_plan import Plan
from ansible_collections.linuxnet.keepalive.tests.unit.plugins.module_utils.shim.test_shim_plan import SOURCE, Host


@pytest.fixture
def host(tmp_path, monkeypatch):
    for folder in ('etc', 'units', 'src', 'lib'):
        (tmp_path / folder).mkdir()
        os.chmod(str(tmp_path / folder), 0o755)
    fake = Host(tmp_path, {'legacy.service': 'OTHER=1'})
    monkeypatch.setattr(keepalive_shim, 'ModuleSystem', lambda module: fake)
    monkeypatch.setattr(keepalive_shim, 'Plan', functools.partial(
        Plan, build_dir=str(tmp_path / 'src' / 'keepalive-shim'), config_path=str(tmp_path / 'etc' / 'keepalive-shim.conf'),
        preload_path=str(tmp_path / 'etc' / 'ld.so.preload'), unit_dir=str(tmp_path / 'units'),
        own_dir=str(tmp_path / 'lib' / 'keepalive')))
    fake.library = str(tmp_path / 'lib' / 'keepalive' / 'libkeepalive_shim.so')
    return fake


def run(capsys, host, check_mode=False, diff=False, **args):
    args = dict({'library': host.library, '_source': SOURCE, 'units': ['legacy']}, **args)
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            keepalive_shim.main()
    return json.loads(capsys.readouterr().out)


def test_check_mode_says_what_would_happen_shows_the_diff_and_changes_nothing(host, capsys):
    result = run(capsys, host, check_mode=True, diff=True)
    assert result['changed'] and result['built']
    assert result['msg'] == ('shim would be built and installed at %s; would be preloaded into legacy.service; '
                             'legacy.service would be restarted; 2 file(s) would change' % host.library)
    headers = [d['after_header'] for d in result['diff']]
    assert headers[-1] == host.library and any(h.endswith('legacy.service.d/50-keepalive-shim.conf') for h in headers)
    assert not os.path.exists(host.library) and not [c for c in host.calls if c[0] == '/usr/bin/cc']


def test_a_run_installs_and_the_next_one_changes_nothing_and_says_so(host, capsys):
    result = run(capsys, host)
    assert result['changed'] and result['restarted'] == ['legacy.service'] and os.path.exists(host.library)
    assert result['msg'].startswith('shim built and installed at %s; preloaded into legacy.service' % host.library)
    host.environments['legacy.service'] = 'OTHER=1 "LD_PRELOAD=%s"' % host.library
    again = run(capsys, host)
    assert not again['changed'] and again['restarted'] == []
    assert again['msg'] == 'shim at %s up to date; already preloaded into legacy.service' % host.library


@pytest.mark.parametrize('args,words', [
    ({'idle': 0}, 'idle'),
    ({'units': ['x.socket']}, 'is not a service'),
    ({'library': '/usr/local/lib/my lib.so'}, "library='/usr/local/lib/my lib.so' is refused"),
])
def test_bad_input_is_named_and_nothing_is_changed(host, capsys, args, words):
    result = run(capsys, host, **args)
    assert result['failed'] and words in result['msg'] and 'Nothing was changed' in result['msg']
    assert not result.get('changed') and os.listdir(str(host.root + '/units')) == []


def test_a_compiler_error_fails_with_its_words_and_nothing_applied(host, capsys):
    host.compiles = False
    result = run(capsys, host)
    assert result['failed'] and 'keepalive_shim.c:1: error: expected' in result['msg']
    assert result['applied'] == [] and not result['changed'] and not os.path.exists(host.library)
