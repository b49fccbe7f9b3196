"""Run keepalive_facts on a host and print the result as a person wants to read it.

Usage: facts_table.py HOST CONNECTION TITLE [MODULE_ARGS]
Shows the kernel defaults, a short table of the connections without keep-alive and their
processes, the culprits, and the summary counts.
"""

import sys

from adhoc import run_module

ROWS = 15


def main():
    host, connection, title = sys.argv[1:4]
    args = sys.argv[4] if len(sys.argv) > 4 else ''
    result = run_module(host, 'linuxnet.keepalive.keepalive_facts', args, connection=connection)
    if result.get('failed'):
        print('%s: the module failed: %s' % (title, result.get('msg')))
        return 1
    facts = result['ansible_facts']['keepalive']
    summary = facts['summary']
    defaults = facts['defaults']
    print('== %s' % title)
    print('kernel defaults: tcp_keepalive_time=%(time)ss intvl=%(intvl)ss probes=%(probes)s '
          '(used only by sockets that set SO_KEEPALIVE)' % defaults)
    missing = [c for c in facts['connections'] if c['keepalive'] == 'disabled']
    print()
    if missing:
        print('connections without keep-alive (%d; first %d shown):' % (summary['by_verdict']['disabled'],
                                                                        min(ROWS, len(missing))))
        print('  %-9s %-11s %-24s %-24s %-18s %s' % ('direction', 'state', 'local', 'remote', 'process', 'unit'))
        for c in missing[:ROWS]:
            print('  %-9s %-11s %-24s %-24s %-18s %s' % (
                c['direction'], c['state'], '%s:%d' % (c['local_address'], c['local_port']),
                '%s:%d' % (c['remote_address'], c['remote_port']),
                '%s[%s]' % (c.get('process') or '?', ','.join(str(p) for p in c.get('pids', [])) or '-'),
                c.get('unit') or '-'))
    else:
        print('no connection without keep-alive')
    print()
    if summary['culprits']:
        print('processes holding established outbound connections without keep-alive:')
        for c in summary['culprits']:
            print('  %4d  %-16s %-30s pids %s' % (c['connections'], c['process'] or '?', c['unit'] or '-',
                                                  ','.join(map(str, c['pids']))))
        print()
    d = summary['by_direction_verdict']
    print('summary: %d sockets (source: %s)' % (summary['total'], facts['source']))
    for direction in ('outbound', 'inbound', 'listen'):
        counts = d[direction]
        print('  %-9s enabled %-6d disabled %-6d unknown %-6d not applicable %d' % (
            direction, counts['enabled'], counts['disabled'], counts['unknown'], counts['not_applicable']))
    print()
    return 0


if __name__ == '__main__':
    sys.exit(main())
