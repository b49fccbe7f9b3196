# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a module that changes a host carries out its plan: the per-socket values checked before anything is planned,
the plan made, applied unless in check mode, and a failure that says what was done before it, or that nothing was.

A plan has ``changed``, ``applied`` (what apply() has done so far, in words), ``warnings`` and apply().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.linuxnet.keepalive.plugins.module_utils._report_text import nothing_changed
from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import SOCKET_VALUES, validate_socket_values


def socket_values(module):
    """The per-socket values (idle, interval, count, user_timeout) of the module's parameters, checked; a value out of
    its limits fails the module, naming it, before anything is planned."""
    values = dict((s.name, module.params[s.name]) for s in SOCKET_VALUES)
    try:
        validate_socket_values(values)
    except ValueError as exc:
        module.fail_json(msg=nothing_changed(str(exc)))
    return values


def carry_out(module, name, make, known, then=None):
    """make() the plan and apply it unless in check mode; then(plan), if given, in the same guard. Returns
    (plan, what then returned). An error of the ``known`` kinds fails the module with its own words, any other
    error of the host's with the module's ``name``; either says what was done before it, or that nothing was."""
    plan, found = None, None
    try:
        plan = make()
        if plan.changed and not module.check_mode:
            plan.apply()
        if then is not None:
            found = then(plan)
    except known + (IOError, OSError, subprocess.SubprocessError) as exc:
        applied = plan.applied if plan is not None else []
        text = str(exc) if isinstance(exc, known) else '%s failed: %s' % (name, to_native(exc))
        module.fail_json(msg=text if applied else nothing_changed(text), changed=bool(applied), applied=applied)
    for warning in plan.warnings:
        module.warn(warning)
    return plan, found
