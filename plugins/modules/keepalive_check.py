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
  - A host is never called compliant without every connection having been examined. Connections are
    examined one by one up to 20,000 matching ones (established outbound connections without
    keep-alive, under the default policy); beyond that, RV(compliant) is false, RV(not_examined)
    counts the rest, and a warning says so, since a violation among them cannot be ruled out.
  - Changes nothing.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  policy:
    description:
      - The policy. Every key is optional; a missing key takes the default shown.
      - Each value is checked against its type and allowed values before anything is read, and a
        bad one fails with a message that names the key, the value and what is allowed.
    type: dict
    default: {}
    suboptions:
      kernel:
        description: Limits on the kernel's keep-alive defaults of the host.
        type: dict
        default: {}
        suboptions:
          time_max:
            description: Highest C(net.ipv4.tcp_keepalive_time) allowed, in seconds (rule C(kernel_time)). 1 or more.
            type: int
            default: 300
          intvl_max:
            description: Highest C(net.ipv4.tcp_keepalive_intvl) allowed, in seconds (rule C(kernel_intvl)). 1 or more.
            type: int
            default: 75
          probes_max:
            description: Highest C(net.ipv4.tcp_keepalive_probes) allowed (rule C(kernel_probes)). 1 or more.
            type: int
            default: 9
          persisted:
            description:
              - Require the running values to be the ones the configuration applies at boot, with no
                file overriding them (rule C(kernel_persisted)).
            type: bool
            default: true
      connections:
        description: What every connection must have.
        type: dict
        default: {}
        suboptions:
          require_keepalive:
            description: Require keep-alive on every connection selected below (rule C(connection_keepalive)).
            type: bool
            default: true
          directions:
            description: The directions of the connections checked.
            type: list
            elements: str
            choices: [inbound, outbound]
            default: [outbound]
          states:
            description: The TCP states of the connections checked.
            type: list
            elements: str
            choices: [established, close_wait, syn_sent, syn_recv, fin_wait1, fin_wait2, closing, last_ack, time_wait]
            default: [established]
          max_idle:
            description:
              - Highest keep-alive idle allowed per connection, in seconds (rule C(connection_max_idle)).
                The idle is read from the live socket where permitted, else from its timer.
              - Unset (null) checks no idle.
            type: int
          survive_path:
            description:
              - With O(measurements), each connection to a measured destination must send its first keep-alive
                probe, and each next one, no later than the longest idle its path was measured to keep (rule
                C(connection_path)). Once a probe is answered the kernel sends the next after the longer of the
                idle time and the interval, so both count, its socket's own C(TCP_KEEPIDLE) and C(TCP_KEEPINTVL),
                read from the live socket where permitted, else its namespace's C(net.ipv4.tcp_keepalive_time) and
                C(net.ipv4.tcp_keepalive_intvl); a connection without keep-alive fails on a path that
                forgets idle flows.
              - Without O(measurements) the rule is skipped, and RV(rules_skipped) says so.
            type: bool
            default: true
            version_added: 0.2.0
      exceptions:
        description: Connections left out of the connection rules.
        type: dict
        default: {}
        suboptions:
          processes:
            description: Process names (as in C(/proc/PID/comm)).
            type: list
            elements: str
            default: []
          units:
            description: systemd units.
            type: list
            elements: str
            default: []
          remote_ports:
            description: Remote ports (1 to 65535).
            type: list
            elements: int
            default: []
          remote_addresses:
            description: Remote addresses or networks (C(10.20.0.0/16), C(2001:db8::/32)).
            type: list
            elements: str
            default: []
  namespaces:
    description:
      - V(self) checks the network namespace the module runs in.
      - V(all) checks every network namespace on the host, as M(linuxnet.keepalive.keepalive_facts) reads them
        with O(linuxnet.keepalive.keepalive_facts#module:namespaces=all) - the kernel limits in each namespace (a
        container's own defaults start at 7200, 75, 9), persistence in the module's own only, and the connections
        of all. Each violation names its C(netns) and C(container).
      - With V(all), a host is not compliant while any namespace could not be read (RV(namespaces_not_read)),
        or while processes hold TCP connections in namespaces that were not read (counted in RV(not_examined)),
        since a connection nobody looked at cannot be called compliant. Without any namespace read, the module fails.
    type: str
    version_added: 0.2.0
    choices: [self, all]
    default: self
  measurements:
    description:
      - How long the paths to the host's destinations keep idle flows, as M(linuxnet.keepalive.keepalive_path)
        measures them with O(linuxnet.keepalive.keepalive_path#module:discover=true) - its RV(linuxnet.keepalive.keepalive_path#module:destinations),
        or the path of a JSON file on the host holding them (alone, or as C(destinations), as the playbook
        C(linuxnet.keepalive.paths) writes each host's file).
      - Each entry needs C(address), C(port), C(outcome), C(survived_max) and C(forgot_min); an entry that is
        wrong fails the module, naming it.
    type: raw
    version_added: 0.2.0
  limit:
    description:
      - At most this many connection violations are listed in RV(violations); the rest are counted
        in RV(violations_left_out).
      - Counts (C(by_rule) and C(offenders) in RV(summary)) and RV(compliant) are over every violation,
        whatever the limit.
    type: int
    default: 100
extends_documentation_fragment:
  - linuxnet.keepalive.attributes
  - linuxnet.keepalive.attributes.read_only
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

- name: Measure the paths of the host's own connections
  linuxnet.keepalive.keepalive_path:
    discover: true
  async: 900
  poll: 15
  register: paths

- name: Judge each connection by whether it survives its path
  linuxnet.keepalive.keepalive_check:
    measurements: "{{ paths.destinations }}"

# Across an inventory, with a fleet report:
#   ansible-playbook linuxnet.keepalive.compliance -i inventory
'''

RETURN = r'''
msg:
  description: The verdict in one line, with the rules violated and how often.
  returned: always
  type: str
  version_added: 0.2.0
  sample: "not compliant: connection_keepalive 3; most: python3 (app.service): 3"
compliant:
  description: True when no rule is violated.
  returned: always
  type: bool
rules_skipped:
  description: The rules that could not be judged, with why (C(connection_path) without O(measurements)).
  returned: always
  type: dict
  version_added: 0.2.0
  sample: {"connection_path": "no path measurements given (keepalive_check measurements, from linuxnet.keepalive.paths)"}
measured_paths:
  description: The measured destinations that judged connections (outbound, measured, and forgetting or keeping).
  returned: always
  type: int
  version_added: 0.2.0
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
    netns:
      description: The network namespace's inode (null with O(namespaces=self)).
      type: int
      returned: always
    container:
      description: The container (C(runtime), C(id), C(pod_uid)) the violation belongs to, or null.
      type: dict
      returned: always
    remote_port:
      description: The connection's remote port.
      type: int
      returned: for connection violations
      sample: 5432
violations_left_out:
  description: Connection violations found but not listed because of O(limit). They are counted in RV(summary).
  returned: always
  type: int
not_examined:
  description:
    - Connections that matched the policy's selection but were not examined one by one (beyond
      20,000), and with O(namespaces=all) the TCP connections that processes hold in network namespaces
      that were not read. When it is not 0, RV(compliant) is false.
  returned: always
  type: int
  sample: 0
namespaces_not_read:
  description:
    - With O(namespaces=all), network namespaces that could not be entered or were another one when
      entered, each named in a warning. When it is not 0, RV(compliant) is false.
  returned: always
  type: int
  sample: 0
  version_added: 0.2.0
summary:
  description:
    - Counts by rule over every violation (not only the listed ones), the worst offenders, the kernel
      values, and the host's socket counts.
  returned: always
  type: dict
  contains:
    by_rule:
      description: Violations per rule, every rule named (0 when none).
      type: dict
      returned: always
      sample: {"kernel_time": 1, "kernel_intvl": 0, "kernel_probes": 0, "kernel_persisted": 0,
               "connection_keepalive": 3, "connection_max_idle": 0}
    offenders:
      description: The three processes (with their unit) with the most connection violations.
      type: list
      elements: str
      returned: always
      sample: ["python3 (legacy-app.service): 3"]
    defaults:
      description: The running kernel's keep-alive defaults.
      type: dict
      returned: always
      sample: {"time": 7200, "intvl": 75, "probes": 9}
    boot:
      description: Per sysctl key, the value the configuration gives at boot and the file that sets it
        (null for the kernel's default).
      type: dict
      returned: always
      sample: {"net.ipv4.tcp_keepalive_time": {"value": 120, "file": "/etc/sysctl.d/60-keepalive.conf"}}
    connections:
      description: The host's sockets by direction, then verdict (as keepalive_facts counts them).
      type: dict
      returned: always
      sample: {"outbound": {"enabled": 1, "disabled": 3, "unknown": 0, "not_applicable": 0},
               "inbound": {"enabled": 2, "disabled": 0, "unknown": 0, "not_applicable": 0},
               "listen": {"enabled": 0, "disabled": 0, "unknown": 0, "not_applicable": 1}}
    total_sockets:
      description: TCP sockets read.
      type: int
      returned: always
      sample: 12
policy:
  description: The policy evaluated, defaults included.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._gather import GatherError, read_defaults
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._netns import own as own_netns
from ansible_collections.linuxnet.keepalive.plugins.module_utils._destinations import (
    DestinationError, index, measurements_from,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import (
    PolicyError, compliant, evaluate, merge, offenders, policy_options, selection, skipped,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import SYSCTL_KEYS
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import snapshot
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sysctl._sysctl_config import boot_sources

# Connections examined one by one; beyond this many, the host cannot be called compliant.
EVALUATED = 20000


def check_summary(is_compliant, counts, not_examined, namespaces_not_read, skipped_rules=None):
    """The verdict in one line: compliant, or which rules are violated how often, and what was not examined; and
    the rules skipped."""
    skipped_text = '; skipped: %s (see rules_skipped)' % ', '.join(sorted(skipped_rules)) if skipped_rules else ''
    if is_compliant:
        return 'compliant: no rule of the policy is violated' + skipped_text
    broken = ['%s %d' % (rule, n) for rule, n in counts['by_rule'].items() if n]
    text = 'not compliant: %s' % (', '.join(broken) if broken else 'no rule is violated among what was examined')
    if not_examined:
        text += '; %d connection(s) not examined' % not_examined
    if namespaces_not_read:
        text += '; %d network namespace(s) not read' % namespaces_not_read
    top = offenders(counts['offenders'], top=1)
    if top:
        text += '; most: %s' % top[0]
    return text + skipped_text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type='dict', default={}, options=policy_options(), apply_defaults=True),
            limit=dict(type='int', default=100),
            namespaces=dict(type='str', default='self', choices=['self', 'all']),
            measurements=dict(type='raw'),
        ),
        supports_check_mode=True,
    )
    if module.params['limit'] < 0:
        module.fail_json(msg='limit must be 0 or more, not %d' % module.params['limit'])
    try:
        policy = merge(module.params['policy'])
        measurements = measurements_from(module.params['measurements'])
    except (PolicyError, DestinationError) as exc:
        module.fail_json(msg=str(exc))
    try:
        defaults = read_defaults()
        boot = boot_sources(SYSCTL_KEYS)
        found = snapshot(limit=EVALUATED, namespaces=module.params['namespaces'],
                         **selection(policy, measured=measurements is not None))
    except (GatherError, KeyError) as exc:
        module.fail_json(msg='cannot read the host\'s keep-alive state: %s' % exc)

    spaces = None
    not_read = {'namespaces': 0, 'connections': 0}
    if module.params['namespaces'] == 'all':
        if found.summary is None:
            module.fail_json(msg='namespaces=all: no network namespace could be read, so nothing was checked (root is '
                                 'needed, with CAP_SYS_ADMIN to enter them): %s' % '; '.join(found.refused + found.changed))
        own = own_netns()
        spaces = [dict(entry, own=entry['netns'] == own) for entry in found.namespaces]
        not_read = found.not_read()
        for warning in found.not_read_warnings():
            module.warn(warning + '; the host is not reported compliant')
    violations, counts = evaluate(policy, defaults, boot, found.connections, limit=module.params['limit'],
                                  namespaces=spaces, measurements=measurements)
    skipped_rules = skipped(policy, measurements)
    facts = found.summary
    if facts['left_out']:
        module.warn('%d matching connections were not examined one by one (more than %d), so the host is not '
                    'reported compliant: a violation among them cannot be ruled out' % (facts['left_out'], EVALUATED))
    not_examined = facts['left_out'] + not_read['connections']
    is_compliant = compliant(counts, not_examined) and not not_read['namespaces']
    module.exit_json(
        changed=False,
        msg=check_summary(is_compliant, counts, not_examined, not_read['namespaces'], skipped_rules),
        compliant=is_compliant,
        rules_skipped=skipped_rules,
        measured_paths=len(index(measurements)),
        violations=violations,
        violations_left_out=counts['left_out'],
        not_examined=not_examined,
        namespaces_not_read=not_read['namespaces'],
        summary={
            'by_rule': counts['by_rule'],
            'offenders': offenders(counts['offenders']),
            'defaults': defaults,
            'boot': dict((key, {'value': value, 'file': path}) for key, (value, path) in boot.items()),
            'connections': facts['by_direction_verdict'],
            'total_sockets': facts['total'],
        },
        policy=policy,
    )


if __name__ == '__main__':
    main()
