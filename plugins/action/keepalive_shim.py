# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_shim on the controller: passes the shim's C source, one file in the collection, to the module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# The role's copy is the only one: the module compiles it on the target.
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'roles', 'keepalive', 'files',
                      'keepalive_shim.c')


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if '_source' in args:
            raise AnsibleActionFail('_source is the collection\'s own C source of the shim, passed by this action; '
                                    'it cannot be given')
        if args.get('state', 'present') != 'absent':
            try:
                with open(SOURCE) as handle:
                    args['_source'] = handle.read()
            except (IOError, OSError) as exc:
                raise AnsibleActionFail('cannot read the shim\'s C source from the collection (%s): %s' % (SOURCE, exc))
        result.update(self._execute_module(module_name='linuxnet.keepalive.keepalive_shim', module_args=args,
                                           task_vars=task_vars))
        return result
