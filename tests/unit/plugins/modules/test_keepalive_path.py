# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_path's main(): its refusals name the option and what is allowed, before any socket is read or opened;
discover mode groups what the snapshot seam gives and measures through the measure_paths seam. Real paths are
measured in the integration tests (test_middlebox_lab.py, test_paths_lab.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.linuxnet.keepalive.plugins.modules import keepalive_path


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            keepalive_path.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('args,words', [
    ({}, 'give either host and port, the server whose path to measure, or discover=true'),
    ({'host': 'db', 'port': 5432, 'discover': True}, 'give either host and port'),
    ({'host': 'db'}, 'give either host and port'),
    ({'discover': True, 'networks': ['10.0.0.0/8', 'db.internal']},
     "networks must be addresses or networks such as 10.0.0.0/8 or 2001:db8::/32; not: 'db.internal'"),
    ({'discover': True, 'parallel': 0}, 'parallel must be 1 or more, not 0'),
    ({'discover': True, 'margin': 95}, 'margin must be a percentage from 0 to 90, not 95'),
    ({'discover': True, 'max_destinations': -1}, 'max_destinations must be 0 (every one) or more, not -1'),
    ({'discover': True, 'time_limit': 0}, 'time_limit must be 1 second or more, not 0'),
    ({'discover': True, 'remote_ports': [0]}, 'remote_ports must be from 1 to 65535; not allowed: 0'),
    ({'discover': True, 'idle': [0]}, 'idle values must be from 1 to 32767 seconds'),
])
def test_bad_options_are_named_before_anything_is_read(monkeypatch, capsys, args, words):
    monkeypatch.setattr(keepalive_path, 'snapshot', lambda **kwargs: pytest.fail('read the sockets'))
    result = run(capsys, **args)
    assert result['failed'] and words in result['msg'], result['msg']


class Found(object):
    connections = [{'direction': 'outbound', 'remote_address': '198.19.0.2', 'remote_port': 7950, 'local_port': 4,
                    'process': 'orders', 'unit': None}] * 2 + [
        {'direction': 'inbound', 'remote_address': '203.0.113.9', 'remote_port': 5555, 'local_port': 443,
         'process': 'nginx', 'unit': 'nginx.service'}]


def test_discover_measures_the_outbound_destinations_and_lists_the_inbound_ones_unmeasured(monkeypatch, capsys):
    asked = {}
    monkeypatch.setattr(keepalive_path, 'snapshot', lambda **kwargs: asked.update(kwargs) or Found())

    def measure_paths(destinations, idle, **kwargs):
        asked['measured'] = [(d['address'], d['port']) for d in destinations]
        return [dict(d, outcome='dropped', survived_max=5, forgot_min=8, results=[], recommended_time=5, msg='')
                for d in destinations]
    monkeypatch.setattr(keepalive_path, 'measure_paths', measure_paths)
    result = run(capsys, discover=True, directions=['inbound', 'outbound'], idle=[5, 8], units=['orders'])
    assert asked['measured'] == [('198.19.0.2', 7950)] and asked['states'] == ['established']
    assert asked['units'] == ['orders'] and asked['directions'] == ['inbound', 'outbound']
    assert [(d['address'], d['outcome']) for d in result['destinations']] == [('198.19.0.2', 'dropped'),
                                                                              ('203.0.113.9', 'not_measured')]
    assert result['recommended']['keepalive_time'] == result['recommended']['keepalive_intvl'] == 4
    assert not result['changed']
    assert result['msg'].startswith('2 destination(s): 1 dropped, 1 not_measured; keepalive_time and keepalive_intvl <= 4 keep')
