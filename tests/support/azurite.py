# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start and stop a real Azurite (blob service only) on 127.0.0.1 for tests and benchmarks.

    with Azurite(tmp_path) as az:                        # plain HTTP, random account key
        az.account_url, az.account_name, az.account_key, az.connection_string
    with Azurite(tmp_path, cert=..., key=..., oauth='basic') as az:   # HTTPS + Entra ID tokens

The binary is $AZURITE_BIN, else tests/azurite/node_modules/.bin/azurite(-blob) of this
repository (``npm install --prefix tests/azurite``), else ``azurite-blob``/``azurite`` on PATH.
Data lives in memory (``--inMemoryPersistence``); the account key is random per instance.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
API_VERSION = '2025-11-05'  # newest version Azurite 3.35 accepts; pass it from the client


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def find_azurite():
    """Path of the azurite binary (prefers the blob-only ``azurite-blob`` next to it), or None."""
    candidates = []
    if os.environ.get('AZURITE_BIN'):
        candidates.append(Path(os.environ['AZURITE_BIN']))
    candidates.append(REPO / 'tests' / 'azurite' / 'node_modules' / '.bin' / 'azurite')
    for name in ('azurite-blob', 'azurite'):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    for path in candidates:
        blob_only = path.with_name('azurite-blob')
        for exe in (blob_only, path):
            if exe.is_file() and os.access(str(exe), os.X_OK):
                return str(exe)
    return None


def wait_port(port, timeout=60.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError('Azurite exited with code %s' % proc.returncode)
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError('Azurite did not listen on 127.0.0.1:%d within %.0f s' % (port, timeout))


class Azurite:
    def __init__(self, workdir, cert=None, key=None, oauth=None, binary=None, account_name='vmimagetest',
                 extra_args=(), location=None):
        self.workdir = Path(workdir)
        # None: blobs in memory; else the directory Azurite keeps them in (disk-backed).
        self.location = location
        self.extra_args = list(extra_args)
        self.cert, self.key, self.oauth = cert, key, oauth
        self.binary = binary or find_azurite()
        if not self.binary:
            raise RuntimeError('Azurite not found: set AZURITE_BIN, or run '
                               '"npm install --prefix tests/azurite", or put azurite on PATH')
        self.account_name = account_name
        self.account_key = base64.b64encode(secrets.token_bytes(64)).decode()
        self.port = None
        self.proc = None
        self.log = None

    @property
    def scheme(self):
        return 'https' if self.cert else 'http'

    @property
    def account_url(self):
        return '%s://127.0.0.1:%d/%s' % (self.scheme, self.port, self.account_name)

    def url_on(self, port):
        """The account URL through another port on 127.0.0.1 (e.g. a fault proxy)."""
        return '%s://127.0.0.1:%d/%s' % (self.scheme, port, self.account_name)

    @property
    def connection_string(self):
        return ('DefaultEndpointsProtocol=%s;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;'
                % (self.scheme, self.account_name, self.account_key, self.account_url))

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [self.binary, '--blobHost', '127.0.0.1', '--blobPort', str(self.port),
               '--silent', '--disableProductStyleUrl', '--disableTelemetry']
        cmd += ['--location', str(self.location)] if self.location else ['--inMemoryPersistence']
        if not self.binary.endswith('-blob'):
            cmd += ['--queueHost', '127.0.0.1', '--queuePort', str(free_port()),
                    '--tableHost', '127.0.0.1', '--tablePort', str(free_port())]
        if self.cert:
            cmd += ['--cert', str(self.cert), '--key', str(self.key)]
        if self.oauth:
            cmd += ['--oauth', self.oauth]
        cmd += self.extra_args
        env = dict(os.environ, AZURITE_ACCOUNTS='%s:%s' % (self.account_name, self.account_key))
        self.log = open(self.workdir / 'azurite.log', 'wb')
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(self.workdir), start_new_session=True)
        try:
            wait_port(self.port, proc=self.proc)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def service_client(self, **kwargs):
        """A BlobServiceClient for checking what the tests did (account key auth)."""
        from azure.storage.blob import BlobServiceClient
        kwargs.setdefault('api_version', API_VERSION)
        return BlobServiceClient(self.account_url, credential={'account_name': self.account_name,
                                                               'account_key': self.account_key}, **kwargs)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
