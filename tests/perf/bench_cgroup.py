"""Benchmark: what the cgroup program adds to each new TCP connection, next to the preload shim, in one run.

A connect()+accept()+close() loop over loopback (tests/perf/connect_loop.c; both ends in the loop's
process) runs in rounds, in turn: in a cgroup with no program and no preload, with the shim
(roles/keepalive/files/keepalive_shim.c) preloaded, and in a cgroup with the keep-alive program
attached (plugins/module_utils/cgroup/_sock_ops.py), both set to the same idle, interval and count. Prints
the median and fastest nanoseconds per connection, what each adds, the system calls each adds
(strace -c: the program makes none, it runs in the kernel), and the ratio of what the program adds
to what the shim adds (target: no more than the shim).

Runs itself in a private network and mount namespace (loopback and a BPF file system of its own)
and in throwaway cgroups that it removes. Root only.
Usage: python bench_cgroup.py [--connections N] [--rounds R]
"""

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import compiled
import syscall_count

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VALUES = {'idle': 120, 'interval': 30, 'count': 4, 'user_timeout': None}
SHIM_ENV = {'KEEPIDLE': '120', 'KEEPINTVL': '30', 'KEEPCNT': '4'}


def sock_ops():
    spec = importlib.util.spec_from_file_location('_sock_ops', os.path.join(ROOT, 'plugins', 'module_utils', 'cgroup', '_sock_ops.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command(group, argv, library=None):
    """argv run inside ``group`` (a cgroup directory), with the shim preloaded or not: (argv, environment)."""
    env = dict(os.environ, **SHIM_ENV)
    env.pop('LD_PRELOAD', None)
    if library:
        env['LD_PRELOAD'] = library
    return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', group] + argv, env


def run(group, loop, connections, library=None):
    argv, env = command(group, [loop, str(connections)], library)
    return float(subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout)


def syscalls(group, loop, connections, library, work):
    """System calls of a run (strace -c -f total), or None without strace."""
    argv, env = command(group, [loop, str(connections)], library)
    return syscall_count.total(argv, env, work)


def bench(args, work):
    program = sock_ops()
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    if not program.bpffs_mounted():
        program.mount_bpffs()
    root = program.cgroup2_mount()
    base = '/ka-bench-%d' % os.getpid()
    groups = {'plain': base + '/plain', 'program': base + '/program'}
    shim = compiled.shim(work)
    loop = compiled.loop(work, 'connect_loop')
    os.mkdir(os.path.join(root, base.lstrip('/')))
    try:
        for group in groups.values():
            os.mkdir(os.path.join(root, group.lstrip('/')))
        program.ensure(root, program.PIN_DIR, groups['program'], VALUES)
        variants = [('no keep-alive', groups['plain'], None), ('keepalive_shim', groups['plain'], shim),
                    ('cgroup program', groups['program'], None)]
        times = dict((name, []) for name, _group, _lib in variants)
        for _round in range(args.rounds):
            for name, group, library in variants:
                times[name].append(run(os.path.join(root, group.lstrip('/')), loop, args.connections, library))
        exact = min(args.connections, 5000)
        calls = dict((name, syscalls(os.path.join(root, group.lstrip('/')), loop, exact, library, work))
                     for name, group, library in variants)
        report(args, times, calls, exact)
    finally:
        program.remove(root, program.PIN_DIR, groups['program'])
        for group in (groups['plain'], groups['program'], base):
            path = os.path.join(root, group.lstrip('/'))
            if os.path.isdir(path):
                os.rmdir(path)


def report(args, times, calls, exact):
    base_median, base_fastest = statistics.median(times['no keep-alive']), min(times['no keep-alive'])
    print('%d connect()+accept()+close() per run over loopback, %d rounds, values %s'
          % (args.connections, args.rounds, SHIM_ENV))
    header = ('variant', 'median ns', 'added ns', 'fastest ns', 'added ns', 'added syscalls')
    print('%-16s %12s %12s %12s %12s %14s' % header)
    added = {}
    for name in ('no keep-alive', 'keepalive_shim', 'cgroup program'):
        median, fastest = statistics.median(times[name]), min(times[name])
        more = (calls[name] - calls['no keep-alive']) / float(exact) if calls[name] is not None else None
        added[name] = (median - base_median, fastest - base_fastest, more)
        if name == 'no keep-alive':
            print('%-16s %12.1f %12s %12.1f %12s %14s' % (name, median, '', fastest, '', ''))
        else:
            row = (name, median, added[name][0], fastest, added[name][1], '%.2f' % more if more is not None else '-')
            print('%-16s %12.1f %12.1f %12.1f %12.1f %14s' % row)
    print()
    ours, shim = added['cgroup program'], added['keepalive_shim']
    for index, label in ((0, 'median wall'), (1, 'fastest wall')):
        if shim[index] > 0:
            print('cgroup program / keepalive_shim, added %-13s %6.2f   (target <= 1.0)'
                  % (label + ':', ours[index] / shim[index]))
        else:
            print('cgroup program / keepalive_shim, added %-13s    -   (the shim added nothing measurable this run)'
                  % (label + ':'))
    if ours[2] is not None:
        print('system calls the cgroup program adds per connection: %.2f (the shim: %.2f)' % (ours[2], shim[2]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--connections', type=int, default=50000)
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--inside', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print('bench_cgroup.py needs root (cgroups, BPF and a private network namespace)')
        return 1
    if not args.inside:
        return subprocess.run(['unshare', '-n', '-m', '--', sys.executable, os.path.abspath(__file__), '--inside',
                               '--connections', str(args.connections), '--rounds', str(args.rounds)],
                              check=False).returncode
    work = tempfile.mkdtemp(prefix='keepalive-bench-')
    try:
        bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
