# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ArmFake: the HTTPS server, authentication, request log, faults and long-running operations.

The resource behaviour is in compute.py (disks, snapshots, images, VMs, marketplace, community
galleries), galleries.py (galleries, image definitions and versions, replication, soft delete) and
uploads.py (upload disks, grant/revoke access); strict request-body schemas are in schemas.py.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..fake_entra import FakeEntra
from ..tls import server_context
from . import schemas
from .common import (COMPUTE_VERSIONS, DISK_VERSIONS, GALLERY_VERSIONS, METADATA_VERSIONS, RESOURCES_VERSIONS,
                     ArmError, check_api_version, lower, new_id, timestamp)
from .compute import ComputeMixin
from .galleries import GalleryMixin
from .uploads import UploadMixin

FAULT_KINDS = ('throttle', 'server_error', 'reset', 'lro_failed', 'lro_stuck')
_POLL_PATH = re.compile(r'/providers/microsoft\.compute/locations/[^/]+/(operations|diskoperations|capsoperations)/',
                        re.I)
# Which api-versions a Microsoft.Compute path accepts, by its first segment after the provider.
_FAMILY = {'disks': DISK_VERSIONS, 'snapshots': DISK_VERSIONS, 'diskoperations': DISK_VERSIONS,
           'galleries': GALLERY_VERSIONS, 'communitygalleries': GALLERY_VERSIONS, 'capsoperations': GALLERY_VERSIONS}


class Request(object):
    """One request the fake received. Attribute access (``r.status``) or item access (``r['status']``)."""

    __slots__ = ('method', 'path', 'query', 'api_version', 'body', 'status', 'poll', 'timestamp', 'fault',
                 'request_id')

    def __init__(self, method, path, query, body, poll, when):
        self.method, self.path, self.query = method, path, query
        self.api_version = query.get('api-version')
        self.body, self.poll, self.timestamp = body, poll, when
        self.status = self.fault = None
        self.request_id = new_id()

    def __getitem__(self, key):
        return getattr(self, key)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return '<%s %s -> %s%s>' % (self.method, self.path, self.status, ' (poll)' if self.poll else '')


class _Ctx(object):
    """What a handler needs to know about the request."""

    def __init__(self, method, path, query, raw):
        self.method, self.path, self.query, self.raw = method, path, query, raw
        self.api_version = query.get('api-version')
        self.json = None


class Operation(object):
    """A long-running operation in one of the three ARM dialects ('disk', 'crp', 'caps').

    ``gate(op) -> bool``, when given, is asked at each poll whether the work is finished (gallery
    replication); ``done(op)`` may raise ArmError: the operation then fails with its code and message."""

    def __init__(self, dialect, location, api_version, polls, done, failed, output_is_body, gate=None):
        self.id = new_id()
        self.dialect, self.location, self.api_version = dialect, location, api_version
        self.polls_left = polls
        self.done, self.failed, self.output_is_body = done, failed, output_is_body
        self.status = 'InProgress'
        self.start, self.end = timestamp(), None
        self.output = None
        self.fail = None     # (code, message) when an lro_failed fault applies
        self.stuck = False
        self.p = new_id()    # the opaque 'p' query parameter DiskRP and CRP put in their URLs
        self.gate = gate

    def advance(self):
        """One poll: count down, then finish (Succeeded, or Failed when a fault says so)."""
        if self.status != 'InProgress' or self.stuck:
            return
        if self.gate is not None and not self.fail and not self.gate(self):
            return
        if self.polls_left > 0:
            self.polls_left -= 1
            return
        self.end = timestamp()
        if not self.fail:
            try:
                self.output = self.done(self) if self.done else None
                self.status = 'Succeeded'
                return
            except ArmError as exc:
                self.fail = (exc.code, exc.message)
        self.status = 'Failed'
        if self.failed:
            self.failed(self)

    def status_body(self):
        body = {'startTime': self.start, 'status': self.status, 'name': self.id}
        if self.end:
            body['endTime'] = self.end
        if self.status == 'Failed':
            body['error'] = {'code': self.fail[0], 'message': self.fail[1]}
        elif self.status == 'Succeeded' and self.output is not None and (self.dialect == 'disk' or
                                                                         self.output_is_body):
            body['properties'] = {'output': json.loads(json.dumps(self.output))}
        return body


class ArmFake(GalleryMixin, UploadMixin, ComputeMixin):
    """A stateful fake of Azure Resource Manager (Microsoft.Compute) over TLS on 127.0.0.1.

    Use as a context manager or call start()/stop(). See the package docstring for the API."""

    def __init__(self, tls_files, strict=True, subscription_id=None, tenant=None, client_id=None, client_secret=None,
                 page_size=2, lro_polls=1, retry_after=0, token_lifetime=3600, storage_suffix='core.windows.net',
                 cloud_name='VmimageArmFake', host='127.0.0.1', upload_backend=None, replication_steps=1):
        self.strict = strict
        self.subscription_id = subscription_id or str(uuid.uuid4())
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.storage_suffix, self.cloud_name = storage_suffix, cloud_name
        self.entra = FakeEntra(tls_files, clients={self.client_id: self.client_secret}, tenant=tenant,
                               token_lifetime=token_lifetime, host=host)
        self.tenant = self.entra.tenant
        self._tls = tls_files
        self._defaults = dict(page_size=page_size, lro_polls=lro_polls, retry_after=retry_after,
                              replication_steps=replication_steps, upload_backend=upload_backend)
        self._lock = threading.RLock()
        self._public_key = None
        self._ssl = server_context(tls_files)
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # a client that hangs up is not an error
        self._thread = None
        self.reset()

    # -- life cycle -------------------------------------------------------------------------------
    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return 'https://%s:%d' % (host, port)

    @property
    def metadata_url(self):
        return self.url + '/metadata/endpoints?api-version=2015-01-01'

    @property
    def audience(self):
        """The token audience the metadata endpoint announces (and tokens must carry)."""
        return self.url + '/'

    def start(self):
        self.entra.start()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
                                        name='arm-fake', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self.entra.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        """Forget every resource, request, fault, operation and hook; knobs back to their defaults."""
        with self._lock:
            self._reset_compute()
            self._reset_galleries()
            self._reset_uploads()
            self.requests = []
            self._faults = []
            self.faults_served = 0
            self._ops = {}
            self._last_op = None
            self.run_command_handler = None
            self.blob_sizes = {}  # blob URI -> size in GiB, for Import creations (default 30)
            for name, value in self._defaults.items():
                setattr(self, name, value)
            del self.entra.requests[:]

    def env(self):
        """The environment AWX's Azure credential injects, plus the CA trust for this fake."""
        return {'REQUESTS_CA_BUNDLE': self._tls.ca_cert, 'SSL_CERT_FILE': self._tls.ca_cert,
                'AZURE_CLOUD_ENVIRONMENT': self.url, 'AZURE_SUBSCRIPTION_ID': self.subscription_id,
                'AZURE_CLIENT_ID': self.client_id, 'AZURE_SECRET': self.client_secret, 'AZURE_TENANT': self.tenant}

    # -- request log ------------------------------------------------------------------------------
    def clear_requests(self):
        with self._lock:
            self.requests = []

    def calls(self, method=None, path_regex=None):
        """Logged requests, optionally of one method and whose path matches (re.search, case-insensitive)."""
        pattern = re.compile(path_regex, re.I) if path_regex else None
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method.upper())
                    and (pattern is None or pattern.search(r.path))]

    def writes(self):
        """Requests that change something: not GET/HEAD, not the metadata endpoint."""
        with self._lock:
            return [r for r in self.requests if r.method not in ('GET', 'HEAD')
                    and not r.path.lower().startswith('/metadata/')]

    # -- faults -----------------------------------------------------------------------------------
    def inject(self, kind, method=None, path=None, poll=None, times=1, **kw):
        """Make the next ``times`` matching requests (or LROs, for lro_*) fail. ``path`` is a regex
        searched case-insensitively in the URL path; ``poll`` True/False limits to/excludes LRO polls.
        Faults never hit the metadata endpoint unless ``path`` names it."""
        if kind not in FAULT_KINDS:
            raise ValueError('fault kind must be one of %s' % ', '.join(FAULT_KINDS))
        with self._lock:
            self._faults.append({'kind': kind, 'method': method.upper() if method else None,
                                 'path': re.compile(path, re.I) if path else None, 'poll': poll, 'times': times,
                                 'kw': kw})

    def unstick(self):
        """Let operations held by lro_stuck finish at their next poll."""
        with self._lock:
            for op in self._ops.values():
                op.stuck = False

    def _take_fault(self, kinds, method, path, poll):
        for fault in self._faults:
            if fault['kind'] not in kinds:
                continue
            if fault['method'] and fault['method'] != method:
                continue
            if fault['path'] is None and path.lower().startswith('/metadata/'):
                continue
            if fault['path'] and not fault['path'].search(path):
                continue
            if fault['poll'] is not None and bool(fault['poll']) != bool(poll):
                continue
            fault['times'] -= 1
            if fault['times'] <= 0:
                self._faults.remove(fault)
            self.faults_served += 1
            return fault
        return None

    def _fault_response(self, fault):
        kw = fault['kw']
        if fault['kind'] == 'throttle':
            after = int(kw.get('retry_after', 1))
            code = kw.get('code', 'SubscriptionRequestsThrottled')
            message = kw.get('message') or (
                "Number of requests for subscription '%s' and operation 'Microsoft.Compute' exceeded the backend "
                "storage limit. Please try again after '%d' seconds. Refer to https://aka.ms/arm-throttling"
                % (self.subscription_id, after)) if code == 'SubscriptionRequestsThrottled' else (
                'The request is being throttled as the limit has been reached for operation type - Read_30Min. '
                'For more information, see - https://aka.ms/VMThrottling')
            return 429, {'error': {'code': code, 'message': message}}, {
                'Retry-After': str(after), 'x-ms-ratelimit-remaining-subscription-reads': '0'}
        status = int(kw.get('status', 500))
        if status == 503:
            code, message = 'ServiceUnavailable', ('The server (leader) is currently unable to handle the request '
                                                   'due to a temporary overloading or maintenance.')
        else:
            code, message = 'InternalServerError', (
                "Encountered internal server error. Diagnostic information: timestamp '%s', subscription id '%s', "
                "tracking id '%s', request correlation id '%s'." % (time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()),
                                                                    self.subscription_id, new_id(), new_id()))
        headers = {'Retry-After': str(kw['retry_after'])} if 'retry_after' in kw else {}
        return status, {'error': {'code': kw.get('code', code), 'message': kw.get('message', message)}}, headers

    # -- long-running operations ------------------------------------------------------------------
    def _op_url(self, op, monitor=False):
        segment = {'disk': 'DiskOperations', 'crp': 'operations', 'caps': 'capsOperations'}[op.dialect]
        query = '' if op.dialect == 'caps' else 'p=%s&' % op.p
        if monitor:
            query += 'monitor=true&'
        return '%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/%s/%s?%sapi-version=%s' % (
            self.url, self.subscription_id, op.location, segment, op.id, query, op.api_version)

    def _lro(self, ctx, dialect, location, status, body, done, failed, location_header=False, resource_key=None,
             output_is_body=False, gate=None, fail=None):
        """Start an operation; the answer carries Azure-AsyncOperation (+ Location) and Retry-After.

        ``gate``: see Operation (the operation then has no extra lro_polls); ``fail``: (code, message)
        the operation ends with (a failure the service finds after accepting the request)."""
        op = Operation(dialect, location, ctx.api_version, 0 if gate else self.lro_polls, done, failed,
                       output_is_body, gate=gate)
        fault = self._take_fault(('lro_failed', 'lro_stuck'), ctx.method, ctx.path, False)
        if fault and fault['kind'] == 'lro_stuck':
            op.stuck = True
        elif fault:
            op.fail = (fault['kw'].get('code', 'InternalOperationError'),
                       fault['kw'].get('message', 'The operation failed with an internal error.'))
        if fail and not op.fail:
            op.fail = tuple(fail)
        self._ops[op.id] = op
        self._last_op = op
        headers = {'Azure-AsyncOperation': self._op_url(op), 'Retry-After': str(int(self.retry_after))}
        if location_header:
            headers['Location'] = self._op_url(op, monitor=True)
        return status, body, headers

    def _poll(self, ctx, op_id):
        op = self._ops.get(op_id)
        if op is None:
            raise ArmError(404, 'NotFound', "The operation '%s' was not found." % op_id)
        op.advance()
        retry = {'Retry-After': str(int(self.retry_after))}
        if lower(ctx.query.get('monitor')) != 'true':
            return 200, op.status_body(), retry if op.status == 'InProgress' else {}
        # The Location (monitor) URL: 202 while running, then the operation's result.
        if op.status == 'InProgress':
            return 202, None, dict(retry, Location=self._op_url(op, monitor=True))
        if op.status == 'Failed':
            raise ArmError(500, op.fail[0], op.fail[1])
        result = op.output if (op.dialect == 'disk' or op.output_is_body) else None
        return 200, result, {}

    # -- authentication ---------------------------------------------------------------------------
    def _key(self):
        if self._public_key is None:
            jwk = self.entra.public_jwk()

            def num(v):
                return int.from_bytes(base64.urlsafe_b64decode(v + '=' * (-len(v) % 4)), 'big')
            self._public_key = rsa.RSAPublicNumbers(num(jwk['e']), num(jwk['n'])).public_key()
        return self._public_key

    def _challenge(self, description):
        return {'WWW-Authenticate': 'Bearer authorization_uri="%s/%s", error="invalid_token", '
                'error_description="%s"' % (self.entra.authority_host, self.tenant, description)}

    def _authenticate(self, header):
        """Check the bearer token like ARM: FakeEntra's signature, tenant, audience, lifetime."""
        if not header:
            raise ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is "
                           "missing.", headers=self._challenge("The authentication failed because of missing "
                                                               "'Authorization' header."))
        invalid = ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.',
                           headers=self._challenge('The access token is invalid.'))
        scheme, _space, token = header.partition(' ')
        if scheme.lower() != 'bearer' or token.count('.') != 2:
            raise ArmError(401, 'InvalidAuthenticationToken', "Authentication failed. The 'Authorization' header is "
                           "provided in an invalid format.", headers=self._challenge('The access token is invalid.'))
        head, body, sig = token.split('.')
        try:
            def part(p):
                return base64.urlsafe_b64decode(p + '=' * (-len(p) % 4))
            claims = json.loads(part(body))
            self._key().verify(part(sig), ('%s.%s' % (head, body)).encode(), padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, InvalidSignature, TypeError):
            raise invalid
        allowed = [self.audience, self.audience.rstrip('/')]
        if claims.get('aud') not in allowed:
            raise ArmError(401, 'InvalidAuthenticationTokenAudience', "The access token has been obtained for wrong "
                           "audience or resource '%s'. It should exactly match with one of the allowed audiences "
                           "'%s'." % (claims.get('aud'), "','".join(allowed)),
                           headers=self._challenge('The access token has been obtained for wrong audience.'))
        if claims.get('tid') != self.tenant:
            raise ArmError(401, 'InvalidAuthenticationTokenTenant', "The access token is from the wrong issuer '%s'. "
                           "It must match the tenant 'https://sts.windows.net/%s/' associated with this subscription."
                           % (claims.get('iss'), self.tenant), headers=self._challenge('The access token is from '
                                                                                       'the wrong issuer.'))
        now = time.time()
        if claims.get('exp', 0) <= now or claims.get('nbf', 0) > now + 300:
            def show(t):
                return time.strftime('%m/%d/%Y %I:%M:%S %p', time.gmtime(t))
            raise ArmError(401, 'ExpiredAuthenticationToken', "The access token expiry UTC time '%s' is earlier than "
                           "current UTC time '%s'." % (show(claims.get('exp', 0)), show(now)),
                           headers=self._challenge('The access token expiry UTC time is earlier than current UTC '
                                                   'time.'))

    # -- routing ----------------------------------------------------------------------------------
    def _metadata(self, ctx):
        version = check_api_version(ctx.api_version, METADATA_VERSIONS)
        auth = {'loginEndpoint': self.entra.authority_host + '/', 'audiences': [self.audience], 'tenant': 'common',
                'identityProvider': 'AAD'}
        suffixes = {'storage': self.storage_suffix, 'keyVaultDns': 'vault.' + self.storage_suffix.split('.', 1)[-1],
                    'acrLoginServer': 'azurecr.io', 'sqlServerHostname': 'database.windows.net'}
        if version == '2015-01-01':
            return 200, {'galleryEndpoint': self.url + '/gallery/', 'graphEndpoint': 'https://graph.windows.net/',
                         'graphAudience': 'https://graph.windows.net/', 'portalEndpoint': self.url + '/portal/',
                         'authentication': auth, 'suffixes': suffixes}, {}
        cloud = {'name': self.cloud_name, 'resourceManager': self.url + '/', 'authentication': auth,
                 'portal': self.url + '/portal/', 'gallery': self.url + '/gallery/',
                 'graph': 'https://graph.windows.net/', 'graphAudience': 'https://graph.windows.net/',
                 'microsoftGraphResourceId': 'https://graph.microsoft.com/', 'suffixes': suffixes}
        return 200, [cloud], {}

    def _body(self, ctx, kind):
        """Parse (and in strict mode validate) the JSON body of a write."""
        raw = ctx.raw.strip()
        if not raw or raw in ('null',):
            body = None
        else:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be "
                               "deserialized: 'Unexpected character encountered while parsing value: %s. Path '', "
                               "line 1, position 0.'." % (str(exc)[:60]))
        if self.strict:
            if kind in ('vmaction', 'access') and body not in (None, {}):
                raise ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be "
                               "deserialized: 'This operation does not take a request body.'.")
            if kind not in ('vmaction', 'access'):
                body = schemas.validate(kind, ctx.method, body if body is not None else {}, ctx.raw)
        return body if body is not None else {}

    def _route(self, ctx, segments):
        low = [s.lower() for s in segments]
        if low[:2] == ['metadata', 'endpoints'] and len(low) == 2 and ctx.method == 'GET':
            return self._metadata(ctx)
        if not low or low[0] != 'subscriptions' or len(low) < 2:
            raise ArmError(404, 'NotFound', "No HTTP resource was found that matches the request URI '%s%s'."
                           % (self.url, ctx.path))
        if lower(segments[1]) != lower(self.subscription_id):
            raise ArmError(404, 'SubscriptionNotFound', "The subscription '%s' could not be found." % segments[1])
        rest, lrest = segments[2:], low[2:]
        if lrest[:1] == ['resourcegroups'] and len(lrest) <= 2:
            check_api_version(ctx.api_version, RESOURCES_VERSIONS)
            return self._resource_groups(ctx, rest[1:])
        if lrest[:1] == ['resourcegroups'] and lrest[2:4] == ['providers', 'microsoft.compute'] and len(lrest) >= 5:
            compute = lrest[4:]
            check_api_version(ctx.api_version, _FAMILY.get(compute[0], COMPUTE_VERSIONS))
            if ctx.method in ('PUT', 'PATCH', 'POST'):
                ctx.json = self._body(ctx, self._schema_kind(compute))
            return self._compute_rg(ctx, rest[1], rest[4:])
        if lrest[:2] == ['providers', 'microsoft.compute'] and len(lrest) >= 3:
            compute = lrest[2:]
            family = _FAMILY.get(compute[2] if compute[0] == 'locations' and len(compute) > 2 else compute[0],
                                 COMPUTE_VERSIONS)
            check_api_version(ctx.api_version, family)
            if ctx.method != 'GET':
                raise ArmError(405, 'MethodNotAllowed', 'The requested method is not allowed.')
            return self._compute_sub(ctx, rest[2:])
        raise ArmError(404, 'NotFound', "No HTTP resource was found that matches the request URI '%s%s'."
                       % (self.url, ctx.path))

    @staticmethod
    def _schema_kind(compute):
        kind = compute[0]
        if kind == 'galleries' and len(compute) >= 4:
            return 'galleryimageversions' if len(compute) >= 6 else 'galleryimages'
        if kind == 'virtualmachines' and len(compute) == 3:
            return 'runcommand' if compute[2] == 'runcommand' else 'vmaction'
        if kind in ('disks', 'snapshots') and len(compute) == 3:
            return 'grantaccess' if compute[2] == 'begingetaccess' else 'access'
        return kind

    def _serve(self, method, target, headers, raw):
        """Handle one request; returns (status, body, headers) or None for a connection reset."""
        when = time.time()
        split = urlsplit(target)
        path = unquote(split.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        try:
            logged_body = json.loads(raw) if raw.strip() else None
        except ValueError:
            logged_body = raw
        poll = bool(_POLL_PATH.search(path))
        record = Request(method, path, query, logged_body, poll, when)
        with self._lock:
            self.requests.append(record)
            fault = self._take_fault(('throttle', 'server_error', 'reset'), method, path, poll)
            if fault:
                record.fault = fault['kind']
                if fault['kind'] == 'reset':
                    return record, None
                status, body, extra = self._fault_response(fault)
            else:
                ctx = _Ctx(method, path, query, raw)
                segments = [s for s in path.split('/') if s]
                try:
                    if segments and lower(segments[0]) == 'subscriptions':
                        self._authenticate(headers.get('Authorization'))
                    status, body, extra = self._route(ctx, segments)
                except ArmError as exc:
                    status, body, extra = exc.status, exc.body(), exc.headers
                except Exception as exc:  # a bug of the fake (or a body non-strict mode let through)
                    status, extra = 500, {}
                    body = {'error': {'code': 'ArmFakeInternalError', 'message': 'The ARM fake failed on %s %s: '
                                      '%s: %s' % (method, path, type(exc).__name__, exc)}}
            record.status = status
            return record, (status, body, extra)


def _handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def setup(self):
            # TLS handshake here, in the connection's own thread, not in the accept loop.
            # TCP_NODELAY: headers and body leave in separate writes; without it, Nagle and the
            # client's delayed ACK add ~40 ms to every answer.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.request = fake._ssl.wrap_socket(self.request, server_side=True)
            super().setup()

        def log_message(self, *args):  # keep test output clean
            pass

        def _answer(self):
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length).decode('utf-8', 'replace') if length else ''
            record, answer = fake._serve(self.command, self.path, self.headers, raw)
            if answer is None:
                # Reset: close the TCP connection with SO_LINGER 0 (an RST), without any answer.
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                self.close_connection = True
                self.request.close()
                return
            status, body, extra = answer
            data = b'' if body is None else json.dumps(body).encode()
            self.send_response(status)
            routing = 'WESTEUROPE:%s:%s' % (time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()), new_id())
            correlation = self.headers.get('x-ms-correlation-request-id') or new_id()
            base = {'Cache-Control': 'no-cache', 'Pragma': 'no-cache', 'Expires': '-1',
                    'x-ms-request-id': record.request_id, 'x-ms-correlation-request-id': correlation,
                    'x-ms-routing-request-id': routing, 'Strict-Transport-Security': 'max-age=31536000; '
                    'includeSubDomains', 'X-Content-Type-Options': 'nosniff'}
            if self.headers.get('x-ms-client-request-id'):
                base['x-ms-client-request-id'] = self.headers['x-ms-client-request-id']
            if body is not None:
                base['Content-Type'] = 'application/json; charset=utf-8'
            reads = 'reads' if self.command in ('GET', 'HEAD') else 'writes'
            base['x-ms-ratelimit-remaining-subscription-%s' % reads] = '11999' if reads == 'reads' else '1199'
            base.update(extra)
            for name, value in base.items():
                self.send_header(name, value)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _answer

    return Handler
