# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake Microsoft Entra ID token endpoint on 127.0.0.1, over TLS, for tests.

It speaks enough of Entra ID v2.0 for azure-identity's ClientSecretCredential (through MSAL, with
``disable_instance_discovery=True`` and ``authority=fake.authority_host``):

* ``GET /{tenant}/v2.0/.well-known/openid-configuration``
* ``POST /{tenant}/oauth2/v2.0/token`` (``grant_type=client_credentials``)
* ``GET /{tenant}/discovery/v2.0/keys`` (the RSA key the tokens are signed with)

Tokens are RS256 JWTs with ``aud`` taken from the requested scope (``https://storage.azure.com``
for storage, ``https://management.azure.com`` for Resource Manager), ``iss`` =
``https://sts.windows.net/{tenant}/`` (an issuer Azurite's ``--oauth basic`` accepts), and
``iat``/``nbf``/``exp``/``tid``/``oid``/``appid``.

    with FakeEntra(tls_files, clients={'my-app': 'my-secret'}) as fake:
        fake.authority_host, fake.tenant
        fake.requests            # list of dicts: method, path, tenant, form (client_secret masked)
        fake.inject('invalid_client')   # next token request fails like Entra does

Errors use Entra's JSON shape ({"error", "error_description": "AADSTS...: ...", "error_codes", ...}).
An unknown tenant, unknown client or wrong secret produce the matching AADSTS error by themselves.
"""

from __future__ import annotations

import base64
import datetime
import json
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MASK = '********'

# name -> (HTTP status, error, AADSTS code, description); {client_id} / {tenant} are filled in.
ERRORS = {
    'invalid_client': (401, 'invalid_client', 7000215,
                       'Invalid client secret provided. Ensure the secret being sent in the request is the client '
                       "secret value, not the client secret ID, for a secret added to app '{client_id}'."),
    'unauthorized_client': (400, 'unauthorized_client', 700016,
                            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                            'This can happen if the application has not been installed by the administrator of the '
                            'tenant or consented to by any user in the tenant. You may have sent your authentication '
                            'request to the wrong tenant.'),
    'tenant_not_found': (400, 'invalid_request', 90002,
                         "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                         'signing into the correct cloud.'),
    'invalid_scope': (400, 'invalid_scope', 1002012,
                      'The provided value for scope {scope} is not valid. Client credential flows must have a scope '
                      'value with /.default suffixed to the resource identifier (application ID URI).'),
    'server_error': (500, 'server_error', 90033,
                     'A transient error has occurred. Please try again.'),
}


def _b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def decode_jwt(token):
    """The (header, claims) of a JWT, without checking the signature."""
    def part(p):
        return json.loads(base64.urlsafe_b64decode(p + '=' * (-len(p) % 4)))
    head, body, _sig = token.split('.')
    return part(head), part(body)


class FakeEntra(object):
    """Threaded HTTPS server; use as a context manager or call start()/stop()."""

    def __init__(self, tls_files, clients=None, tenant=None, token_lifetime=3600, host='127.0.0.1'):
        self.tenant = tenant or str(uuid.uuid4())
        self.clients = dict(clients or {})
        self.token_lifetime = token_lifetime
        self.requests = []
        self.tokens = []  # claims of every token issued
        self._faults = []
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = uuid.uuid4().hex
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(tls_files.cert, tls_files.key)
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        self._server.socket = self._ctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = None

    # -- life cycle -------------------------------------------------------------------------------
    @property
    def authority_host(self):
        host, port = self._server.server_address[:2]
        return 'https://%s:%d' % (host, port)

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
                                        name='fake-entra', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- test hooks -------------------------------------------------------------------------------
    def inject(self, error, count=1):
        """Make the next ``count`` token requests fail with ``ERRORS[error]`` (or a (status, body) tuple)."""
        with self._lock:
            self._faults.extend([error] * count)

    def token_requests(self):
        return [r for r in self.requests if r['path'].endswith('/oauth2/v2.0/token')]

    def public_jwk(self):
        numbers = self._key.public_key().public_numbers()
        return {'kty': 'RSA', 'use': 'sig', 'alg': 'RS256', 'kid': self._kid,
                'n': _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, 'big')),
                'e': _b64url(numbers.e.to_bytes(3, 'big'))}

    # -- protocol ---------------------------------------------------------------------------------
    def openid_configuration(self, tenant):
        base = '%s/%s' % (self.authority_host, tenant)
        return {
            'issuer': '%s/v2.0' % base,
            'authorization_endpoint': '%s/oauth2/v2.0/authorize' % base,
            'token_endpoint': '%s/oauth2/v2.0/token' % base,
            'device_authorization_endpoint': '%s/oauth2/v2.0/devicecode' % base,
            'jwks_uri': '%s/discovery/v2.0/keys' % base,
            'response_types_supported': ['code', 'id_token', 'code id_token', 'id_token token'],
            'subject_types_supported': ['pairwise'],
            'id_token_signing_alg_values_supported': ['RS256'],
            'token_endpoint_auth_methods_supported': ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
            'scopes_supported': ['openid', 'profile', 'email', 'offline_access'],
            'tenant_region_scope': 'EU',
            'cloud_instance_name': 'microsoftonline.com',
        }

    def error_body(self, name, **fields):
        status, error, code, text = ERRORS[name]
        now = datetime.datetime.now(datetime.timezone.utc)
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        description = 'AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s' % (
            code, text.format(**dict({'client_id': '', 'tenant': '', 'scope': ''}, **fields)),
            trace, corr, now.strftime('%Y-%m-%d %H:%M:%SZ'))
        return status, {
            'error': error, 'error_description': description, 'error_codes': [code],
            'timestamp': now.strftime('%Y-%m-%d %H:%M:%SZ'), 'trace_id': trace, 'correlation_id': corr,
            'error_uri': '%s/error?code=%d' % (self.authority_host, code),
        }

    def issue_token(self, tenant, client_id, scope):
        now = int(time.time())
        audience = scope.split()[0]
        if audience.endswith('/.default'):
            audience = audience[:-len('/.default')]
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, 'fake-entra:%s:%s' % (tenant, client_id)))
        claims = {
            'aud': audience, 'iss': 'https://sts.windows.net/%s/' % tenant,
            'iat': now, 'nbf': now - 300, 'exp': now + self.token_lifetime,
            'tid': tenant, 'oid': oid, 'sub': oid, 'appid': client_id, 'azp': client_id,
            'idtyp': 'app', 'ver': '1.0', 'uti': _b64url(uuid.uuid4().bytes),
        }
        header = {'typ': 'JWT', 'alg': 'RS256', 'kid': self._kid}
        signing_input = '%s.%s' % (_b64url(json.dumps(header)), _b64url(json.dumps(claims)))
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        self.tokens.append(claims)
        return {'token_type': 'Bearer', 'expires_in': self.token_lifetime, 'ext_expires_in': self.token_lifetime,
                'access_token': '%s.%s' % (signing_input, _b64url(signature))}

    def token_response(self, tenant, form):
        client_id = form.get('client_id', '')
        scope = form.get('scope', '')
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if isinstance(fault, tuple):
            return fault
        if fault:
            return self.error_body(fault, client_id=client_id, tenant=tenant, scope=scope)
        if tenant != self.tenant:
            return self.error_body('tenant_not_found', tenant=tenant)
        if client_id not in self.clients:
            return self.error_body('unauthorized_client', client_id=client_id, tenant=tenant)
        if form.get('client_secret') != self.clients[client_id]:
            return self.error_body('invalid_client', client_id=client_id)
        if form.get('grant_type') != 'client_credentials' or not scope.split()[0].endswith('/.default'):
            return self.error_body('invalid_scope', scope=scope)
        return 200, self.issue_token(tenant, client_id, scope)


def _handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def setup(self):
            # Headers and body leave in separate writes: without TCP_NODELAY, Nagle and the
            # client's delayed ACK add ~40 ms to every answer.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header('Content-Type', 'application/json; charset=utf-8')
            self.send_header('Content-Length', str(len(data)))
            self.send_header('Cache-Control', 'no-store, no-cache')
            self.end_headers()
            self.wfile.write(data)

        def _record(self, form=None):
            path = urlsplit(self.path).path
            parts = path.strip('/').split('/')
            entry = {'method': self.command, 'path': path, 'tenant': parts[0] if parts else '',
                     'headers': {k.lower(): (MASK if k.lower() == 'authorization' else v)
                                 for k, v in self.headers.items()}}
            if form is not None:
                entry['form'] = dict(form, client_secret=MASK) if 'client_secret' in form else dict(form)
            fake.requests.append(entry)
            return parts

        def do_GET(self):
            parts = self._record()
            tenant = parts[0] if parts else ''
            if parts[1:] == ['v2.0', '.well-known', 'openid-configuration']:
                if tenant in (fake.tenant, 'organizations', 'common'):
                    return self._send(200, fake.openid_configuration(tenant))
                return self._send(*fake.error_body('tenant_not_found', tenant=tenant))
            if parts[1:] == ['discovery', 'v2.0', 'keys']:
                return self._send(200, {'keys': [fake.public_jwk()]})
            self._send(404, {'error': 'not_found', 'error_description': 'fake_entra: no route for %s' % self.path})

        def do_POST(self):
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length).decode('utf-8', 'replace')
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            parts = self._record(form)
            if parts[1:] == ['oauth2', 'v2.0', 'token']:
                return self._send(*fake.token_response(parts[0], form))
            self._send(404, {'error': 'not_found', 'error_description': 'fake_entra: no route for %s' % self.path})

    return Handler


def main():
    """Run the fake by hand: python fake_entra.py CERT KEY CLIENT_ID SECRET."""
    import sys
    from collections import namedtuple
    files = namedtuple('Files', 'cert key')(sys.argv[1], sys.argv[2])
    fake = FakeEntra(files, clients={sys.argv[3]: sys.argv[4]}).start()
    print(json.dumps({'authority_host': fake.authority_host, 'tenant': fake.tenant}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == '__main__':
    main()
