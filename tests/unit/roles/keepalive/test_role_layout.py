# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's metadata and the platform data it ships agree."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

ROLE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'keepalive'))


def load(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


def test_the_platforms_in_meta_are_the_os_families_the_role_has_packages_for():
    platforms = [p['name'] for p in load('meta', 'main.yml')['galaxy_info']['platforms']]
    packages = load('vars', 'main.yml')['__keepalive_build_packages']
    assert sorted(platforms) == sorted(packages)


def test_every_public_variable_has_a_default_and_an_argument_spec():
    defaults = set(load('defaults', 'main.yml'))
    specs = load('meta', 'argument_specs.yml')['argument_specs']['main']['options']
    deprecated = set(name for name, spec in specs.items() if str(spec['description']).startswith('Deprecated'))
    assert defaults == set(specs) - deprecated
    assert deprecated == {'keepalive_live_fix_direction', 'keepalive_shim_idle', 'keepalive_shim_interval',
                          'keepalive_shim_count', 'keepalive_shim_user_timeout'}
    assert all(name.startswith('keepalive_') for name in defaults)
