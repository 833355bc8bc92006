# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small reverse proxy on 127.0.0.1 that forwards to a local (Azurite) port and injects faults.

    with FaultProxy(azurite.port, plan=[{'status': 503}, 'reset', {'status': 429, 'retry_after': 1}]) as p:
        ... point the client at p.port ...
        p.injected   # faults actually injected, in order

``plan`` is consumed in order, one entry per *matching* request (by default Put Page requests):
``'pass'`` forwards, ``{'status': N[, 'retry_after': s]}`` answers N without forwarding,
``'reset'`` reads the request then resets the connection (TCP RST), ``'drop_response'`` forwards
the request (the service applies it) then resets instead of answering. When the plan is used up
requests pass. ``delay`` seconds are slept before forwarding each matching request (a slow link).
``verify_md5=True`` does what Azure does and Azurite does not for Put Page: a request whose body
does not match its Content-MD5 header is answered 400 ``Md5Mismatch`` (counted in
``md5_mismatches``; ``md5_checked`` counts the requests that carried the header).
``content_lengths`` lists the Content-Length of every matching request, in arrival order;
``max_in_flight`` is the most matching requests the proxy held at once (from their arrival until
their answer, or reset, starts to go back: a client never sees an answered request still counted).
Only loopback: it listens on 127.0.0.1 and only connects to 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP = {'connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'te', 'upgrade', 'host'}


def is_put_page(method, path, headers):
    return method == 'PUT' and 'comp=page' in path


class FaultProxy:
    def __init__(self, upstream_port, plan=(), match=is_put_page, delay=0.0, verify_md5=False):
        self.upstream_port = upstream_port
        self.verify_md5 = verify_md5
        self.md5_checked = 0
        self.md5_mismatches = 0
        self.plan = list(plan)
        self.match = match
        self.delay = delay
        self.injected = []
        self.forwarded = 0  # matching requests answered by the upstream
        self.seen = 0  # matching requests received
        self.content_lengths = []  # Content-Length of each matching request, in arrival order
        self.in_flight = 0  # matching requests received and not yet answered
        self.max_in_flight = 0
        self._cond = threading.Condition()
        self._server = None
        self._thread = None

    def _md5_mismatch(self, headers, body):
        sent = headers.get('Content-MD5')
        if not self.verify_md5 or sent is None:
            return False
        bad = base64.b64encode(hashlib.md5(body).digest()).decode() != sent
        with self._cond:
            self.md5_checked += 1
            self.md5_mismatches += bad
        return bad

    @property
    def port(self):
        return self._server.server_address[1]

    def _next(self, method, path, headers):
        with self._cond:
            if not self.match(method, path, headers):
                return 'pass', False
            self.seen += 1
            self.content_lengths.append(int(headers.get('Content-Length') or 0))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = self.plan.pop(0) if self.plan else 'pass'
            if fault != 'pass':
                self.injected.append(fault)
            return fault, True

    def _left(self):
        with self._cond:
            self.in_flight -= 1

    def _answered(self):
        with self._cond:
            self.forwarded += 1
            self._cond.notify_all()

    def wait_forwarded(self, count, timeout=60.0):
        """Block until ``count`` matching requests were answered by the upstream (or timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.forwarded < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def start(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            _in_flight = False  # the request being handled counts in proxy.in_flight

            def log_message(self, *args):  # keep test output quiet
                pass

            def _reset(self):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                self.close_connection = True
                self.connection.close()

            def _leave(self):
                """The current request stops counting as in flight (once), before it is answered."""
                if self._in_flight:
                    self._in_flight = False
                    proxy._left()

            def _handle(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                fault, matched = proxy._next(self.command, self.path, self.headers)
                if fault == 'pass' and matched and proxy._md5_mismatch(self.headers, body):
                    fault = {'status': 400, 'code': 'Md5Mismatch'}
                self._in_flight = matched
                try:
                    return self._respond(fault, matched, body)
                finally:
                    self._leave()

            def _respond(self, fault, matched, body):
                if fault == 'reset':
                    self._leave()
                    return self._reset()
                if isinstance(fault, dict):
                    self._leave()
                    return self._fail(fault)
                if matched and proxy.delay:
                    time.sleep(proxy.delay)
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in _HOP)
                headers['Host'] = '127.0.0.1:%d' % proxy.upstream_port
                conn = http.client.HTTPConnection('127.0.0.1', proxy.upstream_port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self._leave()
                if matched:
                    proxy._answered()
                if fault == 'drop_response':
                    return self._reset()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP and k.lower() != 'content-length':
                        self.send_header(k, v)
                if self.command == 'HEAD':
                    self.send_header('Content-Length', resp.getheader('Content-Length', '0'))
                    self.end_headers()
                else:
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def _fail(self, fault):
                status = fault['status']
                code = fault.get('code') or {429: 'ServerBusy', 503: 'ServerBusy'}.get(status, 'InternalError')
                body = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code>'
                        '<Message>Injected by the fault proxy.</Message></Error>' % code).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/xml')
                self.send_header('x-ms-error-code', code)
                if fault.get('retry_after') is not None:
                    self.send_header('Retry-After', str(fault['retry_after']))
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _handle

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
