"""Debian's node_exporter and prometheus, on loopback, scraping the compliance playbook's metrics files.

Usage (as root): unshare -n -- python3 prometheus_lab.py WORKDIR RULES TEXTFILE_DIR...
Brings up loopback, starts one prometheus-node-exporter per TEXTFILE_DIR (127.0.0.1:9100, 9101, ...)
with only its textfile collector, on that folder, and one prometheus (127.0.0.1:9090) that scrapes
them every second and evaluates RULES every second. It waits until every exporter's series are in
and the rules have run, then prints, as JSON, what the HTTP API answers (/api/v1/query for a few
queries, /api/v1/alerts), and stops both. Each process also ends when this script does (a
parent-death signal), and the script gives up after 90 seconds.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

PR_SET_PDEATHSIG = 1
API = 'http://127.0.0.1:9090/api/v1/'
QUERIES = {
    'compliant': 'keepalive_compliant',
    'checked': 'keepalive_checked',
    'violations': 'keepalive_violations{rule="connection_keepalive"}',
    'without_keepalive': 'keepalive_connections{direction="outbound",verdict="disabled"}',
    'textfile_errors': 'node_textfile_scrape_error',
    'not_compliant_hosts': 'count(keepalive_compliant == 0)',
}


def die_with_parent():
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start(command, log):
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def get(path, **params):
    url = API + path + ('?' + urllib.parse.urlencode(params) if params else '')
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)['data']


def config(exporters, rules):
    targets = ', '.join('"127.0.0.1:%d"' % port for port in exporters)
    return ('global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
            'rule_files: ["%s"]\n'
            'scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [%s]\n' % (rules, targets))


def main():
    workdir, rules, folders = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3:]
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    exporters = [9100 + n for n in range(len(folders))]
    with open(os.path.join(workdir, 'prometheus.yml'), 'w') as handle:
        handle.write(config(exporters, rules))
    log = open(os.path.join(workdir, 'lab.log'), 'w')
    processes = [start(['prometheus-node-exporter', '--web.listen-address=127.0.0.1:%d' % port,
                        '--collector.disable-defaults', '--collector.textfile',
                        '--collector.textfile.directory=%s' % folder], log)
                 for port, folder in zip(exporters, folders)]
    processes.append(start(['prometheus', '--config.file=%s' % os.path.join(workdir, 'prometheus.yml'),
                            '--storage.tsdb.path=%s' % os.path.join(workdir, 'data'),
                            '--web.listen-address=127.0.0.1:9090'], log))
    try:
        deadline, answers = time.time() + 90, None
        while time.time() < deadline:
            time.sleep(1)
            try:
                checked = get('query', query=QUERIES['checked'])['result']
                groups = get('rules')['groups']
            except (OSError, ValueError):
                continue  # not up yet
            evaluated = groups and all(rule.get('lastEvaluation', '').startswith('20') for rule in groups[0]['rules'])
            if len(checked) == len(folders) and evaluated:
                time.sleep(2)  # one more evaluation after the last series came in
                answers = dict((name, get('query', query=query)['result']) for name, query in QUERIES.items())
                answers['alerts'] = get('alerts')['alerts']
                break
        print(json.dumps({'answers': answers, 'exporters': ['127.0.0.1:%d' % port for port in exporters]}))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


if __name__ == '__main__':
    main()
