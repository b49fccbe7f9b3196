"""keepalive_facts against an independent oracle: `ss -tanoe` on the same real sockets.

The sockets live in a private network namespace (tests/integration/files/socket_zoo.py), so the
host's connections and sysctls are neither seen nor changed. The module runs through
ansible-playbook exactly as a user runs it.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import HERE, namespace_env

SS_STATES = {
    'ESTAB': 'established', 'SYN-SENT': 'syn_sent', 'SYN-RECV': 'syn_recv', 'FIN-WAIT-1': 'fin_wait1',
    'FIN-WAIT-2': 'fin_wait2', 'TIME-WAIT': 'time_wait', 'UNCONN': 'close', 'CLOSE-WAIT': 'close_wait',
    'LAST-ACK': 'last_ack', 'LISTEN': 'listen', 'CLOSING': 'closing',
}
SS_TIMER = re.compile(r'timer:\((\w+),([^,]*),(\d+)\)')
SS_DURATION = re.compile(r'^(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?$')


def ss_seconds(text):
    """ss's timer text ('59sec', '119min', '1min5sec', '4.500ms', '') to whole seconds."""
    match = SS_DURATION.match(text)
    assert match, 'unexpected ss duration %r' % text
    minutes, seconds, _ms = (int(x) if x else 0 for x in match.groups())
    return minutes * 60 + seconds


def split_endpoint(text):
    address, port = text.rsplit(':', 1)
    return address.strip('[]'), 0 if port == '*' else int(port)


def parse_ss(output):
    """One dict per socket from `ss -tanoeH`, keyed as keepalive_facts keys its connections."""
    sockets = {}
    for line in output.splitlines():
        fields = line.split()
        if not fields:
            continue
        local, remote = split_endpoint(fields[3]), split_endpoint(fields[4])
        timer = SS_TIMER.search(line)
        uid = re.search(r'\buid:(\d+)', line)
        inode = re.search(r'\bino:(\d+)', line)
        sockets[(SS_STATES[fields[0]], local[1], remote[1])] = {
            'local_address': local[0], 'remote_address': remote[0],
            'timer': timer.group(1) if timer else 'off',
            'timer_expires': ss_seconds(timer.group(2)) if timer else 0,
            'retrans': int(timer.group(3)) if timer else 0,
            'uid': int(uid.group(1)) if uid else 0,
            'inode': int(inode.group(1)) if inode else 0,
        }
    return sockets


def same_address(ss_text, ours):
    if ss_text == '*':
        return ours in ('0.0.0.0', '::')
    return ss_text == ours


@pytest.fixture(scope='module')
def run(unshare, tmp_path_factory):
    """Open the socket zoo, take `ss -tanoeH`, then run the playbook; return everything seen."""
    work = tmp_path_factory.mktemp('facts')
    script = (
        'printf %s "$KEEPALIVE_ZOO" > {w}/zoo.json && ss -tanoeH > {w}/ss.txt && '
        'KEEPALIVE_OUT={w}/results.json ansible-playbook -i localhost, {play} > {w}/play.log 2>&1; '
        'status=$?; cat /proc/sys/net/ipv4/tcp_keepalive_time > {w}/ns_time; exit $status'
    ).format(w=work, play=os.path.join(HERE, 'files', 'facts_calls.yml'))
    host_time = open('/proc/sys/net/ipv4/tcp_keepalive_time').read()
    proc = subprocess.run(unshare + [sys.executable, os.path.join(HERE, 'files', 'socket_zoo.py'),
                                     '--', 'sh', '-c', script],
                          env=namespace_env(), check=False, timeout=300)
    log = (work / 'play.log').read_text() if (work / 'play.log').exists() else ''
    assert proc.returncode == 0, 'the playbook failed:\n' + log[-4000:]
    assert open('/proc/sys/net/ipv4/tcp_keepalive_time').read() == host_time
    return {
        'zoo': json.loads((work / 'zoo.json').read_text()),
        'ss': parse_ss((work / 'ss.txt').read_text()),
        'results': json.loads((work / 'results.json').read_text()),
    }


def facts(result):
    return result['ansible_facts']['keepalive']


def by_key(connections):
    return dict(((c['state'], c['local_port'], c['remote_port']), c) for c in connections)


@pytest.mark.parametrize('source', ['netlink', 'proc'])
def test_every_socket_matches_ss(run, source):
    ours = by_key(facts(run['results'][source])['connections'])
    assert facts(run['results'][source])['source'] == source
    assert set(ours) == set(run['ss']), 'sockets seen by ss and by the module differ'
    for key, oracle in run['ss'].items():
        mine = ours[key]
        assert same_address(oracle['local_address'], mine['local_address']), key
        assert same_address(oracle['remote_address'], mine['remote_address']), key
        for field in ('timer', 'retrans', 'uid', 'inode'):
            assert mine[field] == oracle[field], (key, field, mine[field], oracle[field])
        # ss ran first; the module read the same timers a few seconds later.
        assert oracle['timer_expires'] - 60 <= mine['timer_expires'] <= oracle['timer_expires'], key


def test_both_sources_agree(run):
    def comparable(result):
        return dict((key, dict(row, timer_expires=None))
                    for key, row in by_key(facts(result)['connections']).items())
    assert comparable(run['results']['netlink']) == comparable(run['results']['proc'])
    summary_netlink = dict(facts(run['results']['netlink'])['summary'])
    summary_proc = dict(facts(run['results']['proc'])['summary'])
    assert summary_netlink == summary_proc


def test_counts_of_what_was_skipped(run):
    for source in ('netlink', 'proc'):
        result = run['results'][source]
        assert result['lines_skipped'] == 0
        assert result['processes_unreadable'] == 0  # root reads every process's open files
        assert isinstance(result['processes_vanished'], int)
    assert 'processes_vanished' not in run['results']['no_owners']


def test_defaults_are_the_namespace_values(run):
    assert facts(run['results']['netlink'])['defaults'] == {'time': 600, 'intvl': 75, 'probes': 9}


def test_verdicts_directions_and_reasons(run):
    zoo = run['zoo']
    rows = by_key(facts(run['results']['netlink'])['connections'])
    out = dict(((c['local_port'], c['state']), c) for c in rows.values() if c['direction'] == 'outbound')
    plain = out[(zoo['plain'], 'established')]
    assert (plain['keepalive'], plain['timer'], plain['reason']) == ('disabled', 'off', 'disabled')
    legend = facts(run['results']['netlink'])['reasons']
    assert 'SO_KEEPALIVE' in legend['disabled'] and 'cannot turn it on' in legend['disabled']
    assert out[(zoo['keepalive'], 'established')]['keepalive'] == 'enabled'
    # keep-alive with the namespace default (600 s) and with a socket's own TCP_KEEPIDLE
    assert 500 < out[(zoo['keepalive'], 'established')]['timer_expires'] <= 600
    assert out[(zoo['idle45'], 'established')]['timer_expires'] <= 45
    assert out[(zoo['ipv6_keepalive'], 'established')]['family'] == 'inet6'
    assert out[(zoo['ipv6'], 'established')]['remote_address'] == '::1'
    assert out[(zoo['time_wait'], 'time_wait')]['keepalive'] == 'not_applicable'
    assert out[(zoo['time_wait'], 'time_wait')]['timer'] == 'timewait'

    inbound = [c for c in rows.values() if c['direction'] == 'inbound']
    mapped = [c for c in inbound if c['remote_port'] == zoo['mapped']]
    # accepted connections inherit keep-alive from their listener, or not
    assert set(c['reason'] for c in inbound if c['keepalive'] == 'disabled') == {'not_inherited'}
    assert 'the listening socket that accepted this connection never set SO_KEEPALIVE' in legend['not_inherited']
    assert mapped and mapped[0]['family'] == 'inet6' and mapped[0]['local_address'] == '::ffff:127.0.0.1'
    listeners = [c for c in rows.values() if c['state'] == 'listen']
    assert sorted(c['local_port'] for c in listeners) == [7100, 7106]
    for listener in listeners:
        assert (listener['direction'], listener['keepalive'], listener['timer']) == ('listen', 'not_applicable', 'off')
        assert listener['reason'] == 'listen' and 'never show a keep-alive timer' in legend['listen']


def test_owners_and_culprits(run):
    zoo = run['zoo']
    result = facts(run['results']['netlink'])
    rows = by_key(result['connections'])
    child = rows[('established', zoo['child_port'], 7100)]
    assert child['pids'] == [zoo['child_pid']] and child['uid'] == 65534
    assert child['process'].startswith('python')
    mine = rows[('established', zoo['plain'], 7100)]
    assert mine['pids'] == [zoo['pid']]
    culprits = result['summary']['culprits']
    # outbound established without keep-alive: plain, ipv6, mapped (zoo process) and the child
    assert sum(c['connections'] for c in culprits) == 4
    assert sorted(p for c in culprits for p in c['pids']) == sorted([zoo['pid'], zoo['child_pid']])
    assert result['summary']['outbound_without_keepalive'] == 4


def test_filters_and_limit(run):
    results = run['results']
    missing = facts(results['only_missing'])['connections']
    assert missing and all(c['keepalive'] == 'disabled' and c['direction'] == 'outbound' for c in missing)
    assert len(missing) == 4
    limited = facts(results['limited'])
    assert len(limited['connections']) == 1
    # established on port 7106: two IPv6 pairs and the mapped pair, both ends each
    assert limited['summary']['matched'] == 6 and limited['summary']['left_out'] == 5
    assert limited['summary']['total'] == facts(results['netlink'])['summary']['total']
    by_process = facts(results['by_process'])['connections']
    assert by_process and all(c['process'].startswith('python') for c in by_process)
    no_owners = facts(results['no_owners'])
    assert no_owners['connections'] == [] and no_owners['summary']['culprits'] == []
    assert no_owners['summary']['left_out'] == no_owners['summary']['total']


def test_check_mode_changes_nothing_and_reports_the_same(run):
    result = run['results']['check_mode']
    assert result['changed'] is False
    assert facts(result)['summary']['total'] == facts(run['results']['netlink'])['summary']['total']


def test_bad_options_fail_with_a_clear_message(run):
    results = run['results']
    assert results['bad_limit']['failed'] and 'limit must be 0 or more' in results['bad_limit']['msg']
    assert results['bad_state']['failed'] and 'states' in results['bad_state']['msg']
    assert 'establishd' in results['bad_state']['msg'] and 'established' in results['bad_state']['msg']
    assert results['bad_processes']['failed'] and 'owners: true' in results['bad_processes']['msg']
