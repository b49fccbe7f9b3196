"""keepalive_facts ad hoc, as a person runs it: `ansible HOST -m linuxnet.keepalive.keepalive_facts`.

In a private network namespace, one process holds 500 loopback connections without keep-alive
(1,001 sockets with the listener, which is listed too). The output of the ansible command is measured: before the
summary line, reason codes and the truncation warning, such a host printed about 21,000 lines.
"""

import os
import subprocess
import sys

from conftest import namespace_env

HOLDER = r'''
import socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
listener = socket.socket()
listener.bind(("127.0.0.1", 7300))
listener.listen(1024)
held = []
for _pair in range(500):
    held.append(socket.create_connection(("127.0.0.1", 7300)))
    held.append(listener.accept()[0])
print("ready", flush=True)
args = sys.argv[1]
env = dict(__import__("os").environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
proc = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "linuxnet.keepalive.keepalive_facts"]
                      + (["-a", args] if args else []), env=env, capture_output=True, text=True, timeout=300)
sys.stdout.write(proc.stdout)
sys.stderr.write(proc.stderr)
sys.exit(proc.returncode)
'''
BEFORE_LINES = 21071  # what this host printed before, with limit 1000 and a sentence per connection


def adhoc(unshare, args=''):
    proc = subprocess.run(unshare + [sys.executable, '-c', HOLDER, args], env=namespace_env(), capture_output=True,
                          text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout.split('ready\n', 1)[1], ' '.join(proc.stderr.split())


def test_the_default_ad_hoc_output_is_short_and_says_what_matters(unshare):
    out, err = adhoc(unshare)
    lines = out.count('\n')
    assert lines <= BEFORE_LINES // 4, lines
    holder = os.path.basename(sys.executable)[:15]  # the holders' process name, as the kernel keeps it
    assert ('"msg": "1001 TCP sockets, 500 established outbound without keep-alive (%s 500); kernel defaults '
            'time 7200 s, intvl 75 s, probes 9 (used only by sockets that set SO_KEEPALIVE)"' % holder) in out
    assert ('[WARNING]: 901 matching connections were left out of the list by limit=100 (100 listed; the summary '
            'counts them all): raise limit') in err
    # a reason is a code; its sentence is given once
    assert out.count('"reason": ') == 100 and out.count('"reason": "not_inherited"') + out.count('"reason": "disabled"') == 99
    assert out.count('never set SO_KEEPALIVE') <= 2  # each sentence once, in the legend


def test_only_missing_ad_hoc_is_short_too(unshare):
    out, err = adhoc(unshare, 'only_missing=true direction=outbound')
    assert out.count('\n') <= 15821 // 4
    assert '"outbound_without_keepalive": 500' in out and '400 matching connections were left out' in err
