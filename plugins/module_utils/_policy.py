# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keep-alive compliance policy: its defaults, its validation, and its evaluation on one host.

A policy has three parts:
  kernel:      limits on net.ipv4.tcp_keepalive_* and whether the running values must be the ones
               the configuration gives at boot (persisted, with no file overriding them);
  connections: whether established outbound connections must have keep-alive, and an optional
               maximum keep-alive idle per connection;
  exceptions:  processes, units, remote ports and remote addresses (or networks) to leave out.
Every violation names the rule, the subject, what was found, what was expected, and the feature
of this collection that fixes it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress

DEFAULT_POLICY = {
    'kernel': {'time_max': 300, 'intvl_max': 75, 'probes_max': 9, 'persisted': True},
    'connections': {'require_keepalive': True, 'directions': ['outbound'], 'states': ['established'],
                    'max_idle': None},
    'exceptions': {'processes': [], 'units': [], 'remote_ports': [], 'remote_addresses': []},
}
_TYPES = {
    ('kernel', 'time_max'): 'int', ('kernel', 'intvl_max'): 'int', ('kernel', 'probes_max'): 'int',
    ('kernel', 'persisted'): 'bool',
    ('connections', 'require_keepalive'): 'bool', ('connections', 'directions'): 'list',
    ('connections', 'states'): 'list', ('connections', 'max_idle'): 'int_or_none',
    ('exceptions', 'processes'): 'list', ('exceptions', 'units'): 'list', ('exceptions', 'remote_ports'): 'list',
    ('exceptions', 'remote_addresses'): 'list',
}
RULES = ('kernel_time', 'kernel_intvl', 'kernel_probes', 'kernel_persisted', 'connection_keepalive',
         'connection_max_idle')
FIX_KERNEL = 'the linuxnet.keepalive.keepalive role (keepalive_time, keepalive_intvl, keepalive_probes) or linuxnet.keepalive.keepalive_sysctl'
FIX_PERSIST = 'linuxnet.keepalive.keepalive_sysctl (persist: true, on_conflict: fail) or the keepalive role'
FIX_CONNECTION = ('linuxnet.keepalive.keepalive_sockets now (the live fix, no restart), and the keepalive role\'s '
                  'preload shim (keepalive_shim_services) for the next start; or set SO_KEEPALIVE in the program')
KEYS = (('time', 'net.ipv4.tcp_keepalive_time'), ('intvl', 'net.ipv4.tcp_keepalive_intvl'),
        ('probes', 'net.ipv4.tcp_keepalive_probes'))


class PolicyError(Exception):
    """The policy is malformed; the message names the key and what is allowed."""


def merge(policy):
    """The default policy updated with ``policy`` (a dict of the same shape), validated."""
    merged = copy.deepcopy(DEFAULT_POLICY)
    for section, values in (policy or {}).items():
        if section not in merged:
            raise PolicyError('unknown policy section %r (allowed: %s)' % (section, ', '.join(sorted(merged))))
        if not isinstance(values, dict):
            raise PolicyError('policy.%s must be a dictionary' % section)
        for key, value in values.items():
            kind = _TYPES.get((section, key))
            if kind is None:
                raise PolicyError('unknown policy key %s.%s (allowed: %s)'
                                  % (section, key, ', '.join(sorted(merged[section]))))
            merged[section][key] = _check(section, key, kind, value)
    networks = []
    for text in merged['exceptions']['remote_addresses']:
        try:
            networks.append(ipaddress.ip_network(str(text), strict=False))
        except ValueError:
            raise PolicyError('policy.exceptions.remote_addresses: %r is not an address or network' % (text,))
    merged['exceptions']['_networks'] = networks
    return merged


def _check(section, key, kind, value):
    name = 'policy.%s.%s' % (section, key)
    if kind == 'bool':
        if not isinstance(value, bool):
            raise PolicyError('%s must be true or false, not %r' % (name, value))
    elif kind in ('int', 'int_or_none'):
        if value is None and kind == 'int_or_none':
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PolicyError('%s must be a positive integer%s, not %r'
                              % (name, ' or null' if kind == 'int_or_none' else '', value))
    elif not isinstance(value, list):
        raise PolicyError('%s must be a list, not %r' % (name, value))
    return value


def describe(conn):
    return '%s:%s -> %s:%s' % (conn['local_address'], conn['local_port'], conn['remote_address'], conn['remote_port'])


def excepted(policy, conn):
    exc = policy['exceptions']
    if conn.get('process') in exc['processes'] or (conn.get('unit') and conn.get('unit') in exc['units']):
        return True
    if conn['remote_port'] in exc['remote_ports']:
        return True
    if exc['_networks']:
        address = ipaddress.ip_address(conn['remote_address'])
        mapped = getattr(address, 'ipv4_mapped', None)
        return any(address in net or (mapped is not None and mapped in net) for net in exc['_networks'])
    return False


def evaluate(policy, defaults, boot, connections, limit=100):
    """Violations on one host: (violations, left_out).

    ``defaults``: running {'time', 'intvl', 'probes'}; ``boot``: {sysctl key: (value, file)} as
    the configuration sets them at boot; ``connections``: keepalive_facts entries (with
    ``settings`` where inspected). At most ``limit`` connection violations are listed.
    """
    violations = []
    kernel = policy['kernel']
    for short, key in KEYS:
        highest = kernel['%s_max' % short]
        if defaults[short] > highest:
            violations.append(_violation('kernel_%s' % short, 'host', key, '%s = %d' % (key, defaults[short]),
                                         '%s <= %d' % (key, highest), FIX_KERNEL))
        if kernel['persisted']:
            value, source = boot[key]
            if value != defaults[short]:
                where = source or 'no configuration file (the kernel default)'
                violations.append(_violation(
                    'kernel_persisted', 'host', key,
                    'the running value %d would become %d after a reboot, set by %s' % (defaults[short], value, where),
                    'the running value persisted, with no file overriding it at boot', FIX_PERSIST))
    rules = policy['connections']
    listed = left_out = 0
    for conn in connections:
        if excepted(policy, conn):
            continue
        found = None
        if rules['require_keepalive'] and conn['keepalive'] == 'disabled':
            found = ('connection_keepalive', 'no keep-alive: the program never set SO_KEEPALIVE',
                     'SO_KEEPALIVE set (a keep-alive timer)')
        elif rules['max_idle'] and conn['keepalive'] == 'enabled':
            idle = (conn.get('settings') or {}).get('idle')
            seen = idle if idle is not None else conn['timer_expires']
            if seen > rules['max_idle']:
                found = ('connection_max_idle', 'keep-alive idle %d s%s' % (seen, '' if idle is not None else ' (at least)'),
                         'keep-alive idle <= %d s' % rules['max_idle'])
        if found is None:
            continue
        if listed >= limit:
            left_out += 1
            continue
        listed += 1
        violation = _violation(found[0], 'connection', describe(conn), found[1], found[2], FIX_CONNECTION)
        violation.update(process=conn.get('process'), unit=conn.get('unit'), pids=conn.get('pids', []),
                         remote_port=conn['remote_port'])
        violations.append(violation)
    return violations, left_out


def _violation(rule, kind, subject, found, expected, fix):
    return {'rule': rule, 'subject_kind': kind, 'subject': subject, 'found': found, 'expected': expected, 'fix': fix}


def offenders(violations, top=3):
    """The processes (and units) with the most connection violations: ['python3 (app.service): 12', ...]."""
    counts = {}
    for v in violations:
        if v['subject_kind'] == 'connection':
            name = '%s (%s)' % (v.get('process') or '?', v.get('unit') or 'no unit')
            counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ['%s: %d' % item for item in ranked[:top]]
