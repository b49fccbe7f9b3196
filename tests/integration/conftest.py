"""Shared helpers for tests that run real sockets in a private network namespace."""

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
