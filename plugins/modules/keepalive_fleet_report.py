#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keepalive_fleet_report
short_description: Record each host's compliance result, write the fleet's report, or merge the reports of several runs
version_added: 0.2.0
description:
  - Runs on the controller. The C(linuxnet.keepalive.compliance) playbook uses it; it serves playbooks of your own too.
  - O(state=host) records one host's result of M(linuxnet.keepalive.keepalive_check) (or why it failed) - its listed
    violations go to C(hosts/<host>.json) under O(dir) - and returns the small part of it a report needs, as RV(row).
    Registered over the check's result, it keeps the controller's memory small however many violations a host has.
  - O(state=report) writes the fleet's report from the rows this run recorded for O(hosts) - C(keepalive-report.json)
    (every host's row, and a summary), C(keepalive-report.md) (a summary first, the rules, the worst hosts and those
    not checked, each list capped at 50), and C(keepalive-report.junit.xml) (a suite per host, a case per rule) - as
    it reads the rows, so that its cost grows with what a person reads, not with the fleet. A host of O(hosts)
    without a row from this run (O(run)) is reported as not checked.
  - O(state=merge) merges the reports of several runs (AWX job slices, several controllers or inventories) into one
    under O(dir) - for each host the newest result (by when it was checked) wins - without checking a host again.
    The report names the runs it was merged from, and how many older results the newer ones replaced.
  - Process, unit and host names are untrusted text; each is escaped for its format. A host's result that is not one
    M(linuxnet.keepalive.keepalive_check) returns makes that host "not checked", naming why.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  state:
    description: What to do - record a V(host), write the V(report), or V(merge) reports.
    type: str
    required: true
    choices: [host, report, merge]
  dir:
    description:
      - The report folder on the controller. A folder that does not exist is made, readable by its owner and group
        only (0750); an existing one keeps its mode. A relative path is taken from the working folder of the
        controller's ansible-playbook (under ansible-runner and AWX, the job's project folder).
    type: path
    required: true
  result:
    description: With O(state=host), what M(linuxnet.keepalive.keepalive_check) returned on the host.
    type: raw
  error:
    description: With O(state=host), why the check failed on the host (its message), if it did.
    type: raw
  run:
    description:
      - This run's name, the same for every host and the report, so that the report holds this run's results only.
    type: str
  hosts:
    description: With O(state=report), the hosts of this run.
    type: list
    elements: str
  inventory_hosts:
    description: The number of hosts in the inventory, for the report's record (by default, the group C(all)'s).
    type: int
  inputs:
    description: With O(state=merge), the report folders to merge, each one a run's O(dir).
    type: list
    elements: path
  mode:
    description: The mode of the files written, octal.
    type: raw
    default: "0640"
attributes:
  check_mode:
    support: full
    description:
      - The report is written in check mode too - the check only reads the hosts; the report is what it is for.
  diff_mode:
    support: none
    description: Reports are written whole; there is nothing to compare.
  action:
    support: full
    description: Runs on the controller, as an action plugin.
  platform:
    support: full
    platforms: [posix]
    description: The controller.
notes:
  - In a play with C(serial), the report of each batch holds that batch's hosts; merge the batches' report folders
    with O(state=merge), or run without C(serial).
seealso:
  - module: linuxnet.keepalive.keepalive_check
'''

EXAMPLES = r'''
- name: Check a host, and keep only the small part of its result in memory
  block:
    - name: Check the host
      linuxnet.keepalive.keepalive_check:
      register: keepalive_compliance
  rescue:
    - name: Remember why the check failed
      ansible.builtin.set_fact:
        check_error: "{{ ansible_failed_result.msg }}"

- name: Record the host's result (its details go to hosts/<host>.json)
  linuxnet.keepalive.keepalive_fleet_report:
    state: host
    dir: /srv/reports/keepalive
    run: "{{ run_name }}"
    result: "{{ keepalive_compliance | default({}) }}"
    error: "{{ check_error | default(omit) }}"
  register: keepalive_compliance

- name: Write the fleet's report, once
  linuxnet.keepalive.keepalive_fleet_report:
    state: report
    dir: /srv/reports/keepalive
    run: "{{ run_name }}"
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true

- name: One report from the reports of three job slices
  linuxnet.keepalive.keepalive_fleet_report:
    state: merge
    dir: /srv/reports/keepalive-all
    inputs: [/srv/reports/slice-0, /srv/reports/slice-1, /srv/reports/slice-2]
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
row:
  description:
    - With O(state=host), the host's row - the part of its result the report needs, under the names the node_exporter
      metrics use.
  returned: state=host
  type: dict
  contains:
    host:
      description: The host's inventory name.
      type: str
      returned: always
    checked:
      description: Whether the check ran and returned a result that is one (keepalive_checked).
      type: bool
      returned: always
    compliant:
      description: Whether the host meets the policy (keepalive_compliant).
      type: bool
      returned: always
    checked_at:
      description: When the check ended, in Unix seconds (keepalive_checked_at).
      type: float
      returned: always
    violations:
      description: Violations by rule, every one counted (keepalive_violations).
      type: dict
      returned: always
    violation_count:
      description: All of them.
      type: int
      returned: always
    not_examined:
      description: Connections not examined one by one (keepalive_not_examined).
      type: int
      returned: always
    namespaces_not_read:
      description: Network namespaces the check could not read (keepalive_namespaces_not_read).
      type: int
      returned: always
    connections:
      description: TCP sockets by direction and verdict, when the host was checked (keepalive_connections).
      type: dict
      returned: when the host was checked
    defaults:
      description: The kernel's keep-alive defaults, when the host was checked (keepalive_defaults).
      type: dict
      returned: when the host was checked
    offenders:
      description: The processes with the most connection violations, at most three.
      type: list
      elements: str
      returned: always
    error:
      description: Why the host was not checked, or an empty string.
      type: str
      returned: always
    details:
      description: The file under O(dir) with the host's listed violations, or null when it was not checked.
      type: str
      returned: always
summary:
  description: With O(state=report) or O(state=merge), the fleet in a few numbers.
  returned: state=report or state=merge
  type: dict
  contains:
    hosts:
      description: The hosts in the report.
      type: int
    compliant_hosts:
      description: The hosts checked and found compliant.
      type: int
    not_compliant:
      description: The hosts checked and found out of the policy.
      type: int
    not_checked:
      description: The hosts whose check failed, or that were unreachable.
      type: int
    compliant:
      description: Whether every host in the report is compliant (and there is at least one).
      type: bool
    violations:
      description: Violations by rule, over every host.
      type: dict
    hosts_violating:
      description: Hosts with at least one violation, by rule.
      type: dict
    not_compliant_hosts:
      description: The names of the first 50 hosts not compliant.
      type: list
      elements: str
    not_checked_hosts:
      description: The names of the first 50 hosts not checked.
      type: list
      elements: str
  sample: {"hosts": 3, "compliant_hosts": 1, "not_compliant": 1, "not_checked": 1, "compliant": false,
           "violations": {"connection_keepalive": 2}, "hosts_violating": {"connection_keepalive": 1},
           "not_compliant_hosts": ["web2"], "not_checked_hosts": ["web3"]}
gate:
  description: The hosts that keep the fleet from being compliant, by name, in one sentence; empty when there are none.
  returned: state=report or state=merge
  type: str
  sample: "Not compliant: web2. Not checked: web3."
dir:
  description: The report folder, as an absolute path (a relative O(dir) is taken from the controller's working folder).
  returned: state=report or state=merge
  type: str
  sample: /srv/reports/keepalive
files:
  description: The reports written.
  returned: state=report or state=merge
  type: list
  elements: str
msg:
  description: What was recorded or written, in one line.
  returned: always
  type: str
  sample: "1 of 3 host(s) compliant, 1 not compliant, 1 not checked. Report: /srv/reports/keepalive/keepalive-report.{json,md,junit.xml}"
'''
