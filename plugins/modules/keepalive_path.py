#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: keepalive_path
short_description: Measure how long an idle TCP connection to a server survives the path to it
version_added: 0.2.0
description:
  - NAT gateways, load balancers and firewalls forget a TCP flow that stays idle too long, and then
    drop or reset its next packet. This module measures, from the host it runs on, how long a
    connection to O(host):O(port) may stay idle before the path forgets it, so that
    C(keepalive_time) (or a socket's C(TCP_KEEPIDLE)) can be chosen short enough.
  - It opens one connection per O(idle) value, all at once, each with C(SO_KEEPALIVE) and
    C(TCP_KEEPIDLE) set to that value, and never sends application data, so it is safe against any
    TCP service (a database, a TLS port). After its idle time the kernel sends one keep-alive probe,
    and the connection is judged by what comes back, read from C(tcp_info). It takes about as long as
    the longest O(idle) value plus O(timeout).
  - C(survived) the probe was answered; C(dropped) no answer (the path dropped the forgotten flow
    silently); C(reset) a reset came back (the path forgot the flow and said so); C(closed) the server
    closed the connection before the probe, which is an application's own idle timeout, not the
    path's, and which keep-alive does not prevent; C(inconclusive) nothing could be told by the deadline,
    as with a server that sends data by itself and so never lets its connection idle.
  - Every outcome is decided at the latest when the longest O(idle) value, O(timeout) and one second have
    passed since the connections opened (each connection takes at most O(timeout) to open), whatever the
    server does; a server that keeps sending is read at most 1 MiB at a time, so a hostile or chatty
    endpoint cannot hold a fleet run.
  - Changes nothing on the host.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  host:
    description: The server, by name or address.
    type: str
    required: true
  port:
    description: Its TCP port (1 to 65535).
    type: int
    required: true
  idle:
    description:
      - Idle times to try, in seconds (1 to 32767), one connection each.
      - The default brackets the idle timeouts of common middleboxes (Azure Load Balancer 240 s, AWS NAT
        gateway and NLB 350 s, GCP 600 s) and takes about ten minutes.
    type: list
    elements: int
    default: [60, 120, 230, 340, 590]
  source:
    description: The local address to connect from (the route's own by default).
    type: str
  timeout:
    description:
      - Seconds to wait for each connection to open, and for the answer to its first probe.
    type: int
    default: 5
  refine:
    description:
      - After the first round, try this many more idle values, evenly spaced, between the longest that
        survived and the shortest that failed, in a second round.
    type: int
    default: 0
extends_documentation_fragment:
  - linuxnet.keepalive.attributes
  - linuxnet.keepalive.attributes.read_only
notes:
  - A server that sends data by itself (a banner) restarts the idle time of its connection, as it does
    in the kernel; the data is read and discarded.
  - Keep-alive probes are empty segments. A middlebox that does not count them as activity (rare)
    would show up as C(dropped) or C(reset) at every idle value.
seealso:
  - module: linuxnet.keepalive.keepalive_sysctl
  - module: linuxnet.keepalive.keepalive_sockets
'''

EXAMPLES = r'''
# The default idle values take about ten minutes (the longest, 590 s, plus the timeout): run it as an
# async task, so that a fleet run is not held host by host.
- name: How long may a connection to the database idle?
  linuxnet.keepalive.keepalive_path:
    host: db.internal
    port: 5432
  async: 900
  poll: 15
  register: path

# When every idle value survived, recommended_time is the longest one tried (590), which says only that
# the path keeps a flow at least that long: cap it at what the policy allows (keepalive_check's
# kernel.time_max, 300 by default).
- name: Set the kernel's keep-alive time below what the path forgets, and within the policy
  linuxnet.keepalive.keepalive_sysctl:
    time: "{{ [path.recommended_time, 300] | min }}"
  when: path.recommended_time is not none

- name: A finer answer between 230 s and 340 s, from a given source address
  linuxnet.keepalive.keepalive_path:
    host: 10.20.0.15
    port: 443
    idle: [230, 340]
    refine: 4
    source: 10.0.0.5

# Ad hoc across an inventory:
#   ansible app_servers -m linuxnet.keepalive.keepalive_path -a 'host=db.internal port=5432'
'''

RETURN = r'''
results:
  description: One entry per idle value tried, shortest first.
  returned: always
  type: list
  elements: dict
  contains:
    idle:
      description: The idle time tried, in seconds.
      type: int
      returned: always
      sample: 340
    outcome:
      description: C(survived), C(dropped), C(reset), C(closed) or C(inconclusive).
      type: str
      returned: always
      sample: dropped
    detail:
      description: What was seen, in a sentence.
      type: str
      returned: always
      sample: no answer to the probe sent after 340 s idle within 5 s (3 probe(s) unanswered)
    probes_unanswered:
      description: Keep-alive probes without an answer when the outcome was decided.
      type: int
      returned: always
      sample: 3
recommended_time:
  description:
    - The longest idle that survived and is shorter than every idle that was dropped or reset, in
      seconds; null when none survived. A C(keepalive_time) at most this long keeps idle flows alive
      on this path.
  returned: always
  type: int
  sample: 230
msg:
  description: The answer in one line.
  returned: always
  type: str
  sample: "path forgets idle flows between 230 s and 340 s (dropped silently): use keepalive_time <= 230"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.keepalive.plugins.module_utils.path._path_probe import (
    DEFAULT_IDLE, PathError, measure, recommend, refined, resolve_source, validate,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', required=True),
            idle=dict(type='list', elements='int', default=list(DEFAULT_IDLE)),
            source=dict(type='str'),
            timeout=dict(type='int', default=5),
            refine=dict(type='int', default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        idle = validate(params['idle'], params['port'], params['timeout'], params['refine'])
        source = resolve_source(params['source'])
        results = measure(params['host'], params['port'], idle, source=source, timeout=params['timeout'])
        more = refined(results, params['refine'])
        if more:
            results = sorted(results + measure(params['host'], params['port'], more, source=source,
                                               timeout=params['timeout']), key=lambda r: r['idle'])
    except PathError as exc:
        module.fail_json(msg=str(exc))
    recommended, msg = recommend(results)
    module.exit_json(changed=False, results=results, recommended_time=recommended, msg=msg)


if __name__ == '__main__':
    main()
