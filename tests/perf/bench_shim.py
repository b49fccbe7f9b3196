"""Benchmark: the cost the preload shim adds to socket(), next to Debian's libkeepalive0.

Compiles the shim (roles/keepalive/files/keepalive_shim.c) and a socket()+close() loop, then runs
the loop in rounds, in turn: without a preload, with this shim, and with libkeepalive0
(/usr/lib/libkeepalive.so, the nearest peer), both set to the same KEEPIDLE, KEEPINTVL and KEEPCNT.
Prints, for each, the median and fastest nanoseconds per socket()+close(), what each library adds
per call, and their ratio (target: this shim adds no more than libkeepalive0). Wall time on a
shared machine is noisy, so two exact counts are printed beside it: the user-space instructions
each library adds per call (valgrind's callgrind) and the system calls it adds (strace -c).
Usage: python bench_shim.py [--calls N] [--rounds R]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

import compiled
import syscall_count

LIBKEEPALIVE = '/usr/lib/libkeepalive.so'
SETTINGS = {'KEEPIDLE': '120', 'KEEPINTVL': '30', 'KEEPCNT': '4'}


def environment(library):
    env = dict(os.environ, **SETTINGS)
    env.pop('LD_PRELOAD', None)
    if library:
        env['LD_PRELOAD'] = library
    return env


def instructions(loop, library, calls, work):
    """User-space instructions of a run (callgrind's total), or None without valgrind."""
    if not shutil.which('valgrind'):
        return None
    out = os.path.join(work, 'callgrind.out')
    subprocess.run(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out, loop, str(calls)],
                   env=environment(library), capture_output=True, check=True)
    with open(out) as handle:
        return int(re.search(r'^totals: (\d+)', handle.read(), re.M).group(1))


def syscalls(loop, library, calls, work):
    """System calls of a run (strace -c -f total), or None without strace."""
    return syscall_count.total([loop, str(calls)], environment(library), work)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--calls', type=int, default=200000)
    parser.add_argument('--rounds', type=int, default=7)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix='keepalive-bench-')
    shim = compiled.shim(work)
    loop = compiled.loop(work, 'socket_loop')
    variants = [('no preload', None), ('keepalive_shim', shim)]
    if os.path.exists(LIBKEEPALIVE):
        variants.append(('libkeepalive0', LIBKEEPALIVE))
    else:
        print('libkeepalive0 is not installed (apt-get install libkeepalive0): compared with no preload only')

    times = dict((name, []) for name, _lib in variants)
    for _round in range(args.rounds):
        for name, library in variants:
            out = subprocess.run([loop, str(args.calls)], env=environment(library), capture_output=True,
                                 text=True, check=True)
            times[name].append(float(out.stdout))
    exact_calls = 20000
    counts = dict((name, (instructions(loop, lib, exact_calls, work), syscalls(loop, lib, exact_calls, work)))
                  for name, lib in variants)

    base = statistics.median(times['no preload'])
    fastest = min(times['no preload'])
    print('%d socket()+close() calls per run, %d rounds, settings %s' % (args.calls, args.rounds, SETTINGS))
    header = ('preload', 'median ns', 'added ns', 'fastest ns', 'added ns', 'added instr.', 'added syscalls')
    print('%-16s %12s %12s %12s %12s %16s %14s' % header)
    added = {}
    for name, _lib in variants:
        median, low = statistics.median(times[name]), min(times[name])
        instr, calls_made = counts[name]
        base_instr, base_calls = counts['no preload']
        added[name] = (median - base, low - fastest,
                       (instr - base_instr) / exact_calls if instr is not None else None,
                       (calls_made - base_calls) / exact_calls if calls_made is not None else None)
        if name == 'no preload':
            print('%-16s %12.1f %12s %12.1f %12s %16s %14s' % (name, median, '', low, '', '', ''))
        else:
            print('%-16s %12.1f %12.1f %12.1f %12.1f %16s %14s' % (
                name, median, added[name][0], low, added[name][1],
                '%.1f' % added[name][2] if added[name][2] is not None else '-',
                '%.2f' % added[name][3] if added[name][3] is not None else '-'))
    if 'libkeepalive0' in added:
        ours, peer = added['keepalive_shim'], added['libkeepalive0']
        print()
        for index, label in ((0, 'median wall'), (1, 'fastest wall'), (2, 'instructions'), (3, 'system calls')):
            if ours[index] is not None and peer[index]:
                ratio = ours[index] / peer[index]
                print('keepalive_shim / libkeepalive0, added %-13s %6.2f   (target <= 1.0)' % (label + ':', ratio))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
