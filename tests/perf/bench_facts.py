"""Benchmark: keepalive_facts' gathering against ss, /proc and psutil, side by side in one run.

Opens N loopback TCP connections (2N sockets) in a private network namespace, spread over worker
processes (each stays under the open-file limit), then times, in fresh processes and in turns:

  cat /proc/net/tcp /proc/net/tcp6   the kernel's own cost of the text table (the floor for /proc)
  ss -tanoH                          netlink, in C, without processes
  ss -tanopH                         the same with processes
  psutil.net_connections('tcp')      with pids, but no timer data at all
  gather (owners=false)              this collection: netlink, every socket counted, 1000 returned
  gather (owners=true)               the same with every socket's process and unit
  gather /proc (owners=false)        the /proc fallback

and prints the median wall time, peak memory (max RSS of the process) and the ratios the project
holds itself to. Usage: python bench_facts.py [--connections N] [--repeat R] [--slow-repeat R]
Nothing on the host changes: the connections live and die in the namespace.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import holders

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PER_WORKER = 9000  # 2 fds per connection: under the 20000 open files a process may have
GATHER = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._gather import gather, open_records, read_defaults
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._socket_owners import SocketOwners
owners = SocketOwners().scan() if sys.argv[2] == 'true' else None
records, source, _reader = open_records(sys.argv[3])
connections, summary = gather(records, owners=owners, limit=1000)
result = {'source': source, 'defaults': read_defaults(), 'connections': connections, 'summary': summary}
out = json.dumps(result)
peak = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]
sys.stderr.write(json.dumps({'peak_kb': peak, 'total': summary['total'], 'source': source,
                             'culprits': sum(c['connections'] for c in summary['culprits'])}) + '\n')
'''
PSUTIL = r'''
import psutil, sys
n = len(psutil.net_connections(kind='tcp'))
peak = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]
sys.stderr.write('{"peak_kb": %d, "total": %d}\n' % (peak, n))
'''
WORKER = r'''
import os, resource, socket, sys
count, port = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
listener = socket.socket()
listener.bind(('127.0.0.1', port))
listener.listen(4096)
held = []
for _ in range(count):
    client = socket.socket()
    client.setblocking(True)
    client.connect(('127.0.0.1', port))
    held.append(client)
    held.append(listener.accept()[0])
sys.stdout.write('ready\n')
sys.stdout.flush()
sys.stdin.read()  # hold until the benchmark closes our stdin
'''


def timed(command, env=None):
    """Wall seconds of one fresh process, its peak RSS in MB (VmHWM, reported by the Python
    children themselves; None for the others) and what it printed on stderr as JSON."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _pid, status, _usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit('%s failed (%d): %s' % (' '.join(command[:3]), proc.returncode, err[-2000:]))
    try:
        info = json.loads(err.strip().splitlines()[-1]) if err.strip() else {}
    except ValueError:
        info = {}
    peak = info.pop('peak_kb', None)
    return wall, peak / 1024.0 if peak is not None else None, info


def open_connections(total):
    commands = []
    port = 9000  # below the ephemeral range set in main()
    remaining = total
    while remaining > 0:
        count = min(PER_WORKER, remaining)
        commands.append([sys.executable, '-c', WORKER, str(count), str(port)])
        remaining -= count
        port += 1
    return holders.start(commands)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--connections', type=int, default=100000)
    parser.add_argument('--repeat', type=int, default=5, help='runs of each fast method (median taken)')
    parser.add_argument('--slow-repeat', type=int, default=1, help='runs of ss -tanopH, which is slow')
    parser.add_argument('--json', help='also write the figures to this file')
    args = parser.parse_args()

    if os.environ.get('KEEPALIVE_BENCH_NS') != '1':
        # Re-run inside a private network namespace: the connections never touch the host's.
        env = dict(os.environ, KEEPALIVE_BENCH_NS='1')
        return subprocess.call(['unshare', '-n', '--', sys.executable] + sys.argv, env=env)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    with open('/proc/sys/net/ipv4/ip_local_port_range', 'w') as handle:
        handle.write('10000 65000\n')  # this namespace's own range: room for many connections per port

    collections = os.path.join(ROOT, '.cache', 'collections')
    have_psutil = subprocess.run([sys.executable, '-c', 'import psutil'], check=False).returncode == 0
    methods = [
        ('cat /proc/net/tcp*', ['cat', '/proc/net/tcp', '/proc/net/tcp6'], args.repeat),
        ('ss -tanoH', ['ss', '-tanoH'], args.repeat),
        ('ss -tanopH', ['ss', '-tanopH'], args.slow_repeat),
        ('gather, owners=false', [sys.executable, '-c', GATHER, collections, 'false', 'auto'], args.repeat),
        ('gather, owners=true', [sys.executable, '-c', GATHER, collections, 'true', 'auto'], args.repeat),
        ('gather /proc, owners=false', [sys.executable, '-c', GATHER, collections, 'false', 'proc'], args.repeat),
    ]
    if have_psutil:
        methods.append(('psutil.net_connections', [sys.executable, '-c', PSUTIL], args.repeat))

    print('opening %d loopback connections (%d sockets) in a private network namespace...'
          % (args.connections, 2 * args.connections), flush=True)
    started = time.perf_counter()
    workers = open_connections(args.connections)
    print('opened in %.1f s' % (time.perf_counter() - started), flush=True)
    results = {}
    try:
        # In turns, so that a noisy moment on a shared machine hits every method alike.
        for round_ in range(max(args.repeat, args.slow_repeat)):
            for name, command, repeat in methods:
                if round_ < repeat:
                    wall, rss, info = timed(command)
                    results.setdefault(name, {'wall': [], 'rss': [], 'info': info})
                    results[name]['wall'].append(wall)
                    results[name]['rss'].append(rss)
    finally:
        holders.stop(workers)

    print()
    print('%-28s %10s %10s  %s' % ('method', 'median s', 'peak MB', 'notes'))
    figures = {}
    for name, _command, _repeat in methods:
        data = results[name]
        median = statistics.median(data['wall'])
        peak = max(data['rss']) if data['rss'][0] is not None else None
        figures[name] = {'median_s': round(median, 3), 'peak_mb': round(peak, 1) if peak else None,
                         'runs': len(data['wall'])}
        notes = json.dumps(data['info']) if data['info'] else ''
        print('%-28s %10.3f %10s  %s' % (name, median, '%.1f' % peak if peak else '-', notes))

    def ratio(a, b):
        return figures[a]['median_s'] / max(figures[b]['median_s'], 1e-9)

    print()
    checks = [
        ('gather, owners=false / ss -tanoH', ratio('gather, owners=false', 'ss -tanoH'), '<= 1.3'),
        ('ss -tanopH / gather, owners=true', ratio('ss -tanopH', 'gather, owners=true'), '>= 10'),
    ]
    if have_psutil:
        checks.append(('psutil / gather, owners=true', ratio('psutil.net_connections', 'gather, owners=true'), '>= 2'))
    checks.append(('gather /proc / cat /proc/net/tcp*', ratio('gather /proc, owners=false', 'cat /proc/net/tcp*'), '(information)'))
    for label, value, target in checks:
        print('%-36s %8.2f   target %s' % (label, value, target))
    peak = max(figures['gather, owners=false']['peak_mb'], figures['gather, owners=true']['peak_mb'])
    print('%-36s %8.1f   target <= 64 MB' % ('gather peak memory (MB)', peak))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump({'connections': args.connections, 'figures': figures,
                       'ratios': dict((label, round(value, 2)) for label, value, _t in checks)}, handle, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
