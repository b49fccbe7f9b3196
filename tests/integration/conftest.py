"""Shared helpers for tests that run real sockets in a private network namespace."""

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)


def namespace_env():
    """The environment for ansible commands: the venv first, the working tree as the collection."""
    env = dict(os.environ)
    env['PATH'] = BIN + os.pathsep + env.get('PATH', '')
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', os.path.join(ROOT, '.cache', 'collections'))
    env['ANSIBLE_LOCALHOST_WARNING'] = 'false'
    env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = 'false'
    env['ANSIBLE_PYTHON_INTERPRETER'] = sys.executable
    # an async task's results, where its status check looks too (the controller and the module agree on no ~ here)
    env['ANSIBLE_ASYNC_DIR'] = os.path.join(env.get('HOME') or ROOT, '.ansible_async')
    return env


@pytest.fixture(scope='session')
def unshare():
    """A prefix that runs a command in a fresh network namespace, or skip when that is impossible."""
    if os.geteuid() != 0 or not shutil.which('unshare'):
        pytest.skip('needs root and unshare(1) for a private network namespace')
    probe = subprocess.run(['unshare', '-n', 'true'], check=False)
    if probe.returncode != 0:
        pytest.skip('unshare -n is not permitted here')
    return ['unshare', '-n', '--']


def run_compliance(unshare, tmp_path, port, extra, names, inventory='checked-host,', options=()):
    """linuxnet.keepalive.compliance in a private network namespace, where a process for each of ``names`` holds two
    connections without keep-alive to 127.0.0.1:``port``; the report goes to tmp_path/report, the metrics to
    tmp_path/textfile. Returns (exit status, output)."""
    env = namespace_env()
    env.update(ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    variables = dict({'keepalive_report_dir': str(tmp_path / 'report'),
                      'keepalive_textfile_dir': str(tmp_path / 'textfile'),
                      # the namespace's kernel defaults are the kernel's own: leave them out of this test
                      'keepalive_policy': {'kernel': {'time_max': 7200, 'persisted': False}}}, **extra)
    command = ['ansible-playbook', '-i', inventory, '-c', 'local', 'linuxnet.keepalive.compliance',
               '-e', json.dumps(variables)] + list(options)
    proc = subprocess.run(unshare + [sys.executable, os.path.join(HERE, 'files', 'hostile_names.py'), str(port),
                                     json.dumps(list(names)), '--'] + command,
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr
