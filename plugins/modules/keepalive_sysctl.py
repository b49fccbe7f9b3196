#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keepalive_sysctl
short_description: Set the kernel's TCP keep-alive defaults, live and persistently, and find boot-time overrides
version_added: 0.1.0
description:
  - Sets C(net.ipv4.tcp_keepalive_time), C(net.ipv4.tcp_keepalive_intvl) and
    C(net.ipv4.tcp_keepalive_probes) in the running kernel and writes exactly those keys to one
    file in C(/etc/sysctl.d), so that they are applied again at boot.
  - Finds every configuration file that would be applied after ours at boot and that sets one of
    these keys to another value, so that our value would not be the one in force after a reboot.
  - These values are only defaults for sockets that set C(SO_KEEPALIVE) without their own
    C(TCP_KEEPIDLE), C(TCP_KEEPINTVL), C(TCP_KEEPCNT). They never turn keep-alive on for a socket.
    Use M(linuxnet.keepalive.keepalive_facts) to find connections whose program never set it.
  - The values are per network namespace. Setting them on a host does not change its containers.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  time:
    description:
      - Seconds a connection is idle before the first probe (C(net.ipv4.tcp_keepalive_time)).
      - An integer from 1 to 32767, the range a socket's own C(TCP_KEEPIDLE) may take.
    type: int
  intvl:
    description:
      - Seconds between probes (C(net.ipv4.tcp_keepalive_intvl)). An integer from 1 to 32767.
    type: int
  probes:
    description:
      - Unanswered probes before the connection is dropped (C(net.ipv4.tcp_keepalive_probes)).
        An integer from 1 to 127.
    type: int
  apply:
    description:
      - Set the values in the running kernel.
      - Needs a writable C(/proc/sys); in an unprivileged container use V(false) to write the file only.
    type: bool
    default: true
  persist:
    description:
      - Write the values to O(path), so that they are applied at boot.
    type: bool
    default: true
  path:
    description:
      - The file this module owns. It must be a C(.conf) file directly in one of the directories
        read at boot (C(/etc/sysctl.d), C(/run/sysctl.d), C(/usr/local/lib/sysctl.d),
        C(/usr/lib/sysctl.d), C(/lib/sysctl.d)).
      - An existing file that this module did not write is never overwritten or removed, and a
        path that is a folder, a link or a hidden file (a name starting with C(.), never read at
        boot) is refused.
      - Keys an earlier run wrote to this file and not given now are kept, so that a reboot does
        not change them silently. To drop one, remove the file with O(state=absent) first.
    type: path
    default: /etc/sysctl.d/60-keepalive.conf
  on_conflict:
    description:
      - What to do when another file would override our values at boot.
      - V(warn) reports them as a warning and in RV(conflicts); V(fail) fails before anything is
        changed; V(ignore) only returns them.
    type: str
    choices: [warn, fail, ignore]
    default: warn
  netns:
    description:
      - Set the values in another network namespace, a running container's for example, given as a process
        id in it or a name in C(/run/netns). The keep-alive sysctls are per network namespace, so a
        container does not follow its host.
      - Needs O(persist=false) (nothing can be persisted for a container from the host) and O(state=present).
        To make a container's values stick, give them to its runtime - C(podman run --sysctl
        net.ipv4.tcp_keepalive_time=120), the same for Docker, or a Kubernetes pod's C(securityContext.sysctls),
        where C(net.ipv4.tcp_keepalive_*) are namespaced, safe sysctls.
    type: str
    version_added: 0.2.0
  state:
    description:
      - V(present) sets the values. At least one of O(time), O(intvl), O(probes) is required.
      - V(absent) removes O(path) and, with O(apply), sets the running values to what the
        remaining configuration gives at boot (the kernel's 7200, 75 and 9 where nothing sets them).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Reports what would change, including conflicts, without changing anything.
  diff_mode:
    support: full
    description: Shows the running values and the file before and after.
extends_documentation_fragment:
  - linuxnet.keepalive.attributes
notes:
  - Every value is validated before anything is changed; the file is written atomically, root-owned, mode 0644.
  - The boot order is procps C(sysctl --system)'s. C(*.conf) files of all the directories above, a name in
    an earlier directory masking the same name in a later one, in lexical order of their names, then
    C(/etc/sysctl.conf). systemd-sysctl, which applies them at boot on systemd hosts, reads only the
    C(.d) folders, in the same order; Debian links C(/etc/sysctl.d/99-sysctl.conf) to C(/etc/sysctl.conf),
    so both read it. The last assignment of a key wins. A file reached
    twice through a link (Debian's C(99-sysctl.conf)) is reported once, and values are compared as
    numbers (C(0120) is C(120)).
seealso:
  - module: linuxnet.keepalive.keepalive_facts
  - name: sysctl.d(5)
    description: Configuration files and the order in which they are read at boot.
    link: https://www.freedesktop.org/software/systemd/man/latest/sysctl.d.html
'''

EXAMPLES = r'''
- name: Probe idle connections after 2 minutes, every 30 s, give up after 4 probes
  linuxnet.keepalive.keepalive_sysctl:
    time: 120
    intvl: 30
    probes: 4

- name: Refuse to go on when another file would undo the setting at boot
  linuxnet.keepalive.keepalive_sysctl:
    time: 120
    on_conflict: fail

- name: In an unprivileged container, where /proc/sys is read-only, only write the file
  linuxnet.keepalive.keepalive_sysctl:
    time: 120
    apply: false

- name: A running container's own values (its network namespace), through one of its processes
  linuxnet.keepalive.keepalive_sysctl:
    time: 120
    netns: "{{ container_pid }}"
    persist: false

- name: Remove the file and go back to what the rest of the configuration sets
  linuxnet.keepalive.keepalive_sysctl:
    state: absent
'''

RETURN = r'''
msg:
  description: What was done (or would be, in check mode), in one line.
  returned: always
  type: str
  version_added: 0.2.0
  sample: "keep-alive defaults set: time 120, intvl 30, probes 4; /etc/sysctl.d/60-keepalive.conf written"
before:
  description: The running kernel's values before the module ran.
  returned: always
  type: dict
  sample: {"time": 7200, "intvl": 75, "probes": 9}
after:
  description: The running kernel's values after the module ran (in check mode, what they would be).
  returned: always
  type: dict
  sample: {"time": 120, "intvl": 30, "probes": 4}
netns:
  description: The network namespace the values were set in, as given (null for the module's own).
  returned: always
  type: str
  sample: "4242"
path:
  description: The file this module owns.
  returned: always
  type: str
  sample: /etc/sysctl.d/60-keepalive.conf
conflicts:
  description:
    - Files applied after ours at boot that set one of our keys to another value (empty when
      O(persist=false) or O(state=absent)).
    - C(masks) is true when the file has our file's name in an earlier directory, so ours is never read.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/sysctl.d/99-tuning.conf", "key": "net.ipv4.tcp_keepalive_time", "value": "7200", "masks": false}]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.linuxnet.keepalive.plugins.module_utils._owned_files import write_atomic
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import PROC_SYS
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._netns import NamespaceError, entered
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sysctl._sysctl_config import (
    CONFIG_DIRS, SYSCTL_CONF, SysctlConfigError, by_option, validate,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sysctl._sysctl_plan import SysctlPlan, describe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            time=dict(type='int'),
            intvl=dict(type='int'),
            probes=dict(type='int'),
            apply=dict(type='bool', default=True),
            persist=dict(type='bool', default=True),
            path=dict(type='path', default='/etc/sysctl.d/60-keepalive.conf'),
            on_conflict=dict(type='str', default='warn', choices=['warn', 'fail', 'ignore']),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            netns=dict(type='str'),
        ),
        required_if=[('state', 'present', ('time', 'intvl', 'probes'), True)],
        supports_check_mode=True,
    )
    netns = module.params['netns']
    if not netns:
        return run(module)
    if module.params['persist'] or module.params['state'] != 'present':
        module.fail_json(msg='netns=%s sets a running network namespace\'s values only: use it with persist: false and '
                             'state: present. A container keeps its values through its runtime (podman or docker run '
                             '--sysctl, Kubernetes securityContext.sysctls)' % netns)
    if netns.isdigit():
        where = '/proc/%s/ns/net' % netns
    elif '/' not in netns and netns not in ('.', '..'):
        where = '/run/netns/%s' % netns
    else:
        module.fail_json(msg='netns must be a process id or a name in /run/netns, not %r' % netns)
    try:
        with entered(where):
            return run(module)
    except NamespaceError as exc:
        module.fail_json(msg='cannot enter the network namespace of netns=%s: %s' % (netns, exc))


def run(module):
    params = module.params
    try:
        plan = SysctlPlan(params['state'], validate(params), params['path'], apply=params['apply'],
                          persist=params['persist'], on_conflict=params['on_conflict'], proc_sys=PROC_SYS,
                          dirs=CONFIG_DIRS, sysctl_conf=SYSCTL_CONF).make()
    except SysctlConfigError as exc:
        module.fail_json(msg=str(exc))
    changed = plan.changed
    path = plan.path
    if not module.check_mode:
        try:
            plan.apply(lambda target, text: write_atomic(module, target, text))
        except (IOError, OSError) as exc:
            module.fail_json(msg='could not apply the keep-alive settings: %s' % to_native(exc))
        if params['state'] == 'present' and params['persist']:
            changed = module.set_owner_if_different(path, 'root', changed)
            changed = module.set_group_if_different(path, 'root', changed)
            changed = module.set_mode_if_different(path, '0644', changed)
    elif params['state'] == 'present' and params['persist'] and plan.current is not None:
        stat = os.stat(path)
        changed = changed or (stat.st_mode & 0o7777) != 0o644 or stat.st_uid != 0 or stat.st_gid != 0
    if plan.conflicts and params['on_conflict'] == 'warn':
        module.warn('other files would override these values at boot: %s' % describe(plan.conflicts))
    result = dict(changed=changed, msg=plan.summary(module.check_mode), before=by_option(plan.before),
                  after=by_option(plan.target), path=path, conflicts=plan.conflicts, netns=params['netns'])
    if module._diff:
        result['diff'] = plan.diff()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
