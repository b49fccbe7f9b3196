"""A TCP client or server for the cgroup lab; prints its local port once connected (or listening), then holds.

Usage: cgroup_client.py connect FAMILY PORT [BEFORE] [AFTER]   FAMILY 4 or 6
       cgroup_client.py listen PORT [LISTENER]
BEFORE, AFTER and LISTENER are option lists such as 'keepalive=1,idle=300', set before connect(), after it,
or on the listening socket. It holds every connection until its standard input closes, 120 s at most.
"""

import select
import socket
import sys

OPTIONS = {'keepalive': (socket.SOL_SOCKET, socket.SO_KEEPALIVE), 'idle': (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)}


def apply(sock, text):
    for item in filter(None, (text or '').split(',')):
        name, value = item.split('=')
        sock.setsockopt(*(OPTIONS[name] + (int(value),)))


def hold(sockets):
    select.select([sys.stdin], [], [], 120)
    for sock in sockets:
        sock.close()


def main(argv):
    if argv[0] == 'connect':
        family = socket.AF_INET6 if argv[1] == '6' else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        apply(sock, argv[3] if len(argv) > 3 else '')
        sock.connect(('::1' if argv[1] == '6' else '127.0.0.1', int(argv[2])))
        apply(sock, argv[4] if len(argv) > 4 else '')
        print(sock.getsockname()[1], flush=True)
        hold([sock])
        return 0
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    apply(listener, argv[2] if len(argv) > 2 else '')
    listener.bind(('127.0.0.1', int(argv[1])))
    listener.listen(4)
    print(argv[1], flush=True)
    listener.settimeout(120)
    accepted = [listener.accept()[0]]
    hold(accepted + [listener])
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
