"""Unprivileged processes that try to hide TCP connections from a check of every network namespace.

Usage (as root, alone in a PID, network and mount namespace of its own, so that the check sees only
the processes started here):
    unshare --pid --fork --mount-proc --net --mount -- python3 hostile_namespaces.py ACTION...
Each hider runs as nobody in a user namespace of its own (as any user can on Debian) and holds a
connection without keep-alive on 127.0.0.1:7601 (thread), 7602 (passed) or 7603 (flipping):
  thread    one thread of the process unshares its network namespace alone and connects there;
  passed    a child makes a namespace, connects there, passes both ends to its parent over a unix
            socket (SCM_RIGHTS) and exits: no process is in that namespace any more;
  flipping  the process holds a connection in namespace A and switches itself between A and an empty
            namespace B as fast as it can;
  unit, container  in a copy of a user's delegated subtree (user@65534.service, under the test's own
            cgroup), the process names its own group backup.service (7604) or docker-ID.scope (7605).
ACTIONS (JSON, one argument): {"hiders": [...], "module": [NAME, ARGS] | null, "as_nobody": bool,
"snapshots": N, "cgroup": the test's own group (made and removed by the test), for unit and
container}. Prints JSON: {"hiders": {name: {"pid", "netns"}}, "module": result, "snapshots": [...]}.
Every process started here ends with this one (it is PID 1 of its namespace).
"""

import ctypes
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
COLLECTIONS = os.path.join(ROOT, '.cache', 'collections')
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
PORTS = {'thread': 7601, 'passed': 7602, 'flipping': 7603, 'unit': 7604, 'container': 7605}
# Below a user's own service manager the user names the groups (systemd delegates that subtree to them).
DELEGATED = 'user.slice/user-65534.slice/user@65534.service'
FAKE_GROUPS = {'unit': 'backup.service', 'container': 'docker-%s.scope' % ('c0ffee' * 11)[:64]}
NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']

LIBC = ctypes.CDLL(None, use_errno=True)


def unshare(flags):
    if LIBC.unshare(flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, 'unshare: ' + os.strerror(code))


def setns(fd):
    if LIBC.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, 'setns: ' + os.strerror(code))


def loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags, = struct.unpack_from('16sH', fcntl.ioctl(sock.fileno(), 0x8913, struct.pack('16sH22x', b'lo', 0)))[1:]
        fcntl.ioctl(sock.fileno(), 0x8914, struct.pack('16sH22x', b'lo', flags | 1))


def connection(port):
    """A listener, a client without keep-alive connected to it, and the accepted end."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', port))
    listener.listen(1)
    client = socket.create_connection(('127.0.0.1', port))
    accepted, _peer = listener.accept()
    return [listener, client, accepted]


def hider_thread():
    unshare(CLONE_NEWUSER)
    held, ready = [], threading.Event()

    def inside():
        unshare(CLONE_NEWNET)
        loopback_up()
        held.extend(connection(PORTS['thread']))
        held.append(os.stat('/proc/thread-self/ns/net').st_ino)
        ready.set()
        time.sleep(3600)
    threading.Thread(target=inside, daemon=True).start()
    ready.wait(10)
    return held[-1]


def hider_passed():
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            unshare(CLONE_NEWUSER | CLONE_NEWNET)
            loopback_up()
            listener, client, accepted = connection(PORTS['passed'])
            netns = os.stat('/proc/self/ns/net').st_ino
            child_end.sendmsg([struct.pack('=Q', netns)],
                              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('=ii', client.fileno(), accepted.fileno()))])
            status = 0
        finally:
            os._exit(status)
    data, ancillary, _flags, _address = parent_end.recvmsg(8, socket.CMSG_SPACE(8))
    os.waitpid(pid, 0)
    fds = struct.unpack('=ii', ancillary[0][2])
    hider_passed.held = [socket.socket(fileno=fd) for fd in fds]
    return struct.unpack('=Q', data)[0]


def hider_flipping():
    unshare(CLONE_NEWUSER)
    unshare(CLONE_NEWNET)
    loopback_up()
    held = connection(PORTS['flipping'])
    a = os.open('/proc/self/ns/net', os.O_RDONLY)
    unshare(CLONE_NEWNET)
    b = os.open('/proc/self/ns/net', os.O_RDONLY)
    netns = os.fstat(a).st_ino

    def flip():
        while True:
            setns(a)
            setns(b)
    threading.Thread(target=flip, daemon=True).start()
    hider_flipping.held = held
    return netns


def hider_named(kind):
    """In the delegated subtree it was moved to, make a group with a borrowed name, join it, and connect."""
    sys.stdin.readline()  # moved into the delegated group by root
    line = [l for l in open('/proc/self/cgroup').read().splitlines() if l.startswith('0::')][0]
    group = os.path.join(cgroup2_mount() + line[3:], FAKE_GROUPS[kind])
    os.mkdir(group)
    with open(os.path.join(group, 'cgroup.procs'), 'w') as handle:
        handle.write('%d\n' % os.getpid())
    hider_named.held = connection(PORTS[kind])
    return os.stat('/proc/self/ns/net').st_ino


def cgroup2_mount():
    for line in open('/proc/self/mountinfo'):
        left, _sep, right = line.partition(' - ')
        if right.split()[0] == 'cgroup2' and left.split()[3] == '/':
            return left.split()[4]
    raise RuntimeError('no cgroup2 mount')


def delegate(test_group):
    """The test's group's copy of a user's delegated subtree, owned by nobody as systemd would hand it over."""
    path = os.path.join(cgroup2_mount(), test_group.strip('/'), DELEGATED)
    os.makedirs(path)
    for name in ('', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control'):
        os.chown(os.path.join(path, name), 65534, 65534)
    return path


def hide(kind):
    """Run as a hider: print {"pid", "netns"} when the connection is held, then hold it until stdin closes."""
    netns = {'thread': hider_thread, 'passed': hider_passed, 'flipping': hider_flipping, 'unit': hider_named,
             'container': hider_named}[kind]
    netns = netns(kind) if kind in FAKE_GROUPS else netns()
    print(json.dumps({'pid': os.getpid(), 'netns': netns}), flush=True)
    sys.stdin.read()


def module(name, args, as_nobody):
    """Run a module of the collection: through ansible as root, or on its own as nobody (no CAP_SYS_ADMIN)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    if as_nobody:
        argv = NOBODY + [sys.executable, '-m', 'ansible_collections.linuxnet.keepalive.plugins.modules.' + name]
        env = dict(env, PYTHONPATH=COLLECTIONS, HOME='/tmp')
        proc = subprocess.run(argv, input=json.dumps({'ANSIBLE_MODULE_ARGS': args}), env=env, capture_output=True,
                              text=True, timeout=120, cwd='/tmp', check=False)
        try:
            return json.loads(proc.stdout)
        except ValueError:  # a module that crashed prints a traceback, not its result
            return {'failed': True, 'crashed': True, 'msg': proc.stdout + proc.stderr}
    bin_dir = os.path.dirname(sys.executable)
    proc = subprocess.run([os.path.join(bin_dir, 'ansible'), 'localhost', '-c', 'local', '-m',
                           'linuxnet.keepalive.' + name, '-a', json.dumps(args)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    for marker in ('localhost | SUCCESS => ', 'localhost | FAILED! => '):
        if marker in proc.stdout:
            result = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index(marker) + len(marker):])[0]
            result['_stderr'] = ' '.join(proc.stderr.split())
            return result
    raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])


def snapshots(count):
    """``count`` in-process reads of every namespace: per read, each namespace's inode and socket count, the rows
    on the hiders' ports with their namespace, and what was not read."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import snapshot
    found = []
    for _round in range(count):
        read = snapshot(namespaces='all', ports=sorted(PORTS.values()))
        found.append({'namespaces': dict((e['netns'], e['total']) for e in read.namespaces),
                      'rows': [(c['local_port'], c['remote_port'], c['netns']) for c in read.connections],
                      'not_read': read.not_read() if hasattr(read, 'not_read') else None})
    return found


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--hide':
        hide(sys.argv[2])
        return
    spec = json.loads(sys.argv[1])
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    hiders, started = {}, []
    try:
        delegated = delegate(spec['cgroup']) if spec.get('cgroup') else None
        for kind in spec.get('hiders', []):
            proc = subprocess.Popen(NOBODY + [sys.executable, os.path.abspath(__file__), '--hide', kind],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd='/tmp')
            started.append(proc)
            if kind in FAKE_GROUPS:
                with open(os.path.join(delegated, 'cgroup.procs'), 'w') as handle:
                    handle.write('%d\n' % proc.pid)
                proc.stdin.write('go\n')
                proc.stdin.flush()
            hiders[kind] = json.loads(proc.stdout.readline())
        out = {'hiders': hiders}
        if spec.get('module'):
            out['module'] = module(spec['module'][0], spec['module'][1], spec.get('as_nobody', False))
        if spec.get('snapshots'):
            out['snapshots'] = snapshots(spec['snapshots'])
        print(json.dumps(out))
    finally:
        for proc in started:
            proc.kill()
            proc.wait()


if __name__ == '__main__':
    main()
