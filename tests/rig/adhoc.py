"""Run one module ad hoc on one host, as a user would, and return its result as a dict.

Shared by the demo and the Molecule verifiers. It calls the `ansible` command with the default
callback and reads the JSON it prints after "HOST | STATUS => ".
"""

import json
import os
import re
import subprocess


def run_module(host, module, args='', connection='local', extra_env=None, options=(), prefix=()):
    """``options`` are more ansible arguments, such as --check or --diff; ``prefix`` runs ansible
    under another command (nsenter into a network namespace, for example)."""
    # Molecule exports ANSIBLE_FORCE_COLOR, which would wrap the result line in colour codes.
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_DEPRECATION_WARNINGS='false', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default')
    env.setdefault('ANSIBLE_PYTHON_INTERPRETER', '/usr/bin/python3')
    env.update(extra_env or {})
    proc = subprocess.run(list(prefix) + ['ansible', 'all', '-i', host + ',', '-c', connection, '-m', module, '-a', args]
                          + list(options),
                          env=env, capture_output=True, text=True, check=False)
    found = re.search(r'^%s \| ([A-Z]+)!? => ' % re.escape(host), proc.stdout, re.M)
    if not found:
        raise RuntimeError('no result from ansible for %s:\n%s\n%s' % (host, proc.stdout[-3000:], proc.stderr[-3000:]))
    result, _end = json.JSONDecoder().raw_decode(proc.stdout[found.end():])
    result['_printed'] = proc.stdout[:found.start()]  # what ansible showed before the result: the diff
    result['_warnings'] = ' '.join(proc.stderr.split())  # warnings, with ansible's line wrapping undone
    result.setdefault('failed', found.group(1) in ('FAILED', 'UNREACHABLE'))
    return result


def run_module_all(hosts, module, args='', connection='local', options=()):
    """Run one module ad hoc on several hosts at once: {host: result}, each as run_module() returns it."""
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_DEPRECATION_WARNINGS='false', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default')
    env.setdefault('ANSIBLE_PYTHON_INTERPRETER', '/usr/bin/python3')
    proc = subprocess.run(['ansible', 'all', '-i', ','.join(hosts) + ',', '-c', connection, '-m', module, '-a', args]
                          + list(options), env=env, capture_output=True, text=True, check=False)
    results = {}
    for host in hosts:
        found = re.search(r'^%s \| ([A-Z]+)!? => ' % re.escape(host), proc.stdout, re.M)
        if not found:
            raise RuntimeError('no result from ansible for %s:\n%s\n%s' % (host, proc.stdout[-3000:], proc.stderr[-3000:]))
        result, _end = json.JSONDecoder().raw_decode(proc.stdout[found.end():])
        result.setdefault('failed', found.group(1) in ('FAILED', 'UNREACHABLE'))
        result['_printed'] = proc.stdout  # what ansible showed: the diffs of every host
        results[host] = result
    return results


def run_playbook(host, playbook, extra_vars=None, connection='local', extra_env=None, options=()):
    """Run a playbook against one host; return (exit status, everything it printed).

    ``options`` are more ansible-playbook arguments, such as --check.
    """
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_FORCE_COLOR='0')
    env.setdefault('ANSIBLE_PYTHON_INTERPRETER', '/usr/bin/python3')
    env.update(extra_env or {})
    command = ['ansible-playbook', '-i', host + ',', '-c', connection, playbook] + list(options)
    if extra_vars:
        command += ['-e', json.dumps(extra_vars)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr
