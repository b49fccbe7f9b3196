"""Helpers for the Molecule scenarios' testinfra tests: instances, ad hoc modules, converge runs.

Molecule runs the verifier with MOLECULE_SCENARIO_DIRECTORY set; instances are reached with
`podman exec` (testinfra's podman:// backend and Ansible's containers.podman.podman connection).
"""

import importlib.util
import os

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONNECTION = 'containers.podman.podman'


def _adhoc():
    spec = importlib.util.spec_from_file_location('adhoc', os.path.join(HERE, 'adhoc.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


adhoc = _adhoc()


def scenario_dir():
    return os.environ['MOLECULE_SCENARIO_DIRECTORY']


def instances():
    """Instance names from the scenario's molecule.yml."""
    with open(os.path.join(scenario_dir(), 'molecule.yml')) as handle:
        return [platform['name'] for platform in yaml.safe_load(handle)['platforms']]


def podman_hosts():
    return ['podman://' + name for name in instances()]


def run_module(instance, module, args=''):
    """Run a module ad hoc on one instance; return its result."""
    return adhoc.run_module(instance, module, args, connection=CONNECTION)


def run_converge(instance, extra_vars=None, options=()):
    """Run the scenario's converge playbook against one instance: (exit status, output)."""
    return adhoc.run_playbook(instance, os.path.join(scenario_dir(), 'converge.yml'), extra_vars, connection=CONNECTION,
                              options=options)
