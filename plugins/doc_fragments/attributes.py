# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The attributes every module of this collection shares, and those of the modules that only read."""

    # Every module: Linux only (a module may describe its platform further).
    DOCUMENTATION = r'''
options: {}
attributes:
  platform:
    support: full
    platforms: [posix]
    description: Linux only.
'''

    # Modules that change nothing.
    READ_ONLY = r'''
options: {}
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to compare.
'''
