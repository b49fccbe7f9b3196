# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import RULES
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._presentation import coverage, facts_table, fleet


def keepalive_table(facts, title=None, rows=15):
    """keepalive_facts' facts (ansible_facts.keepalive) as lines of a table a person reads."""
    if not isinstance(facts, dict) or 'summary' not in facts or 'connections' not in facts:
        raise AnsibleFilterError('keepalive_table takes the facts of linuxnet.keepalive.keepalive_facts '
                                 '(ansible_facts.keepalive), not %r' % (type(facts).__name__,))
    return facts_table(facts, title=title, rows=int(rows))


def keepalive_coverage(facts, shim=None, cgroup=None):
    """What still runs without keep-alive after the role, and why each of its modes leaves it so: lines."""
    if not isinstance(facts, dict) or 'summary' not in facts:
        raise AnsibleFilterError('keepalive_coverage takes the facts of linuxnet.keepalive.keepalive_facts '
                                 '(ansible_facts.keepalive), not %r' % (type(facts).__name__,))
    modes = {}
    for name, mode in (('shim', shim), ('cgroup', cgroup)):
        if mode in (None, ''):  # off: null, or '' as ansible-core before 2.19 renders a null template
            mode = None
        elif not isinstance(mode, dict):
            raise AnsibleFilterError('keepalive_coverage: %s must be a dict with units and global, or null for a mode '
                                     'that is off, not %r' % (name, mode))
        modes[name] = mode
    return coverage(facts['summary'], shim=modes['shim'], cgroup=modes['cgroup'])


def keepalive_fleet(hostvars, hosts, variable='keepalive_compliance'):
    """The compliance report of ``hosts``, from the result of keepalive_check each registered as ``variable``."""
    results = {}
    for name in hosts:
        host = hostvars[name] if name in hostvars else {}
        result = host.get(variable) if hasattr(host, 'get') else None
        results[name] = dict(result) if result else {}
    return fleet(results, RULES)


class FilterModule(object):
    def filters(self):
        return {'keepalive_table': keepalive_table, 'keepalive_fleet': keepalive_fleet, 'keepalive_coverage': keepalive_coverage}
