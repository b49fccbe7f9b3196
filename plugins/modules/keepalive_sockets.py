#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keepalive_sockets
short_description: Turn keep-alive on for connections that are already open, without restarting anything
version_added: 0.1.0
description:
  - Changes the keep-alive options of TCP connections that are already open in running processes,
    C(SO_KEEPALIVE), C(TCP_KEEPIDLE), C(TCP_KEEPINTVL), C(TCP_KEEPCNT) and C(TCP_USER_TIMEOUT).
  - Each selected socket is duplicated into the module's process with C(pidfd_getfd) (Linux 5.6 and
    later), which shares the live socket with its owner, so C(setsockopt) on the copy changes the
    connection itself. The copy is closed right away; the owner notices nothing but the new timer.
  - The kernel's keep-alive sysctls never turn keep-alive on, and a preload only reaches programs
    started after it. This is the way to fix connections that are open now.
  - With O(inspect=true), only reads each selected socket's effective settings.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  pids:
    description:
      - Only connections held by these processes, by pid. A thread id is refused with the id of its process.
    type: list
    elements: int
    aliases: [pid]
  directions:
    description: Only connections in these directions (see M(linuxnet.keepalive.keepalive_facts)).
    type: list
    elements: str
    choices: [inbound, outbound]
    default: [outbound]
    aliases: [direction]
  states:
    description: Only connections in these TCP states.
    type: list
    elements: str
    choices: [established, close_wait, syn_sent, syn_recv, fin_wait1, fin_wait2, closing, last_ack]
    default: [established]
  keepalive:
    description: Turn C(SO_KEEPALIVE) on (V(true)) or off (V(false)).
    type: bool
    default: true
  inspect:
    description: Only read each selected socket's settings; change nothing.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads every selected socket and reports what would change, without changing it.
  diff_mode:
    support: full
    description: Shows each socket's settings before and after.
  platform:
    description: Linux 5.6 or later; root (ptrace permission over the selected processes).
extends_documentation_fragment:
  - linuxnet.keepalive.connections
  - linuxnet.keepalive.socket_values.changes
  - linuxnet.keepalive.attributes
notes:
  - A failure for one process or socket (no permission, process gone, kernel too old, a seccomp or
    LSM refusal) is reported in RV(sockets) with its reason and does not stop the others. The
    module fails only when it could change none of the sockets it was asked to change.
  - A socket shared by several processes is changed once, through the first of them.
  - Sockets already at the requested values are not changed, so a second run reports no change.
  - At least one of O(pids), O(processes) or O(units) is required, to select the processes whose
    connections are changed; O(ports) and O(remote_ports) narrow it further.
seealso:
  - module: linuxnet.keepalive.keepalive_facts
'''

EXAMPLES = r'''
- name: Keep-alive on every established outbound connection of a running service, no restart
  linuxnet.keepalive.keepalive_sockets:
    units: [legacy-app.service]
    idle: 60
    interval: 15
    count: 4

- name: Only the connections of java processes to the database, with a user timeout
  linuxnet.keepalive.keepalive_sockets:
    processes: [java]
    remote_ports: [5432]
    idle: 120
    user_timeout: 240000

- name: Read what a process's sockets are set to
  linuxnet.keepalive.keepalive_sockets:
    pids: [1234]
    inspect: true
  register: sockets
'''

RETURN = r'''
msg:
  description: What was done (or would be, in check mode) to the selected sockets, in one line.
  returned: always
  type: str
  version_added: 0.2.0
  sample: "2 of 3 socket(s) of 1 process(es) changed"
sockets:
  description: One entry per selected connection.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process through which the socket was reached (null when none holds it any more).
      type: int
      returned: always
    fd:
      description: The socket's descriptor number in that process.
      type: int
      returned: always
    process:
      description: Process name.
      type: str
      returned: always
    unit:
      description: The process's systemd unit, or null.
      type: str
      returned: always
    local_address:
      description: Local address.
      type: str
      returned: always
    local_port:
      description: Local port.
      type: int
      returned: always
    remote_address:
      description: Remote address.
      type: str
      returned: always
    remote_port:
      description: Remote port.
      type: int
      returned: always
    state:
      description: TCP state.
      type: str
      returned: always
    direction:
      description: C(inbound) or C(outbound).
      type: str
      returned: always
    inode:
      description: Socket inode.
      type: int
      returned: always
    status:
      description: C(changed) (or would be, in check mode), C(unchanged), C(inspected) or C(failed).
      type: str
      returned: always
    reason:
      description: Why, in a sentence.
      type: str
      returned: always
    before:
      description: The settings read before any change (null when the socket could not be read).
      type: dict
      returned: always
      sample: {"keepalive": 0, "idle": 7200, "interval": 75, "count": 9, "user_timeout": 0}
    after:
      description: The settings read back after the change (in check mode, the requested ones).
      type: dict
      returned: always
      sample: {"keepalive": 1, "idle": 60, "interval": 15, "count": 4, "user_timeout": 0}
summary:
  description:
    - Counts of sockets by status, and the processes selected.
    - C(other_namespace) lists the selected processes in another network namespace, whose connections
      cannot be seen from the module's namespace; C(unreadable) those whose C(/proc/PID/fd) could not
      be read. Each also gets a warning, since both would otherwise look like a process with nothing to fix.
  returned: always
  type: dict
  sample: {"changed": 3, "unchanged": 1, "failed": 0, "inspected": 0, "processes": [812, 901],
           "other_namespace": [], "unreadable": []}
not_found:
  description:
    - Selections that matched no process (a pid that does not exist, a name or unit with no process), and
      thread ids given as O(pid) (with the process they belong to).
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._gather import GatherError
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._live_sockets import (
    process_sockets, select_pids, unreachable_processes,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import (
    NAMES, socket_value_options, validate_socket_values, values_text,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import snapshot


def sockets_summary(summary, check_mode, inspect):
    """What was done to the selected sockets, in one line."""
    processes = len(summary['processes'])
    if inspect:
        text = '%d socket(s) of %d process(es) read' % (summary['inspected'], processes)
    else:
        text = '%d of %d socket(s) of %d process(es) %s' % (summary['changed'], summary['changed'] + summary['unchanged'],
                                                            processes, 'would change' if check_mode else 'changed')
    if summary['failed']:
        text += '; %d not reached (see the warnings)' % summary['failed']
    return text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket_value_options(ours=False),
            pids=dict(type='list', elements='int', aliases=['pid']),
            processes=dict(type='list', elements='str', aliases=['process']),
            units=dict(type='list', elements='str', aliases=['unit']),
            ports=dict(type='list', elements='int'),
            remote_ports=dict(type='list', elements='int'),
            directions=dict(type='list', elements='str', default=['outbound'], choices=['inbound', 'outbound'],
                            aliases=['direction']),
            states=dict(type='list', elements='str', default=['established'],
                        choices=['established', 'close_wait', 'syn_sent', 'syn_recv', 'fin_wait1', 'fin_wait2',
                                 'closing', 'last_ack']),
            keepalive=dict(type='bool', default=True),
            inspect=dict(type='bool', default=False),
        ),
        required_one_of=[('pids', 'processes', 'units')],
        supports_check_mode=True,
    )
    params = module.params
    wanted = dict((k, params[k]) for k in NAMES)
    try:
        validate_socket_values(wanted)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for option in ('ports', 'remote_ports'):
        bad_ports = [p for p in params[option] or [] if not 1 <= p <= 65535]
        if bad_ports:
            module.fail_json(msg='%s must be from 1 to 65535; not allowed: %s' % (option, ', '.join(map(str, bad_ports))))

    pids, not_found = select_pids(params['pids'], params['processes'], params['units'])
    try:
        found = snapshot(pids=pids, states=params['states'], directions=params['directions'], ports=params['ports'],
                         remote_ports=params['remote_ports'], limit=1 << 30)
    except GatherError as exc:
        module.fail_json(msg=str(exc))
    owners = found.owners

    results = process_sockets(found.connections, owners, wanted, inspect=params['inspect'],
                              check_mode=module.check_mode)
    summary = dict((status, sum(1 for r in results if r['status'] == status))
                   for status in ('changed', 'unchanged', 'failed', 'inspected'))
    summary['processes'] = pids
    unreachable = unreachable_processes(pids, owners)
    for kind in ('other_namespace', 'unreadable'):
        summary[kind] = [pid for pid, found, _reason in unreachable if found == kind]
    for _pid, _kind, reason in unreachable:
        module.warn(reason)
    for miss in not_found:
        module.warn('nothing selected for %s' % miss)
    failures = [r for r in results if r['status'] == 'failed']
    for reason in sorted(set(r['reason'] for r in failures)):
        module.warn('%d socket(s) not reached: %s' % (sum(1 for r in failures if r['reason'] == reason), reason))

    result = dict(changed=summary['changed'] > 0, msg=sockets_summary(summary, module.check_mode, params['inspect']),
                  sockets=results, summary=summary, not_found=not_found)
    if module._diff:
        result['diff'] = [dict(before_header='pid %s fd %s %s:%s -> %s:%s' % (r['pid'], r['fd'], r['local_address'],
                                                                              r['local_port'], r['remote_address'],
                                                                              r['remote_port']),
                               before=values_text(r['before']), after=values_text(r['after']))
                          for r in results if r['status'] == 'changed']
    if failures and not summary['changed'] and not summary['unchanged'] and not summary['inspected']:
        result['msg'] = 'no selected socket could be reached: %s' % failures[0]['reason']
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
