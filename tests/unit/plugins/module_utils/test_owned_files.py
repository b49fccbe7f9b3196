# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Folders that someone other than root could change are named, on the path as given and as resolved."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils._owned_files import read_text, unsafe_folders, write_atomic


@pytest.mark.skipif(os.geteuid() != 0, reason='folders owned by root are made as root')
def test_only_folders_others_could_change_are_named_through_links_too(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    safe, shared = tmp_path / 'safe', tmp_path / 'shared'
    safe.mkdir(mode=0o755)
    shared.mkdir()
    os.chmod(str(shared), 0o775)
    (safe / 'link').symlink_to(shared)
    above = [p for p in unsafe_folders(str(safe / 'file')) if str(tmp_path) in p]
    assert above == []
    found = [p for p in unsafe_folders(str(safe / 'link' / 'file')) if str(tmp_path) in p]
    assert found == ['%s is owned by uid 0 with mode 0775' % shared]
    (safe / 'file').write_text('x')
    os.chmod(str(safe / 'file'), 0o666)
    assert ['%s is owned by uid 0 with mode 0666' % (safe / 'file')] == [
        p for p in unsafe_folders(str(safe / 'file'), include_self=True) if str(tmp_path) in p]


def test_read_text_shows_bytes_that_are_not_utf8_and_none_for_no_file(tmp_path):
    (tmp_path / 'f').write_bytes(b'a\xffb')
    assert read_text(str(tmp_path / 'f')) == u'a\ufffdb'
    assert read_text(str(tmp_path / 'missing')) is None


class Mover:
    """The module's atomic_move: a rename that gives a new file the default mode (0644 under umask 022)."""

    @staticmethod
    def atomic_move(src, dest):
        new = not os.path.exists(dest)
        os.rename(src, dest)
        if new:
            os.chmod(dest, 0o644)


def test_text_and_bytes_are_written_whole_through_one_rename(tmp_path):
    write_atomic(Mover, str(tmp_path / 'a.conf'), 'KEEPIDLE=45\n')
    write_atomic(Mover, str(tmp_path / 'lib.so'), b'\x7fELF\x00\xff', 0o755)
    assert (tmp_path / 'a.conf').read_text() == 'KEEPIDLE=45\n' and (tmp_path / 'lib.so').read_bytes() == b'\x7fELF\x00\xff'
    assert oct((tmp_path / 'lib.so').stat().st_mode & 0o777) == '0o755'
    assert sorted(os.listdir(str(tmp_path))) == ['a.conf', 'lib.so']  # no temporary file left
