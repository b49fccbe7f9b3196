# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A BPF sock_ops program that gives new TCP connections keep-alive, and the bpf(2) calls that load, pin and attach it.

The program is assembled here as bytes: no compiler, bpftool or libbpf is needed on the target. Attached
to a cgroup v2 group, the kernel runs it for every TCP connection that a process of that group (or of a
group below it) establishes or accepts, and it calls bpf_setsockopt() with TCP_KEEPIDLE, TCP_KEEPINTVL,
TCP_KEEPCNT, TCP_USER_TIMEOUT and SO_KEEPALIVE (Linux 5.9 and later accept these from sock_ops).

One program is pinned per group, at PIN_DIR/cg-<the group's path, escaped>, and attached with
BPF_F_ALLOW_MULTI so that the programs of others on the same group and on groups above or below it
keep running. A program is ours only when it is pinned at our path and has our name; nothing else is
ever detached. New values replace a program in place (BPF_F_REPLACE): no connection is established
in between without one of them.

This file uses the standard library only and imports nothing else from the collection: the boot unit
that linuxnet.keepalive.keepalive_cgroup installs runs this very file's run() (``--boot CONFIG``), so that
the programs are loaded and pinned again after a reboot, before the units that use them start; and each
unit's drop-in runs it before the unit starts (``--unit UNIT CONFIG``), since systemd attaches a pinned
program (BPFProgram=) only on a cgroup2-only host, and not again after an automatic restart.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import platform
import signal
import socket
import struct
import sys
import time

# bpf(2) has a number of its own on each architecture.
SYSCALL_BPF = {'x86_64': 321, 'aarch64': 280, 'riscv64': 280, 'ppc64le': 361, 'ppc64': 361, 's390x': 351,
               'armv7l': 386, 'armv6l': 386, 'i686': 357, 'i386': 357}

# The kernel reads the program and union bpf_attr in the machine's own byte order.
BIG_ENDIAN = sys.byteorder == 'big'

# bpf(2) commands
MAP_CREATE, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM = 0, 1, 2
PROG_LOAD, OBJ_PIN, OBJ_GET, PROG_ATTACH, PROG_DETACH = 5, 6, 7, 8, 9
PROG_GET_FD_BY_ID, OBJ_GET_INFO_BY_FD, PROG_QUERY = 13, 15, 16

PROG_TYPE_SOCK_OPS = 13
MAP_TYPE_ARRAY = 2
CGROUP_SOCK_OPS = 3  # attach type
F_ALLOW_OVERRIDE, F_ALLOW_MULTI, F_REPLACE = 1, 2, 4
SOCK_OPS_ACTIVE_ESTABLISHED_CB, SOCK_OPS_PASSIVE_ESTABLISHED_CB = 4, 5
HELPER_MAP_UPDATE_ELEM, HELPER_SETSOCKOPT = 2, 49
PSEUDO_MAP_FD = 1

SOL_SOCKET, SO_KEEPALIVE = 1, 9
IPPROTO_TCP, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT = 6, 4, 5, 6, 18

# What the program sets, in this order: the timing first and SO_KEEPALIVE last, so that the timer
# is armed once, with the final values. user_timeout is set only when given.
OPTIONS = (
    ('idle', IPPROTO_TCP, TCP_KEEPIDLE, 'TCP_KEEPIDLE'),
    ('interval', IPPROTO_TCP, TCP_KEEPINTVL, 'TCP_KEEPINTVL'),
    ('count', IPPROTO_TCP, TCP_KEEPCNT, 'TCP_KEEPCNT'),
    ('user_timeout', IPPROTO_TCP, TCP_USER_TIMEOUT, 'TCP_USER_TIMEOUT'),
    ('keepalive', SOL_SOCKET, SO_KEEPALIVE, 'SO_KEEPALIVE'),
)
VALUE_NAMES = ('idle', 'interval', 'count', 'user_timeout')
# The first kernel whose bpf_setsockopt() accepts these options from sock_ops programs (commit
# f9bcf96837f1, "bpf: Add SO_KEEPALIVE and related options to bpf_setsockopt").
FIRST_KERNEL = '5.9'

PROGRAM_NAME = 'lnx_keepalive'
MARKER = 'Managed by Ansible (linuxnet.keepalive.keepalive_cgroup)'
PIN_DIR = '/sys/fs/bpf/keepalive'
BPFFS = '/sys/fs/bpf'
PIN_PREFIX = 'cg-'
# Where the boot unit and the units' drop-ins note that this boot's kernel passed the self-test.
STAMP_DIR = '/run/keepalive'

MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 1
CLONE_NEWNET = 0x40000000

_LIBC = {}


class BpfError(Exception):
    """Why something could not be done, as a sentence for the user; ``code`` is the errno, if any."""

    def __init__(self, reason, code=None):
        super(BpfError, self).__init__(reason)
        self.reason = reason
        self.code = code


# --- the program ----------------------------------------------------------------------------------

def _insn(code, dst=0, src=0, off=0, imm=0, big=BIG_ENDIAN):
    """One instruction, struct bpf_insn, in the machine's byte order: the kernel takes the program as it is
    in memory, and on a big-endian machine its register fields swap nibbles too (dst_reg is the high one)."""
    if big:
        return struct.pack('>BBhi', code, (dst << 4) | src, off, imm)
    return struct.pack('<BBhi', code, dst | (src << 4), off, imm)


# opcodes: 64-bit moves and adds, 32-bit loads and stores, jumps, calls
_LDX_W, _ST_W, _STX_W = 0x61, 0x62, 0x63
_MOV_X, _MOV_K, _ADD_K, _LD_IMM64 = 0xbf, 0xb7, 0x07, 0x18
_JEQ_K, _JA, _CALL, _EXIT = 0x15, 0x05, 0x85, 0x95
_R0, _R1, _R2, _R3, _R4, _R5, _R6, _R10 = 0, 1, 2, 3, 4, 5, 6, 10


def _options(values):
    """[(name, level, optname, value)] the program sets, in order."""
    found = []
    for name, level, optname, _label in OPTIONS:
        value = 1 if name == 'keepalive' else values.get(name)
        if value is not None:
            found.append((name, level, optname, int(value)))
    return found


def build(values, report_map_fd=None, big=BIG_ENDIAN):
    """The program's instructions (bytes) for {'idle': 120, 'interval': 30, 'count': 4, 'user_timeout': None}.

    With ``report_map_fd`` (an array map of len(options) + 1 entries, used by the self-test) the
    program also stores each bpf_setsockopt() result at the option's index, and 1 at the last index.
    ``big`` gives the byte order (the machine's by default).
    """
    def insn(*args, **kwargs):
        return _insn(*args, big=big, **kwargs)

    body = []
    for index, (_name, level, optname, value) in enumerate(_options(values)):
        body += [insn(_ST_W, _R10, 0, -4, value), insn(_MOV_X, _R1, _R6), insn(_MOV_K, _R2, imm=level),
                 insn(_MOV_K, _R3, imm=optname), insn(_MOV_X, _R4, _R10), insn(_ADD_K, _R4, imm=-4),
                 insn(_MOV_K, _R5, imm=4), insn(_CALL, imm=HELPER_SETSOCKOPT)]
        if report_map_fd is not None:
            body += [insn(_STX_W, _R10, _R0, -8)] + _report(report_map_fd, index, big)
    if report_map_fd is not None:
        body += [insn(_ST_W, _R10, 0, -8, 1)] + _report(report_map_fd, len(_options(values)), big)
    head = [insn(_MOV_X, _R6, _R1), insn(_LDX_W, _R2, _R6, 0),
            insn(_JEQ_K, _R2, 0, 2, SOCK_OPS_ACTIVE_ESTABLISHED_CB),
            insn(_JEQ_K, _R2, 0, 1, SOCK_OPS_PASSIVE_ESTABLISHED_CB),
            insn(_JA, off=len(body))]
    return b''.join(head + body + [insn(_MOV_K, _R0, imm=1), insn(_EXIT)])


def _report(map_fd, index, big):
    """map[index] = the 32-bit value at r10-8."""
    parts = [(_ST_W, _R10, 0, -12, index), (_LD_IMM64, _R1, PSEUDO_MAP_FD, 0, map_fd), (0,),
             (_MOV_X, _R2, _R10), (_ADD_K, _R2, 0, 0, -12), (_MOV_X, _R3, _R10),
             (_ADD_K, _R3, 0, 0, -8), (_MOV_K, _R4), (_CALL, 0, 0, 0, HELPER_MAP_UPDATE_ELEM)]
    return [_insn(*part, big=big) for part in parts]


def tags(code):
    """The tags the kernel gives a program: the first 8 bytes of its SHA-1 (before 6.17) or SHA-256."""
    return (hashlib.sha1(code).hexdigest()[:16], hashlib.sha256(code).hexdigest()[:16])


def decode(code, big=BIG_ENDIAN):
    """The values of one of our programs from its instructions (as the kernel shows them), or None.

    Reads the constant stored before each bpf_setsockopt() call and the option it is passed with;
    the caller checks the result against the program's tag, so a program that is not exactly ours
    never yields values.
    """
    by_option = dict(((level, optname), name) for name, level, optname, _label in OPTIONS)
    values = dict((name, None) for name in VALUE_NAMES)
    stored, registers = None, {}
    for offset in range(0, len(code) - len(code) % 8, 8):
        op, regs, off, imm = struct.unpack_from('>BBhi' if big else '<BBhi', code, offset)
        dst = regs >> 4 if big else regs & 0x0f
        if op == _ST_W and dst == _R10 and off == -4:
            stored = imm
        elif op == _MOV_K:
            registers[dst] = imm
        elif op == _CALL:
            name = by_option.get((registers.get(_R2), registers.get(_R3)))
            if name in values:
                values[name] = stored
    return values if all(values[name] is not None for name in ('idle', 'interval', 'count')) else None


# --- bpf(2) ---------------------------------------------------------------------------------------

def _libc():
    libc = _LIBC.get('c')
    if libc is None:
        libc = _LIBC['c'] = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
    return libc


def _bpf(cmd, attr):
    """bpf(cmd, attr): the result; raises OSError. ``attr`` is the packed start of union bpf_attr."""
    number = SYSCALL_BPF.get(platform.machine())
    if number is None:
        raise BpfError('bpf(2) is not known on this architecture (%s); known: %s'
                       % (platform.machine(), ', '.join(sorted(SYSCALL_BPF))))
    buf = ctypes.create_string_buffer(attr, len(attr))
    result = _libc().syscall(ctypes.c_long(number), ctypes.c_long(cmd), buf, ctypes.c_long(len(attr)))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(result), buf.raw


def _explain(exc, what):
    """A BpfError for an OSError of bpf(2), in words a user can act on."""
    code = getattr(exc, 'errno', None)
    if code == errno.ENOSYS:
        return BpfError('%s: this kernel has no bpf(2) (built without CONFIG_BPF_SYSCALL)' % what, code)
    if code == errno.EPERM:
        return BpfError('%s: not permitted (root, or CAP_BPF with CAP_NET_ADMIN, is needed; kernel lockdown or '
                        'an LSM may forbid BPF)' % what, code)
    return BpfError('%s: %s' % (what, os.strerror(code) if code else exc), code)


class Program:
    """A loaded program (a file descriptor); close() it, or use it in a with block."""

    def __init__(self, fd):
        self.fd = fd

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def info(self):
        """{'id', 'name', 'tag', 'values'}: values decoded and checked against the tag, else None."""
        info = ctypes.create_string_buffer(256)
        try:
            _bpf(OBJ_GET_INFO_BY_FD, struct.pack('=IIQ', self.fd, len(info), ctypes.addressof(info)))
        except OSError as exc:
            raise _explain(exc, 'reading a BPF program\'s information')
        raw = info.raw
        prog_type, prog_id = struct.unpack_from('=II', raw, 0)
        tag = raw[8:16].hex()
        xlated_len, = struct.unpack_from('=I', raw, 20)
        name = raw[64:80].split(b'\0', 1)[0].decode('ascii', 'replace')
        found = dict(id=prog_id, type=prog_type, name=name, tag=tag, values=None)
        if xlated_len:
            code = ctypes.create_string_buffer(xlated_len)
            query = ctypes.create_string_buffer(256)
            struct.pack_into('=I', query, 20, xlated_len)
            struct.pack_into('=Q', query, 32, ctypes.addressof(code))
            try:
                _bpf(OBJ_GET_INFO_BY_FD, struct.pack('=IIQ', self.fd, len(query), ctypes.addressof(query)))
                values = decode(code.raw)
            except OSError:
                values = None
            if values is not None and tag in tags(build(values)):
                found['values'] = values
        return found


def load(values, report_map_fd=None):
    """Load the program for ``values``; a Program."""
    return load_code(build(values, report_map_fd), PROGRAM_NAME)


def load_code(code, name):
    """Load sock_ops instructions under ``name``; a Program. A verifier refusal is reported with its last words."""
    insns = ctypes.create_string_buffer(code, len(code))
    licence = ctypes.create_string_buffer(b'GPL')
    log = ctypes.create_string_buffer(16384)
    attr = struct.pack('=IIQQIIQII16s', PROG_TYPE_SOCK_OPS, len(code) // 8, ctypes.addressof(insns),
                       ctypes.addressof(licence), 1, len(log), ctypes.addressof(log), 0, 0, name.encode('ascii'))
    try:
        fd, _raw = _bpf(PROG_LOAD, attr)
    except OSError as exc:
        words = log.value.decode('ascii', 'replace').strip().splitlines()
        error = _explain(exc, 'loading the sock_ops program')
        if exc.errno == errno.EINVAL and not words:
            error = BpfError('loading the sock_ops program: the kernel refused it (EINVAL): sock_ops programs '
                             'need Linux 4.13 or later, and these keep-alive options Linux %s' % FIRST_KERNEL, exc.errno)
        elif words:
            error = BpfError('%s; the verifier said: %s' % (error.reason, words[-1]), exc.errno)
        raise error
    return Program(fd)


def _path_attr(path, fd=0):
    buf = ctypes.create_string_buffer(path.encode('utf-8'))
    return buf, struct.pack('=QII', ctypes.addressof(buf), fd, 0)


def pin(program, path):
    """Pin ``program`` at ``path`` in bpffs (the name must be new)."""
    keep, attr = _path_attr(path, program.fd)
    try:
        _bpf(OBJ_PIN, attr)
    except OSError as exc:
        raise _explain(exc, 'pinning the program at %s' % path)
    del keep


def open_pinned(path):
    """The Program pinned at ``path``, or None when nothing is pinned there."""
    keep, attr = _path_attr(path)
    try:
        fd, _raw = _bpf(OBJ_GET, attr)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise _explain(exc, 'opening %s' % path)
    del keep
    return Program(fd)


def program_by_id(prog_id):
    """The Program with this id, or None when it is gone."""
    try:
        fd, _raw = _bpf(PROG_GET_FD_BY_ID, struct.pack('=I', prog_id))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise _explain(exc, 'opening BPF program %d' % prog_id)
    return Program(fd)


def query(cgroup_fd):
    """(attach flags, [program ids]) of the sock_ops programs attached to the group itself."""
    ids = (ctypes.c_uint32 * 64)()
    attr = struct.pack('=IIIIQI', cgroup_fd, CGROUP_SOCK_OPS, 0, 0, ctypes.addressof(ids), len(ids))
    try:
        _result, raw = _bpf(PROG_QUERY, attr)
    except OSError as exc:
        raise _explain(exc, 'listing the sock_ops programs of a cgroup')
    flags, = struct.unpack_from('=I', raw, 12)
    count, = struct.unpack_from('=I', raw, 24)
    return flags, list(ids[:min(count, len(ids))])


def attach(cgroup_fd, program, replace=None):
    """Attach with BPF_F_ALLOW_MULTI; with ``replace`` (a Program attached there), swap it in place."""
    flags = F_ALLOW_MULTI | (F_REPLACE if replace is not None else 0)
    attr = struct.pack('=IIIII', cgroup_fd, program.fd, CGROUP_SOCK_OPS, flags,
                       replace.fd if replace is not None else 0)
    _bpf(PROG_ATTACH, attr)


def detach(cgroup_fd, program):
    """Detach this very program from the group; False when it was not attached there."""
    try:
        _bpf(PROG_DETACH, struct.pack('=IIIII', cgroup_fd, program.fd, CGROUP_SOCK_OPS, 0, 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise _explain(exc, 'detaching the program')
    return True


# --- where things are -----------------------------------------------------------------------------

def _unescape_mount(text):
    """mountinfo escapes blanks, tabs, newlines and backslashes as \\ooo."""
    out, i = [], 0
    while i < len(text):
        if text[i] == '\\' and text[i + 1:i + 4].isdigit() and len(text[i + 1:i + 4]) == 3:
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return ''.join(out)


def mounts(mountinfo_text):
    """[(mount point, root, filesystem type)] from /proc/self/mountinfo text."""
    found = []
    for line in mountinfo_text.splitlines():
        left, sep, right = line.partition(' - ')
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        found.append((_unescape_mount(fields[4]), _unescape_mount(fields[3]), right.split()[0]))
    return found


def _read(path):
    with open(path) as handle:
        return handle.read()


def cgroup2_mount(mountinfo='/proc/self/mountinfo'):
    """Where the cgroup v2 hierarchy is mounted (its root, not a subtree): /sys/fs/cgroup on a
    cgroup2-only host, /sys/fs/cgroup/unified in hybrid mode. Raises BpfError when there is none."""
    found = [point for point, root, fstype in mounts(_read(mountinfo)) if fstype == 'cgroup2' and root == '/']
    if not found:
        raise BpfError('no cgroup v2 hierarchy is mounted here (no cgroup2 line in %s): sock_ops programs attach '
                       'to cgroup v2 groups only' % mountinfo)
    preferred = [p for p in ('/sys/fs/cgroup', '/sys/fs/cgroup/unified') if p in found]
    return (preferred or found)[0]


def bpffs_mounted(path=BPFFS, mountinfo='/proc/self/mountinfo'):
    return any(point == path and fstype == 'bpf' for point, _root, fstype in mounts(_read(mountinfo)))


def mount_bpffs(path=BPFFS):
    """Mount a bpf file system at ``path``, readable by root only (as systemd does)."""
    libc = _libc()
    if libc.mount(b'bpf', path.encode(), b'bpf', ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC), b'mode=0700') != 0:
        code = ctypes.get_errno()
        raise BpfError('cannot mount the BPF file system at %s: %s' % (path, os.strerror(code)), code)


_SAFE = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')
_ESCAPES = {'/': '-', '_': '__', '.': '_d', '-': '_m', '@': '_a', ':': '_c', '\\': '_b'}
_UNESCAPES = dict((v[1], k) for k, v in _ESCAPES.items() if len(v) == 2)


def pin_name(cgroup):
    """The pin of a group's program: '/system.slice/app.service' -> 'cg-system_dslice-app_dservice', '/' -> 'cg-'.

    bpffs refuses '.' in names and unit files treat '\\' and '%' specially, so every character but
    letters and digits is escaped; the name turns back into the path with cgroup_of_pin().
    """
    out = []
    for char in cgroup.strip('/'):
        if char in _SAFE:
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        else:
            out.append(''.join('_x%02x' % byte for byte in bytearray(char.encode('utf-8'))))
    return PIN_PREFIX + ''.join(out)


def cgroup_of_pin(name):
    """The group path a pin name stands for, or None for a name that is not one of ours."""
    if not name.startswith(PIN_PREFIX):
        return None
    text, out, i = name[len(PIN_PREFIX):], bytearray(), 0
    while i < len(text):
        char = text[i]
        if char == '-':
            out += b'/'
        elif char == '_':
            code = text[i + 1:i + 2]
            if code == 'x' and len(text) >= i + 4:
                try:
                    out.append(int(text[i + 2:i + 4], 16))
                except ValueError:
                    return None
                i += 4
                continue
            if code == '_':
                out += b'_'
            elif code in _UNESCAPES:
                out += _UNESCAPES[code].encode()
            else:
                return None
            i += 1
        elif char in _SAFE:
            out += char.encode()
        else:
            return None
        i += 1
    try:
        return '/' + out.decode('utf-8')
    except UnicodeDecodeError:
        return None


# --- one group ------------------------------------------------------------------------------------

def _open_group(cgroup_root, cgroup):
    path = os.path.join(cgroup_root, cgroup.lstrip('/'))
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, 'O_CLOEXEC', 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise BpfError('cannot open cgroup %s (%s): %s' % (cgroup, path, exc.strerror), exc.errno)


def group_exists(cgroup_root, cgroup):
    return os.path.isdir(os.path.join(cgroup_root, cgroup.lstrip('/')))


def attached_programs(cgroup_root, cgroup):
    """[{'id', 'name', 'tag', 'values'}] of every sock_ops program attached to the group itself, and
    its attach flags; ([], 0) when the group does not exist."""
    fd = _open_group(cgroup_root, cgroup)
    if fd is None:
        return [], 0
    try:
        flags, ids = query(fd)
    finally:
        os.close(fd)
    found = []
    for prog_id in ids:
        program = program_by_id(prog_id)
        if program is None:
            continue
        with program:
            found.append(program.info())
    return found, flags


def pinned(pin_dir, cgroup):
    """{'id', 'name', 'tag', 'values', 'ours', 'pin'} of what is pinned for this group, or None."""
    program, info = _open_pin(pin_dir, cgroup)
    if program is not None:
        program.close()
    return info


def _open_pin(pin_dir, cgroup):
    """(Program, its info with 'ours' and 'pin') of what is pinned for this group, or (None, None)."""
    path = os.path.join(pin_dir, pin_name(cgroup))
    program = open_pinned(path)
    if program is None:
        return None, None
    try:
        info = program.info()
    except BaseException:
        program.close()
        raise
    info['ours'] = info['name'] == PROGRAM_NAME and info['type'] == PROG_TYPE_SOCK_OPS
    info['pin'] = path
    return program, info


def not_ours(info):
    """The refusal to touch a pin that holds someone else's program."""
    return ('%s holds a program that is not ours (name %r, id %d); it is left alone'
            % (info['pin'], info['name'], info['id']))


def group_state(cgroup_root, pin_dir, cgroup):
    """One group as it is: {'exists', 'pinned' (pinned(), or None), 'attached' (the pinned program is attached to
    the group), 'others' (the other sock_ops programs attached to the group itself: [{'id', 'name'}])}."""
    found = pinned(pin_dir, cgroup)
    programs, _flags = attached_programs(cgroup_root, cgroup)
    mine = found['id'] if found is not None else None
    return dict(exists=group_exists(cgroup_root, cgroup), pinned=found, attached=any(p['id'] == mine for p in programs),
                others=[dict(id=p['id'], name=p['name']) for p in programs if p['id'] != mine])


def attach_refusal(cgroup_root, cgroup):
    """Why the kernel would refuse our program on ``cgroup`` (attached with BPF_F_ALLOW_MULTI), or None.

    A program attached to the group itself without ALLOW_MULTI admits no other there; one on a group above
    it admits programs below only if it was attached with ALLOW_MULTI or ALLOW_OVERRIDE (the first group
    above with any program decides). A group that does not exist yet is not refused.
    """
    parts = [p for p in cgroup.split('/') if p]
    for depth in range(len(parts), -1, -1):
        group = '/' + '/'.join(parts[:depth])
        fd = _open_group(cgroup_root, group)
        if fd is None:
            if depth == len(parts):
                return None
            continue
        try:
            flags, ids = query(fd)
        finally:
            os.close(fd)
        if depth == len(parts):
            if ids and not flags & F_ALLOW_MULTI:
                return ('cgroup %s has a sock_ops program (id %d) attached without BPF_F_ALLOW_MULTI, which admits no '
                        'other program there' % (cgroup, ids[0]))
            continue
        if flags & F_ALLOW_MULTI:
            return None
        if ids:
            if flags & F_ALLOW_OVERRIDE:
                return None
            return ('cgroup %s, above %s, has a sock_ops program (id %d) attached without BPF_F_ALLOW_MULTI, which '
                    'admits no program below it' % (group, cgroup, ids[0]))
    return None


def ensure_pin_dir(pin_dir):
    """Create the pin folder, root-owned 0700; refuse one that someone else could change, or one in a folder that
    someone else could change (they could move ours away and put theirs in its place)."""
    unsafe = []
    folder = os.path.dirname(os.path.realpath(pin_dir))
    while True:
        info = os.stat(folder)
        if info.st_uid != 0 or info.st_mode & 0o022:
            unsafe.append('%s (mode %o, uid %d)' % (folder, info.st_mode & 0o7777, info.st_uid))
        if folder == os.path.dirname(folder):
            break
        folder = os.path.dirname(folder)
    if unsafe:
        raise BpfError('the folders above %s must be owned by root and writable by root alone, or someone else could '
                       'replace the programs pinned in it, but %s; nothing was attached' % (pin_dir, ', '.join(unsafe)))
    if not os.path.isdir(pin_dir):
        os.mkdir(pin_dir, 0o700)
    info = os.lstat(pin_dir)
    if info.st_uid != 0 or info.st_mode & 0o022 or not os.path.isdir(pin_dir) or os.path.islink(pin_dir):
        raise BpfError('%s is not a folder owned by root and writable by root alone (mode %o, uid %d), so someone '
                       'else could replace the programs pinned in it; nothing was attached'
                       % (pin_dir, info.st_mode & 0o7777, info.st_uid))


@contextlib.contextmanager
def _locked(pin_dir):
    """Hold the pin folder's lock: the module, the boot unit and the units' drop-ins may change the same pins at once."""
    fd = os.open(pin_dir, os.O_RDONLY | os.O_DIRECTORY | getattr(os, 'O_CLOEXEC', 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure(cgroup_root, pin_dir, cgroup, values):
    """Give ``cgroup`` our program with ``values``: pinned, and attached when the group exists.

    Returns 'unchanged', 'added', 'replaced' (in place, no window without a program) or 'pinned'
    (the group does not exist yet: a unit that starts later, whose drop-in attaches it). A new pin is
    in place before the group is looked at again, so a group systemd makes meanwhile gets the program
    from one of us (BPFProgram= reads the pin when it makes the group).
    """
    ensure_pin_dir(pin_dir)
    with _locked(pin_dir):
        return _ensure(cgroup_root, pin_dir, cgroup, values)


def _ensure(cgroup_root, pin_dir, cgroup, values):
    path = os.path.join(pin_dir, pin_name(cgroup))
    old, old_info = _open_pin(pin_dir, cgroup)
    try:
        if old_info is not None and not old_info['ours']:
            raise BpfError(not_ours(old_info))
        wanted = tags(build(values))
        same = old_info is not None and old_info['tag'] in wanted
        fd = _open_group(cgroup_root, cgroup)
        try:
            old_attached = old_info is not None and fd is not None and old_info['id'] in query(fd)[1]
            if same and (old_attached or fd is None):
                return 'unchanged'
            if same:
                _attach(fd, old, cgroup)
                return 'added'
            with load(values) as new:
                temporary = os.path.join(pin_dir, 'new-%d' % os.getpid())
                if os.path.lexists(temporary):
                    os.unlink(temporary)
                pin(new, temporary)
                try:
                    if fd is not None:
                        _attach(fd, new, cgroup, replace=old if old_attached else None)
                    os.rename(temporary, path)
                except BaseException:
                    if os.path.lexists(temporary):
                        os.unlink(temporary)
                    raise
                if fd is None:
                    fd = _open_group(cgroup_root, cgroup)  # made since it was looked at?
                    if fd is None:
                        return 'pinned'
                    if new.info()['id'] not in query(fd)[1]:
                        _attach(fd, new, cgroup)
            return 'replaced' if old_attached else 'added'
        finally:
            if fd is not None:
                os.close(fd)
    finally:
        if old is not None:
            old.close()


def _attach(fd, program, cgroup, replace=None):
    try:
        attach(fd, program, replace)
    except OSError as exc:
        if exc.errno == errno.EEXIST and replace is None:
            return  # attached meanwhile, by systemd (BPFProgram=) from the same pin
        if exc.errno == errno.EPERM:
            raise BpfError('cgroup %s, or a group above it, has a sock_ops program attached without '
                           'BPF_F_ALLOW_MULTI, which admits no other program below it; not attached' % cgroup, exc.errno)
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP) and replace is None:
            raise BpfError('cannot attach to cgroup %s: %s (a kernel without CONFIG_CGROUP_BPF, or not a '
                           'cgroup v2 group)' % (cgroup, os.strerror(exc.errno)), exc.errno)
        raise _explain(exc, 'attaching the program to cgroup %s' % cgroup)


def remove(cgroup_root, pin_dir, cgroup):
    """Detach our program from ``cgroup`` and unpin it; False when there was nothing of ours."""
    program, info = _open_pin(pin_dir, cgroup)
    if program is None:
        return False
    with program:
        if not info['ours']:
            raise BpfError(not_ours(info))
        fd = _open_group(cgroup_root, cgroup)
        if fd is not None:
            try:
                detach(fd, program)
            finally:
                os.close(fd)
        os.unlink(info['pin'])
    return True


def ours(pin_dir):
    """The groups that have a pin of ours: sorted paths."""
    try:
        names = os.listdir(pin_dir)
    except OSError:
        return []
    return sorted(c for c in (cgroup_of_pin(n) for n in names) if c is not None)


# --- the self-test --------------------------------------------------------------------------------

def _map_create(entries):
    try:
        fd, _raw = _bpf(MAP_CREATE, struct.pack('=IIIII', MAP_TYPE_ARRAY, 4, 4, entries, 0))
    except OSError as exc:
        raise _explain(exc, 'creating the self-test\'s map')
    return fd


def _map_lookup(map_fd, index):
    key, value = ctypes.c_uint32(index), ctypes.c_int32(0)
    _bpf(MAP_LOOKUP_ELEM, struct.pack('=IIQQQ', map_fd, 0, ctypes.addressof(key), ctypes.addressof(value), 0))
    return value.value


def _loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack('16sH22x', b'lo', 0)
        flags, = struct.unpack_from('16sH', fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1:]
        if not flags & IFF_UP:
            fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack('16sH22x', b'lo', flags | IFF_UP))


def _connect_in(group_path):
    """In a child: join the group, then open and accept one loopback connection in a private network namespace."""
    if _libc().unshare(CLONE_NEWNET) == 0:
        _loopback_up()
    with open(os.path.join(group_path, 'cgroup.procs'), 'w') as handle:
        handle.write('%d\n' % os.getpid())
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname(), timeout=5):
            accepted, _peer = listener.accept()
            accepted.close()


def self_test(cgroup_root, values):
    """Prove on this kernel that a sock_ops program may set every option with these values.

    Runs the program, with a map it reports each bpf_setsockopt() result in, for one loopback
    connection of a child process in a throwaway group (in a private network namespace where the
    kernel permits one). Raises BpfError naming what the kernel refused; removes all it made.
    """
    options = _options(values)
    group_path = os.path.join(cgroup_root, 'keepalive-selftest-%d' % os.getpid())
    map_fd = _map_create(len(options) + 1)
    try:
        with load(values, report_map_fd=map_fd) as program:
            _remove_group(group_path)  # an empty one left by a self-test that was killed
            os.mkdir(group_path, 0o700)
            try:
                fd = os.open(group_path, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    _attach(fd, program, 'self-test group %s' % group_path)
                    _run_child(group_path)
                    detach(fd, program)
                finally:
                    os.close(fd)
            finally:
                _remove_group(group_path)
        if _map_lookup(map_fd, len(options)) != 1:
            raise BpfError('the self-test connection did not run the program, so this kernel cannot be shown to '
                           'accept it; nothing was attached')
        for index, (_name, level, optname, value) in enumerate(options):
            result = _map_lookup(map_fd, index)
            if result:
                label = [o[3] for o in OPTIONS if (o[1], o[2]) == (level, optname)][0]
                raise BpfError('this kernel\'s bpf_setsockopt() refuses %s=%d from a sock_ops program (%s): the '
                               'keep-alive options came in Linux %s; nothing was attached'
                               % (label, value, errno.errorcode.get(-result, result), FIRST_KERNEL), -result)
    finally:
        os.close(map_fd)


def _run_child(group_path):
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            _connect_in(group_path)
            status = 0
        finally:
            os._exit(status)
    deadline = time.time() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise BpfError('the self-test connection did not finish within 10 s; nothing was attached')
        time.sleep(0.01)
    if status != 0:
        raise BpfError('the self-test process could not join its cgroup or open a loopback connection (exit status '
                       '%d); nothing was attached' % status)


def _remove_group(path):
    for _attempt in range(100):
        try:
            os.rmdir(path)
            return
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(0.01)


# --- the configuration the boot unit applies ------------------------------------------------------

def render_config(targets):
    """The boot configuration: {'targets': [{'cgroup', 'unit', 'idle', 'interval', 'count', 'user_timeout'}]}."""
    rows = [dict((k, t.get(k)) for k in ('cgroup', 'unit') + VALUE_NAMES) for t in targets]
    return json.dumps({'managed_by': MARKER, 'targets': sorted(rows, key=lambda t: t['cgroup'])},
                      indent=2, sort_keys=True) + '\n'


def parse_config(text):
    """The targets of a boot configuration; raises ValueError naming what is wrong."""
    data = json.loads(text)
    targets = data.get('targets') if isinstance(data, dict) else None
    if not isinstance(targets, list):
        raise ValueError('no list of targets')
    for target in targets:
        if not isinstance(target, dict) or not isinstance(target.get('cgroup'), str) \
                or not target['cgroup'].startswith('/'):
            raise ValueError('a target without an absolute cgroup path: %r' % (target,))
        for name in VALUE_NAMES:
            value = target.get(name)
            if value is None and name == 'user_timeout':
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2147483647:
                raise ValueError('%s of cgroup %s is not a number: %r' % (name, target['cgroup'], value))
    return targets


def boot(config_path, mountinfo='/proc/self/mountinfo', pin_dir=PIN_DIR, unit=None, stamp_dir=STAMP_DIR):
    """Load, pin and attach every target of the configuration (with ``unit``, that unit's only): the lines to
    log, and how many failed.

    Before the first program with given values is attached, the running kernel is shown to accept each
    option (self_test(), once per boot: a kernel that changed since the module ran must not leave the
    connections silently without keep-alive); a target whose values it refuses is not attached and fails.
    """
    targets = parse_config(_read(config_path))
    if unit is not None:
        targets = [t for t in targets if t.get('unit') == unit]
        if not targets:
            return ['unit %s: not in %s, nothing to attach' % (unit, config_path)], 1
    if not bpffs_mounted(os.path.dirname(pin_dir), mountinfo):
        mount_bpffs(os.path.dirname(pin_dir))
    cgroup_root = cgroup2_mount(mountinfo)
    lines, failed, verdicts = [], 0, {}
    for target in targets:
        what = 'unit %s (cgroup %s)' % (target['unit'], target['cgroup']) if target.get('unit') \
            else 'cgroup %s' % target['cgroup']
        key = tuple(target.get(name) for name in VALUE_NAMES)
        if key not in verdicts:
            verdicts[key] = verified(cgroup_root, target, stamp_dir)
            lines.append(verdicts[key][1])
        if not verdicts[key][0]:
            failed += 1
            lines.append('%s: failed: not attached, since the kernel refuses its values (see above)' % what)
            continue
        try:
            done = ensure(cgroup_root, pin_dir, target['cgroup'], target)
            lines.append('%s: %s, %s' % (what, done, describe_values(target)))
        except (BpfError, OSError) as exc:
            failed += 1
            lines.append('%s: failed: %s' % (what, getattr(exc, 'reason', exc)))
    return lines, failed


def _stamp(stamp_dir, values):
    """The file that says this boot's kernel passed the self-test for ``values``, or None where no stamp can be
    trusted (a folder that someone other than root could change)."""
    try:
        if not os.path.isdir(stamp_dir):
            os.mkdir(stamp_dir, 0o700)
        info = os.lstat(stamp_dir)
        with open('/proc/sys/kernel/random/boot_id') as handle:
            boot_id = handle.read().strip()
    except OSError:
        return None
    if info.st_uid != 0 or info.st_mode & 0o077 or not os.path.isdir(stamp_dir) or os.path.islink(stamp_dir):
        return None
    key = json.dumps([boot_id] + [values.get(name) for name in VALUE_NAMES])
    return os.path.join(stamp_dir, 'selftest-' + hashlib.sha256(key.encode()).hexdigest()[:32])


def verified(cgroup_root, values, stamp_dir=STAMP_DIR):
    """(whether this kernel accepts every option with ``values``, a line saying so): the self-test, or its
    stamp from earlier this boot."""
    options = ', '.join('%s=%d' % ([o[3] for o in OPTIONS if o[0] == name][0], value)
                        for name, _level, _optname, value in _options(values))
    stamp = _stamp(stamp_dir, values)
    if stamp is not None and os.path.exists(stamp):
        return True, 'kernel %s accepts %s (self-test earlier this boot)' % (platform.release(), options)
    try:
        self_test(cgroup_root, values)
    except BpfError as exc:
        return False, 'kernel %s: %s' % (platform.release(), exc.reason.replace('; nothing was attached', ''))
    if stamp is not None:
        with open(stamp, 'w'):
            pass
    return True, 'kernel %s accepts %s (self-test)' % (platform.release(), options)


def describe_values(values):
    text = 'idle %ss, interval %ss, count %s' % (values['idle'], values['interval'], values['count'])
    if values.get('user_timeout') is not None:
        text += ', user_timeout %sms' % values['user_timeout']
    return text


def run(argv):
    """The entry of the boot unit (``--boot CONFIG``: every target) and of a unit's drop-in (``--unit UNIT CONFIG``:
    that unit's, as it starts): (exit status, lines to log). The unit files call it through ENTRY."""
    if len(argv) == 2 and argv[0] == '--boot':
        config, unit = argv[1], None
    elif len(argv) == 3 and argv[0] == '--unit':
        config, unit = argv[2], argv[1]
    else:
        return 2, ['keepalive: usage: --boot CONFIG | --unit UNIT CONFIG']
    try:
        lines, failed = boot(config, unit=unit)
    except (BpfError, OSError, ValueError) as exc:
        return 1, ['keepalive: %s: %s' % (config, getattr(exc, 'reason', exc))]
    return (1 if failed else 0), ['keepalive: ' + line for line in lines]


# How a unit file runs run() from this file installed as FOLDER/NAME.py: python3 -I -B -S -c ENTRY % (FOLDER, NAME) ARGS
# (isolated, no bytecode written, no site: only the standard library is imported).
ENTRY = ('import sys; sys.path[:0] = [%r]; import %s as code; status, lines = code.run(sys.argv[1:]); '
         'sys.stdout.write(chr(10).join(lines + [str()])); sys.exit(status)')
