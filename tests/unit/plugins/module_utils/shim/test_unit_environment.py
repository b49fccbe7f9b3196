# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import SAFE_PATH
from ansible_collections.linuxnet.keepalive.plugins.module_utils.shim._unit_environment import (
    environment_words, preload_with, quote_environment, unit_preload,
)

SHIM = '/usr/local/lib/keepalive/libkeepalive_shim.so'
# `systemctl show -p Environment --value app.service` as systemd 252 prints it: quoted where a value has blanks
SHOWN = '"LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" MALLOC_CONF=background_thread:true "Q=x\\"y" Z=app.service'


def test_the_units_own_preload_is_read_from_what_systemd_shows():
    assert unit_preload(SHOWN, SHIM) == ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2']


def test_once_the_drop_in_is_in_place_the_units_own_are_those_before_the_shim():
    shown = '"LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 %s" MALLOC_CONF=background_thread:true' % SHIM
    assert unit_preload(shown, SHIM) == ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2']
    assert unit_preload('LD_PRELOAD=/a.so:/b.so', SHIM) == ['/a.so', '/b.so']


def test_a_unit_without_preload_or_environment_has_none():
    assert unit_preload('A=1 B=2', SHIM) == [] and unit_preload('', SHIM) == [] and unit_preload(None) == []
    assert unit_preload('LD_PRELOAD=', SHIM) == []


def test_environment_words_unquote_as_systemd_prints_them():
    assert environment_words('A=1 "B=2 3" "C=x\\"y" D=%n') == ['A=1', 'B=2 3', 'C=x"y', 'D=%n']


def test_the_shim_is_appended_once_and_last():
    assert preload_with(['/j.so', SHIM], SHIM) == '/j.so ' + SHIM
    assert preload_with([], SHIM) == SHIM
    assert quote_environment('LD_PRELOAD', '/a%b "c"\\') == '"LD_PRELOAD=/a%%b \\"c\\"\\\\"'


def test_safe_paths():
    assert SAFE_PATH.match(SHIM)
    for bad in ('/tmp/my lib.so', '/a:b.so', '/a"b.so', 'rel.so', '/a$b.so', '/a\nb.so', '/a%b.so', '/a;b.so'):
        assert not SAFE_PATH.match(bad), bad
