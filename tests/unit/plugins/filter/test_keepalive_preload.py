# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.linuxnet.keepalive.plugins.filter.keepalive_preload import FilterModule

SHIM = '/usr/local/lib/keepalive/libkeepalive_shim.so'


def test_the_filter_keeps_the_units_preload_and_appends_the_shim():
    preload = FilterModule().filters()['keepalive_preload']
    shown = 'LD_PRELOAD=/usr/lib/libjemalloc.so.2 OTHER=kept'
    assert preload(shown, SHIM) == '"LD_PRELOAD=/usr/lib/libjemalloc.so.2 %s"' % SHIM
    assert preload('"LD_PRELOAD=/usr/lib/libjemalloc.so.2 %s"' % SHIM, SHIM) == preload(shown, SHIM)
    assert preload('', SHIM) == '"LD_PRELOAD=%s"' % SHIM


def test_an_unreadable_environment_line_fails_clearly():
    preload = FilterModule().filters()['keepalive_preload']
    with pytest.raises(AnsibleFilterError) as err:
        preload('"LD_PRELOAD=/x.so', SHIM)
    assert 'as systemd shows it' in str(err.value)
