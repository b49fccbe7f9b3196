"""Helpers for the Molecule scenarios' testinfra tests: instances, ad hoc modules, converge runs.

Molecule runs the verifier with MOLECULE_SCENARIO_DIRECTORY set; instances are reached with
`podman exec` (testinfra's podman:// backend and Ansible's containers.podman.podman connection).
"""

import importlib.util
import os
import re
import time

import testinfra
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# The rig's podman connection, with pipelining (tests/rig/connection_plugins/podman_piped.py).
CONNECTION = 'podman_piped'


def _adhoc():
    spec = importlib.util.spec_from_file_location('adhoc', os.path.join(HERE, 'adhoc.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


adhoc = _adhoc()


def scenario_dir():
    return os.environ['MOLECULE_SCENARIO_DIRECTORY']


def instances():
    """Instance names from the scenario's molecule.yml."""
    with open(os.path.join(scenario_dir(), 'molecule.yml')) as handle:
        return [platform['name'] for platform in yaml.safe_load(handle)['platforms']]


def podman_hosts():
    return ['podman://' + name for name in instances()]


def run_module(instance, module, args=''):
    """Run a module ad hoc on one instance; return its result."""
    return adhoc.run_module(instance, module, args, connection=CONNECTION)


def run_converge(instance, extra_vars=None, options=()):
    """Run the scenario's converge playbook against one instance: (exit status, output)."""
    return adhoc.run_playbook(instance, os.path.join(scenario_dir(), 'converge.yml'), extra_vars, connection=CONNECTION,
                              options=options)


def converge_all(extra_vars=None, options=()):
    """The converge playbook against every instance at once (in parallel): (exit status, output, {instance: recap}),
    a recap being {'ok': n, 'changed': n, 'failed': n, ...} from the PLAY RECAP line of that instance."""
    status, output = adhoc.run_playbook(','.join(instances()), os.path.join(scenario_dir(), 'converge.yml'), extra_vars,
                                        connection=CONNECTION, options=options)
    recaps = {}
    for name in instances():
        line = re.search(r'^%s\s+:\s+(.*)$' % re.escape(name), output, re.M)
        recaps[name] = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', line.group(1))) if line else None
    return status, output, recaps


def module_all(module, args='', options=()):
    """A module ad hoc on every instance at once: {instance: result}."""
    return adhoc.run_module_all(instances(), module, args, connection=CONNECTION, options=options)


def testinfra_host(instance):
    """A testinfra host for an instance, reached with podman exec."""
    return testinfra.get_host('podman://' + instance)


def seconds(line):
    """The keep-alive timer of an `ss -o` line in seconds ('1min5sec', '44sec', '4.500ms', '500ms'), or None."""
    timer = re.search(r'timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?,', line)
    if not timer:
        return None
    minutes, secs, millis = (int(x) if x else 0 for x in timer.groups())
    return minutes * 60 + secs + millis / 1000.0


def _sample(host, unit, port):
    """One look at `ss`: {'client': seconds or None, 'server': ...}, or None if the connection is not there."""
    pid = host.run('systemctl show -p MainPID --value %s' % unit).stdout.strip()
    client, servers = None, {}
    for line in host.run('ss -tnpoH state established').stdout.splitlines():
        cols = line.split()
        if cols[3].endswith(':%d' % port) and 'pid=%s,' % pid in line:
            client = (cols[2].rsplit(':', 1)[1], seconds(line), line)
        elif cols[2].endswith(':%d' % port):
            servers[cols[3].rsplit(':', 1)[1]] = seconds(line)
    if client is None or client[0] not in servers:
        return None
    return {'client': client[1], 'server': servers[client[0]], 'ss': client[2]}


def timers(host, unit, port=7400):
    """The unit's connection to 127.0.0.1:PORT as `ss` shows it, sampled up to 30 times.

    While a keep-alive timer's handler runs (every probe interval on an idle connection), the kernel
    shows no pending timer; a sample with a timer is taken as soon as one is seen.
    """
    seen = None
    for _attempt in range(30):
        seen = _sample(host, unit, port) or seen
        if seen is not None and seen['client'] is not None:
            return seen
        time.sleep(0.1)
    if seen is None:
        raise AssertionError('no connection from %s to 127.0.0.1:%d' % (unit, port))
    return seen


def live_settings(host, unit, port=7400):
    """SO_KEEPALIVE and the timing options read from the unit's live socket (keepalive_facts inspect)."""
    facts = run_module(host.backend.name, 'linuxnet.keepalive.keepalive_facts', 'ports=%d inspect=true' % port)
    rows = [r for r in facts['ansible_facts']['keepalive']['connections']
            if r['remote_port'] == port and r['unit'] == unit]
    assert rows, facts['ansible_facts']['keepalive']['connections']
    return rows[0]
