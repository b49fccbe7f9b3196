"""A middlebox lab: client, router and server network namespaces; the router forgets idle flows.

    client 198.18.0.2 --veth-- 198.18.0.1 router 198.19.0.1 --veth-- 198.19.0.2 server

The router forwards with MASQUERADE and forgets an idle TCP flow after ``forget_after`` seconds
(nf_conntrack_tcp_timeout_established in its own namespace, nf_conntrack_tcp_loose=0). The next
packet of a forgotten flow is then dropped (mode "drop", like Azure's load balancer) or answered
with a reset (mode "reset", like AWS's NAT gateway). The addresses are from 198.18.0.0/15, the
range set aside for testing network devices, and exist only inside these namespaces.

``more_paths`` adds a path per (forget_after, mode): path N (from 1) is router<N> and server<N>,
reached by the client over 198.18.N.0/24, its server at 198.19.N.2 (server_address(N)): one client
whose servers sit behind NATs that forget idle flows after different times.

Each namespace is held by a `sleep` started with `unshare -n`, so nothing is mounted and the
host's own network, sysctls and files are never touched; the veth pairs are made inside the
namespaces. Everything ends when the lab is closed, and the holders end by themselves after
``lifetime`` seconds in any case. Needs root, iproute2, iptables and procps.

Used by tests/integration (as a context manager) and by `make demo` (`python3 middlebox.py demo`).
"""

import json
import os
import shutil
import subprocess
import sys
import time

CLIENT, ROUTER, SERVER = 'client', 'router', 'server'
CLIENT_ADDRESS, SERVER_ADDRESS = '198.18.0.2', '198.19.0.2'


def server_address(number):
    """The address of path ``number``'s server (0: SERVER_ADDRESS)."""
    return '198.19.%d.2' % number


class Middlebox:
    def __init__(self, forget_after=6, mode='drop', lifetime=600, more_paths=()):
        self.paths = [(forget_after, mode)] + list(more_paths)
        for _forget, path_mode in self.paths:
            if path_mode not in ('drop', 'reset'):
                raise ValueError('mode must be drop or reset, not %r' % path_mode)
        self.forget_after, self.mode, self.lifetime = forget_after, mode, lifetime
        self.holders = {}
        self.started = []

    @staticmethod
    def names(number):
        """The router's and the server's namespace of path ``number``."""
        return (ROUTER, SERVER) if number == 0 else ('%s%d' % (ROUTER, number), '%s%d' % (SERVER, number))

    # --- set-up -----------------------------------------------------------------------------------
    def __enter__(self):
        try:
            for name in [CLIENT] + [n for number in range(len(self.paths)) for n in self.names(number)]:
                self.holders[name] = subprocess.Popen(['unshare', '-n', '--', 'sleep', str(self.lifetime)])
            self._wait_for_namespaces()
            self._wire()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_for_namespaces(self):
        own = os.stat('/proc/self/ns/net').st_ino
        for name, proc in self.holders.items():
            for _attempt in range(200):
                try:
                    if os.stat('/proc/%d/ns/net' % proc.pid).st_ino != own:
                        break
                except OSError:
                    pass
                time.sleep(0.01)
            else:
                raise RuntimeError('the %s namespace did not come up' % name)

    def _wire(self):
        self.run(CLIENT, ['ip', 'link', 'set', 'lo', 'up'])
        for number, (forget_after, mode) in enumerate(self.paths):
            self._wire_path(number, forget_after, mode)

    def _wire_path(self, number, forget_after, mode):
        router_ns, server_ns = self.names(number)
        router, server = str(self.holders[router_ns].pid), str(self.holders[server_ns].pid)
        near, far = '198.18.%d' % number, '198.19.%d' % number
        inside, outside = 'r%d0' % number if number else 'r0', 'r%d1' % number if number else 'r1'
        client_dev = 'c%d' % number
        steps = [
            (CLIENT, ['ip', 'link', 'add', client_dev, 'type', 'veth', 'peer', 'name', inside, 'netns', router]),
            (router_ns, ['ip', 'link', 'add', outside, 'type', 'veth', 'peer', 'name', 's0', 'netns', server]),
            (CLIENT, ['ip', 'addr', 'add', near + '.2/24', 'dev', client_dev]),
            (CLIENT, ['ip', 'link', 'set', client_dev, 'up']),
            (CLIENT, ['ip', 'route', 'add', 'default' if number == 0 else far + '.0/24', 'via', near + '.1']),
            (router_ns, ['ip', 'addr', 'add', near + '.1/24', 'dev', inside]),
            (router_ns, ['ip', 'addr', 'add', far + '.1/24', 'dev', outside]),
            (router_ns, ['ip', 'link', 'set', inside, 'up']),
            (router_ns, ['ip', 'link', 'set', outside, 'up']),
            (server_ns, ['ip', 'addr', 'add', far + '.2/24', 'dev', 's0']),
            (server_ns, ['ip', 'link', 'set', 's0', 'up']),
            (server_ns, ['ip', 'link', 'set', 'lo', 'up']),
            (router_ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']),
            (router_ns, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', outside, '-j', 'MASQUERADE']),
        ]
        if mode == 'drop':
            steps += [(router_ns, ['iptables', '-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']),
                      (router_ns, ['iptables', '-A', 'FORWARD', '-p', 'tcp', '!', '--syn', '-m', 'conntrack',
                                   '--ctstate', 'NEW', '-j', 'DROP'])]
        else:
            steps += [(router_ns, ['iptables', '-A', 'FORWARD', '-p', 'tcp', '-m', 'conntrack', '--ctstate', 'INVALID',
                                   '-j', 'REJECT', '--reject-with', 'tcp-reset']),
                      (router_ns, ['iptables', '-A', 'FORWARD', '-p', 'tcp', '!', '--syn', '-m', 'conntrack',
                                   '--ctstate', 'NEW', '-j', 'REJECT', '--reject-with', 'tcp-reset'])]
        # conntrack's settings exist in the router's namespace once its rules use conntrack
        steps += [(router_ns, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_timeout_established=%d'
                               % forget_after]),
                  (router_ns, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=0'])]
        for where, argv in steps:
            self.run(where, argv)

    # --- use --------------------------------------------------------------------------------------
    def command(self, where, argv):
        """argv run inside the namespace ``where`` (client, router or server)."""
        return ['nsenter', '-t', str(self.holders[where].pid), '-n', '--'] + list(argv)

    def run(self, where, argv, check=True, **kwargs):
        kwargs.setdefault('capture_output', True)
        kwargs.setdefault('text', True)
        kwargs.setdefault('timeout', 600)
        return subprocess.run(self.command(where, argv), check=check, **kwargs)

    def popen(self, where, argv, **kwargs):
        """A process in ``where``; it is killed when the lab closes."""
        proc = subprocess.Popen(self.command(where, argv), **kwargs)
        self.started.append(proc)
        return proc

    # --- tear-down --------------------------------------------------------------------------------
    def close(self):
        for proc in self.started + list(self.holders.values()):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        self.started, self.holders = [], {}

    def __exit__(self, *exc_info):
        self.close()
        return False


# --- programs the lab runs ------------------------------------------------------------------------
# A server that echoes what it receives; with CLOSE_AFTER seconds, it closes a client idle that long.
ECHO_SERVER = r'''
import socket, sys, threading
port, close_after = int(sys.argv[1]), float(sys.argv[2])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", port))
listener.listen(64)
print("listening", flush=True)
def serve(conn):
    if close_after > 0:
        conn.settimeout(close_after)
    with conn:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)
        except OSError:
            return
while True:
    conn, _peer = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
'''

# A client that connects, stays idle, then sends one line and waits for the echo. It prints its
# local port once connected ("connected PORT"), then "alive" or "dead: <reason>".
IDLE_CLIENT = r'''
import socket, sys, time
host, port, idle, keepidle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
keepintvl = int(sys.argv[5]) if len(sys.argv) > 5 else 1
conn = socket.socket()
if keepidle > 0:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepidle)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, keepintvl)
elif keepidle < 0:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # timing left to the sysctls
conn.connect((host, port))
print("connected %d" % conn.getsockname()[1], flush=True)
time.sleep(idle)
conn.settimeout(4)
try:
    conn.sendall(b"ping\n")
    answer = conn.recv(64)
    print("alive" if answer == b"ping\n" else "dead: the connection was closed", flush=True)
except socket.timeout:
    print("dead: no answer within 4 s", flush=True)
except OSError as exc:
    print("dead: %s" % (exc.strerror or exc.__class__.__name__), flush=True)
'''


def start_server(lab, port, close_after=0, path=0):
    server = lab.popen(lab.names(path)[1], [sys.executable, '-c', ECHO_SERVER, str(port), str(close_after)],
                       stdout=subprocess.PIPE, text=True)
    if server.stdout.readline().strip() != 'listening':
        raise RuntimeError('the lab server did not start')
    return server


def start_client(lab, port, idle, keepidle=0, env=None, path=0, keepintvl=1):
    """An idle client in the client namespace, of path ``path``'s server; returns (process, local port). With
    ``keepidle`` > 0 it sets its own keep-alive idle (and ``keepintvl``); with -1, SO_KEEPALIVE alone."""
    client = lab.popen(CLIENT, [sys.executable, '-c', IDLE_CLIENT, server_address(path), str(port), str(idle),
                                str(keepidle), str(keepintvl)], stdout=subprocess.PIPE, text=True, env=env)
    line = client.stdout.readline().split()
    if line[:1] != ['connected']:
        raise RuntimeError('the lab client did not connect')
    return client, int(line[1])


def outcome(client):
    """'alive' or 'dead: ...', once the client has finished."""
    text = client.stdout.read().strip()
    client.wait(timeout=60)
    return text


def run_module(lab, module, args, env):
    """A module run ad hoc in the client namespace, as a user would run it on the client host."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import adhoc  # pylint: disable=import-outside-toplevel
    return adhoc.run_module('localhost', module, args, extra_env=env, prefix=lab.command(CLIENT, []))


def demo():
    """`make demo`'s story: the idle connection dies behind the NAT, the collection's fix keeps one
    alive, and keepalive_path measures how long the path keeps an idle flow."""
    env = {'ANSIBLE_PYTHON_INTERPRETER': sys.executable}
    forget = 5
    print('== a NAT gateway in network namespaces that forgets idle flows after %d s and then drops their packets' % forget)
    with Middlebox(forget_after=forget, mode='drop') as lab:
        start_server(lab, 7900)
        plain, _port = start_client(lab, 7900, idle=forget + 4)
        fixed, fixed_port = start_client(lab, 7900, idle=forget + 4)
        print('two clients connect through it and stay idle %d s; neither ever set SO_KEEPALIVE' % (forget + 4))
        fix = run_module(lab, 'linuxnet.keepalive.keepalive_sockets', 'pid=%d idle=2 interval=1 count=5' % fixed.pid, env)
        print('the live fix (keepalive_sockets) gives the second one keep-alive after 2 s, while it idles: %s'
              % ('done' if fix.get('changed') else 'FAILED: %s' % fix.get('msg')))
        print('after the idle time each client sends a line and waits for the echo:')
        print('  without keep-alive: %s' % outcome(plain))
        print('  with the live fix:  %s (port %d)' % (outcome(fixed), fixed_port))
        print('\n== keepalive_path measures the path: one connection per idle value, no data sent')
        print('$ ansible client -m linuxnet.keepalive.keepalive_path -a "host=%s port=7900 idle=2,4,8 timeout=3"'
              % SERVER_ADDRESS)
        path = run_module(lab, 'linuxnet.keepalive.keepalive_path',
                          'host=%s port=7900 idle=2,4,8 timeout=3' % SERVER_ADDRESS, env)
        for result in path.get('results', []):
            print('  idle %3d s: %-9s %s' % (result['idle'], result['outcome'], result['detail']))
        print(path.get('msg'))
    return paths_demo(env)


def paths_demo(env):
    """The outcome-based report: two NATs, real connections, linuxnet.keepalive.paths on the client."""
    print('\n== linuxnet.keepalive.paths: which connections die on their path, and which keep-alive time saves them')
    print('two servers behind NATs that forget idle flows after 6 s and after 15 s; the client holds a connection to')
    print('each that probes every 10 s, and one to each without keep-alive')
    with Middlebox(forget_after=6, mode='drop', more_paths=[(15, 'drop')]) as lab:
        for path in (0, 1):
            start_server(lab, 7950, path=path)
            start_client(lab, 7950, 300, keepidle=10, keepintvl=10, path=path)
            start_client(lab, 7950, 300, path=path)
        report = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), '.cache',
                              'demo', 'keepalive-paths')
        shutil.rmtree(report, ignore_errors=True)
        variables = {'keepalive_paths_dir': report, 'keepalive_path_idle': [3, 5, 8, 12, 18],
                     'keepalive_path_timeout': 2, 'keepalive_policy': {'kernel': {'time_max': 7200, 'persisted': False}}}
        print('$ ansible-playbook linuxnet.keepalive.paths -i client, -e \'{"keepalive_path_idle": [3, 5, 8, 12, 18], ...}\'')
        run_env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
                       ANSIBLE_ASYNC_DIR=os.path.join(os.environ.get('HOME', '/root'), '.ansible_async'), **env)
        proc = subprocess.run(lab.command(CLIENT, ['ansible-playbook', '-i', 'client,', '-c', 'local',
                                                   'linuxnet.keepalive.paths', '-e', json.dumps(variables)]),
                              env=run_env, capture_output=True, text=True, check=False, timeout=300)
        if proc.returncode != 0:
            print(proc.stdout[-3000:] + proc.stderr[-3000:])
            return 1
        with open(os.path.join(report, 'keepalive-paths.md')) as handle:
            print(handle.read())
        with open(os.path.join(report, 'recommended.yml')) as handle:
            print('%s/recommended.yml, for the role (-i %s/recommended.yml):\n%s' % (report, report, handle.read()))
    return 0


if __name__ == '__main__':
    if sys.argv[1:] == ['demo']:
        sys.exit(demo())
    print(__doc__)
    print(json.dumps({'usage': 'python3 middlebox.py demo'}))
    sys.exit(2)
