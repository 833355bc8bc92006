# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the _azure unit tests: a TLS server answering like a Resource Manager's metadata endpoint."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.vmimage.azure.tests.support import tls

# Every variable auth.resolve or azure-identity could read: the tests start from none of them.
AZURE_ENV_VARS = (
    'ANSIBLE_AZURE_AUTH_SOURCE', 'AZURE_PROFILE', 'AZURE_SUBSCRIPTION_ID', 'AZURE_CLIENT_ID', 'AZURE_SECRET',
    'AZURE_CLIENT_SECRET', 'AZURE_TENANT', 'AZURE_TENANT_ID', 'AZURE_AD_USER', 'AZURE_PASSWORD',
    'AZURE_CLOUD_ENVIRONMENT', 'AZURE_CERT_VALIDATION_MODE', 'AZURE_ADFS_AUTHORITY_URL',
    'AZURE_X509_CERTIFICATE_PATH', 'AZURE_THUMBPRINT', 'AZURE_DISABLE_INSTANCE_DISCOVERY', 'AZURE_AUTHORITY_HOST',
    'AZURE_RESOURCE_MANAGER_ENDPOINT', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CONFIG_DIR', 'AZURE_USERNAME',
    'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_TOKEN_CREDENTIALS', 'IDENTITY_ENDPOINT', 'MSI_ENDPOINT',
    'AZURE_REGIONAL_AUTHORITY_NAME', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'SSL_CERT_FILE',
    'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy')


@pytest.fixture
def clean_env(monkeypatch):
    for name in AZURE_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    return monkeypatch


@pytest.fixture(scope='session')
def ca_files(tmp_path_factory):
    """A test CA and a certificate for 127.0.0.1 signed by it."""
    return tls.make_tls(tmp_path_factory.mktemp('ca'))


@pytest.fixture(scope='session')
def other_ca_files(tmp_path_factory):
    """Another CA: a server using its certificate is not trusted by a client trusting ca_files."""
    return tls.make_tls(tmp_path_factory.mktemp('other-ca'))


def metadata_document(login_endpoint, audience, storage=None):
    """The api-version=2015-01-01 answer of a Resource Manager (the shape Azure Stack Hub returns)."""
    doc = {'galleryEndpoint': 'https://gallery.example/', 'graphEndpoint': 'https://graph.windows.net/',
           'portalEndpoint': 'https://portal.example/',
           'authentication': {'loginEndpoint': login_endpoint, 'audiences': [audience]}}
    if storage:
        doc['suffixes'] = {'storage': storage}
    return doc


class MetadataServer(object):
    """HTTPS server on 127.0.0.1; ``answers`` is a list of (status, body, content_type, delay), the last repeats."""

    def __init__(self, tls_files):
        self.requests = []
        self.answers = [(200, {}, 'application/json', 0)]
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                status, body, ctype, delay = server.answers[0] if len(server.answers) == 1 else server.answers.pop(0)
                if delay:
                    time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header('Content-Type', ctype)
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test)

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = tls.server_context(tls_files).wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self._server.server_address[1]

    def answer(self, *answers):
        self.answers = [a if len(a) == 4 else tuple(a) + (('application/json', 0)[len(a) - 2:]) for a in answers]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def metadata_server(ca_files, clean_env):
    """A metadata endpoint whose certificate the client trusts through REQUESTS_CA_BUNDLE only."""
    clean_env.setenv('REQUESTS_CA_BUNDLE', ca_files.ca_cert)
    server = MetadataServer(ca_files)
    yield server
    server.stop()


@pytest.fixture
def metadata_doc():
    """metadata_document(login_endpoint, audience, storage=None) -> dict."""
    return metadata_document


@pytest.fixture
def serve_metadata():
    """serve_metadata(tls_files) -> a started MetadataServer, stopped after the test."""
    servers = []

    def start(tls_files):
        servers.append(MetadataServer(tls_files))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def refused_url():
    """An https URL on 127.0.0.1 where nothing listens."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return 'https://127.0.0.1:%d' % port
