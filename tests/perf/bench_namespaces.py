"""Benchmark: keepalive_facts namespaces=all over many small namespaces against one big one, in one run.

Holds N connections spread over K network namespaces (`unshare -n`, one holder process each),
times gathering every namespace in fresh processes (owners looked up, as the module does), then
does the same with the same N connections in a single namespace, and prints both and their ratio.
The project's target: K=24 namespaces of 250 connections cost at most 2x one namespace of 6,000.
Usage: python bench_namespaces.py [--namespaces K] [--connections N] [--repeat R]
Nothing on the host changes: every connection lives and dies in the namespaces made here.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import holders

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HOLDER = r'''
import socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
count = int(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 7530))
listener.listen(4096)
held = []
for _pair in range(count):
    held.append(socket.create_connection(("127.0.0.1", 7530)))
    held.append(listener.accept()[0])
print("ready", flush=True)
sys.stdin.read()
'''
GATHER = r'''
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import snapshot
found = snapshot(namespaces="all", limit=1000)
sys.stderr.write("%d %d\n" % (found.summary["total"], len(found.namespaces)))
'''


def hold(layout):
    return holders.start([['unshare', '-n', '--', sys.executable, '-c', HOLDER, str(count)] for count in layout])


def timed(repeat):
    collections = os.path.join(ROOT, '.cache', 'collections')
    walls, seen = [], None
    for _run in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, '-c', GATHER, collections], capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - start)
        seen = proc.stderr.split()
    return statistics.median(walls), seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--namespaces', type=int, default=24)
    parser.add_argument('--connections', type=int, default=6000)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    per = args.connections // args.namespaces
    results = {}
    for label, layout in (('%d namespaces x %d connections' % (args.namespaces, per), [per] * args.namespaces),
                          ('1 namespace x %d connections' % (per * args.namespaces), [per * args.namespaces])):
        held = hold(layout)
        try:
            results[label] = timed(args.repeat)
        finally:
            holders.stop(held)
    print('%-36s %10s  %s' % ('layout', 'median s', 'sockets read, namespaces read'))
    for label, (wall, seen) in results.items():
        print('%-36s %10.3f  %s' % (label, wall, ' '.join(seen)))
    many, one = [wall for wall, _seen in results.values()]
    print('\n%-36s %10.2f   target <= 2.0' % ('many namespaces / one namespace', many / max(one, 1e-9)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
