# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sock_ops program as bytes, its pins' names, where the hierarchies are mounted, the boot configuration."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import struct

import pytest

from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup import _sock_ops
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import BY_NAME

VALUES = {'idle': 120, 'interval': 30, 'count': 4, 'user_timeout': None}


def instructions(code):
    return [struct.unpack_from('<BBhi', code, offset) for offset in range(0, len(code), 8)]


def setsockopt_calls(code):
    """[(level, optname, value)] in the order the program calls bpf_setsockopt()."""
    calls, registers, stored = [], {}, None
    for op, regs, off, imm in instructions(code):
        if op == 0x62 and regs & 0x0f == 10 and off == -4:
            stored = imm
        elif op == 0xb7:
            registers[regs & 0x0f] = imm
        elif op == 0x85 and imm == 49:
            calls.append((registers[2], registers[3], stored))
    return calls


def test_the_program_sets_the_timing_first_and_so_keepalive_last():
    code = _sock_ops.build(VALUES)
    assert len(code) % 8 == 0
    assert setsockopt_calls(code) == [(6, 4, 120), (6, 5, 30), (6, 6, 4), (1, 9, 1)]
    assert setsockopt_calls(_sock_ops.build(dict(VALUES, user_timeout=5000))) == [
        (6, 4, 120), (6, 5, 30), (6, 6, 4), (6, 18, 5000), (1, 9, 1)]


def test_the_options_are_the_settings_tables():
    for name, level, optname, _label in _sock_ops.OPTIONS:
        assert (level, optname) == (BY_NAME[name].level, BY_NAME[name].option), name


def test_the_program_acts_only_on_established_connections_and_returns_1():
    ops = instructions(_sock_ops.build(VALUES))
    assert ops[1][0] == 0x61 and ops[1][2] == 0  # r2 = ctx->op
    assert [(op, imm) for op, _regs, _off, imm in ops[2:4]] == [(0x15, 4), (0x15, 5)]  # ACTIVE / PASSIVE_ESTABLISHED
    assert ops[4][0] == 0x05 and 5 + ops[4][2] == len(ops) - 2  # anything else jumps to the end
    assert ops[-2:] == [(0xb7, 0, 0, 1), (0x95, 0, 0, 0)]


def test_the_self_test_variant_reports_each_result_in_the_map():
    code = _sock_ops.build(VALUES, report_map_fd=7)
    loads = [(regs, imm) for op, regs, _off, imm in instructions(code) if op == 0x18]
    assert loads == [(1 | 1 << 4, 7)] * 5  # ld_imm64 r1 = map fd 7 (pseudo map fd), per option and the marker
    assert setsockopt_calls(code) == setsockopt_calls(_sock_ops.build(VALUES))


def test_decode_reads_back_the_values_and_the_tags_are_the_kernels_hashes():
    for values in (VALUES, dict(VALUES, user_timeout=0), {'idle': 1, 'interval': 32767, 'count': 127, 'user_timeout': 1}):
        code = _sock_ops.build(values)
        assert _sock_ops.decode(code) == values
        assert _sock_ops.tags(code) == (hashlib.sha1(code).hexdigest()[:16], hashlib.sha256(code).hexdigest()[:16])
    assert _sock_ops.decode(struct.pack('<BBhi', 0xb7, 0, 0, 1) + struct.pack('<BBhi', 0x95, 0, 0, 0)) is None


def test_on_a_big_endian_machine_fields_are_big_endian_and_dst_reg_is_the_high_nibble():
    # struct bpf_insn {u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm}, as the kernel reads it in memory
    little, big = _sock_ops.build(VALUES, big=False), _sock_ops.build(VALUES, big=True)
    assert little[:8] == bytes.fromhex('bf16000000000000')        # r6 = r1
    assert big[:8] == bytes.fromhex('bf61000000000000')
    assert little[16:24] == bytes.fromhex('1502020004000000')     # if r2 == 4 goto +2
    assert big[16:24] == bytes.fromhex('1520000200000004')
    for values in (VALUES, dict(VALUES, user_timeout=30000)):
        for report in (None, 7):
            little = _sock_ops.build(values, report_map_fd=report, big=False)
            big = _sock_ops.build(values, report_map_fd=report, big=True)
            assert len(big) == len(little)
            for offset in range(0, len(little), 8):
                code, regs, off, imm = struct.unpack_from('<BBhi', little, offset)
                assert big[offset:offset + 8] == struct.pack('>BBhi', code, (regs & 0x0f) << 4 | regs >> 4, off, imm)
        assert _sock_ops.decode(_sock_ops.build(values, big=True), big=True) == values
        assert _sock_ops.decode(_sock_ops.build(values, big=True), big=False) is None


@pytest.mark.parametrize('cgroup,name', [
    ('/', 'cg-'),
    ('/system.slice/app.service', 'cg-system_dslice-app_dservice'),
    ('/system.slice/app-x_y@1.service', 'cg-system_dslice-app_mx__y_a1_dservice'),
    ('/machine.slice/libpod-ab:c\\x2d.scope', 'cg-machine_dslice-libpod_mab_cc_bx2d_dscope'),
    ('/caf\u00e9', 'cg-caf_xc3_xa9'),
])
def test_pin_names_have_no_dots_and_turn_back_into_the_path(cgroup, name):
    assert _sock_ops.pin_name(cgroup) == name
    assert '.' not in name and '\\' not in name and '%' not in name
    assert _sock_ops.cgroup_of_pin(name) == cgroup


@pytest.mark.parametrize('name', ['new-123', 'cg-a_q', 'cg-a.b', 'other', 'cg-_x4'])
def test_names_that_are_not_our_pins_are_not_taken_for_groups(name):
    assert _sock_ops.cgroup_of_pin(name) is None


MOUNTINFO = '''\
22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 41 0:38 /user.slice /mnt/my\\040groups rw - cgroup2 cgroup2 rw
50 22 0:40 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:9 - bpf bpf rw,mode=700
'''


def test_a_pin_folder_in_a_folder_others_could_change_is_refused_before_it_is_made(tmp_path):
    parent = tmp_path / 'bpf'
    parent.mkdir()
    parent.chmod(0o777)
    pin_dir = parent / 'keepalive'
    with pytest.raises(_sock_ops.BpfError) as raised:
        _sock_ops.ensure_pin_dir(str(pin_dir))
    assert '%s (mode 777, uid ' % parent in raised.value.reason
    assert 'nothing was attached' in raised.value.reason
    assert not pin_dir.exists()


def test_mounts_are_read_with_their_escapes_and_optional_fields():
    assert ('/mnt/my groups', '/user.slice', 'cgroup2') in _sock_ops.mounts(MOUNTINFO)
    assert ('/sys/fs/bpf', '/', 'bpf') in _sock_ops.mounts(MOUNTINFO)


def test_the_cgroup2_root_is_a_mount_of_the_whole_hierarchy(tmp_path):
    path = tmp_path / 'mountinfo'
    path.write_text(MOUNTINFO)
    assert _sock_ops.cgroup2_mount(str(path)) == '/sys/fs/cgroup/unified'
    assert _sock_ops.bpffs_mounted('/sys/fs/bpf', str(path))
    # a subtree's mount (root /user.slice) is no root of the hierarchy, and no bpf line means no bpffs
    path.write_text('\n'.join(line for line in MOUNTINFO.splitlines() if not line.startswith(('41 ', '50 '))))
    with pytest.raises(_sock_ops.BpfError) as err:
        _sock_ops.cgroup2_mount(str(path))
    assert 'no cgroup v2 hierarchy is mounted here' in err.value.reason
    assert not _sock_ops.bpffs_mounted('/sys/fs/bpf', str(path))


def test_the_boot_configuration_round_trips_and_bad_ones_are_named():
    targets = [dict(VALUES, cgroup='/system.slice/b.service', unit='b.service'), dict(VALUES, cgroup='/', unit=None)]
    text = _sock_ops.render_config(targets)
    assert json.loads(text)['managed_by'] == _sock_ops.MARKER
    assert [t['cgroup'] for t in _sock_ops.parse_config(text)] == ['/', '/system.slice/b.service']
    assert _sock_ops.render_config(list(reversed(targets))) == text
    for bad, words in (('{"targets": 3}', 'no list of targets'),
                       ('{"targets": [{"cgroup": "x"}]}', 'without an absolute cgroup path'),
                       ('{"targets": [{"cgroup": "/", "idle": "7", "interval": 1, "count": 1}]}', 'idle of cgroup /')):
        with pytest.raises(ValueError) as err:
            _sock_ops.parse_config(bad)
        assert words in str(err.value)


def test_the_entry_point_says_how_it_is_called_and_names_a_configuration_it_cannot_read(tmp_path):
    assert _sock_ops.run([]) == (2, ['keepalive: usage: --boot CONFIG | --unit UNIT CONFIG'])
    status, lines = _sock_ops.run(['--boot', str(tmp_path / 'missing.json')])
    assert status == 1 and lines[0].startswith('keepalive: %s: ' % (tmp_path / 'missing.json'))
