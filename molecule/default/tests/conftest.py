"""Helpers for the scenario's testinfra tests: its instances, reached with `podman exec`."""

import importlib.util
import os

import yaml

SCENARIO = os.environ.get('MOLECULE_SCENARIO_DIRECTORY', os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


RIG = os.path.join(os.path.dirname(os.path.dirname(SCENARIO)), 'tests', 'rig')


def _load_adhoc():
    """tests/rig/adhoc.py, which the demo shares (tests/rig is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location('adhoc', os.path.join(RIG, 'adhoc.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


adhoc = _load_adhoc()


def instances():
    """Instance names from the scenario's molecule.yml."""
    with open(os.path.join(SCENARIO, 'molecule.yml')) as handle:
        return [platform['name'] for platform in yaml.safe_load(handle)['platforms']]


def podman_hosts():
    return ['podman://' + name for name in instances()]


def run_module(instance, module, args=''):
    """Run a module ad hoc on one instance through the podman connection; return its result."""
    return adhoc.run_module(instance, module, args, connection='containers.podman.podman')


def run_converge(instance, extra_vars=None):
    """Run this scenario's converge playbook (the role) against one instance: (status, output)."""
    return adhoc.run_playbook(instance, os.path.join(SCENARIO, 'converge.yml'), extra_vars,
                              connection='containers.podman.podman')
