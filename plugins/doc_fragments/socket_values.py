# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Written by tests/rig/generate.py from plugins/module_utils/_settings.py: change the table, then run it.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The per-socket values (idle, interval, count, user_timeout), written from the collection's table of settings."""

    # For what sets every new socket (the shim, the cgroup program): the collection's values by default.
    DOCUMENTATION = r'''
options:
  idle:
    description:
      - "C(TCP_KEEPIDLE), seconds idle before the first probe (1 to 32767)."
    type: int
    default: 120
  interval:
    description:
      - "C(TCP_KEEPINTVL), seconds between probes (1 to 32767)."
    type: int
    default: 30
  count:
    description:
      - "C(TCP_KEEPCNT), unanswered probes before the connection is dropped (1 to 127)."
    type: int
    default: 4
  user_timeout:
    description:
      - "C(TCP_USER_TIMEOUT), milliseconds that data or probes may stay unacknowledged before the connection
        is dropped, 0 for the kernel's own behaviour (0 to 2147483647). Unset, it is left alone."
    type: int
'''

    # For what changes sockets that exist (the live fix): unset keeps a socket's own value.
    CHANGES = r'''
options:
  idle:
    description:
      - "C(TCP_KEEPIDLE), seconds idle before the first probe (1 to 32767). Unset keeps the socket's value."
    type: int
  interval:
    description:
      - "C(TCP_KEEPINTVL), seconds between probes (1 to 32767). Unset keeps the socket's value."
    type: int
  count:
    description:
      - "C(TCP_KEEPCNT), unanswered probes before the connection is dropped (1 to 127). Unset keeps the
        socket's value."
    type: int
  user_timeout:
    description:
      - "C(TCP_USER_TIMEOUT), milliseconds that data or probes may stay unacknowledged before the connection
        is dropped, 0 for the kernel's own behaviour (0 to 2147483647). Unset keeps the socket's value."
    type: int
'''
