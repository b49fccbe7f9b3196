"""The C parts the benchmarks measure, compiled the same way for each of them: the role's preload shim
(as the role builds it on a target) and the benchmarks' own loops."""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror']


def shim(work):
    """The role's shim, roles/keepalive/files/keepalive_shim.c, as work/libkeepalive_shim.so."""
    out = os.path.join(work, 'libkeepalive_shim.so')
    subprocess.run(['gcc'] + CFLAGS + ['-fPIC', '-shared', '-o', out,
                                       os.path.join(ROOT, 'roles', 'keepalive', 'files', 'keepalive_shim.c'), '-ldl'],
                   check=True)
    return out


def loop(work, name):
    """tests/perf/NAME.c as the program work/NAME."""
    out = os.path.join(work, name)
    subprocess.run(['gcc'] + CFLAGS + ['-o', out, os.path.join(HERE, name + '.c')], check=True)
    return out
