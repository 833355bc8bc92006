# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Blob client factory: option checks, credential choice, URL and secret handling (no network)."""

from __future__ import annotations

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._storage import client

pytest.importorskip('azure.storage.blob')

KEY = 'c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=='
SAS = 'sv=2025-11-05&se=2030-01-01T00%3A00%3A00Z&sr=b&sp=rcw&sig=S1gn4ture%2Babc%3D'
ACCOUNT_URL = 'https://acct.blob.core.windows.net'


def build(**params):
    return client.build_blob_client(params)


def test_account_key_client():
    c, retry, auth = build(account_url=ACCOUNT_URL, container='vhds', blob='a.vhd', account_key=KEY)
    assert auth == 'key' and c.url == ACCOUNT_URL + '/vhds/a.vhd' and c.account_name == 'acct'
    assert isinstance(retry, client.CountingRetryPolicy) and retry.retries == 0


def test_sas_in_blob_url_is_used_but_never_public():
    url = ACCOUNT_URL + '/vhds/a.vhd?' + SAS
    c, _retry, auth = build(blob_url=url)
    assert auth == 'sas' and 'sig=' in c.url
    assert client.public_url(c.url) == ACCOUNT_URL + '/vhds/a.vhd'


def test_path_style_account_for_emulators():
    c, _retry, auth = build(account_url='http://127.0.0.1:10000/devacct', container='vhds', blob='x/y.vhd',
                            sas_token='?' + SAS, api_version='2025-11-05')
    assert auth == 'sas' and c.account_name == 'devacct' and c.api_version == '2025-11-05'


def test_connection_string():
    conn = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=%s;EndpointSuffix=core.windows.net' % KEY
    c, _retry, auth = build(connection_string=conn, container='vhds', blob='a.vhd')
    assert auth == 'connection_string' and c.account_name == 'acct'


class FakeToken:
    """Shaped like a TokenCredential; never asked for a token here (no request is made)."""

    def get_token(self, *scopes, **kwargs):
        raise AssertionError('no token expected')


def test_token_credential_only_when_nothing_else():
    calls = []
    c, _retry, auth = client.build_blob_client(
        dict(account_url=ACCOUNT_URL, container='vhds', blob='a.vhd'), token_credential=lambda: calls.append(1) or FakeToken())
    assert auth == 'token' and calls == [1]
    client.build_blob_client(dict(account_url=ACCOUNT_URL, container='vhds', blob='a.vhd', account_key=KEY),
                             token_credential=lambda: calls.append(2))
    assert calls == [1]


@pytest.mark.parametrize('params, words', [
    (dict(container='vhds', blob='a'), 'exactly one'),
    (dict(blob_url=ACCOUNT_URL + '/v/a', account_url=ACCOUNT_URL), 'exactly one'),
    (dict(account_url=ACCOUNT_URL, container='vhds'), 'container and blob'),
    (dict(blob_url=ACCOUNT_URL + '/v/a', container='vhds'), 'names the blob'),
    (dict(account_url=ACCOUNT_URL, container='vhds', blob='a', account_key=KEY, sas_token=SAS), 'mutually exclusive'),
    (dict(blob_url=ACCOUNT_URL + '/v/a?' + SAS, account_key=KEY), 'query string'),
    (dict(account_url=ACCOUNT_URL, container='vhds', blob='a'), 'No credential'),
])
def test_bad_options(params, words):
    with pytest.raises(client.ClientOptionsError) as err:
        build(**params)
    assert words in str(err.value)
    assert KEY not in str(err.value) and 'S1gn4ture' not in str(err.value)


def test_explain_adds_a_hint_without_secrets():
    from azure.core.exceptions import ClientAuthenticationError

    class Resp:
        status_code = 403
        reason = 'Forbidden'
        headers = {}

        def text(self):
            return ''
    exc = ClientAuthenticationError(message="Operation returned an invalid status 'Server failed to authenticate "
                                            "the request.'\nErrorCode:AuthenticationFailed", response=None)
    exc.status_code = 403
    exc.error_code = 'AuthenticationFailed'
    msg = client.explain(exc, 'sas')
    assert msg.startswith('Azure Storage refused the request (HTTP 403 AuthenticationFailed): Server failed')
    assert 'SAS token' in msg
    assert 'account_key' in client.explain(exc, 'key')


# -- secrets inside options that are not secrets as a whole -------------------------------------------------
SIG = 'S1gn4ture%2Babc%3D'  # the signature of SAS, URL-encoded as a SAS carries it


def test_sas_in_a_url_gives_the_query_and_its_signature_only():
    found = client.secret_values(dict(blob_url=ACCOUNT_URL + '/vhds/a.vhd?' + SAS))
    assert found == {SAS, SIG, 'S1gn4ture+abc=', 'S1gn4ture%2Babc%3D'}
    assert not any(ACCOUNT_URL in value or 'vhds' in value for value in found)


def test_url_without_query_holds_no_secret():
    assert client.secret_values(dict(blob_url=ACCOUNT_URL + '/vhds/a.vhd')) == set()
    assert client.secret_values(dict(account_url=ACCOUNT_URL, container='vhds', blob='a.vhd')) == set()


def test_account_url_sas_and_sas_token_are_secrets_too():
    assert client.secret_values(dict(account_url=ACCOUNT_URL + '/?' + SAS)) >= {SAS, SIG, 'S1gn4ture+abc='}
    assert client.secret_values(dict(sas_token='?' + SAS)) >= {SAS, SIG, 'S1gn4ture+abc='}


def test_connection_string_key_and_sas_are_secrets_on_their_own():
    conn = ('DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=%s;SharedAccessSignature=%s;'
            'EndpointSuffix=core.windows.net' % (KEY, SAS))
    found = client.secret_values(dict(connection_string=conn))
    assert {KEY, SAS, SIG, 'S1gn4ture+abc='} <= found
    assert not any('acct' in value or 'core.windows.net' in value for value in found)


def test_account_key_in_its_url_encoded_form():
    key = 'a+b/c=='
    assert client.secret_values(dict(account_key=key)) == {key, 'a%2Bb%2Fc%3D%3D'}


def test_sas_in_account_url_is_the_credential():
    calls = []
    c, _retry, auth = client.build_blob_client(
        dict(account_url=ACCOUNT_URL + '?' + SAS, container='vhds', blob='a.vhd'),
        token_credential=lambda: calls.append(1))
    assert auth == 'sas' and calls == [] and 'sig=' in c.url
    assert client.public_url(c.url) == ACCOUNT_URL + '/vhds/a.vhd'
    with pytest.raises(client.ClientOptionsError, match='account_url carries a query string'):
        build(account_url=ACCOUNT_URL + '?' + SAS, container='vhds', blob='a.vhd', account_key=KEY)
