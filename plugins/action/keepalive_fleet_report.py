# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalive_fleet_report: records each host's compliance result, writes the fleet's report, merges reports.

Runs on the controller only (it has no module): see plugins/modules/keepalive_fleet_report.py for its
documentation, and module_utils/reports/_fleet.py for the report itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports import _fleet

ARGUMENTS = {
    'state': {'type': 'str', 'required': True, 'choices': ['host', 'report', 'merge']},
    'dir': {'type': 'path', 'required': True},
    'result': {'type': 'raw'},
    'error': {'type': 'raw'},
    'hosts': {'type': 'list', 'elements': 'str'},
    'inventory_hosts': {'type': 'int'},
    'inputs': {'type': 'list', 'elements': 'path'},
    'mode': {'type': 'raw', 'default': '0640'},
    'run': {'type': 'str'},
}
VERSION = '0.2.0'  # this collection's version, as galaxy.yml says (a unit test holds them together)


def file_mode(value):
    """'0640', '640', 0o640 -> 0o640; anything else is refused, naming what is allowed."""
    text = str(value)
    try:
        mode = int(text, 8) if isinstance(value, str) else int(value)
    except ValueError:
        mode = None
    if mode is None or not 0 <= mode <= 0o777:
        raise AnsibleActionFail('mode=%r is not a file mode: give octal digits, such as "0640"' % (value,))
    return mode


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validated = ArgumentSpecValidator(ARGUMENTS).validate(self._task.args)
        if validated.error_messages:
            raise AnsibleActionFail('keepalive_fleet_report: %s' % '; '.join(validated.error_messages))
        args = validated.validated_parameters
        mode = file_mode(args['mode'])
        report_dir = os.path.abspath(os.path.expanduser(args['dir']))
        try:
            if args['state'] == 'host':
                result.update(self._host(task_vars, report_dir, args, mode))
            elif args['state'] == 'report':
                result.update(self._report(task_vars, report_dir, args, mode))
            else:
                result.update(self._merge(report_dir, args, mode))
        except (_fleet.ReportError, IOError, OSError) as exc:
            raise AnsibleActionFail('keepalive_fleet_report: %s' % exc)
        return result

    @staticmethod
    def _meta(task_vars, inventory_hosts):
        return {'generated': datetime.datetime.utcnow().replace(microsecond=0).isoformat() + 'Z',
                'collection': {'name': 'linuxnet.keepalive', 'version': VERSION},
                'inventory_hosts': inventory_hosts if inventory_hosts is not None
                else len((task_vars or {}).get('groups', {}).get('all', []))}

    def _host(self, task_vars, report_dir, args, mode):
        """Keep one host's details in hosts/<host>.json; return its row, the small part the play keeps."""
        host = task_vars['inventory_hostname']
        error = args['error'] if args['error'] not in (None, '') else None
        row, details = _fleet.row(host, args['result'], error=error)
        row['run'] = args['run']
        if details is not None:
            _fleet.record(report_dir, row, details, mode)
        else:
            _fleet.record(report_dir, row, {'host': host, 'checked_at': row['checked_at'], 'violations': []}, mode)
        return {'changed': False, 'row': row, 'compliant': row['compliant'], 'checked': row['checked'],
                'msg': ('%s: %s' % (host, 'compliant' if row['compliant'] else 'not checked: ' + row['error']
                        if not row['checked'] else 'not compliant, %d violation(s)' % row['violation_count']))}

    def _report(self, task_vars, report_dir, args, mode):
        """The fleet's report, from the rows each host's run recorded (a host with none was not reached)."""
        hosts = args['hosts'] or []
        meta = self._meta(task_vars, args['inventory_hosts'])
        meta['hosts_in_run'] = len(hosts)
        fleet = _fleet.Fleet(report_dir, meta, mode=mode)
        for host in sorted(set(hosts)):
            row, details = _fleet.read_host(report_dir, host)
            if row is None or row.get('host') != host or row.get('run') != args['run']:  # none of this run's
                row, details = _fleet.row(host, {}, error='unreachable, or stopped before its check ended')
            if meta.get('policy') is None and details and details.get('policy'):
                meta['policy'] = details['policy']
            fleet.add(row, details)
        summary = fleet.finish()
        return self._written(summary, report_dir)

    def _merge(self, report_dir, args, mode):
        if not args['inputs']:
            raise AnsibleActionFail('keepalive_fleet_report: state=merge needs inputs, the report folders to merge')
        summary = _fleet.merge(args['inputs'], report_dir, self._meta(None, args['inventory_hosts']), mode=mode)
        return self._written(summary, report_dir)

    def _written(self, summary, report_dir):
        return {'changed': True, 'summary': summary, 'gate': _fleet.gate_text(summary), 'dir': report_dir,
                'files': self._files(report_dir), 'msg': self._message(summary, report_dir)}

    @staticmethod
    def _files(report_dir):
        return [os.path.join(report_dir, '%s.%s' % (_fleet.REPORT, s)) for s in ('json', 'md', 'junit.xml')]

    @staticmethod
    def _message(summary, report_dir):
        return ('%d of %d host(s) compliant, %d not compliant, %d not checked. Report: %s/%s.{json,md,junit.xml}'
                % (summary['compliant_hosts'], summary['hosts'], summary['not_compliant'], summary['not_checked'],
                   report_dir, _fleet.REPORT))
