"""Write the copies the table of settings (plugins/module_utils/_settings.py) generates, where they must be literal.

ansible-test reads doc fragments without running them, so the documentation of the per-socket values is
written out as text: plugins/doc_fragments/socket_values.py. A unit test holds it to the table; after a
change to the table run:  python tests/rig/generate.py
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, '.cache', 'collections'))
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import socket_value_docs  # noqa: E402

FRAGMENT = os.path.join(ROOT, 'plugins', 'doc_fragments', 'socket_values.py')
TEMPLATE = '''# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Written by tests/rig/generate.py from plugins/module_utils/_settings.py: change the table, then run it.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The per-socket values (idle, interval, count, user_timeout), written from the collection's table of settings."""

    # For what sets every new socket (the shim, the cgroup program): the collection's values by default.
    DOCUMENTATION = r\'\'\'
%s\'\'\'

    # For what changes sockets that exist (the live fix): unset keeps a socket's own value.
    CHANGES = r\'\'\'
%s\'\'\'
'''


def fragment():
    return TEMPLATE % (socket_value_docs(ours=True), socket_value_docs(ours=False))


if __name__ == '__main__':
    with open(FRAGMENT, 'w') as handle:
        handle.write(fragment())
    print('wrote %s' % FRAGMENT)
