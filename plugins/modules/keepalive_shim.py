#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keepalive_shim
short_description: Keep-alive for programs that never ask for it - a preload shim, built on the target
version_added: 0.2.0
description:
  - Builds the collection's preload shim on the target with the system C compiler, tries it in a program, and
    installs it at O(library). Preloaded into a program, the shim wraps C(socket) and turns C(SO_KEEPALIVE) on
    for its TCP sockets, with C(TCP_KEEPIDLE), C(TCP_KEEPINTVL), C(TCP_KEEPCNT) and C(TCP_USER_TIMEOUT) from
    C(/etc/keepalive-shim.conf) (a program's own environment wins).
  - Each service of O(units) gets a drop-in C(50-keepalive-shim.conf) that sets C(LD_PRELOAD) to the libraries the
    unit preloads itself (read from systemd, C(systemctl show -p Environment)), with the shim last, and is
    restarted when its drop-in changes (O(restart)). With O(global=true) the shim is added to
    C(/etc/ld.so.preload), for every dynamically linked program, after a program ran with the installed library.
  - The shim's C source is one file in the collection (the role's C(files/keepalive_shim.c)); the module's action
    plugin reads it on the controller and passes it on, so the module works ad hoc too.
  - Before anything changes, the values, the units and the library's path are checked, and every folder above the
    library and above the build folder C(/usr/local/src/keepalive-shim) must be owned by root and writable by root
    alone (on the path as given and as resolved), since a user who could replace the library would run code as root in
    every program that preloads it. Missing folders above the library are made root-owned, 0755; existing ones are
    never changed.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  state:
    description:
      - V(present) builds (when its source changed or the library is missing), installs and preloads the shim.
      - V(absent) removes it from C(/etc/ld.so.preload) first, then every drop-in of the shim (restarting those
        units), the library, its build folder and its settings; the library's folder only if it is the default
        one and empty.
    type: str
    choices: [present, absent]
    default: present
  units:
    description:
      - Services that get the shim (a name without a type is a service). Drop-ins of the shim for other units are
        removed.
    type: list
    elements: str
    default: []
    aliases: [unit]
  global:
    description:
      - Preload the shim into every dynamically linked program through C(/etc/ld.so.preload), setuid ones included.
        The entry is added only after a program run with the installed library got keep-alive. V(false) removes the
        entry.
    type: bool
    default: false
  library:
    description:
      - Where the shim is installed - an absolute path to a C(.so) file of letters, digits and C(. _ + -), without
        C(.) or C(..) parts (it goes unquoted into C(LD_PRELOAD), C(/etc/ld.so.preload) and unit files).
    type: path
    default: /usr/local/lib/keepalive/libkeepalive_shim.so
  restart:
    description: Restart the units whose drop-in was written or removed, so that their new sockets get the shim.
    type: bool
    default: true
  _source:
    description:
      - The shim's C source. The module's action plugin passes the collection's own; it cannot be given.
    type: str
extends_documentation_fragment:
  - linuxnet.keepalive.socket_values
  - linuxnet.keepalive.attributes
attributes:
  check_mode:
    support: full
    description: Reads what is installed and reports what would change; builds, writes and restarts nothing.
  diff_mode:
    support: full
    description: Shows the settings, each drop-in and C(/etc/ld.so.preload) before and after.
  action:
    support: full
    description: An action plugin reads the shim's C source on the controller.
  platform:
    description: Linux with glibc, root; a C compiler and the C library headers (Debian's gcc and libc6-dev) to build.
      O(units) needs systemd.
notes:
  - The shim reaches dynamically linked programs that call the C library's C(socket); static binaries, Go programs
    that make raw system calls and setuid programs under a unit drop-in are out of its reach
    (M(linuxnet.keepalive.keepalive_cgroup) reaches them). A program's own C(setsockopt) after C(socket) wins.
  - Connections open before a unit restarts keep what they have; M(linuxnet.keepalive.keepalive_sockets) changes
    those.
  - A unit's own C(LD_PRELOAD) is read from systemd; once the drop-in is in place, systemd shows the drop-in's list,
    whose libraries before the shim are the unit's own. A unit's own C(LD_PRELOAD) changed later is hidden by the
    drop-in; take the unit out of O(units) and put it back to have it read again.
seealso:
  - module: linuxnet.keepalive.keepalive_cgroup
  - module: linuxnet.keepalive.keepalive_sockets
'''

EXAMPLES = r'''
- name: Keep-alive for the new connections of two services that never ask for it
  linuxnet.keepalive.keepalive_shim:
    units: [legacy-app.service, billing]
    idle: 60
    interval: 15
    count: 4

- name: For every dynamically linked program on the host
  linuxnet.keepalive.keepalive_shim:
    global: true

- name: Remove the shim, its drop-ins and its settings
  linuxnet.keepalive.keepalive_shim:
    state: absent

# Ad hoc, with a look first:
#   ansible app -b -m linuxnet.keepalive.keepalive_shim -a 'units=legacy.service' --check --diff
'''

RETURN = r'''
msg:
  description: What was done (or would be, in check mode), in one line.
  returned: always
  type: str
  sample: "shim built and installed at /usr/local/lib/keepalive/libkeepalive_shim.so; preloaded into legacy.service (restarted); 3 file(s) changed"
library:
  description: Where the shim is installed.
  returned: always
  type: str
  sample: /usr/local/lib/keepalive/libkeepalive_shim.so
built:
  description: Whether the shim was (or would be) built and installed by this run.
  returned: always
  type: bool
  sample: true
units:
  description: The units whose drop-in this run looked at.
  returned: always
  type: list
  elements: dict
  contains:
    unit:
      description: The unit, as systemd names it.
      type: str
      returned: always
      sample: legacy.service
    action:
      description: C(written), C(removed) or C(unchanged).
      type: str
      returned: always
      sample: written
    preload:
      description: The drop-in's quoted C(LD_PRELOAD) assignment (null when removed).
      type: str
      returned: always
      sample: '"LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/local/lib/keepalive/libkeepalive_shim.so"'
restarted:
  description: Units restarted (or that would be) because their drop-in changed.
  returned: always
  type: list
  elements: str
  sample: [legacy.service]
files:
  description: Files written or removed (or that would be).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/keepalive-shim.conf", "action": "written"}]
applied:
  description: When a step failed after others were done, what was done before it.
  returned: failure
  type: list
  elements: str
'''

import os
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.keepalive.plugins.module_utils._owned_files import write_atomic
from ansible_collections.linuxnet.keepalive.plugins.module_utils._plans import carry_out, socket_values
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import ModuleSystemctl
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import socket_value_options
from ansible_collections.linuxnet.keepalive.plugins.module_utils.shim._shim_plan import (
    LIBRARY, Plan, ShimError, System,
)


class ModuleSystem(ModuleSystemctl, System):

    def run(self, argv, environ=None):
        return self.module.run_command(argv, environ_update=dict(environ or {}, LC_ALL='C'))

    def compiler(self):
        return self.module.get_bin_path('cc') or self.module.get_bin_path('gcc')

    def python(self):
        return sys.executable

    def write(self, path, content, mode=0o644):
        write_atomic(self.module, path, content, mode)


def summary(plan, check_mode):
    would = 'would be ' if check_mode else ''
    parts = []
    if plan.state == 'present':
        parts.append('shim %sbuilt and installed at %s' % (would, plan.library) if plan.build
                     else 'shim at %s up to date' % plan.library)
        written = [d['unit'] for d in plan.dropins if d['action'] == 'written']
        kept = [d['unit'] for d in plan.dropins if d['action'] == 'unchanged']
        if written:
            parts.append('%spreloaded into %s' % (would, ', '.join(written)))
        if kept:
            parts.append('already preloaded into %s' % ', '.join(kept))
        if plan.everywhere:
            parts.append('preloaded into every program (/etc/ld.so.preload)')
    elif plan.remove or plan.files:
        parts.append('shim %sremoved' % would)
    else:
        parts.append('no shim installed; nothing to remove')
    removed = [d['unit'] for d in plan.dropins if d['action'] == 'removed']
    if removed:
        parts.append('%sremoved from %s' % (would, ', '.join(removed)))
    if plan.restarts():
        parts.append('%s%s restarted' % (', '.join(plan.restarts()), ' would be' if check_mode else ''))
    if plan.files:
        parts.append('%d file(s) %s' % (len(plan.files), 'would change' if check_mode else 'changed'))
    return '; '.join(parts)


def diff(plan):
    found = [dict(before_header=c['path'], after_header=c['path'], before=c['before'] or '', after=c['after'] or '')
             for c in plan.files]
    if plan.build:
        found.append(dict(before_header=plan.library, after_header=plan.library,
                          before='(installed)\n' if os.path.exists(plan.library) else '',
                          after='(built from keepalive_shim.c, %d lines)\n' % plan.source.count('\n')))
    for path in plan.remove:
        found.append(dict(before_header=path, after_header=path, before='(installed)\n', after=''))
    return found


def main():
    argument_spec = dict(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        units=dict(type='list', elements='str', default=[], aliases=['unit']),
        library=dict(type='path', default=LIBRARY),
        restart=dict(type='bool', default=True),
        _source=dict(type='str', no_log=False),
    )
    argument_spec['global'] = dict(type='bool', default=False)
    argument_spec.update(socket_value_options())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    values = socket_values(module)

    def make():
        return Plan(ModuleSystem(module), params['state'], values, units=params['units'], everywhere=params['global'],
                    library=params['library'], restart=params['restart'], source=params['_source']).make()

    plan, _nothing = carry_out(module, 'keepalive_shim', make, (ShimError,))

    result = dict(
        changed=plan.changed,
        msg=summary(plan, module.check_mode),
        library=plan.library,
        built=plan.build,
        units=plan.dropins,
        restarted=plan.restarts(),
        files=[dict(path=f['path'], action='removed' if f['after'] is None else 'written') for f in plan.files]
        + [dict(path=p, action='removed') for p in plan.remove],
    )
    if module._diff:
        result['diff'] = diff(plan)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
