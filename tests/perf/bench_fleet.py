"""Benchmark: the fleet's compliance report for 1,000, 10,000 and 100,000 hosts, time and peak memory.

Synthetic results of keepalive_check (a third of the hosts with 100 listed violations, the rest compliant) go
through the real report assembly, each phase in a process of its own so that its peak memory is its own:
  record  what the compliance playbook does once per host as its check ends (the keepalive_fleet_report
          action, state=host): the row kept in the play, the details written to hosts/<host>.json;
  report  what it does once for the run (state=report): every row read back, the three reports written;
  merge   the merge of three overlapping slices of the fleet (state=merge), a tenth of each slice's hosts
          checked again in the next;
  filter  for comparison, the keepalive_fleet filter over every result held in memory (how the report was made
          before), at the sizes it manages.
Prints seconds, peak memory (MB) and the size a host's row takes in the play. Targets for 100,000 hosts on a
2-core machine: the report in at most 10 minutes and 2 GB.
Usage: python tests/perf/bench_fleet.py [--hosts 1000,10000,100000] [--filter-up-to 10000]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, '.cache', 'collections'))
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports import _fleet  # noqa: E402
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import RULES  # noqa: E402
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._presentation import fleet  # noqa: E402

VIOLATIONS = 100


def result(index):
    """What keepalive_check returns on host ``index``: every third host with VIOLATIONS listed violations."""
    leaky = index % 3 == 0
    listed = [{'rule': 'connection_keepalive', 'subject_kind': 'connection',
               'subject': '10.%d.%d.%d:%d -> 10.9.0.1:5432' % (index >> 16 & 255, index >> 8 & 255, index & 255, 40000 + n),
               'found': 'no keep-alive: the program never set SO_KEEPALIVE',
               'expected': 'SO_KEEPALIVE set (a keep-alive timer)',
               'fix': 'linuxnet.keepalive.keepalive_sockets now (the live fix, no restart), and the role',
               'netns': None, 'container': None, 'process': 'java', 'unit': 'billing.service', 'pids': [4242],
               'remote_port': 5432} for n in range(VIOLATIONS if leaky else 0)]
    by_rule = dict((rule, 0) for rule in RULES)
    by_rule['connection_keepalive'] = len(listed)
    return {'changed': False, 'compliant': not leaky, 'violations': listed, 'violations_left_out': 0,
            'not_examined': 0, 'namespaces_not_read': 0, 'msg': 'x',
            'summary': {'by_rule': by_rule, 'offenders': ['java (billing.service): %d' % len(listed)] if leaky else [],
                        'defaults': {'time': 120, 'intvl': 30, 'probes': 4},
                        'connections': {'outbound': {'enabled': 10, 'disabled': len(listed)}}, 'total_sockets': 300},
            'policy': {'kernel': {'time_max': 300}}}


def host_name(index):
    return 'host-%06d.example.com' % index


META = {'generated': '2026-12-02T00:00:00Z', 'collection': {'name': 'linuxnet.keepalive', 'version': '0.2.0'}}


def record(folder, hosts, start=0, at=1000.0):
    size = 0
    for index in range(start, start + hosts):
        row, details = _fleet.row(host_name(index), result(index), checked_at=at + index)
        row['run'] = 'bench'
        _fleet.record(folder, row, details)
        size = max(size, len(json.dumps(row)))
    return size


def report(folder, hosts, start=0):
    fleet_report = _fleet.Fleet(folder, dict(META, inventory_hosts=hosts))
    for index in range(start, start + hosts):
        row, details = _fleet.read_host(folder, host_name(index))
        fleet_report.add(row, details)
    return fleet_report.finish()


def phase(name, hosts, work):
    """Run one phase in this process (the child): print its seconds, peak RSS and result."""
    started = time.monotonic()
    if name == 'record':
        extra = record(work, hosts)
    elif name == 'report':
        extra = report(work, hosts)['hosts']
    elif name == 'merge':
        third, overlap = hosts // 3, hosts // 30
        inputs = []
        for part in range(3):
            folder = os.path.join(work, 'slice-%d' % part)
            first = max(0, part * third - overlap)
            count = (hosts if part == 2 else (part + 1) * third) - first
            record(folder, count, start=first, at=1000.0 * (part + 1))
            report(folder, count, start=first)
            inputs.append(folder)
        started = time.monotonic()  # the merge alone
        extra = _fleet.merge(inputs, os.path.join(work, 'merged'), dict(META))['hosts']
    else:
        results = dict((host_name(i), result(i)) for i in range(hosts))
        extra = len(json.dumps(fleet(results, RULES)))
    print(json.dumps({'seconds': time.monotonic() - started, 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                      / 1024.0, 'extra': extra}))


def run_phase(name, hosts, work):
    proc = subprocess.run([sys.executable, __file__, '--phase', name, '--hosts', str(hosts), '--work', work],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', default='1000,10000,100000')
    parser.add_argument('--filter-up-to', type=int, default=10000)
    parser.add_argument('--phase')
    parser.add_argument('--work')
    args = parser.parse_args()
    if args.phase:
        return phase(args.phase, int(args.hosts), args.work)
    sizes = [int(n) for n in args.hosts.split(',')]
    print('the fleet report: %s hosts, a third of them with %d listed violations each (2 cores)'
          % (', '.join('{:,}'.format(n) for n in sizes), VIOLATIONS))
    print('%-8s %10s %10s %10s  %s' % ('phase', 'hosts', 'seconds', 'peak MB', 'note'))
    for hosts in sizes:
        work = tempfile.mkdtemp(prefix='bench-fleet-')
        try:
            recorded = run_phase('record', hosts, work)
            print('%-8s %10s %10.1f %10.0f  largest row kept per host: %d bytes' % (
                'record', '{:,}'.format(hosts), recorded['seconds'], recorded['peak_mb'], recorded['extra']))
            reported = run_phase('report', hosts, work)
            sizes_mb = sum(os.path.getsize(os.path.join(work, '%s.%s' % (_fleet.REPORT, s)))
                           for s in ('json', 'md', 'junit.xml')) / 1e6
            print('%-8s %10s %10.1f %10.0f  reports %.0f MB, Markdown %d KB' % (
                'report', '{:,}'.format(hosts), reported['seconds'], reported['peak_mb'], sizes_mb,
                os.path.getsize(os.path.join(work, _fleet.REPORT + '.md')) // 1024))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        work = tempfile.mkdtemp(prefix='bench-fleet-')
        try:
            merged = run_phase('merge', hosts, work)
            print('%-8s %10s %10.1f %10.0f  3 slices, a tenth of each checked again in the next' % (
                'merge', '{:,}'.format(hosts), merged['seconds'], merged['peak_mb']))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if hosts <= args.filter_up_to:
            filtered = run_phase('filter', hosts, '/nonexistent')
            print('%-8s %10s %10.1f %10.0f  the filter before: every result in memory, %d MB of JSON' % (
                'filter', '{:,}'.format(hosts), filtered['seconds'], filtered['peak_mb'], filtered['extra'] // 1000000))
            print('%-8s %10s %10.2f %10.2f  (report / filter)' % (
                'ratio', '{:,}'.format(hosts), reported['seconds'] / filtered['seconds'],
                reported['peak_mb'] / filtered['peak_mb']))


if __name__ == '__main__':
    sys.exit(main())
