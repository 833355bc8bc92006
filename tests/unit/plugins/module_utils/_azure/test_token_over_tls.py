# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real ClientSecretCredential (azure-identity + MSAL) talking TLS to the fake Entra ID on 127.0.0.1."""
from __future__ import annotations

import time

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth
from ansible_collections.vmimage.azure.plugins.module_utils._azure.errors import describe_error
from ansible_collections.vmimage.azure.tests.support import tls
from ansible_collections.vmimage.azure.tests.support.fake_entra import FakeEntra, decode_jwt

CLIENT_ID = 'b3a5e0a4-6f3c-4c4e-9d0e-1f2a3b4c5d6e'
SECRET = 'fake~Secret.Value/with+chars='


@pytest.fixture(scope='module')
def tls_files(tmp_path_factory):
    return tls.make_tls(tmp_path_factory.mktemp('tls'))


@pytest.fixture
def entra(tls_files, monkeypatch):
    for name, value in tls.client_env(tls_files).items():
        monkeypatch.setenv(name, value)
    with FakeEntra(tls_files, clients={CLIENT_ID: SECRET}) as fake:
        yield fake


def credential(entra, secret=SECRET, tenant=None):
    return auth.build_credential({
        'auth_source': 'credentials', 'client_id': CLIENT_ID, 'secret': secret, 'tenant': tenant or entra.tenant,
        'authority_host': entra.authority_host, 'disable_instance_discovery': True})


@pytest.mark.parametrize('scope, audience', [
    ('https://storage.azure.com/.default', 'https://storage.azure.com'),
    ('https://management.azure.com/.default', 'https://management.azure.com'),
])
def test_client_secret_credential_gets_a_token_azurite_would_accept(entra, scope, audience):
    before = int(time.time())
    token = credential(entra).get_token(scope)
    header, claims = decode_jwt(token.token)
    assert header['alg'] == 'RS256'
    assert claims['aud'] == audience
    assert claims['iss'] == 'https://sts.windows.net/%s/' % entra.tenant  # an issuer Azurite accepts
    assert claims['tid'] == entra.tenant and claims['appid'] == CLIENT_ID and claims['oid']
    assert claims['nbf'] <= before <= claims['iat'] < claims['exp']
    assert token.expires_on == pytest.approx(claims['exp'], abs=120)
    posts = entra.token_requests()
    assert len(posts) == 1
    assert posts[0]['form']['client_id'] == CLIENT_ID and posts[0]['form']['scope'] == scope
    assert posts[0]['form']['grant_type'] == 'client_credentials'
    assert posts[0]['form']['client_secret'] == '********'  # the log never keeps the secret


def test_token_is_cached_by_the_credential(entra):
    cred = credential(entra)
    first = cred.get_token('https://storage.azure.com/.default').token
    assert cred.get_token('https://storage.azure.com/.default').token == first
    assert len(entra.token_requests()) == 1


def test_wrong_secret_gives_entra_error_and_a_clean_message(entra):
    wrong = 'not-the-secret/' + SECRET
    with pytest.raises(ClientAuthenticationError) as err:
        credential(entra, secret=wrong).get_token('https://storage.azure.com/.default')
    msg = describe_error(err.value, [wrong])
    assert 'AADSTS7000215' in msg and 'Invalid client secret' in msg
    assert 'client_id, secret and tenant' in msg
    assert wrong not in msg and SECRET not in msg


def test_unknown_tenant_is_reported(entra):
    other = '00000000-0000-0000-0000-000000000001'
    with pytest.raises(ClientAuthenticationError) as err:
        credential(entra, tenant=other).get_token('https://storage.azure.com/.default')
    msg = describe_error(err.value, [SECRET])
    assert other in msg and SECRET not in msg


def test_injected_fault_applies_once(entra):
    entra.inject('unauthorized_client')
    with pytest.raises(ClientAuthenticationError) as err:
        credential(entra).get_token('https://storage.azure.com/.default')
    assert 'AADSTS700016' in describe_error(err.value)
    assert credential(entra).get_token('https://storage.azure.com/.default').token


def test_untrusted_certificate_is_refused(entra, monkeypatch, tmp_path):
    other_ca = tls.make_tls(tmp_path / 'other')
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', other_ca.ca_cert)
    cred = ClientSecretCredential(entra.tenant, CLIENT_ID, SECRET, authority=entra.authority_host,
                                  disable_instance_discovery=True, retry_total=0)
    with pytest.raises(ClientAuthenticationError) as err:
        cred.get_token('https://storage.azure.com/.default')
    msg = describe_error(err.value, [SECRET])
    assert 'CERTIFICATE_VERIFY_FAILED' in msg and 'REQUESTS_CA_BUNDLE' in msg and SECRET not in msg
    assert not entra.token_requests()
