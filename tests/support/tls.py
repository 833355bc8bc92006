# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway certificate authority and a server certificate for 127.0.0.1 / localhost.

    files = make_tls(tmp_path)          # TlsFiles(ca_cert, cert, key)
    server_context(files)               # ssl.SSLContext for a test server
    client_env(files)                   # env vars that make requests/azure-core trust the CA

Everything lives under the given directory; nothing is installed system-wide.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections import namedtuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TlsFiles = namedtuple('TlsFiles', 'ca_cert cert key')


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(path, data):
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


def make_tls(directory, hosts=('127.0.0.1', 'localhost'), days=2):
    """Write ca.pem, server.pem (leaf then CA) and server-key.pem into ``directory``."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name('vmimage.azure test CA')).issuer_name(_name('vmimage.azure test CA'))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    leaf = (x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))

    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    return TlsFiles(
        ca_cert=_pem(os.path.join(directory, 'ca.pem'), ca_pem),
        cert=_pem(os.path.join(directory, 'server.pem'), leaf.public_bytes(serialization.Encoding.PEM) + ca_pem),
        key=_pem(os.path.join(directory, 'server-key.pem'), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
    )


def server_context(files):
    """An ssl.SSLContext serving the test certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.cert, files.key)
    return ctx


def client_env(files):
    """Environment variables that make Python HTTP clients (requests, urllib, azure-core) trust the CA."""
    return {'REQUESTS_CA_BUNDLE': files.ca_cert, 'SSL_CERT_FILE': files.ca_cert, 'CURL_CA_BUNDLE': files.ca_cert}
