# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's compliance report, written as it is read: its cost grows with what a person reads, not with the fleet.

Each host's result is recorded once, when its check ends: its details (the listed violations) go to a file of
its own, hosts/<host>.json, and what the report needs of it is kept as a small row. The report is then written
from the rows, one at a time: the JSON report (the rows, and a summary), the Markdown report (a summary first, the
rules, the worst hosts and those not checked, each list capped), and JUnit XML (a suite per host, a case per rule,
streamed). Reports of several runs (job slices, several controllers) are merged by host, the newest result of each
winning. Every text a host supplied is escaped for its format.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import heapq
import json
import os
import re
import tempfile
import time

from ansible_collections.linuxnet.keepalive.plugins.module_utils._report_text import markdown_cell, printable, xml_text
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._policy import RULES

REPORT = 'keepalive-report'
HOSTS = 'hosts'
LISTED = 50  # hosts listed by name in each part of the Markdown report
CASE_LINES = 10  # violations written out in a JUnit case; the rest are counted and in hosts/<host>.json


class ReportError(Exception):
    """A report cannot be written or read; the message says which file and why."""


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def malformed(result, rules=RULES):
    """Why a host's result is not one keepalive_check returns, or None. A managed host's result is untrusted: it
    could come from another version of the module, or from a host that lies."""
    if not isinstance(result.get('compliant'), bool):
        return 'compliant is %r, not true or false' % (result.get('compliant'),)
    summary = result.get('summary')
    if not isinstance(summary, dict):
        return 'summary is not a dictionary'
    by_rule = summary.get('by_rule')
    if not isinstance(by_rule, dict) or any(rule not in rules or not _count(n) for rule, n in by_rule.items()):
        return 'summary.by_rule must map the rules (%s) to counts, not %r' % (', '.join(rules), by_rule)
    for key in ('violations_left_out', 'not_examined', 'namespaces_not_read'):
        if not _count(result.get(key, 0)):
            return '%s is %r, not a count' % (key, result.get(key))
    violations = result.get('violations', [])
    if not isinstance(violations, list):
        return 'violations is not a list'
    for violation in violations:
        if not isinstance(violation, dict) or violation.get('rule') not in rules:
            return 'a violation of no known rule: %r' % (violation.get('rule') if isinstance(violation, dict) else violation,)
        if not all(isinstance(violation.get(k), str) for k in ('subject', 'found', 'expected', 'fix')):
            return 'a violation of %s without the texts subject, found, expected and fix' % violation['rule']
    offenders = summary.get('offenders', [])
    if not isinstance(offenders, list) or not all(isinstance(o, str) for o in offenders):
        return 'summary.offenders is not a list of texts'
    for key in ('defaults', 'connections'):
        if not isinstance(summary.get(key, {}), dict):
            return 'summary.%s is not a dictionary' % key
    skipped = result.get('rules_skipped', {})
    if not isinstance(skipped, dict) or any(rule not in rules or not isinstance(why, str) for rule, why in skipped.items()):
        return 'rules_skipped must map rules to why they were skipped, not %r' % (skipped,)
    return None


def row(host, result, error=None, checked_at=None, rules=RULES):
    """(the host's row, its details) from what keepalive_check returned there, or why it was not checked.

    The row is what the report needs, with the names the node_exporter metrics use (compliant, violations by rule,
    not_examined, checked, checked_at); the details are the listed violations, for hosts/<host>.json.
    """
    result = result if isinstance(result, dict) else {}
    checked_at = time.time() if checked_at is None else checked_at
    problem = None
    if error is None and 'compliant' not in result:
        error = result.get('msg') or 'unreachable, or not checked'
    if error is None:
        problem = malformed(result, rules)
        if problem:
            error = 'the host returned a malformed result (%s)' % problem
    if error is not None:
        text = error if isinstance(error, str) else repr(error)
        return ({'host': host, 'checked': False, 'compliant': False, 'checked_at': checked_at, 'error': text,
                 'violations': {}, 'violation_count': 0, 'not_examined': 0, 'namespaces_not_read': 0,
                 'offenders': [], 'details': None, 'rules_skipped': {}}, None)
    summary = result['summary']
    by_rule = dict((rule, summary['by_rule'].get(rule, 0)) for rule in rules)
    found = {'host': host, 'checked': True, 'compliant': result['compliant'], 'checked_at': checked_at, 'error': '',
             'violations': by_rule, 'violation_count': sum(by_rule.values()),
             'not_examined': result.get('not_examined', 0), 'namespaces_not_read': result.get('namespaces_not_read', 0),
             'offenders': summary.get('offenders', [])[:3], 'details': '%s/%s.json' % (HOSTS, file_name(host)),
             'defaults': summary.get('defaults', {}), 'connections': summary.get('connections', {}),
             'rules_skipped': result.get('rules_skipped', {})}
    details = {'host': host, 'checked_at': checked_at, 'violations': result.get('violations', []),
               'violations_left_out': result.get('violations_left_out', 0), 'policy': result.get('policy'),
               'boot': summary.get('boot'), 'total_sockets': summary.get('total_sockets')}
    return found, details


def file_name(host):
    """A host's name as a file name: letters, digits, '.', '_' and '-' kept, anything else %XX (no '/', no '..')."""
    name = re.sub(r'[^A-Za-z0-9._-]', lambda m: ''.join('%%%02X' % b for b in bytearray(m.group(0).encode('utf-8'))),
                  host)
    return name.replace('.', '%2E') if name in ('.', '..') else name or '%00'


def write_atomic(path, text, mode):
    """Write ``text`` to ``path`` through a temporary file with a unique name in the same folder and one rename."""
    folder = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def ensure_folder(path, mode=0o750):
    """The report folder, and its hosts/ folder: made with ``mode`` when missing; an existing one keeps its mode.

    Every host of a run records its result at the same time, so another writer may make a folder between
    a look and a mkdir: a folder that exists when this one tries to make it is taken as it is.
    """
    for folder in (path, os.path.join(path, HOSTS)):
        try:
            os.makedirs(folder, mode)
        except OSError as exc:
            if exc.errno != errno.EEXIST or not os.path.isdir(folder):
                raise
        else:
            os.chmod(folder, mode)


def record(report_dir, host_row, details, mode=0o640):
    """Keep a host's details in hosts/<host>.json (with its row), replacing what an earlier run wrote there."""
    ensure_folder(report_dir)
    write_atomic(os.path.join(report_dir, HOSTS, file_name(host_row['host']) + '.json'),
                 json.dumps({'row': host_row, 'details': details}, sort_keys=True) + '\n', mode)


def read_host(report_dir, host):
    """(row, details) a run recorded for a host in a report folder, or (None, None)."""
    path = os.path.join(report_dir, HOSTS, file_name(host) + '.json')
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError):
        return None, None
    except ValueError as exc:
        raise ReportError('%s is not JSON: %s' % (path, exc))
    return data.get('row'), data.get('details')


class Fleet(object):
    """The report, assembled as rows come: counts, the worst and unchecked hosts (capped), JUnit suites streamed."""

    def __init__(self, report_dir, meta, rules=RULES, mode=0o640, listed=LISTED):
        self.report_dir, self.meta, self.rules, self.mode, self.listed = report_dir, meta, list(rules), mode, listed
        self.counts = {'hosts': 0, 'compliant': 0, 'not_compliant': 0, 'not_checked': 0}
        self.by_rule = dict((rule, {'hosts': 0, 'violations': 0, 'skipped': 0}) for rule in self.rules)
        self.worst = []          # a heap of the hosts with the most violations (capped)
        self.unchecked = []      # the first hosts not checked, with why (capped)
        self.not_compliant = []  # names of the hosts checked and found out of the policy (capped)
        self.junit = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
        ensure_folder(report_dir)
        self._rows = tempfile.NamedTemporaryFile('w', dir=report_dir, prefix='.rows.', suffix='.tmp', delete=False)
        self._suites = tempfile.NamedTemporaryFile('w', dir=report_dir, prefix='.junit.', suffix='.tmp', delete=False)
        self._first_row = True

    def add(self, host_row, details=None):
        counts = self.counts
        counts['hosts'] += 1
        name = host_row['host']
        if not host_row['checked']:
            counts['not_checked'] += 1
            if len(self.unchecked) < self.listed:
                self.unchecked.append((name, host_row['error']))
        elif host_row['compliant']:
            counts['compliant'] += 1
        else:
            counts['not_compliant'] += 1
            if len(self.not_compliant) < self.listed:
                self.not_compliant.append(name)
        for rule, count in host_row['violations'].items():
            if count:
                self.by_rule[rule]['hosts'] += 1
                self.by_rule[rule]['violations'] += count
        for rule in host_row.get('rules_skipped') or {}:
            if rule in self.by_rule:
                self.by_rule[rule]['skipped'] += 1
        if host_row['checked'] and not host_row['compliant']:
            key = (host_row['violation_count'] + host_row['not_examined'], name)
            if len(self.worst) < self.listed:
                heapq.heappush(self.worst, (key, host_row))
            elif key > self.worst[0][0]:
                heapq.heapreplace(self.worst, (key, host_row))
        self._rows.write(('' if self._first_row else ',\n') + json.dumps(host_row, sort_keys=True))
        self._first_row = False
        self._suite(host_row, details)

    def _suite(self, host_row, details):
        """One host's JUnit suite: a case per rule, failing with the listed violations, or erring when not checked."""
        listed = (details or {}).get('violations') or []
        cases, failures, errors, skipped = [], 0, 0, 0
        for rule in self.rules:
            name = xml_text(rule)
            if not host_row['checked']:
                errors += 1
                cases.append('    <testcase classname="%s" name="%s" time="0"><error message="%s" type="not checked"/>'
                             '</testcase>\n' % (xml_text(host_row['host']), name, xml_text(host_row['error'])))
                continue
            why = (host_row.get('rules_skipped') or {}).get(rule)
            if why is not None:
                skipped += 1
                cases.append('    <testcase classname="%s" name="%s" time="0"><skipped message="%s"/></testcase>\n'
                             % (xml_text(host_row['host']), name, xml_text(why)))
                continue
            count = host_row['violations'].get(rule, 0)
            if not count:
                cases.append('    <testcase classname="%s" name="%s" time="0"/>\n' % (xml_text(host_row['host']), name))
                continue
            failures += 1
            of_rule = [v for v in listed if v.get('rule') == rule]
            lines = [violation_text(v) for v in of_rule[:CASE_LINES]]
            if len(of_rule) > len(lines):
                lines.append('and %d more in %s' % (len(of_rule) - len(lines), host_row.get('details')))
            if count > len(of_rule):
                lines.append('and %d more, not listed (keepalive_violation_limit)' % (count - len(of_rule)))
            cases.append('    <testcase classname="%s" name="%s" time="0"><failure message="%s" type="%s">%s</failure>'
                         '</testcase>\n' % (xml_text(host_row['host']), name, '%d violation(s) of %s' % (count, name),
                                            name, '\n'.join(xml_text(line) for line in lines)))
        self.junit['tests'] += len(self.rules)
        self.junit['failures'] += failures
        self.junit['errors'] += errors
        self.junit['skipped'] += skipped
        self._suites.write('  <testsuite name="%s" tests="%d" failures="%d" errors="%d" skipped="%d" time="0" '
                           'timestamp="%s">\n%s  </testsuite>\n'
                           % (xml_text(host_row['host']), len(self.rules), failures, errors, skipped,
                              time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(host_row['checked_at'])), ''.join(cases)))

    def summary(self):
        """The fleet in a few numbers: what a dashboard, set_stats and the gate need. The host lists name the first
        ``listed`` hosts of each kind; the counts count them all."""
        return dict(self.counts, compliant_hosts=self.counts['compliant'],
                    compliant=self.counts['compliant'] == self.counts['hosts'] and self.counts['hosts'] > 0,
                    violations=dict((rule, v['violations']) for rule, v in self.by_rule.items()),
                    hosts_violating=dict((rule, v['hosts']) for rule, v in self.by_rule.items()),
                    not_compliant_hosts=list(self.not_compliant),
                    not_checked_hosts=[name for name, _error in self.unchecked])

    def finish(self):
        """Write the three reports, each whole or not at all; return summary()."""
        summary = self.summary()
        self._rows.close()
        self._suites.close()
        try:
            self._write_json(summary)
            self._write_markdown(summary)
            self._write_junit()
        finally:
            for handle in (self._rows, self._suites):
                if os.path.exists(handle.name):
                    os.unlink(handle.name)
        return summary

    def _path(self, suffix):
        return os.path.join(self.report_dir, '%s.%s' % (REPORT, suffix))

    def _stream(self, path, head, body_path, tail):
        """Write head, the temporary body and tail to a unique temporary name, then rename it into place."""
        fd, temporary = tempfile.mkstemp(dir=self.report_dir, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
        try:
            with os.fdopen(fd, 'w') as out:
                out.write(head)
                with open(body_path) as body:
                    for chunk in iter(lambda: body.read(1 << 20), ''):
                        out.write(chunk)
                out.write(tail)
            os.chmod(temporary, self.mode)
            os.rename(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    def _write_json(self, summary):
        head = json.dumps({'report': self.meta, 'summary': summary, 'compliant': summary['compliant'],
                           'hosts': '@HOSTS@'}, sort_keys=True, indent=1)
        before, after = head.split('"@HOSTS@"')
        self._stream(self._path('json'), before + '[\n', self._rows.name, '\n]' + after + '\n')

    def _write_markdown(self, summary):
        counts, meta = self.counts, self.meta
        lines = ['# Keep-alive compliance', '',
                 '%d of %d host(s) compliant; %d not compliant; %d not checked.'
                 % (counts['compliant'], counts['hosts'], counts['not_compliant'], counts['not_checked']), '',
                 'Checked %s by %s %s, %d host(s) in the inventory%s.' % (
                     meta.get('generated', '?'), meta.get('collection', {}).get('name', 'linuxnet.keepalive'),
                     meta.get('collection', {}).get('version', '?'), meta.get('inventory_hosts', counts['hosts']),
                     '; merged from %d report(s), the newest result of each host kept' % len(meta['sources'])
                     if meta.get('sources') else ''), '',
                 '## Rules', '', '| rule | hosts | violations | skipped on |', '| --- | --- | --- | --- |']
        lines += ['| %s | %d | %d | %d |' % (rule, v['hosts'], v['violations'], v['skipped'])
                  for rule, v in self.by_rule.items()]
        worst = [r for _key, r in sorted(self.worst, key=lambda item: item[0], reverse=True)]
        lines += ['', '## Hosts not compliant, the worst first (%d of %d shown)' % (len(worst), counts['not_compliant']),
                  '', '| host | violations | not examined | rules | worst offenders |', '| --- | --- | --- | --- | --- |']
        for host_row in worst:
            rules = ', '.join(rule for rule, n in host_row['violations'].items() if n)
            lines.append('| %s | %d | %d | %s | %s |' % (
                markdown_cell(host_row['host']), host_row['violation_count'], host_row['not_examined'], rules,
                ', '.join(markdown_cell(o) for o in host_row['offenders'])))
        lines += ['', '## Hosts not checked (%d of %d shown)' % (len(self.unchecked), counts['not_checked']), '',
                  '| host | why |', '| --- | --- |']
        lines += ['| %s | %s |' % (markdown_cell(name), markdown_cell(error)) for name, error in self.unchecked]
        lines += ['', 'Every host: %s.json. Each host\'s violations: %s/.' % (REPORT, HOSTS), '']
        write_atomic(self._path('md'), '\n'.join(lines), self.mode)

    def _write_junit(self):
        junit = self.junit
        head = ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="keepalive compliance" tests="%d" '
                'failures="%d" errors="%d" skipped="%d" time="0" timestamp="%s">\n'
                % (junit['tests'], junit['failures'], junit['errors'], junit['skipped'],
                   xml_text(self.meta.get('generated', ''))))
        self._stream(self._path('junit.xml'), head, self._suites.name, '</testsuites>\n')


def gate_text(summary):
    """The hosts that keep the fleet from being compliant, by name, in one sentence; '' when there are none."""
    parts = []
    for key, words in (('not_compliant', 'Not compliant'), ('not_checked', 'Not checked')):
        names = summary.get(key + '_hosts', [])
        if summary.get(key):
            more = summary[key] - len(names)
            parts.append('%s: %s%s.' % (words, ', '.join(printable(n) for n in names),
                                        ' and %d more' % more if more > 0 else ''))
    return ' '.join(parts)


def violation_text(violation):
    text = '%s: found %s; expected %s' % (violation['subject'], violation['found'], violation['expected'])
    if violation.get('subject_kind') == 'connection':
        text += ' (%s, %s)' % (violation.get('process') or '?', violation.get('unit') or 'no unit')
    container = violation.get('container')
    if isinstance(container, dict):
        text += ' in the %s container %s' % (container.get('runtime'), container.get('id') or container.get('pod_uid'))
    elif violation.get('netns'):
        text += ' in network namespace %s' % violation['netns']
    return printable('%s. Fix: %s' % (text, violation.get('fix')))


def merge(inputs, report_dir, meta, rules=RULES, mode=0o640):
    """One report from the reports of several runs: for each host the newest result (by checked_at) wins, and the
    report says which run each came from, and how many older results it replaced. Returns the summary."""
    newest = {}
    sources = []
    superseded = 0
    for index, source in enumerate(inputs):
        path = os.path.join(source, '%s.json' % REPORT)
        try:
            with open(path) as handle:
                report = json.load(handle)
        except (IOError, OSError) as exc:
            raise ReportError('cannot read %s: %s' % (path, exc))
        except ValueError as exc:
            raise ReportError('%s is not JSON: %s' % (path, exc))
        if not isinstance(report, dict) or not isinstance(report.get('hosts'), list):
            raise ReportError('%s is not a keep-alive compliance report (no list of hosts)' % path)
        sources.append({'report': source, 'generated': (report.get('report') or {}).get('generated'),
                        'hosts': len(report['hosts'])})
        for host_row in report['hosts']:
            if not isinstance(host_row, dict) or not isinstance(host_row.get('host'), str):
                raise ReportError('%s has a host row that is not one: %r' % (path, host_row))
            name = host_row['host']
            if name in newest:
                superseded += 1
                if host_row.get('checked_at', 0) <= newest[name][0].get('checked_at', 0):
                    continue
            newest[name] = (host_row, index)
    meta = dict(meta, sources=sources, superseded=superseded)
    fleet = Fleet(report_dir, meta, rules, mode)
    for name in sorted(newest):
        host_row, index = newest[name]
        details = None
        if host_row.get('details'):
            _row, details = read_host(inputs[index], name)
            if details is not None:
                record(report_dir, dict(host_row, source=index), details, mode)
        fleet.add(dict(host_row, source=index), details)
    return fleet.finish()
