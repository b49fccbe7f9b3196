"""Run one module ad hoc on one host, as a user would, and return its result as a dict.

Shared by the demo and the Molecule verifiers. It calls the `ansible` command with the default
callback and reads the JSON it prints after "HOST | STATUS => ".
"""

import json
import os
import subprocess


def run_module(host, module, args='', connection='local', extra_env=None):
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_DEPRECATION_WARNINGS='false', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default')
    env.setdefault('ANSIBLE_PYTHON_INTERPRETER', '/usr/bin/python3')
    env.update(extra_env or {})
    proc = subprocess.run(['ansible', 'all', '-i', host + ',', '-c', connection, '-m', module, '-a', args],
                          env=env, capture_output=True, text=True, check=False)
    marker = proc.stdout.find(' => ')
    if not proc.stdout.startswith(host + ' | ') or marker < 0:
        raise RuntimeError('no result from ansible for %s:\n%s\n%s' % (host, proc.stdout[-3000:], proc.stderr[-3000:]))
    result, _end = json.JSONDecoder().raw_decode(proc.stdout[marker + 4:])
    return result
