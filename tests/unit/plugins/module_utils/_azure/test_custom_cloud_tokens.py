# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real tokens for a custom cloud: cloud_environment is a Resource Manager URL whose metadata (over TLS)
names the fake Entra ID as login endpoint; azure-identity and MSAL really talk to both."""
from __future__ import annotations

import os

import pytest
from azure.core.exceptions import ClientAuthenticationError

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth
from ansible_collections.vmimage.azure.tests.support.fake_entra import FakeEntra, decode_jwt

CLIENT_ID = 'c0ffee00-6f3c-4c4e-9d0e-1f2a3b4c5d6e'
SECRET = 'custom~Cloud.Secret/with+chars='
SUB = '0b1f6471-1bf0-4dda-aec3-cb9272f09590'
AUDIENCE = 'https://management.stack.example/3c1e9a4b-54b1-4b1a-a1c4-7e9d5f0a2b11'


@pytest.fixture
def entra(ca_files, clean_env):
    with FakeEntra(ca_files, clients={CLIENT_ID: SECRET}) as fake:
        yield fake


@pytest.fixture
def stack(entra, metadata_server, metadata_doc):
    """A Resource Manager URL whose metadata names the fake Entra ID; trusted via REQUESTS_CA_BUNDLE only."""
    metadata_server.answer((200, metadata_doc(entra.authority_host + '/', AUDIENCE, 'stack.example')))
    assert 'SSL_CERT_FILE' not in os.environ and 'CURL_CA_BUNDLE' not in os.environ
    return metadata_server


def awx_env(entra, stack):
    """What AWX's "Microsoft Azure Resource Manager" credential injects, cloud_environment set to a URL."""
    return {'AZURE_SUBSCRIPTION_ID': SUB, 'AZURE_CLIENT_ID': CLIENT_ID, 'AZURE_TENANT': entra.tenant,
            'AZURE_SECRET': SECRET, 'AZURE_CLOUD_ENVIRONMENT': stack.url}


def test_awx_environment_with_a_custom_cloud_gets_a_real_token(entra, stack, tmp_path):
    r = auth.resolve({'auth_source': 'auto'}, env=awx_env(entra, stack), home=str(tmp_path))
    assert (r.source, r.subscription_id, r.cloud.custom) == ('env', SUB, True)
    assert r.cloud.resource_manager == stack.url and r.cloud.authority_host == entra.authority_host
    assert r.cloud.arm_scope == AUDIENCE + '/.default' and r.cloud.storage_suffix == 'stack.example'
    token = r.credential.get_token(r.cloud.arm_scope)
    _header, claims = decode_jwt(token.token)
    assert claims['aud'] == AUDIENCE and claims['tid'] == entra.tenant and claims['appid'] == CLIENT_ID
    # instance discovery was turned off by itself: MSAL asked nothing of login.microsoftonline.com and
    # fetched the tenant's OpenID configuration from the fake
    assert any(p['path'].endswith('/v2.0/.well-known/openid-configuration') for p in entra.requests)
    assert [p['form']['scope'] for p in entra.token_requests()] == [AUDIENCE + '/.default']
    assert stack.requests == ['/metadata/endpoints?api-version=2015-01-01']
    assert SECRET not in repr(r.summary())


def test_profile_with_a_custom_cloud(entra, stack, tmp_path):
    (tmp_path / '.azure').mkdir()
    creds = tmp_path / '.azure' / 'credentials'
    creds.write_text('[stack]\nsubscription_id = %s\nclient_id = %s\nsecret = %s\ntenant = %s\n'
                     'cloud_environment = %s\n' % (SUB, CLIENT_ID, SECRET, entra.tenant, stack.url))
    creds.chmod(0o600)
    r = auth.resolve({'profile': 'stack'}, env={}, home=str(tmp_path))
    assert (r.source, r.profile) == ('credential_file', 'stack')
    assert decode_jwt(r.credential.get_token(r.cloud.arm_scope).token)[1]['aud'] == AUDIENCE


def test_cert_validation_mode_ignore_covers_metadata_and_token(entra, stack, other_ca_files, clean_env, tmp_path):
    clean_env.setenv('REQUESTS_CA_BUNDLE', other_ca_files.ca_cert)  # neither server is trusted now
    env = dict(awx_env(entra, stack), AZURE_CERT_VALIDATION_MODE='ignore')
    r = auth.resolve({}, env=env, home=str(tmp_path))
    assert r.connection_verify is False and any('not verified' in w for w in r.warnings)
    assert decode_jwt(r.credential.get_token(r.cloud.arm_scope).token)[1]['aud'] == AUDIENCE


def test_without_ignore_an_untrusted_login_endpoint_fails_at_token_time(metadata_server, metadata_doc,
                                                                        other_ca_files, tmp_path):
    """Metadata trusted, Entra ID not: resolving works (no network to Entra), the token request fails."""
    untrusted = FakeEntra(other_ca_files, clients={CLIENT_ID: SECRET}).start()
    try:
        metadata_server.answer((200, metadata_doc(untrusted.authority_host + '/', AUDIENCE)))
        env = dict(awx_env(untrusted, metadata_server))
        r = auth.resolve({}, env=env, home=str(tmp_path))
        assert not untrusted.requests
        with pytest.raises(ClientAuthenticationError, match='CERTIFICATE_VERIFY_FAILED'):
            r.credential.get_token(r.cloud.arm_scope)
    finally:
        untrusted.stop()


def test_wrong_secret_is_entras_answer(entra, stack, tmp_path):
    env = dict(awx_env(entra, stack), AZURE_SECRET='wrong-' + SECRET)
    r = auth.resolve({}, env=env, home=str(tmp_path))
    with pytest.raises(ClientAuthenticationError, match='AADSTS7000215'):
        r.credential.get_token(r.cloud.arm_scope)
