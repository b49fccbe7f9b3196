# -*- coding: utf-8 -*-
# Copyright: linuxnet.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long a path keeps an idle TCP flow: one connection per idle value, judged by its first keep-alive probe.

Each connection sets SO_KEEPALIVE and TCP_KEEPIDLE to its idle value and never sends data. After
that idle time the kernel sends a probe (an ACK with an old sequence number); then:
  survived  the probe was answered: tcp_info shows no unanswered probe and an ACK received after it;
  dropped   no answer within ``timeout`` (probes outstanding): a middlebox forgot the flow and drops it;
  reset     a reset came back after the probe: a middlebox forgot the flow and says so;
  closed    the peer closed the connection (FIN, or reset) before the probe: an application's own
            idle timeout, not the path's, and keep-alive does not prevent it;
  inconclusive  no answer could be had by the deadline (the longest idle plus ``timeout`` and a second
            after the connections opened): a server that keeps sending data never lets its
            connection idle long enough to probe.
Data a server sends by itself (a banner) is read and discarded, and restarts the idle time, as in
the kernel; at most DRAIN bytes are read per connection each time it is woken, so that a server
that floods cannot hold the measurement in a loop.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures
import errno
import select
import socket
import struct
import time

from ansible_collections.linuxnet.keepalive.plugins.module_utils._settings import BY_NAME
from ansible_collections.linuxnet.keepalive.plugins.module_utils._destinations import outcome

OUTCOMES = ('survived', 'dropped', 'reset', 'closed', 'inconclusive')
DRAIN = 1 << 20  # bytes read per connection per wake-up, at most
DEFAULT_IDLE = (60, 120, 230, 340, 590)  # around Azure's 240 s, AWS's 350 s and GCP's 600 s
TCP_INFO = getattr(socket, 'TCP_INFO', 11)
POLLRDHUP = getattr(select, 'POLLRDHUP', 0x2000)
_INFO = struct.Struct('=3xB52xI')  # tcpi_probes (byte 3) and tcpi_last_ack_recv (u32 at byte 56)


class PathError(Exception):
    """The path cannot be measured (bad input, or no connection): the message names what and why."""


def validate(idle, port, timeout, refine):
    """Every problem with the options, in one PathError; returns the sorted idle values."""
    setting = BY_NAME['idle']
    problems = []
    if not idle:
        problems.append('idle must list at least one number of seconds')
    bad = [value for value in idle or [] if isinstance(value, bool) or not setting.low <= value <= setting.high]
    if bad:
        problems.append('idle values must be from %d to %d seconds (the range of TCP_KEEPIDLE); not allowed: %s'
                        % (setting.low, setting.high, ', '.join(str(value) for value in bad)))
    if not 1 <= port <= 65535:
        problems.append('port must be from 1 to 65535, not %d' % port)
    if timeout < 1:
        problems.append('timeout must be 1 second or more, not %d' % timeout)
    if refine < 0:
        problems.append('refine must be 0 or more, not %d' % refine)
    if problems:
        raise PathError('; '.join(problems))
    return sorted(set(idle))


def judge(idle, since_rx, timeout, event=None, event_at=None, probes=0, last_ack_ms=None):
    """The outcome of one connection, or None while it cannot be told yet.

    ``since_rx``: seconds since the last thing received (the handshake, or a banner); the probe is
    due at ``idle``. ``event``: 'fin', 'reset', 'timeout' or 'unreachable', seen ``event_at``
    seconds after the last thing received. ``probes``, ``last_ack_ms``: from tcp_info.
    Returns (outcome, detail).
    """
    slack = min(0.5, idle / 4.0)
    if event == 'fin':
        return 'closed', 'the server closed the connection after %.0f s idle, before the first probe' % event_at
    if event == 'reset':
        if event_at < idle - slack:
            return 'closed', 'the server reset the connection after %.0f s idle, before the first probe' % event_at
        return 'reset', 'the first probe, after %d s idle, was answered with a reset' % idle
    if event in ('timeout', 'unreachable'):
        return 'dropped', 'the probes after %d s idle went unanswered until the kernel gave up (%s)' % (idle, event)
    if since_rx < idle:
        return None
    if last_ack_ms is not None and probes == 0 and last_ack_ms / 1000.0 <= since_rx - idle + slack:
        return 'survived', 'the first probe, after %d s idle, was answered' % idle
    if since_rx >= idle + timeout:
        return 'dropped', ('no answer to the probe sent after %d s idle within %d s (%d probe(s) unanswered)'
                           % (idle, timeout, probes))
    return None


def _bounds(results):
    """(the longest idle that survived below every failure, or None; the shortest that failed, or None)."""
    failed = sorted(r['idle'] for r in results if r['outcome'] in ('dropped', 'reset'))
    first_failed = failed[0] if failed else None
    below = [r['idle'] for r in results
             if r['outcome'] == 'survived' and (first_failed is None or r['idle'] < first_failed)]
    return (max(below) if below else None), first_failed


def recommend(results):
    """(recommended keepalive_time or None, a one-line message) from judged results."""
    recommended, first_failed = _bounds(results)
    closed = sorted(r['idle'] for r in results if r['outcome'] == 'closed')
    unknown = sorted(r['idle'] for r in results if r['outcome'] == 'inconclusive')
    if first_failed is not None and recommended is not None:
        how = [r['outcome'] for r in results if r['idle'] == first_failed][0]
        msg = ('path forgets idle flows between %d s and %d s (%s): use keepalive_time and keepalive_intvl <= %d'
               % (recommended, first_failed, 'a reset' if how == 'reset' else 'dropped silently', recommended))
    elif first_failed is not None:
        msg = 'path forgets idle flows in less than %d s: try shorter idle values' % first_failed
    elif recommended is not None:
        msg = ('idle flows survived up to %d s, the longest tried: keepalive_time and keepalive_intvl <= %d keep them '
               'on this path' % (recommended, recommended))
    else:
        msg = 'nothing could be measured'
    if closed:
        msg += ('; the server itself closed connections idle %d s or longer (an application timeout, which '
                'keep-alive does not prevent)' % closed[0])
    if unknown:
        msg += ('; inconclusive at %s s (see each result\'s detail: a server that sends data by itself never lets a '
                'connection idle; measure against a port whose server stays silent)' % ', '.join(str(i) for i in unknown))
    return recommended, msg


def refined(results, count):
    """Up to ``count`` idle values strictly between the last survived and the first failed value."""
    low, high = _bounds(results)
    if low is None or high is None or count < 1:
        return []
    step = (high - low) / float(count + 1)
    return sorted(set(int(round(low + step * i)) for i in range(1, count + 1)) - set([low, high]))


class _Probe(object):
    __slots__ = ('idle', 'sock', 'last_rx', 'outcome', 'detail', 'probes', 'event', 'event_at', 'received')

    def __init__(self, idle, sock, now):
        self.idle, self.sock, self.last_rx = idle, sock, now
        self.outcome = self.detail = self.event = self.event_at = None
        self.probes = 0
        self.received = 0  # bytes the server sent by itself


def deadline(idle, timeout):
    """Seconds after the connections opened by which every outcome is decided: the longest idle, the wait for the
    first probe's answer, and a second of slack."""
    return max(idle) + timeout + 1


def inconclusive(probe, now):
    """The outcome of a connection still undecided at the deadline, with why."""
    if probe.received:
        return ('inconclusive', 'the server sent %d byte(s) by itself, the last %.0f s before the deadline, so the '
                'connection was never idle for %d s: the path cannot be measured against it'
                % (probe.received, now - probe.last_rx, probe.idle))
    return 'inconclusive', 'no answer to the probe after %d s idle could be told by the deadline' % probe.idle


def _connect(address, source, idle, timeout):
    family, kind, proto, _name, target = address
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, max(2, min(timeout + 1, 127)))
        if source:
            sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.connect(target)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _info(sock):
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _INFO.size)
    except OSError:
        return 0, None
    if len(raw) < _INFO.size:
        return 0, None
    return _INFO.unpack(raw[:_INFO.size])


def _drain(probe, now):
    """Read what the peer sent, up to DRAIN bytes: data restarts the idle time; the end or an error is an event."""
    read = 0
    while read < DRAIN:
        try:
            data = probe.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            probe.event = {errno.ECONNRESET: 'reset', errno.ETIMEDOUT: 'timeout', errno.EHOSTUNREACH: 'unreachable',
                           errno.ENETUNREACH: 'unreachable'}.get(exc.errno, 'reset')
            probe.event_at = now - probe.last_rx
            return
        if not data:
            probe.event, probe.event_at = 'fin', now - probe.last_rx
            return
        probe.last_rx = now
        probe.received += len(data)
        read += len(data)


def measure(host, port, idle, source=None, timeout=5, clock=time.monotonic):
    """Open one connection per idle value, in parallel, and judge each by its first probe.

    Returns [{'idle', 'outcome', 'detail', 'probes_unanswered'}] in the order of ``idle``, every outcome decided
    by deadline() after the connections opened (``inconclusive`` if nothing else could be).
    Raises PathError when the host cannot be resolved or a connection cannot be opened.
    """
    try:
        address = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)[0]
    except socket.gaierror as exc:
        raise PathError('cannot resolve %s: %s' % (host, exc.strerror or exc))
    probes = []
    try:
        for value in idle:
            try:
                sock = _connect(address, source, value, timeout)
            except socket.timeout:
                raise PathError('no connection to %s:%d within %d s (timeout)' % (host, port, timeout))
            except OSError as exc:
                raise PathError('cannot connect to %s:%d: %s' % (host, port, exc.strerror or exc))
            probes.append(_Probe(value, sock, clock()))
        poller = select.poll()
        by_fd = dict((p.sock.fileno(), p) for p in probes)
        for fd in by_fd:
            poller.register(fd, select.POLLIN | POLLRDHUP)
        pending = list(probes)
        end = clock() + deadline(idle, timeout)
        while pending:
            now = clock()
            if now >= end:
                for probe in pending:
                    probe.outcome, probe.detail = inconclusive(probe, now)
                break
            # sleep until the next probe is due (or the deadline); once one is, look at tcp_info five times a second
            due = min(min(p.last_rx + p.idle for p in pending), end)
            wait_ms = 200 if now >= due else min(int((due - now) * 1000) + 1, 60000)
            for fd, _mask in poller.poll(wait_ms):
                probe = by_fd[fd]
                if probe.outcome is None:
                    _drain(probe, clock())
                    if probe.event:
                        poller.unregister(fd)
            now = clock()
            for probe in list(pending):
                count, last_ack_ms = _info(probe.sock)
                probe.probes = count
                found = judge(probe.idle, now - probe.last_rx, timeout, probe.event, probe.event_at, count, last_ack_ms)
                if found:
                    probe.outcome, probe.detail = found
                    pending.remove(probe)
                    if not probe.event:
                        poller.unregister(probe.sock.fileno())
    finally:
        for probe in probes:
            probe.sock.close()
    return [{'idle': p.idle, 'outcome': p.outcome, 'detail': p.detail, 'probes_unanswered': p.probes} for p in probes]


def resolve_source(source):
    """The source address, checked: an address of this host (bind() will say if it is not)."""
    if source in (None, ''):
        return None
    try:
        socket.getaddrinfo(source, None)
    except socket.gaierror as exc:
        raise PathError('source %r is not an address: %s' % (source, exc.strerror or exc))
    return source


def measure_path(host, port, idle, source=None, timeout=5, refine=0):
    """measure(), and a second round of ``refine`` values between the bounds of the first: a dict of the results
    (by idle), ``survived_max`` and ``forgot_min`` (see _bounds), ``recommended_time`` and ``msg``."""
    results = measure(host, port, idle, source=source, timeout=timeout)
    more = refined(results, refine)
    if more:
        results = sorted(results + measure(host, port, more, source=source, timeout=timeout), key=lambda r: r['idle'])
    survived_max, forgot_min = _bounds(results)
    recommended, msg = recommend(results)
    return {'results': results, 'outcome': outcome(results, survived_max, forgot_min), 'survived_max': survived_max,
            'forgot_min': forgot_min, 'recommended_time': recommended, 'msg': msg}


def longest(idle, timeout, refine):
    """How long measure_path() may take at most: each connection's opening, the rounds' deadlines."""
    rounds = 2 if refine else 1
    return rounds * (len(idle) * timeout + deadline(idle, timeout))


def measure_paths(destinations, idle, source=None, timeout=5, refine=0, parallel=4, time_limit=None,
                  clock=time.monotonic):
    """measure_path() for each destination ({'address', 'port', ...}), ``parallel`` at a time (each holding one
    connection per idle value), in the order given. A destination that could not end within ``time_limit``
    seconds of the start is not started; it and one that cannot be reached (a PathError) get
    ``outcome: not_measured`` and a ``msg`` saying why. Returns the destinations, each updated with what
    measure_path() found."""
    start = clock()
    longest_one = longest(idle, timeout, refine)

    def one(destination):
        if time_limit is not None and clock() - start + longest_one > time_limit:
            return {'outcome': 'not_measured', 'results': [], 'survived_max': None, 'forgot_min': None,
                    'recommended_time': None,
                    'msg': 'not measured: it could take %d s, more than is left of time_limit (%d s)'
                    % (longest_one, time_limit)}
        try:
            return measure_path(destination['address'], destination['port'], idle, source, timeout, refine)
        except PathError as exc:
            return {'outcome': 'not_measured', 'results': [], 'survived_max': None, 'forgot_min': None,
                    'recommended_time': None, 'msg': 'not measured: %s' % exc}

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        found = list(pool.map(one, destinations))
    return [dict(destination, **answer) for destination, answer in zip(destinations, found)]
