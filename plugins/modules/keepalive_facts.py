#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keepalive_facts
short_description: Report every TCP connection's keep-alive state, its owner and why
version_added: 0.1.0
description:
  - Reads every TCP socket of the host's network namespace, IPv4 and IPv6, from the kernel's
    netlink sock_diag interface (what C(ss) uses) or from C(/proc/net/tcp) and C(/proc/net/tcp6),
    and tells for each connection whether keep-alive is on, with a reason that is true to the kernel.
  - Keep-alive is a per-socket option. A program that never sets C(SO_KEEPALIVE) on its socket gets
    no keep-alive, whatever the C(net.ipv4.tcp_keepalive_*) sysctls say; they are only the defaults
    for sockets that set it. Such connections show no timer in C(ss -o) and are reported here as
    C(disabled), with the processes that hold them.
  - Changes nothing on the host.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  states:
    description:
      - Return only connections in these TCP states.
    type: list
    elements: str
    choices: [established, syn_sent, syn_recv, fin_wait1, fin_wait2, time_wait, close, close_wait,
              last_ack, listen, closing]
  directions:
    description:
      - Return only connections in these directions.
      - C(inbound) sockets were accepted from a local listener (their local port is a listening
        port), C(outbound) connections were opened by this host, C(listen) are listening sockets.
    type: list
    elements: str
    choices: [inbound, outbound, listen]
    aliases: [direction]
  only_missing:
    description:
      - Return only connections whose keep-alive is C(disabled).
    type: bool
    default: false
  limit:
    description:
      - At most this many connections are returned. The summary still counts every socket, and
        C(summary.left_out) says how many matching connections were not returned; a warning says so
        too, with how to see them.
      - V(0) returns the summary only, without the warning. The default keeps the output of an ad hoc run readable on a busy host;
        raise it, or narrow the selection with the filters above, to list more.
    type: int
    default: 100
  owners:
    description:
      - Find the process(es) and systemd unit holding each socket, by matching socket inodes with
        C(/proc/PID/fd). Other users' processes are only visible to root.
    type: bool
    default: true
  inspect:
    description:
      - Add each returned connection's effective settings (C(SO_KEEPALIVE), C(TCP_KEEPIDLE),
        C(TCP_KEEPINTVL), C(TCP_KEEPCNT), C(TCP_USER_TIMEOUT)) as C(settings), read from the live
        socket with C(pidfd_getfd) (Linux 5.6 or later, root), as M(linuxnet.keepalive.keepalive_sockets)
        does with O(linuxnet.keepalive.keepalive_sockets#module:inspect=true). Needs O(owners=true).
      - Unlike the timer, this shows C(SO_KEEPALIVE) itself, also on listening sockets and on
        connections whose keep-alive timer is hidden by another one.
    type: bool
    default: false
  namespaces:
    description:
      - V(self) reads the network namespace the module runs in. V(all) reads every network namespace on
        the host (those of every process, and named ones in C(/run/netns) and the container runtimes'
        folders), each from inside it, with its own kernel defaults; containers' connections are then
        seen from the host. Needs root.
      - Namespaces are found from every thread of every process (a thread can have a namespace of its
        own) and from the named folders. Each is entered through a path checked to lead to that very
        namespace. A namespace that goes away while it is read is skipped and counted; one that cannot be
        entered, or that is another one by the time it is entered, is named in a warning and counted in
        RV(not_read).
      - Every socket descriptor of every process whose inode no namespace read lists is looked at, and a TCP
        connection among them (a namespace no process is in, kept alive by a socket passed to another
        process) is counted in RV(not_read) and named in a warning.
    type: str
    version_added: 0.2.0
    choices: [self, all]
    default: self
  source:
    description:
      - Where the socket table is read from. V(auto) uses netlink sock_diag when the kernel offers it
        and falls back to C(/proc/net/tcp*). Both give the same results.
    type: str
    choices: [auto, netlink, proc]
    default: auto
extends_documentation_fragment:
  - linuxnet.keepalive.connections
  - linuxnet.keepalive.attributes
  - linuxnet.keepalive.attributes.read_only
attributes:
  facts:
    support: full
    description: Everything is returned under C(ansible_facts.keepalive).
  platform:
    description: Linux only; reads the network namespace the module runs in, or with O(namespaces=all) every one on the host.
notes:
  - O(processes), O(units) and O(inspect) need O(owners=true).
  - A container has its own network namespace. Run the module inside it, or on the host with O(namespaces=all), which
    reads every container's connections from the host.
  - The kernel shows one pending timer per socket. An established socket with a retransmission
    or zero-window probe pending hides its keep-alive timer; such connections are C(unknown).
  - While a keep-alive timer's handler runs (once per probe interval on an idle connection, for
    microseconds), the kernel shows no pending timer, so such a socket can rarely be read as
    C(disabled). O(inspect=true) reads C(SO_KEEPALIVE) itself from the live socket.
  - A connection whose listening socket has been closed since it was accepted is reported as C(outbound).
seealso:
  - name: TCP keep-alive HOWTO
    description: How keep-alive works on Linux and which socket options control it.
    link: https://tldp.org/HOWTO/TCP-Keepalive-HOWTO/
'''

EXAMPLES = r'''
- name: Gather keep-alive facts for every connection
  linuxnet.keepalive.keepalive_facts:

- name: Only established outbound connections that run without keep-alive
  linuxnet.keepalive.keepalive_facts:
    only_missing: true
    directions: [outbound]
    states: [established]

- name: Show which processes hold connections without keep-alive
  ansible.builtin.debug:
    msg: "{{ ansible_facts.keepalive.summary.culprits }}"

- name: Count only, without looking up owners (the cheapest call on a busy host)
  linuxnet.keepalive.keepalive_facts:
    owners: false
    limit: 0

- name: Read SO_KEEPALIVE and the timing options from the live sockets of one process
  linuxnet.keepalive.keepalive_facts:
    processes: [java]
    inspect: true

- name: Connections of one service to its database
  linuxnet.keepalive.keepalive_facts:
    processes: [java]
    ports: [5432]

# Ad hoc, across an inventory:
#   ansible all -m linuxnet.keepalive.keepalive_facts -a only_missing=true
'''

RETURN = r'''
ansible_facts:
  description: Facts added under C(keepalive).
  returned: always
  type: complex
  contains:
    keepalive:
      description: The keep-alive state of the host's TCP sockets.
      returned: always
      type: complex
      contains:
        source:
          description: Where the socket table was read from.
          returned: always
          type: str
          sample: netlink
        defaults:
          description: The kernel's keep-alive defaults in this network namespace
            (C(net.ipv4.tcp_keepalive_time), C(_intvl), C(_probes)). They apply only to sockets
            that set C(SO_KEEPALIVE) without their own values.
          returned: always
          type: dict
          sample: {"time": 7200, "intvl": 75, "probes": 9}
          contains:
            time:
              description: Seconds of idleness before the first probe.
              type: int
              returned: always
            intvl:
              description: Seconds between probes.
              type: int
              returned: always
            probes:
              description: Unanswered probes before the connection is dropped.
              type: int
              returned: always
        connections:
          description: The connections that passed the filters, at most O(limit) of them.
          returned: always
          type: list
          elements: dict
          contains:
            family:
              description: C(inet) (IPv4) or C(inet6) (IPv6, including IPv4-mapped addresses).
              type: str
              returned: always
              sample: inet
            state:
              description: TCP state, as the kernel names it, in lower case.
              type: str
              returned: always
              sample: established
            local_address:
              description: Local address in its usual text form.
              type: str
              returned: always
              sample: 10.0.0.5
            local_port:
              description: Local port.
              type: int
              returned: always
              sample: 43512
            remote_address:
              description: Remote address in its usual text form (C(::ffff:10.0.0.9) when IPv4-mapped).
              type: str
              returned: always
              sample: 10.0.0.9
            remote_port:
              description: Remote port.
              type: int
              returned: always
              sample: 5432
            direction:
              description: C(inbound) (accepted from a local listener), C(outbound) (opened by this host)
                or C(listen).
              type: str
              returned: always
              sample: outbound
            timer:
              description: The pending timer, named as C(ss -o) names it.
              type: str
              returned: always
              choices: ['off', 'on', keepalive, timewait, persist]
              sample: keepalive
            timer_expires:
              description: Whole seconds until the timer fires (0 without a timer).
              type: int
              returned: always
              sample: 7183
            retrans:
              description: Probes sent (keepalive and persist timers) or retransmissions (on timer),
                the third field of C(ss -o)'s timer.
              type: int
              returned: always
              sample: 0
            uid:
              description: The socket's owner uid.
              type: int
              returned: always
              sample: 0
            inode:
              description: The socket's inode (0 for sockets without one, such as TIME_WAIT).
              type: int
              returned: always
              sample: 48213
            keepalive:
              description: The verdict.
              type: str
              returned: always
              choices: [enabled, disabled, unknown, not_applicable]
              sample: disabled
            reason:
              description:
                - Why, as a short code; C(reasons) gives each code's sentence once.
                - C(enabled) (the program set C(SO_KEEPALIVE)), C(inherited) (an accepted connection, which
                  inherited it from its listener), C(disabled) (never set), C(not_inherited) (an accepted
                  connection whose listener never set it), C(retransmit) or C(persist) (another pending timer
                  hides the answer), C(other_timer), C(listen), C(time_wait), C(handshake), C(closing).
              type: str
              returned: always
              sample: disabled
            pids:
              description: The processes holding the socket (several after fork()).
              type: list
              elements: int
              returned: when O(owners=true)
              sample: [1234]
            process:
              description: The first holder's process name, or null when none was found.
              type: str
              returned: when O(owners=true)
              sample: python3
            unit:
              description: The first holder's systemd unit, or null.
              type: str
              returned: when O(owners=true)
              sample: app.service
            netns:
              description: The inode of the network namespace the connection lives in (as in C(/proc/PID/ns/net)).
              type: int
              returned: always
              sample: 4026531840
            container:
              description:
                - The container of the process holding the connection (else of the namespace), from its cgroup
                  path, or null. C(runtime) is C(podman), C(docker), C(containerd), C(cri-o) or C(kubernetes);
                  C(id) the container's id; C(pod_uid) the Kubernetes pod's uid, or null.
              type: dict
              returned: always
              sample: {"runtime": "podman", "id": "3f2a9c51d0e4", "pod_uid": null}
            settings:
              description: The socket's effective settings, or null when it could not be read (see C(settings_error)).
              type: dict
              returned: when O(inspect=true)
              sample: {"keepalive": 1, "idle": 60, "interval": 15, "count": 4, "user_timeout": 0}
            settings_error:
              description: Why the settings could not be read.
              type: str
              returned: when O(inspect=true) and the settings could not be read
        namespaces:
          description: With O(namespaces=all), one entry per network namespace read.
          returned: when O(namespaces=all)
          type: list
          elements: dict
          contains:
            netns:
              description: The namespace's inode.
              type: int
              returned: always
            container:
              description: The container of the namespace's sample process, or null.
              type: dict
              returned: always
            pid:
              description: A process in the namespace (null for a named namespace with no process).
              type: int
              returned: always
            path:
              description: The path it was entered through.
              type: str
              returned: always
            defaults:
              description: The namespace's own kernel keep-alive defaults (a new namespace starts at 7200, 75, 9).
              type: dict
              returned: always
              sample: {"time": 7200, "intvl": 75, "probes": 9}
            total:
              description: Sockets in the namespace.
              type: int
              returned: always
            by_verdict:
              description: Its sockets by verdict.
              type: dict
              returned: always
            outbound_without_keepalive:
              description: Its outbound connections without keep-alive.
              type: int
              returned: always
        reasons:
          description: The sentence of each C(reason) code found in C(connections), once.
          returned: always
          type: dict
          sample: {"disabled": "no keep-alive timer: the program never set SO_KEEPALIVE on this socket; ..."}
        summary:
          description: Counts over every socket read, whatever the filters and O(limit).
          returned: always
          type: dict
          contains:
            total:
              description: Sockets read.
              type: int
              returned: always
            by_direction:
              description: Sockets by direction (C(inbound), C(outbound), C(listen)).
              type: dict
              returned: always
              sample: {"inbound": 12, "outbound": 40, "listen": 5}
            by_verdict:
              description: Sockets by verdict.
              type: dict
              returned: always
              sample: {"enabled": 12, "disabled": 38, "unknown": 2, "not_applicable": 5}
            by_direction_verdict:
              description: Sockets by direction, then verdict.
              type: dict
              returned: always
            by_state:
              description: Sockets by TCP state.
              type: dict
              returned: always
              sample: {"established": 50, "listen": 5, "time_wait": 2}
            outbound_without_keepalive:
              description: Outbound connections whose keep-alive is C(disabled).
              type: int
              returned: always
            matched:
              description: Sockets that passed the filters.
              type: int
              returned: always
            returned:
              description: Connections returned in C(connections).
              type: int
              returned: always
            left_out:
              description: Matching connections not returned because of O(limit).
              type: int
              returned: always
            culprits:
              description:
                - Processes holding established outbound connections without keep-alive,
                  grouped by process name and unit, most connections first. Empty when O(owners=false).
                - C(unit) is the first service or scope in the process's cgroup path; below it, a unit's own
                  groups (a user's C(user@UID.service), a container's scope) are named by whoever runs there,
                  so they are not taken for units. C(slices) are the slices the unit is in.
              type: list
              elements: dict
              returned: always
              sample: [{"process": "python3", "unit": "app.service", "slices": ["system.slice"], "pids": [812],
                        "connections": 30}]
            culprits_without_owner:
              description: Such connections whose process was not found (exited, or not visible).
              type: int
              returned: always
msg:
  description:
    - The essentials for a person, in a line or two - sockets, established outbound connections without
      keep-alive, the processes holding most of them, and the kernel defaults.
  returned: always
  type: str
  sample: "1002 TCP sockets, 750 established outbound without keep-alive (python3 (app.service) 700, curl 50);
    kernel defaults time 7200 s, intvl 75 s, probes 9 (used only by sockets that set SO_KEEPALIVE)"
lines_skipped:
  description: Lines of C(/proc/net/tcp*) that could not be decoded and were skipped.
  returned: always
  type: int
  sample: 0
processes_unreadable:
  description: Processes whose open files could not be read (another user's, without root); their sockets show no owner.
  returned: when O(owners=true)
  type: int
  sample: 0
processes_vanished:
  description: Processes that exited while their open files were being read.
  returned: when O(owners=true)
  type: int
  sample: 0
namespaces_vanished:
  description: Network namespaces that went away while they were being read (skipped).
  returned: when O(namespaces=all)
  type: int
  sample: 0
not_read:
  description:
    - With O(namespaces=all), what could not be examined, each named in a warning.
  returned: when O(namespaces=all)
  type: dict
  version_added: 0.2.0
  contains:
    namespaces:
      description: Network namespaces that could not be entered, or that were another one when entered.
      type: int
      returned: always
      sample: 0
    connections:
      description:
        - TCP connections that processes hold in network namespaces that were not read, such as a namespace
          that no process is in any more but whose sockets were passed to another process.
        - Found from every socket descriptor in C(/proc/*/fd) whose inode no namespace read lists.
      type: int
      returned: always
      sample: 0
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._gather import GatherError, read_defaults
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._keepalive_verdict import REASONS
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._presentation import summary_line
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import snapshot
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._tcp_record import STATE_CODES


def main():
    module = AnsibleModule(
        argument_spec=dict(
            states=dict(type='list', elements='str', choices=sorted(s for s in STATE_CODES if s != 'new_syn_recv')),
            directions=dict(type='list', elements='str', choices=['inbound', 'outbound', 'listen'],
                            aliases=['direction']),
            ports=dict(type='list', elements='int'),
            remote_ports=dict(type='list', elements='int'),
            processes=dict(type='list', elements='str', aliases=['process']),
            units=dict(type='list', elements='str', aliases=['unit']),
            only_missing=dict(type='bool', default=False),
            limit=dict(type='int', default=100),
            owners=dict(type='bool', default=True),
            inspect=dict(type='bool', default=False),
            source=dict(type='str', default='auto', choices=['auto', 'netlink', 'proc']),
            namespaces=dict(type='str', default='self', choices=['self', 'all']),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['limit'] < 0:
        module.fail_json(msg='limit must be 0 or more (0 returns the summary only), not %d' % params['limit'])
    for option in ('ports', 'remote_ports'):
        bad_ports = [p for p in params[option] or [] if not 1 <= p <= 65535]
        if bad_ports:
            module.fail_json(msg='%s must be from 1 to 65535; not allowed: %s' % (option, ', '.join(map(str, bad_ports))))
    try:
        found = snapshot(params['source'], owners=params['owners'], inspect=params['inspect'],
                         namespaces=params['namespaces'],
                         states=params['states'], directions=params['directions'], ports=params['ports'],
                         remote_ports=params['remote_ports'], processes=params['processes'], units=params['units'],
                         only_missing=params['only_missing'], limit=params['limit'])
        defaults = read_defaults()
    except GatherError as exc:
        module.fail_json(msg=str(exc))
    owners, reader = found.owners, found.reader
    if found.summary is None:
        module.fail_json(msg='namespaces=all: no network namespace could be read (root is needed, with CAP_SYS_ADMIN '
                             'to enter them): %s' % '; '.join(found.refused + found.changed))
    for warning in found.not_read_warnings():
        module.warn(warning)

    skipped = 0
    if reader is not None:
        skipped = reader.malformed
        if skipped:
            module.warn('skipped %d line(s) of /proc/net/tcp* that could not be decoded, e.g. %s'
                        % (skipped, '; '.join(reader.malformed_samples)))
    if owners is not None and owners.unreadable:
        module.warn('could not read the open files of %d process(es) (root is needed for other users\' '
                    'processes): their sockets show no owner' % owners.unreadable)

    if found.summary['left_out'] and params['limit'] > 0:  # limit=0 asks for the summary alone
        module.warn('%d matching connections were left out of the list by limit=%d (%d listed; the summary counts them '
                    'all): raise limit, or narrow the selection with only_missing, states, directions, ports, processes or units'
                    % (found.summary['left_out'], params['limit'], found.summary['returned']))

    counts = {}
    if owners is not None:
        counts = {'processes_unreadable': owners.unreadable, 'processes_vanished': owners.vanished}
    facts = {
        'source': found.source,
        'defaults': defaults,
        'connections': found.connections,
        'reasons': dict((c['reason'], REASONS[c['reason']]) for c in found.connections),
        'summary': found.summary,
    }
    if params['namespaces'] == 'all':
        facts['namespaces'] = found.namespaces
        counts['namespaces_vanished'] = found.vanished
        counts['not_read'] = found.not_read()
    module.exit_json(
        changed=False,
        msg=summary_line(facts),
        lines_skipped=skipped,
        ansible_facts={'keepalive': facts},
        **counts
    )


if __name__ == '__main__':
    main()
