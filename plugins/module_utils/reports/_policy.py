# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keep-alive compliance policy: its defaults, its validation, and its evaluation on one host.

A policy has three parts:
  kernel:      limits on net.ipv4.tcp_keepalive_* and whether the running values must be the ones
               the configuration gives at boot (persisted, with no file overriding them);
  connections: whether established outbound connections must have keep-alive, an optional
               maximum keep-alive idle per connection, and whether each must survive its measured
               path (with measurements of keepalive_path; without them that rule is skipped);
  exceptions:  processes, units, remote ports and remote addresses (or networks) to leave out.
Violations are counted over every connection examined; a limit only shortens the list.
Every violation names the rule, the subject, what was found, what was expected, and the feature
of this collection that fixes it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import SYSCTLS
from ansible_collections.linuxnet.keepalive.plugins.module_utils._destinations import index, judge

# The connection states a policy may name: those in which a socket can have a keep-alive timer or
# be on its way to one (not listen, close or new_syn_recv, which no connection shows for long).
CONNECTION_STATES = ('established', 'close_wait', 'syn_sent', 'syn_recv', 'fin_wait1', 'fin_wait2', 'closing',
                     'last_ack', 'time_wait')
DIRECTIONS = ('inbound', 'outbound')


def _section(options):
    return {'type': 'dict', 'default': {}, 'apply_defaults': True, 'options': options}


# The policy as an argument spec: keepalive_check takes it as its `policy` option's sub-options,
# and merge() validates a policy given directly with the same spec. Validation fills the defaults
# of sections in place, so each use takes a copy (policy_options()).
POLICY_OPTIONS = {
    'kernel': _section({
        'time_max': {'type': 'int', 'default': 300},
        'intvl_max': {'type': 'int', 'default': 75},
        'probes_max': {'type': 'int', 'default': 9},
        'persisted': {'type': 'bool', 'default': True},
    }),
    'connections': _section({
        'require_keepalive': {'type': 'bool', 'default': True},
        'directions': {'type': 'list', 'elements': 'str', 'choices': list(DIRECTIONS), 'default': ['outbound']},
        'states': {'type': 'list', 'elements': 'str', 'choices': list(CONNECTION_STATES), 'default': ['established']},
        'max_idle': {'type': 'int'},
        'survive_path': {'type': 'bool', 'default': True},
    }),
    'exceptions': _section({
        'processes': {'type': 'list', 'elements': 'str', 'default': []},
        'units': {'type': 'list', 'elements': 'str', 'default': []},
        'remote_ports': {'type': 'list', 'elements': 'int', 'default': []},
        'remote_addresses': {'type': 'list', 'elements': 'str', 'default': []},
    }),
}
RULES = ('kernel_time', 'kernel_intvl', 'kernel_probes', 'kernel_persisted', 'connection_keepalive',
         'connection_max_idle', 'connection_path')
FIX_KERNEL = 'the linuxnet.keepalive.keepalive role (keepalive_time, keepalive_intvl, keepalive_probes) or linuxnet.keepalive.keepalive_sysctl'
FIX_PERSIST = 'linuxnet.keepalive.keepalive_sysctl (persist: true, on_conflict: fail) or the keepalive role'
FIX_CONNECTION = ('linuxnet.keepalive.keepalive_sockets now (the live fix, no restart), and the keepalive role\'s '
                  'preload shim (keepalive_shim_services) for the next start; or set SO_KEEPALIVE in the program')
FIX_PATH = ('the keepalive role with the values linuxnet.keepalive.paths recommends (keepalive_time and '
            'keepalive_intvl for sockets that use the defaults, keepalive_socket_idle and keepalive_socket_interval for '
            'the shim and the cgroup program), and linuxnet.keepalive.keepalive_sockets (idle, interval) for this '
            'connection now')
NO_MEASUREMENTS = 'no path measurements given (keepalive_check measurements, from linuxnet.keepalive.paths)'


def policy_options():
    """A fresh copy of POLICY_OPTIONS, for an argument spec."""
    return copy.deepcopy(POLICY_OPTIONS)


class PolicyError(Exception):
    """The policy is malformed; the message names the key, the value and what is allowed."""


def merge(policy):
    """The policy with every default filled in, validated: types and choices by POLICY_OPTIONS, then ranges.

    ``policy`` is a dict of the policy's shape, either as given by a user or already validated by
    AnsibleModule with POLICY_OPTIONS (then only the checks below the spec run again).
    """
    if policy is not None and not isinstance(policy, dict):
        raise PolicyError('policy must be a dictionary with kernel, connections and exceptions, not %r' % (policy,))
    result = ArgumentSpecValidator(policy_options()).validate(copy.deepcopy(policy or {}))
    if result.error_messages:
        problems = []
        for error in result.errors:
            if isinstance(error, UnsupportedError):
                problems.append('unknown policy key %s' % error.msg)
            else:
                problems.append('policy: %s' % error.msg)
        raise PolicyError('; '.join(problems))
    merged = result.validated_parameters
    for section, key, lowest in (('kernel', 'time_max', 1), ('kernel', 'intvl_max', 1), ('kernel', 'probes_max', 1),
                                 ('connections', 'max_idle', 1)):
        value = merged[section][key]
        if value is not None and value < lowest:
            raise PolicyError('policy.%s.%s must be a positive integer%s, not %r'
                              % (section, key, ' or null' if key == 'max_idle' else '', value))
    bad_ports = [port for port in merged['exceptions']['remote_ports'] if not 1 <= port <= 65535]
    if bad_ports:
        raise PolicyError('policy.exceptions.remote_ports must be ports from 1 to 65535, not %s'
                          % ', '.join(str(port) for port in bad_ports))
    networks(merged)
    return merged


def networks(policy):
    """The networks of policy.exceptions.remote_addresses, parsed (a bare address is a /32 or /128)."""
    found = []
    for text in policy['exceptions']['remote_addresses']:
        try:
            found.append(ipaddress.ip_network(str(text), strict=False))
        except ValueError:
            raise PolicyError('policy.exceptions.remote_addresses: %r is not an address or network' % (text,))
    return found


def selection(policy, measured=False):
    """What must be read to evaluate ``policy`` on a host: snapshot() arguments.

    Without max_idle and path measurements only connections without keep-alive can break a connection
    rule, so only those are gathered; max_idle and a path are judged on the idle each socket was given,
    read from the live socket (inspect).
    """
    rules = policy['connections']
    paths = bool(measured) and rules['survive_path']
    return {'states': rules['states'], 'directions': rules['directions'],
            'only_missing': not (rules['max_idle'] or paths), 'inspect': bool(rules['max_idle'] or paths)}


def skipped(policy, measurements):
    """{rule: why} for the rules that cannot be judged: connection_path without measurements."""
    if policy['connections']['survive_path'] and measurements is None:
        return {'connection_path': NO_MEASUREMENTS}
    return {}


def describe(conn):
    return '%s:%s -> %s:%s' % (conn['local_address'], conn['local_port'], conn['remote_address'], conn['remote_port'])


def excepted(policy, conn, nets):
    exc = policy['exceptions']
    if conn.get('process') in exc['processes'] or (conn.get('unit') and conn.get('unit') in exc['units']):
        return True
    if conn['remote_port'] in exc['remote_ports']:
        return True
    if nets:
        address = ipaddress.ip_address(conn['remote_address'])
        mapped = getattr(address, 'ipv4_mapped', None)
        return any(address in net or (mapped is not None and mapped in net) for net in nets)
    return False


def evaluate(policy, defaults, boot, connections, limit=100, namespaces=None, measurements=None):
    """Violations on one host: (violations, counts).

    ``defaults``: running {'time', 'intvl', 'probes'}; ``boot``: {sysctl key: (value, file)} as
    the configuration sets them at boot; ``connections``: keepalive_facts entries (with
    ``settings`` where inspected). Every violation is counted; at most ``limit`` connection
    violations are listed. ``counts`` is {'by_rule': {rule: n}, 'offenders': {(process, unit): n},
    'left_out': connection violations found but not listed}.
    ``namespaces``: with every network namespace read, their entries ({'netns', 'container',
    'defaults', 'own'}); the kernel limits are checked in each, persistence only in the module's own
    (the configuration files at boot set no other namespace's values). Each violation names its
    ``netns`` and ``container`` (null when only the module's own namespace was read).
    """
    violations = []
    by_rule = dict((rule, 0) for rule in RULES)
    by_owner = {}
    kernel = policy['kernel']
    for space in namespaces or [{'netns': None, 'container': None, 'defaults': defaults, 'own': True}]:
        values = space['defaults']
        for setting in SYSCTLS:
            short, key = setting.sysctl_option, setting.sysctl_key
            highest = kernel['%s_max' % short]
            if values[short] > highest:
                violations.append(_violation('kernel_%s' % short, 'host', key, '%s = %d' % (key, values[short]),
                                             '%s <= %d' % (key, highest), FIX_KERNEL, space))
            if kernel['persisted'] and space['own']:
                value, source = boot[key]
                if value != values[short]:
                    where = source or 'no configuration file (the kernel default)'
                    violations.append(_violation(
                        'kernel_persisted', 'host', key,
                        'the running value %d would become %d after a reboot, set by %s' % (values[short], value, where),
                        'the running value persisted, with no file overriding it at boot', FIX_PERSIST, space))
    for violation in violations:
        by_rule[violation['rule']] += 1
    rules = policy['connections']
    nets = networks(policy)
    paths = index(measurements) if rules['survive_path'] else {}
    space_defaults = dict((space['netns'], space['defaults']) for space in namespaces or [])
    listed = left_out = 0
    for conn in connections:
        if excepted(policy, conn, nets):
            continue
        for found in _findings(rules, conn, paths, space_defaults.get(conn.get('netns'), defaults)):
            by_rule[found[0]] += 1
            container = conn.get('container') if namespaces else None
            owner = (conn.get('process'), conn.get('unit'), _container_name(container))
            by_owner[owner] = by_owner.get(owner, 0) + 1
            if listed >= limit:
                left_out += 1
                continue
            listed += 1
            violation = _violation(found[0], 'connection', describe(conn), found[1], found[2], found[3],
                                   {'netns': conn.get('netns') if namespaces else None, 'container': container})
            violation.update(process=conn.get('process'), unit=conn.get('unit'), pids=conn.get('pids', []),
                             remote_port=conn['remote_port'])
            violations.append(violation)
    return violations, {'by_rule': by_rule, 'offenders': by_owner, 'left_out': left_out}


def _findings(rules, conn, paths, defaults):
    """The connection rules ``conn`` breaks: [(rule, found, expected, fix)]."""
    found = []
    if rules['require_keepalive'] and conn['keepalive'] == 'disabled':
        found.append(('connection_keepalive', 'no keep-alive: the program never set SO_KEEPALIVE',
                      'SO_KEEPALIVE set (a keep-alive timer)', FIX_CONNECTION))
    elif rules['max_idle'] and conn['keepalive'] == 'enabled':
        idle = (conn.get('settings') or {}).get('idle')
        seen = idle if idle is not None else conn['timer_expires']
        if seen > rules['max_idle']:
            found.append(('connection_max_idle', 'keep-alive idle %d s%s' % (seen, '' if idle is not None else ' (at least)'),
                          'keep-alive idle <= %d s' % rules['max_idle'], FIX_CONNECTION))
    if paths and conn['direction'] == 'outbound':
        verdict = judge(conn, paths.get((conn['remote_address'], conn['remote_port'])), defaults)
        if verdict:
            found.append(('connection_path',) + verdict + (FIX_PATH,))
    return found


def _violation(rule, kind, subject, found, expected, fix, space=None):
    return {'rule': rule, 'subject_kind': kind, 'subject': subject, 'found': found, 'expected': expected, 'fix': fix,
            'netns': (space or {}).get('netns'), 'container': (space or {}).get('container')}


def compliant(counts, not_examined):
    """A host is compliant when no rule is violated and every matching connection was examined."""
    return not any(counts['by_rule'].values()) and not not_examined


def _container_name(container):
    """'podman 3f2a9c51d0e4', 'kubernetes pod 1b2c...', or None."""
    if not container:
        return None
    if container.get('id'):
        return '%s %s' % (container['runtime'], container['id'][:12])
    return '%s pod %s' % (container['runtime'], container.get('pod_uid'))


def offenders(by_owner, top=3):
    """The processes (and units, and containers) with the most connection violations: ['python3 (app.service): 12'].

    ``by_owner``: {(process, unit, container name or None): violations}, as evaluate() counts them over every
    violation; findings in a container say which: 'python3 (no unit) in podman 3f2a9c51d0e4: 4'.
    """
    counts = {}
    for key, count in by_owner.items():
        process, unit = key[0], key[1]
        container = key[2] if len(key) > 2 else None
        name = '%s (%s)' % (process or '?', unit or 'no unit')
        if container:
            name += ' in %s' % container
        counts[name] = counts.get(name, 0) + count
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ['%s: %d' % item for item in ranked[:top]]
