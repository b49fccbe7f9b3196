#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keepalive_cgroup
short_description: Keep-alive from the kernel for every new TCP connection of a service, a container or the whole host
version_added: 0.2.0
description:
  - Attaches a BPF C(sock_ops) program to cgroup v2 groups. The kernel runs it for every TCP connection that a
    process of the group (or of a group below it) establishes or accepts, and it sets C(TCP_KEEPIDLE),
    C(TCP_KEEPINTVL), C(TCP_KEEPCNT), C(TCP_USER_TIMEOUT) when given, and C(SO_KEEPALIVE) on it.
  - It reaches what a preload shim cannot - static binaries, Go programs that make raw system calls, setuid
    programs, and containers - with no restart, no compiler and no change to C(/etc/ld.so.preload).
  - The program is assembled by the module itself and loaded with the C(bpf) system call. No clang, bpftool
    or libbpf is needed on the target. Before it first loads one, the module proves on the running kernel that
    C(bpf_setsockopt) accepts every option with these values, so a kernel that cannot do it (before Linux 5.9,
    unless its distribution backported the change) fails clearly and gets nothing attached.
  - Programs are attached with C(BPF_F_ALLOW_MULTI), so the programs of systemd, Cilium or anyone else on the
    same groups, above or below them, keep running, and groups below inherit ours. One program is pinned per
    group, under C(/sys/fs/bpf/keepalive) (the BPF file system is mounted there when it is missing). A program
    is ours only when it is pinned there and named C(lnx_keepalive); no other program is ever detached.
  - New values replace a group's program in place (C(BPF_F_REPLACE)), so no connection is established in
    between without one.
  - With O(persist=true), a unit C(keepalive-cgroup.service) loads and pins the programs again at boot, before
    other units start, by running the collection's own code installed at
    C(/usr/local/lib/keepalive/keepalive_sock_ops.py) with the targets in C(/etc/keepalive-cgroup.json); each
    unit of O(units) gets a drop-in, so that the pinned program is attached to the unit's new group whenever
    the unit starts.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  cgroups:
    description:
      - cgroup v2 groups, by path from the root of the cgroup2 hierarchy as systemd's C(ControlGroup) property
        shows them - C(/system.slice/app.service), C(/machine.slice) (every container under it), or C(/) for
        every process on the host.
      - A group must exist. With O(persist=true), a group is attached again at boot if it exists then (C(/) and
        slices do); a service's group is made anew at every start, so give services as O(units).
    type: list
    elements: str
    aliases: [cgroup]
  units:
    description:
      - systemd units, each resolved to its cgroup (a name without a type is a service). A unit must be running,
        and systemd must keep its groups in the cgroup2 hierarchy; otherwise the module fails, saying which.
      - With O(persist=true), the unit also gets a drop-in C(50-keepalive-cgroup.conf) with C(BPFProgram=sock_ops:PIN),
        with which systemd attaches the pinned program to the unit's new group at every start (on a cgroup2-only
        hierarchy, as on a stock Debian 12 or 13), and, for a service, an C(ExecStartPre=-+) that attaches it where
        systemd does not - in hybrid mode, and after an automatic restart under systemd 252. Its failure never stops
        the unit.
    type: list
    elements: str
    aliases: [unit]
  state:
    description:
      - V(present) attaches the program to every target; at least one of O(cgroups) or O(units) is required.
      - V(absent) detaches and unpins the program of the targets given, and removes them from what is persisted;
        with no target given, everything the module made - programs, pins, drop-ins, the boot unit, its code and
        configuration. Programs that are not ours stay.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Keep the targets across reboots and unit restarts (the boot unit, its configuration and the units' drop-ins).
      - With V(false), the programs are attached now only; what was persisted before is left as it is.
    type: bool
    default: true
  exclusive:
    description: With O(state=present), also remove our program from every group not given now.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads what is attached and persisted and reports what would change; loads, attaches and writes nothing.
  diff_mode:
    support: full
    description: Shows each group's values and each file before and after.
  platform:
    description:
      - Linux 5.9 or later (or a kernel with the change backported), cgroup v2 (a cgroup2-only or hybrid hierarchy),
        root. O(units) and O(persist=true) need systemd.
      - x86_64, aarch64, riscv64, ppc64, ppc64le, s390x, 32-bit ARM and x86 (the program is built in the machine's
        byte order); it is tested on x86_64, and the self-test proves it on any machine before it is attached.
extends_documentation_fragment:
  - linuxnet.keepalive.socket_values
  - linuxnet.keepalive.attributes
notes:
  - The program acts on connections established after it is attached. Connections that are open already keep
    what they have; M(linuxnet.keepalive.keepalive_sockets) changes those.
  - It sets its options when the connection is established, so it replaces what a program set before
    C(connect) or on its listening socket (its own C(SO_KEEPALIVE) off, or its own C(TCP_KEEPIDLE)); a program's
    own C(setsockopt) after that wins.
  - Every option is validated, and every unit resolved, before anything changes; files are written atomically,
    root-owned, and never over a file the module did not write.
  - In a container that shares the host's cgroup namespace, C(/) is the host's root group; a container with its
    own cgroup namespace (C(--cgroupns=private)) sees its own group as C(/).
seealso:
  - module: linuxnet.keepalive.keepalive_sockets
  - module: linuxnet.keepalive.keepalive_facts
  - name: systemd.resource-control(5), BPFProgram=
    description: How systemd attaches a pinned program to a unit's cgroup.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html
'''

EXAMPLES = r'''
- name: Keep-alive for every new TCP connection of two services, across restarts and reboots
  linuxnet.keepalive.keepalive_cgroup:
    units: [legacy-app.service, billing]
    idle: 60
    interval: 15
    count: 4

- name: Keep-alive for every process on the host, containers included
  linuxnet.keepalive.keepalive_cgroup:
    cgroups: [/]
    idle: 120
    user_timeout: 240000

- name: Every container that systemd runs under machine.slice, live only
  linuxnet.keepalive.keepalive_cgroup:
    cgroups: [/machine.slice]
    persist: false

- name: Exactly these targets; remove ours from any other group
  linuxnet.keepalive.keepalive_cgroup:
    units: [legacy-app.service]
    exclusive: true

- name: Remove everything the module made
  linuxnet.keepalive.keepalive_cgroup:
    state: absent
'''

RETURN = r'''
msg:
  description: One line for a person - what is attached where, and what changed.
  returned: always
  type: str
  sample: "keep-alive for new TCP connections of 1 group(s): /system.slice/app.service (app.service) added, idle 60s, interval 15s, count 4; 4 file(s) changed"
targets:
  description: One entry per group the run acted on.
  returned: always
  type: list
  elements: dict
  contains:
    cgroup:
      description: The group's path from the cgroup2 root.
      type: str
      returned: always
    unit:
      description: The systemd unit it was given as, or null.
      type: str
      returned: always
    action:
      description: V(added), V(replaced) (new values, swapped in place), V(removed) or V(unchanged) (or would be, in check mode).
      type: str
      returned: always
    before:
      description: The values the group's program had (null when it had none; C(unknown) when they cannot be read).
      type: raw
      returned: always
      sample: {"idle": 120, "interval": 30, "count": 4, "user_timeout": null}
    after:
      description: The values it has now (null once removed).
      type: dict
      returned: always
      sample: {"idle": 60, "interval": 15, "count": 4, "user_timeout": null}
    others:
      description: The other sock_ops programs attached to the group itself (id and name); they are left alone.
      type: list
      elements: dict
      returned: always
attached:
  description: Every group that has our program after the run (in check mode, what would).
  returned: always
  type: list
  elements: dict
  contains:
    cgroup:
      description: The group's path from the cgroup2 root.
      type: str
      returned: always
    unit:
      description: The unit it was given as, or null.
      type: str
      returned: always
    program_id:
      description: The kernel's id of the program (C(bpftool prog show id ID)); null in check mode for a new one.
      type: int
      returned: always
    pin:
      description: Where the program is pinned.
      type: str
      returned: always
      sample: /sys/fs/bpf/keepalive/cg-system_dslice-app_dservice
    attached:
      description: Whether the program is attached to the group now (false for a unit that is not running).
      type: bool
      returned: always
    idle:
      description: C(TCP_KEEPIDLE) the program sets.
      type: int
      returned: always
    interval:
      description: C(TCP_KEEPINTVL) the program sets.
      type: int
      returned: always
    count:
      description: C(TCP_KEEPCNT) the program sets.
      type: int
      returned: always
    user_timeout:
      description: C(TCP_USER_TIMEOUT) the program sets, or null.
      type: int
      returned: always
files:
  description: The files written (V(written)) or removed (V(removed)), or that would be in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/keepalive-cgroup.json", "action": "written"}]
'''

import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup._cgroup_plan import (
    CgroupError, Plan, System,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils._owned_files import write_atomic
from ansible_collections.linuxnet.keepalive.plugins.module_utils._plans import carry_out, socket_values
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import ModuleSystemctl
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import (
    socket_value_options, values_text,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.cgroup._sock_ops import BpfError, describe_values

CODE_DIFF = '(the collection\'s sock_ops code, %d lines)\n'


class ModuleSystem(ModuleSystemctl, System):

    def write(self, path, content, mode=0o644):
        write_atomic(self.module, path, content, mode)


def summary(plan, check_mode):
    shown = [r for r in plan.rows if r['action'] != 'unchanged'] or plan.rows
    parts = []
    for row in shown:
        name = row['cgroup'] + (' (%s)' % row['unit'] if row['unit'] else '')
        action = row['action'] if not check_mode or row['action'] == 'unchanged' else 'would be ' + row['action']
        parts.append('%s %s%s' % (name, action, ', ' + describe_values(row['after']) if row['after'] else ''))
    if not parts:
        return 'no group has our sock_ops program; nothing to change'
    text = 'keep-alive for new TCP connections of %d group(s): %s' % (len(shown), '; '.join(parts))
    if plan.files:
        text += '; %d file(s) %s' % (len(plan.files), 'would change' if check_mode else 'changed')
    return text


def diff(plan):
    found = []
    for row in plan.rows:
        before = row['before'] if isinstance(row['before'], dict) else None
        found.append(dict(before_header='cgroup %s' % row['cgroup'], after_header='cgroup %s' % row['cgroup'],
                          before=values_text(before) if before else ('unknown values\n' if row['before'] else ''),
                          after=values_text(row['after'])))
    for change in plan.files:
        texts = [change['before'], change['after']]
        if change['path'].endswith('.py'):
            texts = [CODE_DIFF % t.count('\n') if t else '' for t in texts]
        found.append(dict(before_header=change['path'], after_header=change['path'],
                          before=texts[0] or '', after=texts[1] or ''))
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket_value_options(),
            cgroups=dict(type='list', elements='str', aliases=['cgroup']),
            units=dict(type='list', elements='str', aliases=['unit']),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            persist=dict(type='bool', default=True),
            exclusive=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['state'] == 'present' and not (params['cgroups'] or params['units']):
        module.fail_json(msg='state=present needs at least one target: cgroups (such as /system.slice/app.service, or / '
                             'for every process) or units. Nothing was changed.')
    values = socket_values(module)

    def make():
        return Plan(ModuleSystem(module), params['state'], values, cgroups=params['cgroups'], units=params['units'],
                    persist=params['persist'], exclusive=params['exclusive'], python=sys.executable).make()

    plan, attached = carry_out(module, 'keepalive_cgroup', make, (CgroupError, BpfError),
                               then=lambda plan: plan.predicted() if module.check_mode else plan.attached())

    result = dict(
        changed=plan.changed,
        msg=summary(plan, module.check_mode),
        targets=[dict((k, r[k]) for k in ('cgroup', 'unit', 'action', 'before', 'after', 'others')) for r in plan.rows],
        attached=attached,
        files=[dict(path=f['path'], action='removed' if f['after'] is None else 'written') for f in plan.files],
    )
    if module._diff:
        result['diff'] = diff(plan)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
