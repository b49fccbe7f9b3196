"""Hold connections without keep-alive under hostile process names, and run a command meanwhile.

Usage (as root): unshare -n -- python3 hostile_names.py PORT NAME_JSON_LIST -- COMMAND...
Brings up loopback, listens on 127.0.0.1:PORT, and starts one child per name: the child renames
itself (prctl PR_SET_NAME, at most 15 bytes) and holds two connections without SO_KEEPALIVE. Then
COMMAND runs; its exit status is this script's. Every child is killed afterwards, and each ends
by itself after 120 seconds in any case.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time

PR_SET_NAME = 15


def child(port, name, ready):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode('utf-8')[:15]), 0, 0, 0)
    conns = [socket.create_connection(('127.0.0.1', port)) for _attempt in range(2)]
    os.write(ready, b'.')
    time.sleep(120)
    for conn in conns:
        conn.close()
    os._exit(0)


def main():
    port, names = int(sys.argv[1]), json.loads(sys.argv[2])
    command = sys.argv[sys.argv.index('--') + 1:]
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    listener = socket.socket()
    listener.bind(('127.0.0.1', port))
    listener.listen(64)
    read_end, write_end = os.pipe()
    children = []
    for name in names:
        pid = os.fork()
        if pid == 0:
            listener.close()
            child(port, name, write_end)
        children.append(pid)
    accepted = [listener.accept()[0] for _attempt in range(2 * len(names))]
    for _name in names:
        os.read(read_end, 1)
    try:
        status = subprocess.run(command, check=False).returncode
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        for conn in accepted:
            conn.close()
    sys.exit(status)


if __name__ == '__main__':
    main()
