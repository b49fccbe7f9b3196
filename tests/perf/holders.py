"""Processes that hold connections open for a benchmark: started together, ready together, ended together.

Each command prints "ready" once its connections are open and holds them until its standard input
closes.
"""

import subprocess


def start(commands):
    procs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for command in commands]
    for proc in procs:
        if proc.stdout.readline().strip() != 'ready':
            stop(procs)
            raise SystemExit('a holder could not open its connections')
    return procs


def stop(procs):
    for proc in procs:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
    for proc in procs:
        proc.wait(timeout=60)
