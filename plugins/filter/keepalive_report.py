# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import RULES
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._presentation import (
    coverage, facts_table, fleet, paths,
)


def _what(value):
    """What a value is, in a user's words: 'a dictionary without summary', 'the text 'web1''."""
    if isinstance(value, Mapping):
        return 'a dictionary with %s' % (', '.join(sorted(str(k) for k in value)[:5]) or 'nothing in it')
    if isinstance(value, str):
        return 'the text %r' % (value[:40],)
    if isinstance(value, (list, tuple)):
        return 'a list'
    return 'a %s' % ('number' if isinstance(value, (int, float)) else 'value of another kind')


def _facts(value, name):
    if not isinstance(value, Mapping) or 'summary' not in value or 'connections' not in value:
        raise AnsibleFilterError('%s takes the facts of linuxnet.keepalive.keepalive_facts (ansible_facts.keepalive, '
                                 'with summary and connections), not %s' % (name, _what(value)))
    return value


def keepalive_table(facts, title=None, rows=15):
    """keepalive_facts' facts (ansible_facts.keepalive) as lines of a table a person reads."""
    facts = _facts(facts, 'keepalive_table')
    try:
        count = int(rows)
    except (TypeError, ValueError):
        count = -1
    if count < 0 or isinstance(rows, bool):
        raise AnsibleFilterError('keepalive_table: rows must be a number of rows, 0 or more (keepalive_report_rows), '
                                 'not %r' % (rows,))
    return facts_table(facts, title=title, rows=count)


def keepalive_coverage(facts, shim=None, cgroup=None):
    """What still runs without keep-alive after the role, and why each of its modes leaves it so: lines."""
    if not isinstance(facts, Mapping) or 'summary' not in facts:
        raise AnsibleFilterError('keepalive_coverage takes the facts of linuxnet.keepalive.keepalive_facts '
                                 '(ansible_facts.keepalive, with summary), not %s' % _what(facts))
    modes = {}
    for name, mode in (('shim', shim), ('cgroup', cgroup)):
        if mode in (None, ''):  # off: null, or '' as ansible-core before 2.19 renders a null template
            mode = None
        elif not isinstance(mode, dict):
            raise AnsibleFilterError('keepalive_coverage: %s must be a dict with units and global, or null for a mode '
                                     'that is off, not %r' % (name, mode))
        modes[name] = mode
    return coverage(facts['summary'], shim=modes['shim'], cgroup=modes['cgroup'])


def _registered(name, hostvars, hosts, *variables):
    """{host: [what it registered as each of ``variables``, a dict, or {} when nothing]} for the filter ``name``."""
    if not isinstance(hosts, (list, tuple)) or not all(isinstance(h, str) for h in hosts):
        raise AnsibleFilterError('%s: hosts must be a list of host names (such as ansible_play_hosts_all), not %s'
                                 % (name, _what(hosts)))
    if not hasattr(hostvars, 'get') and not isinstance(hostvars, Mapping):
        raise AnsibleFilterError('%s takes hostvars (a dictionary of each host\'s variables), not %s'
                                 % (name, _what(hostvars)))
    found = {}
    for host_name in hosts:
        host = hostvars[host_name] if host_name in hostvars else {}
        values = [host.get(variable) if hasattr(host, 'get') else None for variable in variables]
        found[host_name] = [dict(value) if isinstance(value, Mapping) else {} for value in values]
    return found


def keepalive_fleet(hostvars, hosts, variable='keepalive_compliance'):
    """The compliance report of ``hosts``, from the result of keepalive_check each registered as ``variable``."""
    registered = _registered('keepalive_fleet', hostvars, hosts, variable)
    return fleet(dict((name, values[0]) for name, values in registered.items()), RULES)


def keepalive_paths(hostvars, hosts, measured='keepalive_paths', checked='keepalive_paths_check'):
    """The paths report of ``hosts``: each host's keepalive_path result (discover=true) registered as ``measured``,
    and its keepalive_check result with those measurements registered as ``checked``."""
    results = {}
    for name, (found, check) in _registered('keepalive_paths', hostvars, hosts, measured, checked).items():
        error = ''
        if found.get('failed') or 'destinations' not in found:
            error = 'not measured: %s' % (found.get('msg') or 'unreachable, or stopped before its measurement ended')
            found = {}
        elif check.get('failed') or 'violations' not in check:
            error = 'not judged: %s' % (check.get('msg') or 'the check did not run')
            check = {}
        results[name] = {'paths': found, 'check': check, 'error': error}
    return paths(results)


class FilterModule(object):
    def filters(self):
        return {'keepalive_table': keepalive_table, 'keepalive_fleet': keepalive_fleet, 'keepalive_coverage': keepalive_coverage,
                'keepalive_paths': keepalive_paths}
