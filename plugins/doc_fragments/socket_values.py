# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import socket_value_docs


class ModuleDocFragment(object):
    """The per-socket values (idle, interval, count, user_timeout), written from the collection's table of settings."""

    # For what sets every new socket (the shim, the cgroup program): the collection's values by default.
    DOCUMENTATION = socket_value_docs(ours=True)

    # For what changes sockets that exist (the live fix): unset keeps a socket's own value.
    CHANGES = socket_value_docs(ours=False)
