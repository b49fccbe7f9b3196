"""Open a known set of TCP sockets on loopback, run a command while they exist, then close them.

Run inside a private network namespace (`unshare -n`): it brings up lo, sets the namespace's own
keep-alive sysctl so that `defaults` can be checked, opens the sockets, runs the command given
after `--` with KEEPALIVE_ZOO (a JSON description of the sockets) in its environment, and exits
with the command's status. Every socket and child process ends with it.
"""

import json
import os
import socket
import subprocess
import sys
import time

CHILD = r'''
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(s.getsockname()[1], flush=True)
sys.stdin.read()
'''


def main():
    command = sys.argv[sys.argv.index('--') + 1:]
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    with open('/proc/sys/net/ipv4/tcp_keepalive_time', 'w') as handle:
        handle.write('600\n')

    zoo = {}
    keep = []

    def pair(server, family, address, port, keepalive=False, idle=None):
        client = socket.socket(family, socket.SOCK_STREAM)
        if keepalive:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if idle:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        client.connect((address, port))
        accepted, _peer = server.accept()
        keep.extend([client, accepted])
        return client.getsockname()[1]

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # listeners show no timer even so
    listener.bind(('127.0.0.1', 7100))
    listener.listen(64)
    dual = socket.socket(socket.AF_INET6)
    dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    dual.bind(('::', 7106))
    dual.listen(64)
    keep.extend([listener, dual])

    zoo['plain'] = pair(listener, socket.AF_INET, '127.0.0.1', 7100)
    zoo['keepalive'] = pair(listener, socket.AF_INET, '127.0.0.1', 7100, keepalive=True)
    zoo['idle45'] = pair(listener, socket.AF_INET, '127.0.0.1', 7100, keepalive=True, idle=45)
    zoo['ipv6'] = pair(dual, socket.AF_INET6, '::1', 7106)
    zoo['ipv6_keepalive'] = pair(dual, socket.AF_INET6, '::1', 7106, keepalive=True, idle=90)
    zoo['mapped'] = pair(dual, socket.AF_INET, '127.0.0.1', 7106)

    # TIME_WAIT: the side that closes first keeps it.
    closer = socket.create_connection(('127.0.0.1', 7100))
    accepted, _peer = listener.accept()
    zoo['time_wait'] = closer.getsockname()[1]
    closer.close()
    time.sleep(0.1)
    accepted.close()

    # A connection held by another process and another user.
    child = subprocess.Popen(['/usr/bin/python3', '-c', CHILD, '7100'], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, user=65534, text=True)
    zoo['child_port'] = int(child.stdout.readline())
    zoo['child_pid'] = child.pid
    keep.append(listener.accept()[0])
    zoo['pid'] = os.getpid()
    time.sleep(0.2)

    env = dict(os.environ, KEEPALIVE_ZOO=json.dumps(zoo))
    try:
        status = subprocess.run(command, env=env, check=False).returncode
    finally:
        child.stdin.close()
        child.wait(timeout=10)
        for sock in keep:
            sock.close()
    return status


if __name__ == '__main__':
    sys.exit(main())
