"""keepalive_path against a server that never lets its connection idle: the probe ends, and says why.

The server runs as nobody in the test's own network namespace and sends a byte a second to every client
(a chatty or hostile endpoint); keepalive_path runs ad hoc beside it, as it would in a fleet run.
"""

import json
import subprocess
import sys

from conftest import namespace_env

CHATTY = r'''
import socket, sys, threading, time
listener = socket.socket()
listener.bind(("127.0.0.1", 7650))
listener.listen(16)
print("ready", flush=True)
def chatter(conn):
    try:
        while True:
            conn.sendall(b"x")
            time.sleep(1)
    except OSError:
        pass
while True:
    threading.Thread(target=chatter, args=(listener.accept()[0],), daemon=True).start()
'''
RUN = r'''
import json, subprocess, sys, time
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
server = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", sys.executable, "-c",
                           sys.argv[1]], stdout=subprocess.PIPE, text=True, cwd="/")
try:
    assert server.stdout.readline().strip() == "ready"
    started = time.monotonic()
    proc = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "linuxnet.keepalive.keepalive_path", "-a",
                           "host=127.0.0.1 port=7650 idle=2,3 timeout=1"], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
finally:
    server.kill()
    server.wait()
marker = "localhost | SUCCESS => "
result = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index(marker) + len(marker):])[0] \
    if marker in proc.stdout else {"failed": True, "output": proc.stdout + proc.stderr}
print(json.dumps({"elapsed": elapsed, "result": result}))
'''


def test_a_server_that_keeps_talking_gets_an_inconclusive_answer_by_the_deadline(unshare):
    # the module must end by itself (the longest idle, 3 s, the timeout, 1 s, and a second): a run that hangs
    # is killed at 60 s and fails
    proc = subprocess.run(unshare + [sys.executable, '-c', RUN, CHATTY], env=namespace_env(), capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    result = out['result']
    assert not result.get('failed'), result
    assert [r['outcome'] for r in result['results']] == ['inconclusive', 'inconclusive'], result['results']
    assert 'the server sent' in result['results'][0]['detail'] and 'was never idle for 2 s' in result['results'][0]['detail']
    assert result['recommended_time'] is None and 'inconclusive at 2, 3 s' in result['msg'], result['msg']
