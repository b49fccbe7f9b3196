"""Running processes with open connections, for the live fix; then steps of module calls and `ss`.

Run inside a private network namespace (`unshare -n`). Starts a server and three client
processes, each named through /proc/self/comm:
  plainclient   two connections, nothing set (the ones to fix)
  ownsettings   one connection with SO_KEEPALIVE and its own TCP_KEEPIDLE of 33 s
  bystander     one connection, nothing set, never selected
This process's accepting thread gives a thread id (pids "thread", of process "zoo"), and its
parent (pids "outside") is a process in another network namespace.
Then runs each step of STEPS_JSON ({"module", "args", "options"}) ad hoc through ansible, with
`ss -tnoH` captured after each, and prints JSON {"pids", "ports", "steps": [{"result", "ss"}]}.
Usage: live_zoo.py STEPS_JSON RIG_DIR
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading

CLIENT = r'''
import socket, sys
open("/proc/self/comm", "w").write(sys.argv[1])
conns = []
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    if sys.argv[3] == "own":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 33)
    s.connect(("127.0.0.1", 7600))
    conns.append(s)
print(" ".join(str(s.getsockname()[1]) for s in conns), flush=True)
sys.stdin.read()
'''


def main():
    steps = json.loads(sys.argv[1])
    spec = importlib.util.spec_from_file_location('adhoc', os.path.join(sys.argv[2], 'adhoc.py'))
    adhoc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(adhoc)

    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    listener = socket.socket()
    listener.bind(('127.0.0.1', 7600))
    listener.listen(16)
    held = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return
    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    clients, ports, pids = {}, {}, {}
    for name, count, mode in (('plainclient', 2, 'plain'), ('ownsettings', 1, 'own'), ('bystander', 1, 'plain')):
        proc = subprocess.Popen(['/usr/bin/python3', '-c', CLIENT, name, str(count), mode], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        ports[name] = [int(p) for p in proc.stdout.readline().split()]
        pids[name] = proc.pid
        clients[name] = proc
    gone = subprocess.Popen(['/usr/bin/python3', '-c', 'pass'])
    gone.wait()
    pids['gone'] = gone.pid
    pids['zoo'], pids['thread'] = os.getpid(), acceptor.native_id
    pids['outside'] = os.getppid()  # the test runner, in the namespace unshare was started from
    out = []
    try:
        for step in steps:
            args = step['args'].format(**pids)
            result = adhoc.run_module('localhost', step.get('module', 'linuxnet.keepalive.keepalive_sockets'), args,
                                      options=step.get('options', ()))
            ss = subprocess.run(['ss', '-tnoH', 'state', 'established'], capture_output=True, text=True,
                                check=True).stdout.splitlines()
            out.append({'result': result, 'ss': ss})
    finally:
        for proc in clients.values():
            proc.stdin.close()
            proc.wait(timeout=10)
        listener.close()
    json.dump({'pids': pids, 'ports': ports, 'steps': out}, sys.stdout)


if __name__ == '__main__':
    main()
