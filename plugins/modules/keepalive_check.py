#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keepalive_check
short_description: Check a host against a keep-alive policy and report every violation
version_added: 0.1.0
description:
  - Evaluates a keep-alive policy on the host, with the same code as
    M(linuxnet.keepalive.keepalive_facts) and M(linuxnet.keepalive.keepalive_sysctl), and returns
    whether the host is compliant and every violation found.
  - Each violation names the rule, the subject (the host's kernel settings, or a connection with its
    process and unit), what was found, what was expected, and the feature of this collection that fixes it.
  - The playbook C(linuxnet.keepalive.compliance) runs it across an inventory and writes a fleet report.
  - Changes nothing.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  policy:
    description:
      - The policy, merged over the defaults below key by key.
      - C(kernel.time_max) (300), C(kernel.intvl_max) (75), C(kernel.probes_max) (9) limit
        C(net.ipv4.tcp_keepalive_time), C(_intvl) and C(_probes) (rules C(kernel_time),
        C(kernel_intvl), C(kernel_probes)).
      - C(kernel.persisted) (true) requires the running values to be the ones the configuration
        applies at boot, with no file overriding them (rule C(kernel_persisted)).
      - C(connections.require_keepalive) (true) requires keep-alive on every connection in
        C(connections.states) (V([established])) and C(connections.directions) (V([outbound]))
        (rule C(connection_keepalive)).
      - C(connections.max_idle) (null) is a maximum keep-alive idle in seconds per connection
        (rule C(connection_max_idle)); the idle is read from the live socket where permitted.
      - C(exceptions.processes), C(exceptions.units), C(exceptions.remote_ports) and
        C(exceptions.remote_addresses) (addresses or networks) leave connections out.
    type: dict
    default: {}
  limit:
    description: At most this many connection violations are listed; the rest are counted in RV(violations_left_out).
    type: int
    default: 100
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing is changed.
  platform:
    support: full
    platforms: [posix]
    description: Linux only.
seealso:
  - module: linuxnet.keepalive.keepalive_facts
  - module: linuxnet.keepalive.keepalive_sysctl
  - module: linuxnet.keepalive.keepalive_sockets
'''

EXAMPLES = r'''
- name: Check this host against the default policy
  linuxnet.keepalive.keepalive_check:
  register: keepalive

- name: A stricter policy, with exceptions
  linuxnet.keepalive.keepalive_check:
    policy:
      kernel:
        time_max: 120
      connections:
        max_idle: 300
      exceptions:
        processes: [sshd]
        remote_ports: [53]
        remote_addresses: [10.20.0.0/16]

# Across an inventory, with a fleet report:
#   ansible-playbook linuxnet.keepalive.compliance -i inventory
'''

RETURN = r'''
compliant:
  description: True when no rule is violated.
  returned: always
  type: bool
  sample: false
violations:
  description: Every violation found (connection violations up to O(limit)).
  returned: always
  type: list
  elements: dict
  contains:
    rule:
      description: C(kernel_time), C(kernel_intvl), C(kernel_probes), C(kernel_persisted),
        C(connection_keepalive) or C(connection_max_idle).
      type: str
      returned: always
    subject_kind:
      description: C(host) (the kernel's settings) or C(connection).
      type: str
      returned: always
    subject:
      description: The sysctl key, or the connection as C(local:port -> remote:port).
      type: str
      returned: always
      sample: "10.0.0.5:43512 -> 10.0.0.9:5432"
    found:
      description: What was found.
      type: str
      returned: always
      sample: "no keep-alive: the program never set SO_KEEPALIVE"
    expected:
      description: What the policy expects.
      type: str
      returned: always
    fix:
      description: The feature of this collection that fixes it.
      type: str
      returned: always
    process:
      description: The process holding the connection.
      type: str
      returned: for connection violations
    unit:
      description: Its systemd unit.
      type: str
      returned: for connection violations
    pids:
      description: The pids holding the connection.
      type: list
      elements: int
      returned: for connection violations
violations_left_out:
  description: Connection violations found but not listed because of O(limit).
  returned: always
  type: int
summary:
  description: Counts by rule, the worst offenders, the kernel values, and the host's socket counts.
  returned: always
  type: dict
  sample:
    by_rule: {"kernel_time": 1, "connection_keepalive": 3}
    offenders: ["python3 (legacy-app.service): 3"]
    defaults: {"time": 7200, "intvl": 75, "probes": 9}
    connections: {"outbound": {"enabled": 1, "disabled": 3, "unknown": 0, "not_applicable": 0}}
    total_sockets: 12
policy:
  description: The policy evaluated, defaults included.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.keepalive.plugins.module_utils._keepalive_facts import (
    GatherError, gather, open_records, read_defaults,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils._live_sockets import add_settings
from ansible_collections.linuxnet.keepalive.plugins.module_utils._policy import (
    RULES, PolicyError, evaluate, merge, offenders,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils._socket_owners import SocketOwners
from ansible_collections.linuxnet.keepalive.plugins.module_utils._sysctl_config import KEYS, boot_sources

# Connections examined one by one; beyond this many, the rest are counted as not evaluated.
EVALUATED = 20000


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type='dict', default={}),
            limit=dict(type='int', default=100),
        ),
        supports_check_mode=True,
    )
    if module.params['limit'] < 0:
        module.fail_json(msg='limit must be 0 or more, not %d' % module.params['limit'])
    try:
        policy = merge(module.params['policy'])
    except PolicyError as exc:
        module.fail_json(msg=str(exc))
    rules = policy['connections']
    try:
        defaults = read_defaults()
        boot = boot_sources([key for _option, key, _low, _high, _default in KEYS])
        owners = SocketOwners(with_fds=bool(rules['max_idle'])).scan()
        records, _source, _reader = open_records('auto')
        connections, facts = gather(records, owners=owners, states=rules['states'], directions=rules['directions'],
                                    only_missing=not rules['max_idle'], limit=EVALUATED)
    except (GatherError, KeyError) as exc:
        module.fail_json(msg='cannot read the host\'s keep-alive state: %s' % exc)
    if rules['max_idle']:
        add_settings([c for c in connections if c['keepalive'] == 'enabled'], owners)

    violations, left_out = evaluate(policy, defaults, boot, connections, limit=module.params['limit'])
    if facts['left_out']:
        module.warn('%d matching connections were not examined one by one (more than %d)' % (facts['left_out'], EVALUATED))
    by_rule = dict((rule, 0) for rule in RULES)
    for violation in violations:
        by_rule[violation['rule']] += 1
    policy['exceptions'].pop('_networks')
    module.exit_json(
        changed=False,
        compliant=not violations and not left_out,
        violations=violations,
        violations_left_out=left_out,
        summary={
            'by_rule': by_rule,
            'offenders': offenders(violations),
            'defaults': defaults,
            'boot': dict((key, {'value': value, 'file': path}) for key, (value, path) in boot.items()),
            'connections': facts['by_direction_verdict'],
            'total_sockets': facts['total'],
        },
        policy=policy,
    )


if __name__ == '__main__':
    main()
