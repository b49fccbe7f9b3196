"""Where AWX and Automation Platform run the collection: an execution environment, and ansible-runner.

The execution environment: `ansible-builder create` makes the build context of an environment that
holds linuxnet.keepalive, and the context's own introspection script (the step of the build that
gathers every collection's Python and system dependencies) reads the collection as installed from
its release tarball. The engine: the compliance playbook runs through ansible-runner's Python API,
as AWX runs a job, on a private data folder, in a private network namespace where a process holds
connections without keep-alive; the test then reads what ansible-runner keeps on disk: the
set_stats data (AWX's job artifacts) and the events.
"""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import BIN, HERE, ROOT, namespace_env

COLLECTION = os.path.join('ansible_collections', 'linuxnet', 'keepalive')


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """The collection as an execution environment's build installs it: built into a tarball, installed from it."""
    folder = tmp_path_factory.mktemp('ee')
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(folder), ROOT])
    tarball = glob.glob(str(folder / 'linuxnet-keepalive-*.tar.gz'))[0]
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--force', '-p', str(folder / 'installed'),
         tarball])
    assert (folder / 'installed' / COLLECTION / 'meta' / 'execution-environment.yml').exists()
    return folder


def run(command, **kwargs):
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300, **kwargs)
    assert proc.returncode == 0, (command, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout


def build_context(folder):
    """``ansible-builder create`` for an environment with linuxnet.keepalive from Galaxy; the context's folder."""
    definition = {'version': 3, 'images': {'base_image': {'name': 'quay.io/ansible/awx-ee:latest'}},
                  'dependencies': {'galaxy': {'collections': [{'name': 'linuxnet.keepalive'}]}}}
    (folder / 'execution-environment.yml').write_text(yaml.safe_dump(definition))
    run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', str(folder / 'execution-environment.yml'),
         '-c', str(folder / 'context')])
    return folder / 'context'


def introspect(context, collections):
    """What the build gathers from the installed collections: {'python': [...], 'system': [...]}."""
    return yaml.safe_load(run([sys.executable, str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect',
                               str(collections)]))


def test_an_execution_environment_needs_nothing_for_the_collection(installed):
    context = build_context(installed)
    requirements = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert requirements['collections'] == [{'name': 'linuxnet.keepalive'}]
    assert 'introspect.py introspect' in (context / 'Containerfile').read_text()
    # the collection says what it needs in meta/execution-environment.yml: no Python package, no system package
    assert introspect(context, installed / 'installed') == {'python': [], 'system': []}


def test_a_dependency_in_the_collections_files_would_reach_the_build(installed):
    """The control: the files meta/execution-environment.yml names are the ones the build reads."""
    context = build_context(installed)
    copy = installed / 'with-dependencies'
    shutil.copytree(str(installed / 'installed'), str(copy))
    with open(str(copy / COLLECTION / 'meta' / 'requirements.txt'), 'a') as handle:
        handle.write('requests>=2\n')
    with open(str(copy / COLLECTION / 'meta' / 'bindep.txt'), 'a') as handle:
        handle.write('gcc [platform:dpkg]\n')
    found = introspect(context, copy)
    assert found['python'] == ['requests>=2  # from collection linuxnet.keepalive']
    assert found['system'] == ['gcc [platform:dpkg]  # from collection linuxnet.keepalive']


RUNNER = '''
import sys
import ansible_runner
result = ansible_runner.run(private_data_dir=sys.argv[1], playbook='site.yml', quiet=True)
sys.exit(0 if result.status == 'successful' else 1)
'''


def private_data(folder, extravars):
    """An ansible-runner private data folder, as AWX lays one out for a job: project, inventory, env."""
    (folder / 'project').mkdir(parents=True)
    (folder / 'inventory').mkdir()
    (folder / 'env').mkdir()
    (folder / 'project' / 'site.yml').write_text('---\n- name: Keep-alive compliance\n'
                                                 '  ansible.builtin.import_playbook: linuxnet.keepalive.compliance\n')
    (folder / 'inventory' / 'hosts').write_text('checked-host ansible_connection=local ansible_python_interpreter=%s\n'
                                                % sys.executable)
    (folder / 'env' / 'extravars').write_text(json.dumps(extravars))


def events(folder):
    found = []
    for path in glob.glob(str(folder / 'artifacts' / '*' / 'job_events' / '*.json')):
        with open(path) as handle:
            found.append(json.load(handle))
    return sorted(found, key=lambda event: event['counter'])


def test_ansible_runner_keeps_the_fleet_summary_and_the_events(unshare, tmp_path):
    data = tmp_path / 'job'
    private_data(data, {'keepalive_textfile_dir': str(tmp_path / 'textfile'),
                        'keepalive_policy': {'kernel': {'time_max': 7200, 'persisted': False}}})
    (tmp_path / 'textfile').mkdir()
    proc = subprocess.run(unshare + [sys.executable, os.path.join(HERE, 'files', 'hostile_names.py'), '7830',
                                     json.dumps(['leaky']), '--', sys.executable, '-c', RUNNER, str(data)],
                          env=namespace_env(), capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = events(data)
    assert found and found[-1]['event'] == 'playbook_on_stats'
    # set_stats: what AWX keeps as the job's artifacts and passes on to the next node of a workflow
    summary = found[-1]['event_data']['artifact_data']['keepalive_compliance_summary']
    assert (summary['hosts'], summary['compliant_hosts'], summary['not_compliant'], summary['not_checked']) == (1, 0, 1, 0)
    assert summary['not_compliant_hosts'] == ['checked-host'] and summary['not_checked_hosts'] == []
    assert summary['violations']['connection_keepalive'] == 2 and summary['compliant'] is False
    # without keepalive_report_dir the report goes to the job's project folder: in an execution environment,
    # a folder of the container, gone with it
    assert summary['report_dir'] == str(data / 'project' / 'keepalive-report')
    assert (data / 'project' / 'keepalive-report' / 'keepalive-report.json').exists()
    # the events: the host's check, with the connections it found, and the play's recap
    checks = [e for e in found if e['event'] == 'runner_on_ok'
              and e['event_data'].get('task_action') == 'linuxnet.keepalive.keepalive_check']
    assert len(checks) == 1 and checks[0]['event_data']['host'] == 'checked-host'
    result = checks[0]['event_data']['res']
    assert result['compliant'] is False and result['summary']['by_rule']['connection_keepalive'] == 2
    assert set(found[-1]['event_data']['ok']) == {'checked-host'}
    assert found[-1]['event_data']['failures'] == {}
    assert 'keepalive_checked 1' in (tmp_path / 'textfile' / 'keepalive.prom').read_text()
