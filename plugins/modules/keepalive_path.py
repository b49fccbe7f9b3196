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
  - With O(discover=true) it measures the paths the host really uses instead, the destinations of its own
    established connections (remote address and port), the busiest first, at most O(max_destinations),
    O(parallel) at a time, and recommends the C(keepalive_time) and C(keepalive_intvl) that keep every measured
    path alive.
    M(linuxnet.keepalive.keepalive_check) takes the result as O(linuxnet.keepalive.keepalive_check#module:measurements)
    and judges each connection by whether it would survive its path.
  - A measurement holds one idle connection per O(idle) value open to the server, which may count or log
    them; it sends no application data. Measure with the server's owner's consent, and keep O(parallel) and
    O(max_destinations) small against servers that limit connections.
author:
  - linuxnet.keepalive maintainers (@linuxnet)
options:
  host:
    description: The server, by name or address. Required unless O(discover=true).
    type: str
  port:
    description: Its TCP port (1 to 65535). Required with O(host).
    type: int
  discover:
    description:
      - Measure the destinations of the host's own established connections instead of O(host):O(port),
        read as M(linuxnet.keepalive.keepalive_facts) reads them and selected with O(directions), O(ports),
        O(remote_ports), O(processes), O(units) and O(networks).
      - An outbound connection's destination is its remote address and port. An inbound one's peer does not
        listen on its port, so its path cannot be probed from here; it is listed with the outcome
        C(not_measured).
    type: bool
    default: false
    version_added: 0.2.0
  directions:
    description: With O(discover=true), the directions of the connections whose destinations are measured.
    type: list
    elements: str
    choices: [inbound, outbound]
    default: [outbound]
    version_added: 0.2.0
  networks:
    description:
      - With O(discover=true), only destinations whose address is in one of these networks (such as
        C(10.0.0.0/8) or C(2001:db8::/32); a bare address is one host).
    type: list
    elements: str
    version_added: 0.2.0
  max_destinations:
    description:
      - With O(discover=true), measure at most this many destinations, those with the most connections
        first; the result counts the rest (RV(left_out)). V(0) measures every one.
    type: int
    default: 10
    version_added: 0.2.0
  parallel:
    description:
      - With O(discover=true), how many destinations are measured at once, each with one connection per
        O(idle) value.
    type: int
    default: 4
    version_added: 0.2.0
  time_limit:
    description:
      - With O(discover=true), seconds within which the whole measurement ends; a destination that could not
        be measured by then is not started, and is listed with the outcome C(not_measured).
      - Unset, every chosen destination is measured.
    type: int
    version_added: 0.2.0
  margin:
    description:
      - With O(discover=true), the recommended C(keepalive_time) is the longest idle that the tightest
        measured path kept, less this many percent (at least 1 second).
    type: int
    default: 20
    version_added: 0.2.0
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
  - linuxnet.keepalive.connections
  - linuxnet.keepalive.attributes
  - linuxnet.keepalive.attributes.read_only
notes:
  - With O(discover=true), O(ports), O(remote_ports), O(processes) and O(units) select the connections whose
    destinations are measured, as in M(linuxnet.keepalive.keepalive_facts).
  - A server that sends data by itself (a banner) restarts the idle time of its connection, as it does
    in the kernel; the data is read and discarded.
  - Keep-alive probes are empty segments. A middlebox that does not count them as activity (rare)
    would show up as C(dropped) or C(reset) at every idle value.
seealso:
  - module: linuxnet.keepalive.keepalive_sysctl
  - module: linuxnet.keepalive.keepalive_sockets
  - module: linuxnet.keepalive.keepalive_check
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
- name: Set the kernel's keep-alive time and interval below what the path forgets, and within the policy
  linuxnet.keepalive.keepalive_sysctl:
    time: "{{ [path.recommended_time, 300] | min }}"
    intvl: "{{ [path.recommended_time, 30] | min }}"
  when: path.recommended_time is not none

- name: A finer answer between 230 s and 340 s, from a given source address
  linuxnet.keepalive.keepalive_path:
    host: 10.20.0.15
    port: 443
    idle: [230, 340]
    refine: 4
    source: 10.0.0.5

- name: Measure the paths of the host's own connections to the database network, at most five at once
  linuxnet.keepalive.keepalive_path:
    discover: true
    networks: [10.20.0.0/16]
    max_destinations: 5
    parallel: 5
    time_limit: 900
  async: 960
  poll: 15
  register: paths

- name: Judge each connection by whether it survives its path
  linuxnet.keepalive.keepalive_check:
    measurements: "{{ paths.destinations }}"

# Ad hoc across an inventory:
#   ansible app_servers -m linuxnet.keepalive.keepalive_path -a 'host=db.internal port=5432'
# Every destination of a fleet, discovered, measured and reported, with the recommended values:
#   ansible-playbook linuxnet.keepalive.paths -i inventory -b
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
      seconds; null when none survived. A C(keepalive_time) and a C(keepalive_intvl) at most this long
      keep idle flows alive on this path (once a probe is answered, the next follows after the longer of the two).
    - With O(discover=true), RV(recommended) instead.
  returned: always
  type: int
  sample: 230
survived_max:
  description: The longest idle that survived below every one that failed (as RV(recommended_time)); null when none.
  returned: when O(host) is given
  type: int
  version_added: 0.2.0
forgot_min:
  description: The shortest idle after which the path forgot the flow (dropped or reset); null when it kept every one.
  returned: when O(host) is given
  type: int
  version_added: 0.2.0
outcome:
  description:
    - The path in one word - C(dropped) or C(reset) (how it forgot), C(closed) (the server's own idle timeout),
      C(survived) (every idle value), or C(inconclusive).
  returned: when O(host) is given
  type: str
  version_added: 0.2.0
destinations:
  description: With O(discover=true), each destination chosen, the busiest first, with what its measurement found.
  returned: when O(discover=true)
  type: list
  elements: dict
  version_added: 0.2.0
  contains:
    address:
      description: The remote address.
      type: str
    port:
      description: The remote port (outbound), or the local port the peers reached (inbound).
      type: int
    direction:
      description: C(outbound) or C(inbound).
      type: str
    connections:
      description: The host's connections to it.
      type: int
    holders:
      description: The processes (and units) holding them, the most first, at most five.
      type: list
      elements: dict
    outcome:
      description: As RV(outcome), or C(not_measured) with why in RV(destinations[].msg).
      type: str
    survived_max:
      description: As RV(survived_max).
      type: int
    forgot_min:
      description: As RV(forgot_min).
      type: int
    recommended_time:
      description: As RV(recommended_time), for this destination.
      type: int
    results:
      description: As RV(results), for this destination.
      type: list
      elements: dict
    msg:
      description: What its measurement found, in one line.
      type: str
  sample:
    - {"address": "198.19.0.2", "port": 7950, "direction": "outbound", "connections": 2,
       "holders": [{"process": "python3", "unit": "orders.service", "connections": 2}], "outcome": "dropped",
       "survived_max": 5, "forgot_min": 8, "recommended_time": 5,
       "msg": "path forgets idle flows between 5 s and 8 s (dropped silently): use keepalive_time and keepalive_intvl <= 5"}
left_out:
  description: With O(discover=true), the destinations beyond O(max_destinations), not measured.
  returned: when O(discover=true)
  type: int
  version_added: 0.2.0
recommended:
  description:
    - With O(discover=true), the role's values that keep every measured path alive - C(keepalive_time) and
      C(keepalive_socket_idle), the longest idle the tightest path kept less O(margin) percent;
      C(keepalive_intvl) and C(keepalive_socket_interval), the collection's 30 s or that time when it is shorter
      (once a probe is answered, the kernel sends the next after the longer of the idle time and the interval) -
      and C(because), which path set them; null when no measured path forgot a flow.
  returned: when O(discover=true)
  type: dict
  version_added: 0.2.0
  sample: {"keepalive_time": 4, "keepalive_intvl": 4, "keepalive_socket_idle": 4, "keepalive_socket_interval": 4,
           "because": "the path to 198.19.0.2:7950 forgets idle flows between 5 s and 8 s (dropped); 20% margin"}
msg:
  description: The answer in one line.
  returned: always
  type: str
  sample: "path forgets idle flows between 230 s and 340 s (dropped silently): use keepalive_time and keepalive_intvl <= 230"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.keepalive.plugins.module_utils._destinations import (
    DestinationError, group, parse_networks, recommend as recommend_values, summary_line,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.path._path_probe import (
    DEFAULT_IDLE, PathError, measure_path, measure_paths, resolve_source, validate,
)
from ansible_collections.linuxnet.keepalive.plugins.module_utils.sockets._snapshot import snapshot

DISCOVERED = 100000  # connections read for discovery, at most


def measure_destinations(module, idle, source):
    """The host's own destinations, chosen by the options, measured: the module's result."""
    params = module.params
    for option in ('ports', 'remote_ports'):
        bad = [p for p in params[option] or [] if not 1 <= p <= 65535]
        if bad:
            raise DestinationError('%s must be from 1 to 65535; not allowed: %s' % (option, ', '.join(map(str, bad))))
    for option in ('max_destinations', 'parallel', 'margin'):
        if params[option] < (0 if option != 'parallel' else 1) or (option == 'margin' and params[option] > 90):
            raise DestinationError('%s must be %s, not %d' % (option, {
                'max_destinations': '0 (every one) or more', 'parallel': '1 or more',
                'margin': 'a percentage from 0 to 90'}[option], params[option]))
    if params['time_limit'] is not None and params['time_limit'] < 1:
        raise DestinationError('time_limit must be 1 second or more, not %d' % params['time_limit'])
    networks = parse_networks(params['networks'])
    found = snapshot(states=['established'], directions=params['directions'], ports=params['ports'],
                     remote_ports=params['remote_ports'], processes=params['processes'], units=params['units'],
                     limit=DISCOVERED)
    chosen, left_out = group(found.connections, networks, params['max_destinations'])
    outbound = [d for d in chosen if d['direction'] == 'outbound']
    measured = iter(measure_paths(outbound, idle, source=source, timeout=params['timeout'], refine=params['refine'],
                                  parallel=params['parallel'], time_limit=params['time_limit']))
    destinations = []
    for destination in chosen:
        if destination['direction'] == 'outbound':
            destinations.append(next(measured))
        else:
            destinations.append(dict(destination, outcome='not_measured', results=[], survived_max=None,
                                     forgot_min=None, recommended_time=None,
                                     msg='not measured: an inbound peer does not listen on its port; measure from '
                                         'the client\'s side'))
    recommended = recommend_values(destinations, params['margin'])
    return dict(changed=False, destinations=destinations, left_out=left_out, recommended=recommended,
                msg=summary_line(destinations, left_out, recommended))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str'),
            port=dict(type='int'),
            idle=dict(type='list', elements='int', default=list(DEFAULT_IDLE)),
            source=dict(type='str'),
            timeout=dict(type='int', default=5),
            refine=dict(type='int', default=0),
            discover=dict(type='bool', default=False),
            directions=dict(type='list', elements='str', choices=['inbound', 'outbound'], default=['outbound']),
            ports=dict(type='list', elements='int'),
            remote_ports=dict(type='list', elements='int'),
            processes=dict(type='list', elements='str', aliases=['process']),
            units=dict(type='list', elements='str', aliases=['unit']),
            networks=dict(type='list', elements='str'),
            max_destinations=dict(type='int', default=10),
            parallel=dict(type='int', default=4),
            time_limit=dict(type='int'),
            margin=dict(type='int', default=20),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['discover'] == bool(params['host']) or bool(params['host']) != (params['port'] is not None):
        module.fail_json(msg='give either host and port, the server whose path to measure, or discover=true to '
                             'measure the destinations of the host\'s own connections')
    try:
        idle = validate(params['idle'], params['port'] or 1, params['timeout'], params['refine'])
        source = resolve_source(params['source'])
        if params['discover']:
            module.exit_json(**measure_destinations(module, idle, source))
        found = measure_path(params['host'], params['port'], idle, source=source, timeout=params['timeout'],
                             refine=params['refine'])
    except (PathError, DestinationError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **found)


if __name__ == '__main__':
    main()
