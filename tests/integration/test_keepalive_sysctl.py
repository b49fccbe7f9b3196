"""keepalive_sysctl on a real kernel, with private sysctls and private configuration directories.

Every run happens in `unshare -n -m` (tests/integration/files/sysctl_sandbox.sh): the network
namespace has its own tcp_keepalive_* values, and test folders are bind-mounted over /etc/sysctl.d,
/run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and /etc/sysctl.conf. The host's kernel
settings and files are checked to be unchanged after every run.
"""

import json
import os
import subprocess

import pytest

from conftest import HERE, namespace_env

KEYS = ('time', 'intvl', 'probes')
OURS = 'etc.sysctl.d/60-keepalive.conf'


def host_state():
    values = [open('/proc/sys/net/ipv4/tcp_keepalive_' + k).read() for k in KEYS]
    return values, sorted(os.listdir('/etc/sysctl.d')), open('/etc/sysctl.conf').read()


@pytest.fixture
def sandbox(unshare, tmp_path):
    """Returns run(calls, files={}, ro_proc_sys=False) -> (results, running values, work folder)."""
    if not os.path.isdir('/usr/lib/sysctl.d') or not os.path.isfile('/etc/sysctl.conf'):
        pytest.skip('needs /usr/lib/sysctl.d and /etc/sysctl.conf as mount points')

    def run(calls, files=None, ro_proc_sys=False):
        for name in ('etc.sysctl.d', 'run.sysctl.d', 'usr.local.lib.sysctl.d', 'usr.lib.sysctl.d'):
            (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / 'sysctl.conf').touch()
        for relative, text in (files or {}).items():
            if isinstance(text, bytes):
                (tmp_path / relative).write_bytes(text)
            else:
                (tmp_path / relative).write_text(text)
        (tmp_path / 'calls.json').write_text(json.dumps({'calls': calls}))
        env = namespace_env()
        env['KEEPALIVE_OUT'] = str(tmp_path / 'results.json')
        env['RO_PROC_SYS'] = '1' if ro_proc_sys else '0'
        before = host_state()
        proc = subprocess.run(
            ['unshare', '-n', '-m', '--', 'sh', os.path.join(HERE, 'files', 'sysctl_sandbox.sh'), str(tmp_path),
             'ansible-playbook', '-i', 'localhost,', '-e', '@' + str(tmp_path / 'calls.json'),
             os.path.join(HERE, 'files', 'sysctl_calls.yml')],
            env=env, capture_output=True, text=True, check=False, timeout=300)
        assert host_state() == before, 'the host changed'
        (tmp_path / 'play.log').write_text(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        results = json.loads((tmp_path / 'results.json').read_text())
        running = dict(zip(KEYS, (int(v) for v in (tmp_path / 'running').read_text().split())))
        return results, running, tmp_path
    return run


SEEDED = {
    'run.sysctl.d/10-early.conf': 'net.ipv4.tcp_keepalive_time = 300\n',          # before ours: no conflict
    'etc.sysctl.d/70-tuning.conf': '# tuning\nnet.ipv4.tcp_keepalive_time=7200\n',  # after ours: conflict
    'usr.lib.sysctl.d/90-vendor.conf': 'net.ipv4.tcp_keepalive_probes = 9\n',       # masked below
    'etc.sysctl.d/90-vendor.conf': '',
    'usr.local.lib.sysctl.d/95-same.conf': 'net/ipv4/tcp_keepalive_intvl = 30\n',   # same value: harmless
    'sysctl.conf': 'net.ipv4.tcp_keepalive_intvl = 75\n',                           # read last: conflict
}


def test_check_mode_then_apply_then_nothing_to_do(sandbox):
    calls = [{'args': {'time': 120, 'intvl': 30, 'probes': 4}, 'check': True, 'diff': True},
             {'args': {'time': 120, 'intvl': 30, 'probes': 4}, 'diff': True},
             {'args': {'time': 120, 'intvl': 30, 'probes': 4}}]
    results, running, work = sandbox(calls)
    check, apply, again = results
    assert check['changed'] and apply['changed'] and not again['changed']
    assert check['before'] == {'time': 7200, 'intvl': 75, 'probes': 9}
    assert check['after'] == apply['after'] == {'time': 120, 'intvl': 30, 'probes': 4}
    assert 'net.ipv4.tcp_keepalive_time = 7200' in check['diff'][0]['before']
    assert 'net.ipv4.tcp_keepalive_time = 120' in check['diff'][0]['after']
    assert check['diff'][1]['before'] == '' and 'net.ipv4.tcp_keepalive_probes = 4' in check['diff'][1]['after']
    assert running == {'time': 120, 'intvl': 30, 'probes': 4}
    path = work / OURS
    lines = [l for l in path.read_text().splitlines() if not l.startswith('#')]
    assert lines == ['net.ipv4.tcp_keepalive_time = 120', 'net.ipv4.tcp_keepalive_intvl = 30',
                     'net.ipv4.tcp_keepalive_probes = 4']
    stat = path.stat()
    assert (stat.st_mode & 0o777, stat.st_uid, stat.st_gid) == (0o644, 0, 0)
    assert again['conflicts'] == []


def test_check_mode_alone_changes_nothing(sandbox):
    results, running, work = sandbox([{'args': {'time': 120}, 'check': True}])
    assert results[0]['changed']
    assert running == {'time': 7200, 'intvl': 75, 'probes': 9}
    assert not (work / OURS).exists()


def test_only_the_given_keys_are_written(sandbox):
    _results, running, work = sandbox([{'args': {'probes': 5}}])
    assert running == {'time': 7200, 'intvl': 75, 'probes': 5}
    assert [l for l in (work / OURS).read_text().splitlines() if not l.startswith('#')] == [
        'net.ipv4.tcp_keepalive_probes = 5']


def test_conflicts_follow_the_boot_order(sandbox):
    results, _running, work = sandbox([{'args': {'time': 120, 'intvl': 30, 'probes': 4}}], files=SEEDED)
    found = sorted((c['file'], c['key'], c['value']) for c in results[0]['conflicts'])
    assert found == [
        ('/etc/sysctl.conf', 'net.ipv4.tcp_keepalive_intvl', '75'),
        ('/etc/sysctl.d/70-tuning.conf', 'net.ipv4.tcp_keepalive_time', '7200'),
    ]
    # on_conflict defaults to warn: the user sees it in the play's output
    log = (work / 'play.log').read_text()
    assert 'other files would override these values at boot' in log and '70-tuning.conf' in log


def test_on_conflict_fail_changes_nothing(sandbox):
    results, running, work = sandbox([{'args': {'time': 120, 'on_conflict': 'fail'}}], files=SEEDED)
    assert results[0]['failed'] and '70-tuning.conf' in results[0]['msg'] and 'nothing was changed' in results[0]['msg']
    assert running['time'] == 7200 and not (work / OURS).exists()


def test_a_file_of_the_same_name_read_first_masks_ours(sandbox):
    results, _running, _work = sandbox([{'args': {'time': 120, 'path': '/usr/lib/sysctl.d/60-keepalive.conf'}}],
                                       files={'etc.sysctl.d/60-keepalive.conf': 'kernel.foo = 1\n'})
    assert [(c['file'], c['masks']) for c in results[0]['conflicts']] == [('/etc/sysctl.d/60-keepalive.conf', True)]


@pytest.mark.parametrize('args,message', [
    ({'time': 0}, 'time must be from 1 to 32767 seconds, not 0'),
    ({'time': 40000}, 'time must be from 1 to 32767 seconds, not 40000'),
    ({'probes': 128}, 'probes must be from 1 to 127, not 128'),
    ({'intvl': 'soon'}, "argument 'intvl' is of type str and we were unable to convert to int"),
    ({'time': 1.5}, "argument 'time' is of type float and we were unable to convert to int"),
    ({'time': 120, 'path': '/etc/sysctl.conf'}, 'path must be a .conf file directly in one of /etc/sysctl.d'),
    ({'apply': False}, 'state is present but any of the following are missing: time, intvl, probes'),
])
def test_bad_input_fails_clearly_and_changes_nothing(sandbox, args, message):
    results, running, work = sandbox([{'args': dict(args, intvl=args.get('intvl', 30))
                                       if 'probes' in args else args}])
    assert results[0]['failed'] and message in results[0]['msg'], results[0]['msg']
    assert running == {'time': 7200, 'intvl': 75, 'probes': 9}
    assert not (work / OURS).exists()


def test_read_only_proc_sys_says_so_and_apply_false_still_persists(sandbox):
    results, running, work = sandbox([{'args': {'time': 120}}, {'args': {'time': 120, 'apply': False}}],
                                     ro_proc_sys=True)
    refused, persisted = results
    assert refused['failed'] and 'read-only' in refused['msg'] and 'apply: false' in refused['msg']
    assert persisted['changed'] and not persisted.get('failed')
    assert running['time'] == 7200
    assert 'net.ipv4.tcp_keepalive_time = 120' in (work / OURS).read_text()


def test_a_file_we_did_not_write_is_left_alone(sandbox):
    results, _running, work = sandbox([{'args': {'time': 120}}, {'args': {'state': 'absent'}}],
                                      files={OURS: 'net.ipv4.tcp_keepalive_time = 60\n'})
    assert all(r['failed'] and 'not written by this module' in r['msg'] for r in results)
    assert (work / OURS).read_text() == 'net.ipv4.tcp_keepalive_time = 60\n'


def test_absent_removes_our_file_and_restores_boot_values(sandbox):
    calls = [{'args': {'time': 120, 'intvl': 30, 'probes': 4}},
             {'args': {'state': 'absent'}, 'check': True},
             {'args': {'state': 'absent'}, 'diff': True},
             {'args': {'state': 'absent'}}]
    files = {'run.sysctl.d/10-early.conf': 'net.ipv4.tcp_keepalive_time = 300\n'}
    results, running, work = sandbox(calls, files=files)
    _apply, check, absent, again = results
    assert check['changed'] and absent['changed'] and not again['changed']
    assert absent['after'] == {'time': 300, 'intvl': 75, 'probes': 9}  # 10-early.conf, then kernel defaults
    assert running == {'time': 300, 'intvl': 75, 'probes': 9}
    assert not (work / OURS).exists()
    assert sorted(os.listdir(str(work / 'etc.sysctl.d'))) == []


def test_keys_written_earlier_are_kept_when_only_one_is_given(sandbox):
    results, running, work = sandbox([{'args': {'time': 120, 'intvl': 30, 'probes': 4}},
                                      {'args': {'time': 90}, 'diff': True}, {'args': {'time': 90}}])
    _first, second, again = results
    assert second['changed'] and not again['changed']
    assert [l for l in (work / OURS).read_text().splitlines() if not l.startswith('#')] == [
        'net.ipv4.tcp_keepalive_time = 90', 'net.ipv4.tcp_keepalive_intvl = 30', 'net.ipv4.tcp_keepalive_probes = 4']
    assert running == {'time': 90, 'intvl': 30, 'probes': 4}


def test_a_managed_file_that_is_not_utf8_is_rewritten(sandbox):
    results, running, work = sandbox(
        [{'args': {'time': 120}, 'diff': True}],
        files={OURS: '# Managed by Ansible (linuxnet.keepalive.keepalive_sysctl): caf\xe9\n'.encode('latin-1')})
    assert results[0]['changed'] and not results[0].get('failed'), results[0]
    assert 'net.ipv4.tcp_keepalive_time = 120' in (work / OURS).read_text()


def test_a_folder_at_path_fails_in_check_mode_as_in_a_real_run(sandbox, tmp_path):
    (tmp_path / OURS).mkdir(parents=True)
    results, running, _work = sandbox([{'args': {'time': 120}, 'check': True}, {'args': {'time': 120}}])
    for result in results:
        assert result['failed'] and 'is a folder' in result['msg'] and not result['changed'], result
    assert running['time'] == 7200


def test_a_hidden_file_name_is_refused(sandbox):
    results, _running, work = sandbox([{'args': {'time': 120, 'path': '/etc/sysctl.d/.conf'}}])
    assert results[0]['failed'] and 'hidden file' in results[0]['msg']
    assert os.listdir(str(work / 'etc.sysctl.d')) == []


def test_debians_link_to_sysctl_conf_is_one_conflict_and_a_leading_zero_none(sandbox, tmp_path):
    (tmp_path / 'etc.sysctl.d').mkdir()
    os.symlink('../sysctl.conf', str(tmp_path / 'etc.sysctl.d' / '99-sysctl.conf'))
    results, _running, _work = sandbox([{'args': {'time': 120, 'intvl': 30}}], files={
        'sysctl.conf': 'net.ipv4.tcp_keepalive_time = 7200\n', 'etc.sysctl.d/70-x.conf': 'net.ipv4.tcp_keepalive_intvl = 030\n'})
    assert [(c['file'], c['key']) for c in results[0]['conflicts']] == [
        ('/etc/sysctl.d/99-sysctl.conf', 'net.ipv4.tcp_keepalive_time')]
