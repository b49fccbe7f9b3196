"""keepalive_facts, keepalive_check and keepalive_sysctl across network namespaces, seen by a host of the test's own.

Run as root alone in a PID, network and mount namespace of its own (`unshare --pid --fork --mount-proc --net
--mount`), so that what the modules find is exactly what this script started: three processes, each in its own
`unshare -n` namespace with its own tcp_keepalive_time (300, 600, 900), hold a connection without keep-alive
and one with SO_KEEPALIVE on 127.0.0.1:7510. Prints JSON: the holders, and each module's result. Every process
started here ends with this one (it is PID 1 of its namespace).
"""

import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
COLLECTIONS = os.path.join(ROOT, '.cache', 'collections')
HOLDER = r'''
import socket, subprocess, sys, time
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
open("/proc/sys/net/ipv4/tcp_keepalive_time", "w").write(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 7510))
listener.listen(8)
plain = socket.create_connection(("127.0.0.1", 7510))
kept = socket.socket()
kept.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
kept.connect(("127.0.0.1", 7510))
accepted = [listener.accept()[0] for _ in range(2)]
print("%d %d" % (plain.getsockname()[1], kept.getsockname()[1]), flush=True)
sys.stdin.read()
'''


def module(name, args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible'), 'localhost', '-c', 'local', '-m',
                           'linuxnet.keepalive.' + name, '-a', args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    for marker in ('localhost | SUCCESS => ', 'localhost | CHANGED => ', 'localhost | FAILED! => '):
        if marker in proc.stdout:
            result = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index(marker) + len(marker):])[0]
            result['_warnings'] = ' '.join(proc.stderr.split())
            result.setdefault('failed', 'FAILED' in marker)
            return result
    raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])


def snapshots(holders):
    """Twenty in-process reads of every namespace: no descriptor left, and this thread back home."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import snapshot
    home = os.stat('/proc/thread-self/ns/net').st_ino
    before = sorted(os.listdir('/proc/self/fd'))
    seen = []
    for _round in range(20):
        found = snapshot(namespaces='all', ports=[7510], states=['established'])
        seen.append(sorted(set(h['netns'] for h in holders) & set(e['netns'] for e in found.namespaces)))
    return {'seen': seen, 'fds_left': sorted(set(os.listdir('/proc/self/fd')) - set(before)),
            'home': os.stat('/proc/thread-self/ns/net').st_ino == home}


def main():
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    started, holders = [], []
    try:
        for time_ in (300, 600, 900):
            proc = subprocess.Popen(['unshare', '-n', '--', sys.executable, '-c', HOLDER, str(time_)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            started.append(proc)
            plain, kept = (int(p) for p in proc.stdout.readline().split())
            holders.append({'pid': proc.pid, 'time': time_, 'plain': plain, 'kept': kept,
                            'netns': os.stat('/proc/%d/ns/net' % proc.pid).st_ino})
        out = {'holders': holders}
        out['facts_all'] = module('keepalive_facts', 'namespaces=all ports=7510 states=established directions=outbound '
                                                     'limit=1000')
        out['facts_self'] = module('keepalive_facts', 'ports=7510')
        out['check'] = module('keepalive_check', 'namespaces=all policy={"kernel":{"time_max":300,"persisted":false},'
                                                 '"connections":{"require_keepalive":false}}')
        holder = holders[0]
        out['sysctl'] = module('keepalive_sysctl', 'time=123 persist=false netns=%d' % holder['pid'])
        out['sysctl_inside'] = subprocess.run(['nsenter', '-t', str(holder['pid']), '-n', 'cat',
                                               '/proc/sys/net/ipv4/tcp_keepalive_time'], capture_output=True, text=True,
                                              check=True).stdout.strip()
        out['sysctl_refused'] = module('keepalive_sysctl', 'time=123 netns=%d' % holder['pid'])
        out['snapshots'] = snapshots(holders)
        print(json.dumps(out))
    finally:
        for proc in started:
            proc.stdin.close()
            proc.wait(timeout=30)


if __name__ == '__main__':
    main()
