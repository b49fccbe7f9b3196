# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test rig's connection to the Molecule containers: containers.podman.podman, with pipelining.

containers.podman.podman runs `podman exec` without -i, so a module cannot be given on standard input and every
task costs a copy and four `podman exec` calls. Here a command that is given input runs with `podman exec -i`,
and pipelining is on: a task is one `podman exec`. The rig's own; the collection ships nothing of it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.containers.podman.plugins.connection import podman

DOCUMENTATION = podman.DOCUMENTATION.replace('name: podman', 'name: podman_piped', 1)


class Connection(podman.Connection):
    transport = 'podman_piped'
    has_pipelining = True

    def exec_command(self, cmd, in_data=None, sudoable=False):
        """Run a command in the container, with -i when it is given input (a pipelined module)."""
        super(podman.Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        if not self._connected:
            self._connect()
        args = ['exec', '-i'] if in_data is not None else ['exec']
        if self.user:
            args.extend(('--user', self.user))
        return self._podman(args, shlex.split(to_native(cmd, errors='surrogate_or_strict')), in_data)
