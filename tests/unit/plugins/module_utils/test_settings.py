# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one table of settings, and the places outside Python that must agree with it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import (
    BY_NAME, KERNEL_DEFAULTS, NAMES, SYSCTL_KEYS, describe_range, proc_path, read_running, socket_value_docs,
    socket_value_options, validate_socket_values, values_text, write_running,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return handle.read()


def test_the_table():
    assert NAMES == ('keepalive', 'idle', 'interval', 'count', 'user_timeout')
    assert SYSCTL_KEYS == ('net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes')
    assert KERNEL_DEFAULTS == {'net.ipv4.tcp_keepalive_time': 7200, 'net.ipv4.tcp_keepalive_intvl': 75,
                               'net.ipv4.tcp_keepalive_probes': 9}
    assert describe_range(BY_NAME['idle']) == 'from 1 to 32767 seconds' and describe_range(BY_NAME['count']) == 'from 1 to 127'


def test_running_values_are_read_and_written_in_one_place(tmp_path):
    (tmp_path / 'net' / 'ipv4').mkdir(parents=True)
    for key in ('time', 'intvl', 'probes'):
        (tmp_path / 'net' / 'ipv4' / ('tcp_keepalive_' + key)).write_text('1\n')
    write_running({'time': 120, 'probes': 4}, str(tmp_path))
    assert read_running(str(tmp_path)) == {'time': 120, 'intvl': 1, 'probes': 4}
    assert proc_path('net.ipv4.tcp_keepalive_time') == '/proc/sys/net/ipv4/tcp_keepalive_time'


def test_the_roles_checks_use_the_tables_limits():
    text = read('roles', 'keepalive', 'tasks', 'validate.yml')
    # the per-socket values are checked under the role's internal names, which resolve their deprecated ones
    found = dict((name.lstrip('_'), (int(low), int(high))) for name, low, high in
                 re.findall(r'(_*keepalive_\w+) \| int >= (\d+)\s+and \1 \| int <= (\d+)', text))
    role_vars = {'keepalive_time': 'idle', 'keepalive_intvl': 'interval', 'keepalive_probes': 'count',
                 'keepalive_socket_idle': 'idle', 'keepalive_socket_interval': 'interval',
                 'keepalive_socket_count': 'count', 'keepalive_socket_user_timeout': 'user_timeout'}
    assert sorted(found) == sorted(role_vars)
    for variable, name in role_vars.items():
        setting = BY_NAME[name]
        assert found[variable] == (setting.low, setting.high), variable


def test_the_shims_limits_are_the_tables():
    text = read('roles', 'keepalive', 'files', 'keepalive_shim.c')
    found = dict((key, (int(low), high)) for key, low, high in
                 re.findall(r'\{ "(KEEP\w+)", (\d+), (\w+) \}', text))
    shim_keys = {'KEEPIDLE': 'idle', 'KEEPINTVL': 'interval', 'KEEPCNT': 'count', 'KEEPALIVE_USER_TIMEOUT': 'user_timeout'}
    assert sorted(found) == sorted(shim_keys)
    for key, name in shim_keys.items():
        low, high = found[key]
        high = 2147483647 if high == 'INT_MAX' else int(high)
        assert (low, high) == (BY_NAME[name].low, BY_NAME[name].high), key


def test_socket_values_are_checked_against_the_table_naming_every_problem():
    validate_socket_values({'keepalive': True, 'idle': 60, 'interval': 10, 'count': 4, 'user_timeout': 0})
    with pytest.raises(ValueError) as err:
        validate_socket_values({'idle': 0, 'interval': 40000, 'count': 128, 'user_timeout': -1})
    for text in ('idle must be an integer from 1 to 32767 seconds, not 0',
                 'interval must be an integer from 1 to 32767 seconds, not 40000',
                 'count must be an integer from 1 to 127, not 128',
                 'user_timeout must be an integer from 0 to 2147483647 milliseconds, not -1'):
        assert text in str(err.value)


def test_values_text_lists_the_names_in_order_and_leaves_out_values_not_given():
    assert values_text({'idle': 60, 'keepalive': 1, 'user_timeout': None, 'count': 0}) == 'keepalive = 1\nidle = 60\ncount = 0\n'
    assert values_text({'net.ipv4.tcp_keepalive_time': 120}, SYSCTL_KEYS) == 'net.ipv4.tcp_keepalive_time = 120\n'
    assert values_text(None) == ''


def test_the_per_socket_options_and_their_documentation_are_written_from_the_table():
    from ansible_collections.linuxnet.keepalive.plugins.doc_fragments.socket_values import ModuleDocFragment

    # ansible-test reads doc fragments as text: tests/rig/generate.py writes this one from the table
    assert ModuleDocFragment.DOCUMENTATION.strip() == socket_value_docs(ours=True).strip(), \
        'the doc fragment differs from the table: run python tests/rig/generate.py'
    assert ModuleDocFragment.CHANGES.strip() == socket_value_docs(ours=False).strip()
    assert socket_value_options() == {'idle': {'type': 'int', 'default': 120}, 'interval': {'type': 'int', 'default': 30},
                                      'count': {'type': 'int', 'default': 4}, 'user_timeout': {'type': 'int'}}
    assert all('default' not in spec for spec in socket_value_options(ours=False).values())
    assert [line for line in socket_value_docs().splitlines() if '32767' in line or '127' in line] == [
        '      - "C(TCP_KEEPIDLE), seconds idle before the first probe (1 to 32767)."',
        '      - "C(TCP_KEEPINTVL), seconds between probes (1 to 32767)."',
        '      - "C(TCP_KEEPCNT), unanswered probes before the connection is dropped (1 to 127)."']
