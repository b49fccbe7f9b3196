# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import SAFE_PATH
from ansible_collections.linuxnet.keepalive.plugins.module_utils._unit_environment import (
    environment_words, preload_with, quote_environment, unit_preload,
)

SHIM = '/usr/local/lib/keepalive/libkeepalive_shim.so'
DROPIN = '50-keepalive-shim.conf'
CAT = '''# /etc/systemd/system/app.service
[Unit]
Description=app  # /not/a/header
[Service]
Environment="LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" MALLOC_CONF=background_thread:true
ExecStart=/usr/bin/app

# /etc/systemd/system/app.service.d/50-keepalive-shim.conf
# Managed by Ansible
[Service]
Environment="LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 %s"
''' % SHIM


def test_the_units_own_preload_is_read_and_ours_left_out():
    assert unit_preload(CAT, DROPIN) == ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2']
    # read with our drop-in, the shim would be counted as the unit's own
    assert unit_preload(CAT) == ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', SHIM]


def test_later_files_win_and_an_empty_environment_resets():
    cat = ('# /lib/systemd/system/app.service\n[Service]\nEnvironment=LD_PRELOAD=/a.so:/b.so\n'
           '# /etc/systemd/system/app.service.d/10-mine.conf\n[Service]\nEnvironment=LD_PRELOAD=/c.so\n')
    assert unit_preload(cat, DROPIN) == ['/c.so']
    assert unit_preload(cat.replace('LD_PRELOAD=/c.so', ''), DROPIN) == []
    assert unit_preload('# /lib/systemd/system/app.service\n[Service]\nEnvironment=LD_PRELOAD=/a.so:/b.so\n') == [
        '/a.so', '/b.so']


def test_only_the_service_section_counts_and_a_missing_unit_has_none():
    cat = '# /etc/systemd/system/app.service\n[Unit]\nEnvironment=LD_PRELOAD=/x.so\n[Install]\nWantedBy=x\n'
    assert unit_preload(cat) == []
    assert unit_preload('') == [] and unit_preload(None) == []


def test_environment_words_unquote_as_systemd_does():
    assert environment_words('A=1 "B=2 3" \'C=%%x\'') == ['A=1', 'B=2 3', 'C=%x']


def test_the_shim_is_appended_once_and_last():
    assert preload_with(['/j.so', SHIM], SHIM) == '/j.so ' + SHIM
    assert preload_with([], SHIM) == SHIM
    assert quote_environment('LD_PRELOAD', '/a%b "c"\\') == '"LD_PRELOAD=/a%%b \\"c\\"\\\\"'


def test_safe_paths():
    assert SAFE_PATH.match(SHIM)
    for bad in ('/tmp/my lib.so', '/a:b.so', '/a"b.so', 'rel.so', '/a$b.so', '/a\nb.so', '/a%b.so', '/a;b.so'):
        assert not SAFE_PATH.match(bad), bad
