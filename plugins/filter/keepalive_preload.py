# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.linuxnet.keepalive.plugins.module_utils._unit_environment import (
    preload_with, quote_environment, unit_preload,
)


def keepalive_preload(environment, library):
    """The quoted Environment= assignment of LD_PRELOAD that keeps a unit's own preload and adds ``library``."""
    try:
        entries = unit_preload(environment, library)
    except ValueError as exc:
        raise AnsibleFilterError('cannot read the unit\'s environment as systemd shows it: %s' % exc)
    return quote_environment('LD_PRELOAD', preload_with(entries, library))


class FilterModule(object):
    def filters(self):
        return {'keepalive_preload': keepalive_preload}
