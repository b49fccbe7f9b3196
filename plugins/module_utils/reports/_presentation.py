# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a host's keep-alive facts and a fleet's compliance are shown to a person: one place for both.

summary_line() is keepalive_facts' ``msg``; facts_table() is the table of the keepalive_table
filter (and of `make demo`); coverage() is the role's report of what each of its modes still leaves
without keep-alive; fleet() assembles the compliance playbook's report, with every untrusted text
(process and unit names, host names, error messages) escaped for each format.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.linuxnet.keepalive.plugins.module_utils._destinations import RECOMMENDED
from ansible_collections.linuxnet.keepalive.plugins.module_utils._report_text import (
    markdown_cell, printable, xml_text,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils._systemd import unit_name
from ansible_collections.linuxnet.keepalive.plugins.module_utils.reports._fleet import malformed

TABLE_ROWS = 15


def owner(process, unit):
    """'python3 (app.service)', 'curl', or '?' for an unknown owner, printable."""
    name = printable(process) if process else '?'
    return '%s (%s)' % (name, printable(unit)) if unit else name


def summary_line(facts, top=3):
    """keepalive_facts' one- or two-line summary: sockets, those without keep-alive, top culprits, defaults."""
    summary, defaults = facts['summary'], facts['defaults']
    line = '%d TCP sockets, %d established outbound without keep-alive' % (
        summary['total'], summary['outbound_without_keepalive'])
    culprits = summary.get('culprits') or []
    if culprits:
        named = ', '.join('%s %d' % (owner(c['process'], c['unit']), c['connections']) for c in culprits[:top])
        more = len(culprits) - top
        line += ' (%s%s)' % (named, ', and %d more' % more if more > 0 else '')
    line += ('; kernel defaults time %(time)d s, intvl %(intvl)d s, probes %(probes)d '
             '(used only by sockets that set SO_KEEPALIVE)' % defaults)
    return line


def _address(address, port):
    return '[%s]:%d' % (address, port) if ':' in address else '%s:%d' % (address, port)


def facts_table(facts, title=None, rows=TABLE_ROWS):
    """keepalive_facts' result as lines a person reads: defaults, connections without keep-alive, culprits, counts."""
    summary, defaults = facts['summary'], facts['defaults']
    lines = []
    if title:
        lines.append('== %s' % printable(title))
    lines.append('kernel defaults: tcp_keepalive_time=%(time)ss intvl=%(intvl)ss probes=%(probes)s' % defaults)
    lines.append('  (used only by sockets that set SO_KEEPALIVE)')
    lines.append('')
    missing = [c for c in facts['connections'] if c['keepalive'] == 'disabled']
    if missing:
        lines.append('connections without keep-alive (%d; first %d shown):'
                     % (summary['by_verdict']['disabled'], min(rows, len(missing))))
        lines.append('  %-9s %-11s %-24s %-24s %-18s %s' % ('direction', 'state', 'local', 'remote', 'process', 'unit'))
        for conn in missing[:rows]:
            lines.append('  %-9s %-11s %-24s %-24s %-18s %s' % (
                conn['direction'], conn['state'], _address(conn['local_address'], conn['local_port']),
                _address(conn['remote_address'], conn['remote_port']),
                '%s[%s]' % (printable(conn.get('process')) or '?', ','.join(str(p) for p in conn.get('pids', [])) or '-'),
                printable(conn.get('unit')) or '-'))
    else:
        lines.append('no connection without keep-alive')
    lines.append('')
    if summary.get('culprits'):
        lines.append('processes holding established outbound connections without keep-alive:')
        for culprit in summary['culprits']:
            lines.append('  %4d  %-16s %-30s pids %s' % (culprit['connections'], printable(culprit['process']) or '?',
                                                         printable(culprit['unit']) or '-',
                                                         ','.join(str(p) for p in culprit['pids'])))
        lines.append('')
    lines.append('summary: %d sockets (source: %s)' % (summary['total'], facts['source']))
    for direction in ('outbound', 'inbound', 'listen'):
        counts = summary['by_direction_verdict'][direction]
        lines.append('  %-9s enabled %-6d disabled %-6d unknown %-6d not applicable %d' % (
            direction, counts['enabled'], counts['disabled'], counts['unknown'], counts['not_applicable']))
    return lines


def _owners(culprits):
    return ', '.join('%s %d' % (owner(c['process'], c['unit']), c['connections']) for c in culprits)


# Per mode of the role (shim, cgroup): its name, its variables, and why a connection in its reach has no keep-alive.
_MODES = (
    ('preload shim', 'keepalive_shim_services',
     'preloaded, but opened before the unit restarted, or by a static, Go or setuid program'),
    ('cgroup program', 'keepalive_cgroup_units',
     'in its groups, but opened before it was attached (keepalive_live_fix or a restart gives them keep-alive), '
     'or turned off by the program after connecting'),
)


def coverage(summary, shim=None, cgroup=None):
    """Why the established outbound connections still without keep-alive are left so by each of the role's modes.

    ``summary`` is keepalive_facts' summary (its ``culprits``: the processes holding those connections);
    ``shim`` and ``cgroup`` are {'units': [...], 'global': bool} for the modes that are on, None for those off.
    Returns lines for a person, with process and unit names escaped.
    """
    total = summary.get('outbound_without_keepalive', 0)
    if not total:
        return ['every established outbound connection has keep-alive']
    culprits = summary.get('culprits') or []
    lines = ['%d established outbound connection(s) still run without keep-alive: their programs never set '
             'SO_KEEPALIVE, and the kernel defaults only apply to sockets that do.' % total]
    if culprits:
        lines.append('held by: %s' % _owners(culprits))
    unowned = summary.get('culprits_without_owner', 0)
    if unowned:
        lines.append('%d of them held by a process that could not be read' % unowned)
    for (label, variable, inside), mode in zip(_MODES, (shim, cgroup)):
        if not mode:
            continue
        units = set(unit_name(u) for u in mode.get('units') or [])
        reached = [c for c in culprits
                   if mode.get('global') or (c['unit'] and c['unit'] in units) or units & set(c.get('slices') or [])]
        missed = [c for c in culprits if c not in reached]
        if reached:
            lines.append('%s: %s: %s' % (label, inside, _owners(reached)))
        if missed:
            lines.append('%s: out of its reach (not in %s): %s' % (label, variable, _owners(missed)))
    return lines


def _host_row(name, result, rules):
    """One host of the fleet report, from what keepalive_check returned there (or its failure, or a result that
    is not one: the host is then not checked, and the report says why)."""
    result = result if isinstance(result, dict) else {}
    reached = 'compliant' in result
    problem = malformed(result, rules) if reached else None
    if problem:
        result = {'msg': 'the host returned a malformed result (%s)' % problem}
        reached = False
    summary = result.get('summary') or {}
    by_rule = summary.get('by_rule') or {}
    violations = result.get('violations') or []
    return {
        'host': name, 'reached': reached, 'compliant': bool(result.get('compliant', False)),
        'violations': violations, 'violations_left_out': result.get('violations_left_out', 0),
        'violation_count': sum(by_rule.values()), 'not_examined': result.get('not_examined', 0),
        'by_rule': by_rule, 'offenders': summary.get('offenders') or [], 'defaults': summary.get('defaults') or {},
        'error': '' if reached else (result.get('msg') or 'unreachable'),
    }


def _violation_text(violation):
    text = '%s: found %s; expected %s' % (violation['subject'], violation['found'], violation['expected'])
    if violation.get('subject_kind') == 'connection':
        text += ' (%s, %s)' % (violation.get('process') or '?', violation.get('unit') or 'no unit')
    container = violation.get('container')
    if container:
        text += ' in the %s container %s' % (container.get('runtime'), container.get('id') or container.get('pod_uid'))
    elif violation.get('netns'):
        text += ' in network namespace %s' % violation['netns']
    return '%s. Fix: %s' % (text, violation['fix'])


def fleet(results, rules):
    """The compliance report of a fleet: {host name: keepalive_check's result, or its failure} -> a dict.

    ``hosts``: the rows of the JSON report (raw, as the module returned them); ``markdown``: the
    table's rows as escaped cells; ``junit``: suites of test cases (one per host and rule) with
    escaped text; the counts for the headline.
    """
    rows = [_host_row(name, results[name], rules) for name in sorted(results)]
    markdown, suites = [], []
    failures = 0
    for row in rows:
        if row['compliant']:
            status = 'yes'
        elif row['reached']:
            status = 'no'
        else:
            status = 'not checked: ' + row['error']
        if row['reached'] and row['not_examined']:
            status += ' (%d connections not examined)' % row['not_examined']
        host_rules = sorted(set(v['rule'] for v in row['violations'] if v.get('subject_kind') == 'host'),
                            key=list(rules).index)
        worst = [markdown_cell(name) for name in row['offenders']] + host_rules
        markdown.append([markdown_cell(row['host']), markdown_cell(status), str(row['violation_count']), ', '.join(worst)])
        cases = []
        for rule in rules:
            case = {'name': rule, 'error': None, 'failure': None}
            count = row['by_rule'].get(rule, 0)
            if not row['reached']:
                case['error'] = xml_text(row['error'])
            elif count:
                failures += 1
                listed = [v for v in row['violations'] if v['rule'] == rule]
                lines = [xml_text(_violation_text(v)) for v in listed]
                if count > len(listed):
                    lines.append('and %d more, not listed (keepalive_violation_limit)' % (count - len(listed)))
                case['failure'] = {'message': '%d violation(s) of %s' % (count, rule), 'lines': lines}
            cases.append(case)
        suites.append({'name': xml_text(row['host']), 'cases': cases})
    return {
        'hosts': rows, 'markdown': markdown, 'junit': suites, 'rules': list(rules),
        'compliant_count': sum(1 for row in rows if row['compliant']), 'host_count': len(rows),
        'failures': failures, 'not_compliant': [row['host'] for row in rows if not row['compliant']],
    }


def _destination_name(destination):
    address = destination['address']
    return '%s:%s' % ('[%s]' % address if ':' in address else address, destination['port'])


def _seconds(value):
    return '-' if value is None else str(value)


def paths(results):
    """The paths report of a fleet: {host: {'paths': keepalive_path's result, or None; 'check': keepalive_check's,
    or None; 'error': why the host was not measured, or ''}} -> {'hosts': the JSON report's rows, 'markdown':
    lines, 'recommended': {host: the role's values}}, every process, unit and host name escaped in the Markdown."""
    rows, recommended = {}, {}
    measured = dying = 0
    for host in sorted(results):
        entry = results[host]
        found = entry.get('paths') or {}
        check = entry.get('check') or {}
        on_path = [v for v in check.get('violations') or [] if v.get('rule') == 'connection_path']
        rows[host] = {'destinations': found.get('destinations', []), 'left_out': found.get('left_out', 0),
                      'recommended': found.get('recommended'), 'violations': on_path,
                      'violation_count': ((check.get('summary') or {}).get('by_rule') or {}).get('connection_path', 0),
                      'error': entry.get('error') or ''}
        measured += sum(1 for d in rows[host]['destinations'] if d.get('outcome') != 'not_measured')
        dying += rows[host]['violation_count']
        if found.get('recommended'):
            recommended[host] = dict((key, found['recommended'][key]) for key in RECOMMENDED)
    lines = ['# Keep-alive paths', '',
             '%d host(s), %d destination(s) measured; %d connection(s) would not survive their path.'
             % (len(rows), measured, dying), '',
             '## Recommended values', '',
             '| host | %s | because |' % ' | '.join(RECOMMENDED), '| --- |' + ' --- |' * (len(RECOMMENDED) + 1)]
    for host, row in sorted(rows.items()):
        values = row['recommended']
        if values:
            cells = ['%d' % values[key] for key in RECOMMENDED] + [markdown_cell(values['because'])]
        else:
            cells = ['-'] * len(RECOMMENDED) + [markdown_cell(row['error'] or 'no measured path forgot an idle flow')]
        lines.append('| %s | %s |' % (markdown_cell(host), ' | '.join(cells)))
    lines += ['', '## Destinations', '',
              '| host | destination | connections | held by | outcome | kept idle (s) | forgot after (s) |',
              '| --- | --- | --- | --- | --- | --- | --- |']
    for host, row in sorted(rows.items()):
        for destination in row['destinations']:
            held = ', '.join('%s %d' % (owner(h.get('process'), h.get('unit')), h.get('connections', 0))
                             for h in destination.get('holders') or [])
            lines.append('| %s | %s | %d | %s | %s | %s | %s |' % (
                markdown_cell(host), markdown_cell(_destination_name(destination)), destination.get('connections', 0),
                markdown_cell(held), markdown_cell(destination.get('outcome')),
                _seconds(destination.get('survived_max')), _seconds(destination.get('forgot_min'))))
    lines += ['', '## Connections that would not survive their path', '',
              '| host | connection | held by | found | expected |', '| --- | --- | --- | --- | --- |']
    for host, row in sorted(rows.items()):
        for violation in row['violations']:
            lines.append('| %s | %s | %s | %s | %s |' % (
                markdown_cell(host), markdown_cell(violation.get('subject')),
                markdown_cell(owner(violation.get('process'), violation.get('unit'))),
                markdown_cell(violation.get('found')), markdown_cell(violation.get('expected'))))
        if row['violation_count'] > len(row['violations']):
            lines.append('| %s | and %d more | | | |' % (
                markdown_cell(host), row['violation_count'] - len(row['violations'])))
    lines += ['', 'Apply the recommended values with the keepalive role, adding the inventory this report wrote: '
              '`ansible-playbook site.yml -i inventory -i recommended.yml`.', '']
    return {'hosts': rows, 'markdown': lines, 'recommended': recommended}
