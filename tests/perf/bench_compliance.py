"""Benchmark: the compliance playbook across a fleet of systemd containers.

Boots N Debian 12 containers (default 8) with Podman, runs `ansible-playbook
linuxnet.keepalive.compliance` against all of them with N forks, R times, and prints each run's wall
time and the median. The containers are removed at the end. Needs the image that `make images` builds.
Usage: python bench_compliance.py [--hosts N] [--runs R]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

IMAGE = 'localhost/linuxnet-keepalive-debian:bookworm'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=8)
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args()

    names = ['keepalive-bench-%d' % i for i in range(args.hosts)]
    work = tempfile.mkdtemp(prefix='keepalive-fleet-')
    inventory = os.path.join(work, 'inventory.ini')
    with open(inventory, 'w') as handle:
        handle.write('[fleet]\n' + ''.join('%s ansible_connection=containers.podman.podman\n' % n for n in names))
    env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER='/usr/bin/python3', ANSIBLE_NOCOLOR='1')
    times = []
    try:
        started = time.perf_counter()
        for name in names:
            subprocess.run(['podman', 'run', '-d', '--name', name, '--privileged', '--systemd=always', IMAGE,
                            '/sbin/init'], check=True, capture_output=True)
        for name in names:
            for _attempt in range(150):
                state = subprocess.run(['podman', 'exec', name, 'systemctl', 'is-system-running'],
                                       capture_output=True, text=True, check=False).stdout.strip()
                if state in ('running', 'degraded'):
                    break
                time.sleep(0.2)
        print('%d containers booted in %.1f s' % (args.hosts, time.perf_counter() - started))
        for run in range(args.runs):
            begin = time.perf_counter()
            proc = subprocess.run(['ansible-playbook', '-i', inventory, '-f', str(args.hosts),
                                   'linuxnet.keepalive.compliance', '-e', 'keepalive_report_dir=' + os.path.join(work, 'report')],
                                  env=env, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - begin
            if proc.returncode != 0:
                print(proc.stdout[-3000:] + proc.stderr[-3000:])
                return 1
            times.append(elapsed)
            print('run %d: %.1f s' % (run + 1, elapsed))
        print('compliance playbook, %d hosts, %d forks: median %.1f s over %d runs'
              % (args.hosts, args.hosts, statistics.median(times), len(times)))
    finally:
        subprocess.run(['podman', 'rm', '-f', '-t', '0'] + names, capture_output=True, check=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
