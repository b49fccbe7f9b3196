"""Run one client against one local server inside a private network namespace; report what ss saw.

Usage (as root): unshare -n -- python3 netns_run.py SPEC_JSON
SPEC: {"server": "hold" | "http-slow" | "none", "port": P, "client": [argv...], "env": {...},
       "connect": false}
- The server (in this process, never preloaded) listens on 127.0.0.1:P: "hold" keeps each
  connection until the peer closes it; "http-slow" answers an HTTP request after 2 seconds.
- "connect": true makes this process the client instead, connecting to a server that the
  command runs (to see what the command's accepted sockets look like).
While the command's connection is established, `ss -tnoH state established` is captured.
Prints JSON: {"ss": [lines], "stdout", "stderr", "returncode"}. Everything ends with the command.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time


def serve(kind, listener):
    def handle(conn):
        with conn:
            if kind == 'http-slow':
                conn.recv(65536)
                time.sleep(2)
                conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n')
            else:
                while conn.recv(65536):
                    pass
    while True:
        try:
            conn, _peer = listener.accept()
        except OSError:
            return
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def established(port):
    out = subprocess.run(['ss', '-tnoH', 'state', 'established'], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if ':%d ' % port in line + ' ']


def main():
    spec = json.loads(sys.argv[1])
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    port = spec['port']
    listener = None
    if spec.get('server', 'hold') != 'none':
        listener = socket.socket(socket.AF_INET6 if spec.get('ipv6') else socket.AF_INET)
        listener.bind(('::1' if spec.get('ipv6') else '127.0.0.1', port))
        listener.listen(16)
        threading.Thread(target=serve, args=(spec.get('server', 'hold'), listener), daemon=True).start()
    env = dict(os.environ, **spec.get('env', {}))
    client = subprocess.Popen(spec['client'], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peer = None
    if spec.get('connect'):
        for _attempt in range(100):
            try:
                peer = socket.create_connection(('127.0.0.1', port))
                break
            except OSError:
                time.sleep(0.05)
    lines = []
    deadline = time.time() + 10
    while time.time() < deadline and not lines:
        lines = established(port)
        if not lines:
            time.sleep(0.05)
    time.sleep(0.1)
    lines = established(port)
    if peer is not None:
        peer.close()
    stdout, stderr = client.communicate(timeout=30)
    if listener is not None:
        listener.close()
    json.dump({'ss': lines, 'stdout': stdout, 'stderr': stderr, 'returncode': client.returncode}, sys.stdout)


if __name__ == '__main__':
    main()
