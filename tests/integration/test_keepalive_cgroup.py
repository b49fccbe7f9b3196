"""keepalive_cgroup on the host's own kernel, in a private network and mount namespace and throwaway cgroups.

tests/integration/files/cgroup_lab.py makes the groups, runs the module ad hoc through its steps, starts
real clients (Python over IPv4 and IPv6, a static C binary) inside and outside the groups, reads each
connection's timer from `ss -o` and its settings from the live socket, and removes everything it made.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import HERE, ROOT, namespace_env

IDLE, INTERVAL, COUNT = 33, 7, 3


@pytest.fixture(scope='module')
def lab(unshare, tmp_path_factory):
    static = str(tmp_path_factory.mktemp('cgroup') / 'hold_client')
    subprocess.run(['gcc', '-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', static,
                    os.path.join(HERE, 'files', 'hold_client.c')], check=True)
    headers = subprocess.run(['readelf', '--program-headers', static], capture_output=True, text=True, check=True).stdout
    assert 'INTERP' not in headers  # no dynamic loader: out of any preload's reach
    proc = subprocess.run(['unshare', '-n', '-m', '--', sys.executable, os.path.join(HERE, 'files', 'cgroup_lab.py'),
                           os.path.join(ROOT, 'tests', 'rig'), os.path.join(ROOT, 'plugins', 'module_utils', 'cgroup'), static],
                          env=namespace_env(), capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def ours(programs):
    return [p for p in programs if p['name'] == 'lnx_keepalive']


def test_bad_values_and_targets_fail_clearly_and_attach_nothing(lab):
    assert lab['bad_values']['failed']
    assert 'idle must be an integer from 1 to 32767 seconds, not 0' in lab['bad_values']['msg']
    assert 'count must be an integer from 1 to 127, not 500' in lab['bad_values']['msg']
    assert lab['missing_group']['failed'] and 'cgroup %s/nope does not exist' % lab['group'] in lab['missing_group']['msg']
    assert lab['bad_path']['failed'] and "'../etc' is not a cgroup path" in lab['bad_path']['msg']
    assert lab['no_systemd_unit']['failed'] and 'units need systemd' in lab['no_systemd_unit']['msg']
    assert lab['no_systemd_persist']['failed'] and 'persist: true needs systemd' in lab['no_systemd_persist']['msg']
    # the missing group was given beside an existing one: that one got nothing either
    assert lab['after_refusals'] == {'group': [], 'bpffs': False}


def test_a_group_that_admits_no_other_program_is_refused_before_any_group_gets_one(lab):
    refused = lab['blocked_second']
    assert refused['failed'] and not refused['changed'], refused
    assert ('cgroup %s has a sock_ops program (id %d) attached without BPF_F_ALLOW_MULTI, which admits no other program '
            'there; nothing was attached to any group' % (lab['blocked'], lab['blocking_id'])) in refused['msg']
    assert lab['after_refusals']['group'] == []  # the first group, given before it, got nothing
    # present with no target (and exclusive, which would remove every other) fails and removes nothing
    assert lab['no_target']['failed'] and 'state=present needs at least one target' in lab['no_target']['msg']
    assert len(ours(lab['after_apply']['group'])) == 1


def test_check_mode_reports_the_change_and_attaches_nothing(lab):
    check = lab['check']
    assert check['changed'] and not check['failed'] and 'would be added' in check['msg']
    assert check['targets'][0]['action'] == 'added' and check['targets'][0]['before'] is None
    assert '+idle = %d' % IDLE in check['_printed']  # --diff
    assert lab['after_check'] == {'group': [], 'bpffs': False}


def test_apply_mounts_bpffs_pins_and_attaches_one_program_and_a_second_run_changes_nothing(lab):
    assert lab['apply']['changed'] and not lab['apply']['failed']
    assert not lab['again']['changed'] and lab['again']['targets'][0]['action'] == 'unchanged'
    after = lab['after_apply']
    assert after['bpffs'] and len(after['pins']) == 1
    assert len(ours(after['group'])) == 1 and len(after['group']) == 1
    assert ours(after['group'])[0]['values'] == {'idle': IDLE, 'interval': INTERVAL, 'count': COUNT, 'user_timeout': None}
    attached = lab['again']['attached']
    assert [(a['cgroup'], a['program_id'], a['attached'], a['idle']) for a in attached] == [
        (lab['group'], after['group'][0]['id'], True, IDLE)]


@pytest.mark.parametrize('client', ['ipv4', 'ipv6', 'static', 'nested'])
def test_new_connections_in_the_group_get_the_configured_keepalive(lab, client):
    seen = lab['clients'][client]
    assert seen['settings'] == {'keepalive': 1, 'idle': IDLE, 'interval': INTERVAL, 'count': COUNT, 'user_timeout': 0}
    assert seen['timer'] is not None and 0 < seen['timer'] <= IDLE, seen['ss']  # the settings above are exact


def test_a_process_outside_the_group_gets_nothing(lab):
    for client in ('outside', 'outside_to_server'):
        seen = lab['clients'][client]
        assert seen['settings']['keepalive'] == 0 and seen['timer'] is None, seen


def test_options_set_before_connect_are_replaced_and_after_connect_win(lab):
    # measured semantics, documented in the README: the program runs once the connection is established
    assert lab['clients']['own_before']['settings']['idle'] == IDLE  # its own 300 s before connect() is replaced
    assert lab['clients']['off_before']['settings']['keepalive'] == 1  # its own SO_KEEPALIVE=0 is replaced
    assert lab['clients']['own_after']['settings']['idle'] == 50  # its setsockopt() after connect() wins
    assert IDLE < lab['clients']['own_after']['timer'] <= 50


def test_accepted_connections_of_a_server_in_the_group_get_it_whatever_its_listener_set(lab):
    seen = lab['server_side']
    assert seen['settings'] == {'keepalive': 1, 'idle': IDLE, 'interval': INTERVAL, 'count': COUNT, 'user_timeout': 0}


def test_a_foreign_program_on_a_nested_group_survives_and_its_clients_still_get_ours(lab):
    foreign = [{'id': lab['foreign_id'], 'name': 'foreign_ops', 'values': None}]
    for step in ('after_apply', 'after_replace', 'after_absent'):
        assert lab[step]['nested'] == foreign, step
    assert foreign[0] in lab['after_exclusive']['nested'] and len(ours(lab['after_exclusive']['nested'])) == 1
    assert lab['clients']['nested']['settings']['keepalive'] == 1


def test_new_values_replace_the_program_in_place(lab):
    replace = lab['replace']
    assert replace['changed'] and replace['targets'][0]['action'] == 'replaced'
    assert replace['targets'][0]['before'] == {'idle': IDLE, 'interval': INTERVAL, 'count': COUNT, 'user_timeout': None}
    assert '-idle = 33' in replace['_printed'] and '+idle = 44' in replace['_printed']
    group = lab['after_replace']['group']
    assert len(group) == 1 and group[0]['name'] == 'lnx_keepalive'  # exactly one of ours
    assert group[0]['id'] != lab['after_apply']['group'][0]['id']
    assert lab['after_replace']['pins'] == lab['after_apply']['pins']
    new, old = lab['after_replace_clients']['new'], lab['after_replace_clients']['old']
    assert new['settings'] == {'keepalive': 1, 'idle': 44, 'interval': 8, 'count': 2, 'user_timeout': 5000}
    assert old['settings']['idle'] == IDLE  # an open connection keeps what it had: the live fix changes those


def test_exclusive_removes_ours_from_every_group_not_given(lab):
    actions = dict((t['cgroup'], t['action']) for t in lab['exclusive']['targets'])
    assert actions == {lab['nested']: 'added', lab['group']: 'removed'}
    assert lab['after_exclusive']['group'] == []
    assert [a['cgroup'] for a in lab['exclusive']['attached']] == [lab['nested']]


def test_absent_removes_ours_only_and_a_second_absent_changes_nothing(lab):
    assert lab['absent']['changed'] and lab['absent']['targets'][0]['action'] == 'removed'
    assert lab['absent']['targets'][0]['cgroup'] == lab['nested']
    assert '-idle = 44' in lab['absent']['_printed']
    assert not lab['absent_again']['changed'] and not lab['absent_again']['failed']
    assert lab['after_absent']['group'] == [] and not lab['after_absent']['pin_dir']
    assert lab['after_absent_clients']['new']['settings']['keepalive'] == 0
    assert lab['groups_left'] == []


def test_the_boot_code_fails_and_attaches_nothing_where_the_kernel_refuses_a_value(lab):
    refused = lab['boot_refused']
    assert refused['status'] == 1 and refused['group'] == [], refused
    assert any("bpf_setsockopt() refuses TCP_KEEPIDLE=0 from a sock_ops program (EINVAL)" in line
               for line in refused['lines']), refused['lines']
    assert 'keepalive: cgroup %s: failed: not attached, since the kernel refuses its values (see above)' % lab['group'] \
        in refused['lines']


def test_the_boot_code_says_what_the_kernel_accepted_and_what_it_attached(lab):
    done = lab['boot']
    assert done['status'] == 0, done
    assert any(line.endswith('accepts TCP_KEEPIDLE=33, TCP_KEEPINTVL=7, TCP_KEEPCNT=3, SO_KEEPALIVE=1 (self-test)')
               for line in done['lines']), done['lines']
    assert 'keepalive: cgroup %s: added, idle 33s, interval 7s, count 3' % lab['group'] in done['lines']
    assert [p['values'] for p in done['group']] == [{'idle': 33, 'interval': 7, 'count': 3, 'user_timeout': None}]
    again = lab['boot_again']
    assert again['status'] == 0 and any(line.endswith('(self-test earlier this boot)') for line in again['lines'])
    assert 'keepalive: cgroup %s: unchanged, idle 33s, interval 7s, count 3' % lab['group'] in again['lines']
    assert lab['boot_removed']['changed'] and not lab['boot_removed']['failed']
