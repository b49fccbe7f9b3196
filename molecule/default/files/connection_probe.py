"""Hold three loopback connections open inside a container, for the verifier to look at.

Listens on 127.0.0.1:PORT, connects a client that sets SO_KEEPALIVE and one that sets nothing,
writes their local ports to READY_FILE, then waits until STOP_FILE appears or 120 s pass.
Usage: connection_probe.py PORT READY_FILE STOP_FILE
"""

import os
import socket
import sys
import time

port, ready_file, stop_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(('127.0.0.1', port))
listener.listen(8)
with_keepalive = socket.socket()
with_keepalive.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
with_keepalive.connect(('127.0.0.1', port))
without = socket.create_connection(('127.0.0.1', port))
accepted = [listener.accept()[0], listener.accept()[0]]
with open(ready_file + '.tmp', 'w') as handle:
    handle.write('%d %d\n' % (with_keepalive.getsockname()[1], without.getsockname()[1]))
os.rename(ready_file + '.tmp', ready_file)
deadline = time.time() + 120
while time.time() < deadline and not os.path.exists(stop_file):
    time.sleep(0.2)
