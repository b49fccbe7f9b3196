"""keepalive_cgroup on this host's kernel: throwaway cgroups, real clients, `ss`, and the module ad hoc.

Run as root inside a private network and mount namespace (`unshare -n -m`): the BPF file system the
module mounts, /run, and every connection, stay in it; a BPF file system the host has mounted is
unmounted there first. Makes /ka-lab-PID, /ka-lab-PID/nested and /ka-lab-PID/blocked under the cgroup2
root, attaches a foreign no-op sock_ops program ("foreign_ops") to the nested group with
BPF_F_ALLOW_MULTI and another to the blocked group without it, runs the module through its steps with
clients started inside and outside the groups, runs the boot code as the boot unit does, and removes
everything it made, the groups child-first. Prints JSON.
Usage: cgroup_lab.py RIG_DIR MODULE_UTILS_DIR STATIC_CLIENT
"""

import importlib.util
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, 'cgroup_client.py')
MODULE = 'linuxnet.keepalive.keepalive_cgroup'
PORT = 7700


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Lab:
    def __init__(self, rig, module_utils, static_client):
        self.adhoc = load(os.path.join(rig, 'adhoc.py'), 'adhoc')
        self.sock_ops = load(os.path.join(module_utils, '_sock_ops.py'), '_sock_ops')
        self.static_client = static_client
        self.root = self.sock_ops.cgroup2_mount()
        self.group = '/ka-lab-%d' % os.getpid()
        self.nested = self.group + '/nested'
        self.blocked = self.group + '/blocked'
        self.clients = []
        self.held = []

    def path(self, group):
        return os.path.join(self.root, group.lstrip('/'))

    def run(self, args, options=()):
        result = self.adhoc.run_module('localhost', MODULE, args, options=options)
        return dict((k, result.get(k)) for k in ('changed', 'failed', 'msg', 'targets', 'attached', 'files', '_printed',
                                                 '_warnings'))

    def programs(self, group):
        found, _flags = self.sock_ops.attached_programs(self.root, group)
        return [dict(id=p['id'], name=p['name'], values=p['values']) for p in found]

    def start(self, group, argv):
        """Start a client whose first instruction is to join ``group`` (None: stay outside); its local port."""
        if group is None:
            command = argv
        else:
            command = ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.path(group)] + argv
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.clients.append(proc)
        return int(proc.stdout.readline())

    def python(self, group, *args):
        return self.start(group, [sys.executable, CLIENT] + list(args))

    def serve(self):
        for family, address in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
            listener = socket.socket(family)
            listener.bind((address, PORT))
            listener.listen(64)
            self.held.append(listener)
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                self.held.append(listener.accept()[0])
            except OSError:
                return

    def observe(self, ports):
        """{name: {'port', 'timer', 'settings'}}: the `ss -o` timer and the live settings of each client's socket."""
        time.sleep(0.2)
        ss = subprocess.run(['ss', '-tnoH', 'state', 'established'], capture_output=True, text=True,
                            check=True).stdout.splitlines()
        facts = self.adhoc.run_module('localhost', 'linuxnet.keepalive.keepalive_facts',
                                      'inspect=true directions=outbound,inbound limit=1000 ports=%d,%d '
                                      'states=established' % (PORT, PORT + 1))
        by_port = dict((c['local_port'], c.get('settings'))
                       for c in facts['ansible_facts']['keepalive']['connections'])
        found = {}
        for name, port in ports.items():
            lines = [line for line in ss if line.split()[2].endswith(':%d' % port)]
            timer = re.search(r'timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:sec|\.))?', lines[0]) if lines else None
            found[name] = dict(port=port, ss=lines, settings=by_port.get(port),
                               timer=int(timer.group(1) or 0) * 60 + int(timer.group(2) or 0) if timer else None)
        return found

    def foreign(self, group=None, multi=True):
        """A sock_ops program that is not ours, doing nothing, attached to a group (the nested one) with ALLOW_MULTI,
        or without it: then the group admits no other program."""
        code = struct.pack('<BBhi', 0xb7, 0, 0, 1) + struct.pack('<BBhi', 0x95, 0, 0, 0)  # r0 = 1; exit
        program = self.sock_ops.load_code(code, 'foreign_ops')
        fd = os.open(self.path(group or self.nested), os.O_RDONLY | os.O_DIRECTORY)
        try:
            if multi:
                self.sock_ops.attach(fd, program)
            else:
                self.sock_ops._bpf(self.sock_ops.PROG_ATTACH, struct.pack('=IIIII', fd, program.fd,
                                                                          self.sock_ops.CGROUP_SOCK_OPS, 0, 0))
        finally:
            os.close(fd)
        return program

    def cleanup(self, foreign, blocking=None):
        for proc in self.clients:
            try:
                proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        for sock in self.held:
            sock.close()
        for group, program in ((self.nested, foreign), (self.blocked, blocking)):
            if program is not None:
                fd = os.open(self.path(group), os.O_RDONLY | os.O_DIRECTORY)
                self.sock_ops.detach(fd, program)
                os.close(fd)
                program.close()
        for group in (self.nested, self.blocked, self.group):
            for _attempt in range(100):
                try:
                    os.rmdir(self.path(group))
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def boot(lab, config, values):
    """The boot unit's run of the installed code, as its unit file runs it, on a configuration of one target."""
    with open(config, 'w') as handle:
        handle.write(lab.sock_ops.render_config([dict(values, cgroup=lab.group, unit=None)]))
    folder = os.path.dirname(lab.sock_ops.__file__)
    entry = lab.sock_ops.ENTRY % (folder, '_sock_ops')
    proc = subprocess.run([sys.executable, '-I', '-B', '-S', '-c', entry, '--boot', config], capture_output=True,
                          text=True, check=False, timeout=60)
    return {'status': proc.returncode, 'lines': proc.stdout.splitlines(), 'group': lab.programs(lab.group)}


def main():
    lab = Lab(*sys.argv[1:4])
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    # This mount namespace starts without a BPF file system and with an empty /run (where the boot code notes its
    # self-test), whatever the host has mounted: what the module mounts and writes stays here.
    if lab.sock_ops.bpffs_mounted():
        subprocess.run(['umount', lab.sock_ops.BPFFS], check=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/run'], check=True)
    os.mkdir(lab.path(lab.group))
    os.mkdir(lab.path(lab.nested))
    os.mkdir(lab.path(lab.blocked))
    foreign = blocking = None
    out = {'group': lab.group, 'nested': lab.nested, 'blocked': lab.blocked}
    try:
        foreign = lab.foreign()
        out['foreign_id'] = foreign.info()['id']
        blocking = lab.foreign(lab.blocked, multi=False)
        out['blocking_id'] = blocking.info()['id']
        lab.serve()
        values = 'idle=33 interval=7 count=3 persist=false'
        given = 'cgroups=%s %s' % (lab.group, values)
        out['bad_values'] = lab.run('cgroups=%s idle=0 count=500 persist=false' % lab.group)
        out['missing_group'] = lab.run('cgroups=%s/nope,%s %s' % (lab.group, lab.group, values))
        out['bad_path'] = lab.run('cgroups=../etc %s' % values)
        out['no_systemd_unit'] = lab.run('units=app.service %s' % values)
        out['no_systemd_persist'] = lab.run('cgroups=%s idle=33' % lab.group)
        # a group that admits no second program, given after one that does: refused before anything is attached
        out['blocked_second'] = lab.run('cgroups=%s,%s %s' % (lab.group, lab.blocked, values))
        out['after_refusals'] = {'group': lab.programs(lab.group), 'bpffs': lab.sock_ops.bpffs_mounted()}
        out['check'] = lab.run(given, options=['--check', '--diff'])
        out['after_check'] = {'group': lab.programs(lab.group), 'bpffs': lab.sock_ops.bpffs_mounted()}
        out['apply'] = lab.run(given, options=['--diff'])
        out['again'] = lab.run(given)
        out['no_target'] = lab.run('{"cgroups": [], "exclusive": true, "persist": false}')
        out['after_apply'] = {'group': lab.programs(lab.group), 'nested': lab.programs(lab.nested),
                              'bpffs': lab.sock_ops.bpffs_mounted(), 'pins': sorted(os.listdir(lab.sock_ops.PIN_DIR))}
        ports = {
            'ipv4': lab.python(lab.group, 'connect', '4', str(PORT)),
            'ipv6': lab.python(lab.group, 'connect', '6', str(PORT)),
            'static': lab.start(lab.group, [lab.static_client, str(PORT)]),
            'nested': lab.python(lab.nested, 'connect', '4', str(PORT)),
            'outside': lab.python(None, 'connect', '4', str(PORT)),
            'own_before': lab.python(lab.group, 'connect', '4', str(PORT), 'keepalive=1,idle=300'),
            'off_before': lab.python(lab.group, 'connect', '4', str(PORT), 'keepalive=0'),
            'own_after': lab.python(lab.group, 'connect', '4', str(PORT), '', 'idle=50'),
        }
        server = lab.python(lab.group, 'listen', str(PORT + 1), 'keepalive=0,idle=500')
        accepted_from = socket.create_connection(('127.0.0.1', server))
        lab.held.append(accepted_from)
        ports['outside_to_server'] = accepted_from.getsockname()[1]
        out['clients'] = lab.observe(ports)
        out['server_side'] = lab.observe({'accepted': server})['accepted']
        out['replace'] = lab.run('cgroups=%s idle=44 interval=8 count=2 user_timeout=5000 persist=false' % lab.group,
                                 options=['--diff'])
        out['after_replace'] = {'group': lab.programs(lab.group), 'nested': lab.programs(lab.nested),
                                'pins': sorted(os.listdir(lab.sock_ops.PIN_DIR))}
        ports = {'new': lab.python(lab.group, 'connect', '4', str(PORT)), 'old': ports['ipv4']}
        out['after_replace_clients'] = lab.observe(ports)
        out['exclusive'] = lab.run('cgroups=%s exclusive=true idle=44 interval=8 count=2 user_timeout=5000 persist=false'
                                   % lab.nested)
        out['after_exclusive'] = {'group': lab.programs(lab.group), 'nested': lab.programs(lab.nested)}
        out['absent'] = lab.run('cgroups=%s state=absent' % lab.nested, options=['--diff'])
        out['absent_again'] = lab.run('state=absent')
        out['after_absent'] = {'group': lab.programs(lab.group), 'nested': lab.programs(lab.nested),
                               'pin_dir': os.path.exists(lab.sock_ops.PIN_DIR)}
        out['after_absent_clients'] = lab.observe({'new': lab.python(lab.group, 'connect', '4', str(PORT))})
        # the boot unit's run on a kernel that refuses a value (as after a downgrade) and on one that accepts them
        config = os.path.join('/run', 'keepalive-cgroup-lab.json')
        out['boot_refused'] = boot(lab, config, {'idle': 0, 'interval': 7, 'count': 3, 'user_timeout': None})
        out['boot'] = boot(lab, config, {'idle': 33, 'interval': 7, 'count': 3, 'user_timeout': None})
        out['boot_again'] = boot(lab, config, {'idle': 33, 'interval': 7, 'count': 3, 'user_timeout': None})
        out['boot_removed'] = lab.run('cgroups=%s state=absent' % lab.group)
    finally:
        lab.cleanup(foreign, blocking)
    out['groups_left'] = [g for g in (lab.group, lab.nested, lab.blocked) if os.path.exists(lab.path(g))]
    json.dump(out, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
