"""The compatibility stage: every ansible-core minor the collection claims, and every target Python, for real.

For each ansible-core version (the floor's first release and the newest release of every minor from the floor
up to the newest that pip offers), in a virtual environment of its own under .cache/compat:
  - the collection, built once, is installed from its tarball with that version's ansible-galaxy;
  - ansible-doc shows every module, filter and the role;
  - in a systemd container of a host as it comes (the minimal image: no python3-apt, no compiler, no bpftool),
    that version's ansible runs there with the local connection (its environment and the pyenv interpreters
    are mounted at the same paths): a module ad hoc, the role with its defaults for real, its shim, cgroup and
    live-fix modes in check mode, a role variable of the wrong type, every module (tests/compat/modules.yml),
    and both playbooks;
  - ansible-test sanity's compile and import tests, and validate-modules, with that version's ansible-test.
Then every module again on each target Python (pyenv's), with the newest claimed ansible-core that manages it.
Prints a table of what passed, with times. Usage: compat.py [--versions V,V...]
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(ROOT, '.cache', 'compat')
PYENV = os.environ.get('PYENV_ROOT', '/root/.pyenv')
IMAGE = 'localhost/linuxnet-keepalive-debian:bookworm-minimal'
CONTAINER = 'keepalive-compat-%d' % os.getpid()
FLOOR = (2, 16)
# The Python each ansible-core minor's controller runs on here, and the target Pythons each manages.
CONTROLLER = {16: '3.11', 17: '3.11', 18: '3.11', 19: '3.11', 20: '3.13', 21: '3.13'}
TARGETS = {16: ('3.6', '3.12'), 17: ('3.7', '3.12'), 18: ('3.8', '3.13'), 19: ('3.8', '3.13'), 20: ('3.9', '3.13'),
           21: ('3.9', '3.13')}
MODULES = ['keepalive_facts', 'keepalive_sysctl', 'keepalive_sockets', 'keepalive_check', 'keepalive_path',
           'keepalive_cgroup', 'keepalive_shim']
FILTERS = ['keepalive_table', 'keepalive_fleet', 'keepalive_coverage']
SERVICES = {
    'compat-server.service': ('[Service]\nExecStart=/usr/bin/python3 -c "import socket, threading; '
                              'l = socket.socket(); l.bind((\'127.0.0.1\', 7450)); l.listen(16); '
                              '[threading.Thread(target=c.recv, args=(1,), daemon=True).start() for c, _a in '
                              'iter(l.accept, None)]"\n'),
    'compat-client.service': ('[Unit]\nAfter=compat-server.service\n[Service]\nRestart=on-failure\nRestartSec=1\n'
                              'ExecStart=/usr/bin/python3 -c "import socket, time; '
                              'c = socket.create_connection((\'127.0.0.1\', 7450)); time.sleep(86400)"\n'),
}
rows = []


def run(argv, env=None, timeout=600, check=True, cwd=None):
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise SystemExit('%s failed (%d):\n%s\n%s'
                         % (' '.join(argv), proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
    return proc


def python(minor_version):
    """The pyenv interpreter of a Python minor version ('3.11' -> .../versions/3.11.7/bin/python3.11)."""
    for name in sorted(os.listdir(os.path.join(PYENV, 'versions'))):
        if name.startswith(minor_version + '.'):
            return os.path.join(PYENV, 'versions', name, 'bin', 'python' + minor_version)
    raise SystemExit('no Python %s under %s/versions (pyenv)' % (minor_version, PYENV))


def releases():
    """The ansible-core versions to test: the floor's first release and the newest of every minor from the floor up."""
    found = set()
    for interpreter in sorted(set(CONTROLLER.values())):
        out = run([python(interpreter), '-m', 'pip', 'index', 'versions', 'ansible-core'],
                  env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1')).stdout
        listed = re.search(r'Available versions: (.*)', out).group(1)
        found.update(v.strip() for v in listed.split(',') if re.match(r'^\d+\.\d+\.\d+$', v.strip()))
    by_minor = {}
    for version in found:
        parts = tuple(int(p) for p in version.split('.'))
        if parts[:2] >= FLOOR:
            by_minor.setdefault(parts[:2], []).append(parts)
    chosen = ['%d.%d.0' % FLOOR]
    for minor in sorted(by_minor):
        if minor[1] not in CONTROLLER:
            raise SystemExit('ansible-core %d.%d is out: say which Python runs its controller and which it manages '
                             '(CONTROLLER and TARGETS in %s), and claim it' % (minor + (__file__,)))
        newest = '%d.%d.%d' % max(by_minor[minor])
        if newest not in chosen:
            chosen.append(newest)
    return chosen


def as_tuple(version):
    return tuple(int(part) for part in version.split('.'))


def within(target, bounds):
    return as_tuple(bounds[0]) <= as_tuple(target) <= as_tuple(bounds[1])


def target_pythons():
    """Every target Python claimed: from the lowest any claimed ansible-core manages to the highest."""
    low = min(as_tuple(lo) for lo, _hi in TARGETS.values())
    high = max(as_tuple(hi) for _lo, hi in TARGETS.values())
    return ['3.%d' % n for n in range(low[1], high[1] + 1)]


def minor_of(version):
    return int(version.split('.')[1])


class Version(object):
    def __init__(self, version):
        self.version = version
        self.minor = minor_of(version)
        self.dir = os.path.join(CACHE, 'ansible-core-%s' % version)
        self.venv = os.path.join(self.dir, 'venv')
        self.collections = os.path.join(self.dir, 'collections')
        self.bin = os.path.join(self.venv, 'bin')

    def prepare(self):
        """This version in its virtual environment, with the pip wheels its ansible-test bootstraps."""
        stamp = os.path.join(self.venv, '.installed')
        if not os.path.exists(stamp):
            shutil.rmtree(self.venv, ignore_errors=True)
            run([python(CONTROLLER[self.minor]), '-m', 'venv', self.venv])
            run([os.path.join(self.bin, 'pip'), 'install', '-q', 'ansible-core==%s' % self.version],
                env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1'))
            open(stamp, 'w').close()
        bootstrap_pip(self)

    def install(self, tarball):
        self.prepare()
        shutil.rmtree(self.collections, ignore_errors=True)
        run([os.path.join(self.bin, 'ansible-galaxy'), 'collection', 'install', '-p', self.collections, tarball],
            env=self.env())

    def env(self):
        return dict(os.environ, HOME=os.path.join(self.dir, 'home'), ANSIBLE_HOME=os.path.join(self.dir, 'home'),
                    ANSIBLE_COLLECTIONS_PATH=self.collections, PATH=self.bin + os.pathsep + os.environ['PATH'],
                    ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_DEPRECATION_WARNINGS='false')

    def docs(self):
        """ansible-doc of every module, filter and the role."""
        for kind, names in (('module', MODULES), ('filter', FILTERS), ('role', ['keepalive'])):
            out = run([os.path.join(self.bin, 'ansible-doc'), '-t', kind, '--json']
                      + ['linuxnet.keepalive.' + n for n in names], env=self.env()).stdout
            shown = json.loads(out)
            missing = [n for n in names if 'linuxnet.keepalive.' + n not in shown]
            if missing:
                raise SystemExit('ansible-doc %s with ansible-core %s showed no %s' % (kind, self.version, missing))

    def in_container(self, argv, extra_env=None, check=True):
        env = ['HOME=/root', 'ANSIBLE_COLLECTIONS_PATH=' + self.collections, 'ANSIBLE_NOCOLOR=1',
               'ANSIBLE_FORCE_COLOR=0', 'ANSIBLE_DEPRECATION_WARNINGS=false', 'ANSIBLE_LOCALHOST_WARNING=false',
               'ANSIBLE_INVENTORY_UNPARSED_WARNING=false', 'PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin' % self.bin]
        env += ['%s=%s' % item for item in (extra_env or {}).items()]
        return run(['podman', 'exec', '-w', ROOT, CONTAINER, 'env'] + env + argv, check=check)

    def playbook(self, name, *options, **kwargs):
        return self.in_container(['ansible-playbook', '-i', 'localhost,', '-c', 'local', '-e',
                                  'ansible_python_interpreter=%s' % kwargs.get('interpreter', '/usr/bin/python3'),
                                  name] + list(options), check=kwargs.get('check', True))


def step(what, version, action):
    started = time.monotonic()
    action()
    rows.append((what, version, time.monotonic() - started))
    print('%-58s %-8s %5.1f s' % (what, version, rows[-1][2]), flush=True)


def container():
    subprocess.run(['podman', 'rm', '-f', '-t', '0', CONTAINER], capture_output=True, check=False)
    run(['podman', 'run', '-d', '--name', CONTAINER, '--privileged', '--systemd=always', '--cgroupns=private',
         '-v', '%s:%s:ro' % (PYENV, PYENV), '-v', '%s:%s:ro' % (CACHE, CACHE),
         '-v', '%s:%s:ro' % (os.path.join(ROOT, 'tests', 'compat'), os.path.join(ROOT, 'tests', 'compat')),
         IMAGE, '/usr/local/sbin/init-cgroup2'])
    for _attempt in range(120):
        state = run(['podman', 'exec', CONTAINER, 'systemctl', 'is-system-running'], check=False).stdout.strip()
        if state in ('running', 'degraded'):
            break
        time.sleep(0.5)
    for name, text in SERVICES.items():
        subprocess.run(['podman', 'exec', '-i', CONTAINER, 'sh', '-c', 'cat > /etc/systemd/system/%s' % name],
                       input=text, text=True, check=True, capture_output=True)
    run(['podman', 'exec', CONTAINER, 'systemctl', 'daemon-reload'])
    run(['podman', 'exec', CONTAINER, 'systemctl', 'start', 'compat-server.service', 'compat-client.service'])
    for package in ('python3-apt', 'gcc', 'bpftool'):  # a host as it comes
        if run(['podman', 'exec', CONTAINER, 'dpkg-query', '-W', package], check=False).returncode == 0:
            raise SystemExit('%s has %s: the compatibility stage needs the minimal image' % (IMAGE, package))


def on_version(version):
    step('ad hoc: keepalive_facts', version.version, lambda: expect(version.in_container(
        ['ansible', 'localhost', '-c', 'local', '-e', 'ansible_python_interpreter=/usr/bin/python3', '-m',
         'linuxnet.keepalive.keepalive_facts', '-a', 'ports=7450']), 'localhost | SUCCESS', 'TCP sockets'))
    step('the role with its defaults, every module, both playbooks', version.version, lambda: expect(
        version.playbook('tests/compat/all.yml'), '0 of 1 host(s) compliant', 'compat-client.service'))
    step('the role, shim, cgroup and live fix, check mode', version.version, lambda: expect(
        version.playbook('tests/compat/modes.yml', '--check', '--diff'), 'A real run would install gcc, libc6-dev'))
    step('the role, a string where a list is expected', version.version, lambda: refused(version.playbook(
        'tests/compat/role.yml', '-e', '{"keepalive_cgroup_enabled": true, "keepalive_cgroup_units": "legacy-app"}',
        check=False), 'keepalive_cgroup_units=', 'must be a list, such as'))


def expect(proc, *texts):
    for text in texts:
        if text not in proc.stdout + proc.stderr:
            raise SystemExit('expected %r in:\n%s\n%s' % (text, proc.stdout[-4000:], proc.stderr[-2000:]))


def refused(proc, *texts):
    output = proc.stdout + proc.stderr
    if proc.returncode == 0 or not all(t in output for t in texts) or 'can only concatenate' in output:
        raise SystemExit('expected a failure naming %r:\n%s' % (texts, output[-4000:]))


def bootstrap_pip(version):
    """ansible-test bootstraps pip in its virtual environments with a script it downloads from a host this
    machine cannot reach: put the stand-in, and the pip wheels that version pins (one per range of Pythons),
    in its cache."""
    found = glob.glob(os.path.join(version.venv, 'lib', 'python*', 'site-packages', 'ansible_test', '_internal',
                                   'python_requirements.py'))
    pins = sorted(set(re.findall(r"pip='([0-9.]+)'", open(found[0]).read())))
    cache = os.path.join(version.dir, 'home', '.ansible', 'test', 'cache')
    wheels = os.path.join(cache, 'wheels')
    os.makedirs(wheels, exist_ok=True)
    for pip in pins:
        shutil.copy(os.path.join(ROOT, 'tests', 'rig', 'get_pip_standin.py'),
                    os.path.join(cache, 'get_pip_%s.py' % pip.replace('.', '_')))
        if not glob.glob(os.path.join(wheels, 'pip-%s-*.whl' % pip)):
            run([os.path.join(version.bin, 'pip'), 'download', '-q', '--no-deps', '-d', wheels, 'pip==%s' % pip],
                env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1'))


def sanity(version, tarball, tests, pythons):
    """ansible-test sanity's ``tests`` on ``pythons`` (every one on the PATH, so that compile runs on each), with that
    version's ansible-test, on the built collection (its own ignore file for that version, empty)."""
    work = tempfile.mkdtemp(prefix='sanity-', dir=version.dir)
    try:
        tree = os.path.join(work, 'ansible_collections', 'linuxnet', 'keepalive')
        os.makedirs(tree)
        run(['tar', '-xzf', tarball, '-C', tree])
        shutil.copytree(os.path.join(ROOT, 'tests', 'sanity'), os.path.join(tree, 'tests', 'sanity'))
        run(['git', 'init', '-q'], cwd=tree)
        run(['git', 'add', '-A'], cwd=tree)
        # only the Pythons asked for, so that compile runs on those (pyenv's shims would offer every version)
        system = [d for d in os.environ['PATH'].split(':') if 'pyenv' not in d]
        path = [version.bin] + [os.path.dirname(python(p)) for p in pythons] + system
        argv = [os.path.join(version.bin, 'ansible-test'), 'sanity', '--color', 'no']
        if len(pythons) == 1:
            argv += ['--python', pythons[0]]
        proc = run(argv + ['--test=%s' % t for t in tests], env=dict(version.env(), PATH=':'.join(path)), cwd=tree,
                   check=False, timeout=900)
        ran = set(re.findall(r'Running sanity test "([\w-]+)"(?: on Python ([\d.]+))?', proc.stdout))
        if 'compile' in tests and len(pythons) > 1:
            missing = [p for p in pythons if ('compile', p) not in ran]
            if missing:
                raise SystemExit('ansible-test %s did not compile on Python %s' % (version.version, ', '.join(missing)))
        if proc.returncode != 0 or not ran:
            raise SystemExit('ansible-test sanity %s on Python %s with ansible-core %s:\n%s\n%s'
                             % (' '.join(tests), ', '.join(pythons), version.version, proc.stdout[-4000:],
                                proc.stderr[-4000:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def managed(version):
    """The target Pythons a version manages, of those pyenv has here."""
    low, high = TARGETS[version.minor]
    return [t for t in target_pythons() if within(t, (low, high))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--versions', help='comma-separated ansible-core versions (default: every claimed minor)')
    parser.add_argument('--tarball', help='the built collection')
    parser.add_argument('--prepare', action='store_true',
                        help='only install each version in its virtual environment (make test does it early)')
    args = parser.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    versions = [Version(v) for v in (args.versions.split(',') if args.versions else releases())]
    print('ansible-core versions: %s' % ', '.join(v.version for v in versions), flush=True)
    if args.prepare:
        for version in versions:
            step('install', version.version, version.prepare)
        return 0
    if not args.tarball:
        parser.error('--tarball is needed, but with --prepare')
    for version in versions:
        step('the collection from its tarball', version.version, lambda: version.install(args.tarball))
        step('ansible-doc: every module, filter and the role', version.version, version.docs)
    newest = dict((v.minor, v) for v in versions)

    def chooser(target):
        """The newest claimed ansible-core that manages this target Python."""
        return [v for m, v in sorted(newest.items()) if within(target, TARGETS[m])][-1]

    container()
    try:
        for version in versions:
            on_version(version)
        for target in target_pythons():
            version = chooser(target)
            step('every module on Python %s' % target, version.version, lambda: version.playbook(
                'tests/compat/modules.yml', interpreter=python(target)))
    finally:
        subprocess.run(['podman', 'rm', '-f', '-t', '0', CONTAINER], capture_output=True, check=False)
    for version in versions:
        step('ansible-test sanity: validate-modules, ignores, compile (Python %s to %s)'
             % (managed(version)[0], managed(version)[-1]), version.version,
             lambda: sanity(version, args.tarball, ['validate-modules', 'ignores', 'compile'], managed(version)))
    for target in target_pythons():
        version = chooser(target)
        step('ansible-test sanity: import on Python %s' % target, version.version,
             lambda: sanity(version, args.tarball, ['import'], [target]))
    print('\ncompatibility: every step passed')
    print('%-58s %-8s %7s' % ('step', 'ansible', 'seconds'))
    for what, version, seconds in rows:
        print('%-58s %-8s %7.1f' % (what, version, seconds))
    print('%-58s %-8s %7.1f' % ('total', '', sum(r[2] for r in rows)))


if __name__ == '__main__':
    sys.exit(main())
