"""Helpers for the scenario's testinfra tests: its instances, reached with `podman exec`."""

import json
import os
import subprocess
import tempfile

import yaml

SCENARIO = os.environ.get('MOLECULE_SCENARIO_DIRECTORY', os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def instances():
    """Instance names from the scenario's molecule.yml."""
    with open(os.path.join(SCENARIO, 'molecule.yml')) as handle:
        return [platform['name'] for platform in yaml.safe_load(handle)['platforms']]


def podman_hosts():
    return ['podman://' + name for name in instances()]


def run_module(instance, module, args=''):
    """Run a module ad hoc on one instance, as a user would; return its result dict."""
    with tempfile.TemporaryDirectory() as tree:
        env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER='/usr/bin/python3', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
                   ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.tree', ANSIBLE_CALLBACK_TREE_DIR=tree)
        proc = subprocess.run(['ansible', 'all', '-i', instance + ',', '-c', 'containers.podman.podman',
                               '-m', module, '-a', args], env=env, capture_output=True, text=True, check=False)
        path = os.path.join(tree, instance)
        if not os.path.exists(path):
            raise AssertionError('no result from ansible:\n%s\n%s' % (proc.stdout[-2000:], proc.stderr[-2000:]))
        with open(path) as handle:
            return json.load(handle)
