# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The connection filters that keepalive_facts and keepalive_sockets share, with the same names and meaning."""

    DOCUMENTATION = r'''
options:
  ports:
    description:
      - Only connections whose local or remote port is one of these (1 to 65535).
    type: list
    elements: int
  remote_ports:
    description:
      - Only connections whose remote port is one of these (1 to 65535).
      - New in keepalive_facts in 0.2.0.
    type: list
    elements: int
  processes:
    description:
      - Only connections held by processes with these names (as in C(/proc/PID/comm)).
      - The plural name is new in 0.2.0; C(process) still works.
    type: list
    elements: str
    aliases: [process]
  units:
    description:
      - Only connections held by processes of these systemd units (C(.service) is added to a name without a type).
      - New in keepalive_facts in 0.2.0; in keepalive_sockets the plural name is new in 0.2.0, C(unit) still works.
    type: list
    elements: str
    aliases: [unit]
'''
