# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceNotFoundError,
                                   ServiceRequestError)

from ansible_collections.vmimage.azure.plugins.module_utils._azure.errors import MASK, describe_error, scrub

SECRET = 'p@ss/w+rd=1&x y'


class Response(object):
    """The few attributes azure-core's HttpResponseError reads from a response."""

    def __init__(self, status, body, reason='Error', headers=None):
        self.status_code, self.reason, self._body = status, reason, body
        self.headers = headers or {}

    def text(self, encoding=None):
        return self._body


def test_scrub_masks_secret_in_plain_and_url_encoded_forms():
    forms = [SECRET, quote(SECRET), quote(SECRET, safe=''), quote_plus(SECRET)]
    assert len(set(forms)) == 4
    out = scrub('a %s b %s c %s d %s e' % tuple(forms), [SECRET])
    assert out == 'a {0} b {0} c {0} d {0} e'.format(MASK)


def test_scrub_masks_sas_signature_and_connection_string_secrets_without_being_told():
    url = 'https://acct.blob.core.windows.net/c/b.vhd?sv=2024-01-01&sp=rw&sig=AbC%2Bdef%3D&se=2030'
    conn = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=S3cr3tKey==;EndpointSuffix=x'
    sas_conn = 'BlobEndpoint=https://a/;SharedAccessSignature=sv=1&sig=zzz'
    out = scrub('%s %s %s' % (url, conn, sas_conn))
    assert 'AbC' not in out and 'S3cr3tKey' not in out and 'zzz' not in out
    assert 'sp=rw' in out and 'AccountName=acct' in out  # only the secret parts go


def test_scrub_handles_none_and_empty_secrets():
    assert scrub(None, [None, '']) == ''
    assert scrub('plain text', [None, '']) == 'plain text'


def test_client_authentication_error_says_what_to_check_and_hides_secret():
    exc = ClientAuthenticationError(
        'Authentication failed: AADSTS7000215: Invalid client secret provided (got %s).' % SECRET)
    msg = describe_error(exc, [SECRET])
    assert msg.startswith('Azure authentication failed: AADSTS7000215')
    assert 'client_id' in msg and 'tenant' in msg and 'az login' in msg
    assert SECRET not in msg and MASK in msg


def test_http_response_error_reports_status_and_arm_error_code():
    body = json.dumps({'error': {'code': 'AuthorizationFailed', 'message': 'The client has no access.'}})
    msg = describe_error(HttpResponseError(response=Response(403, body, 'Forbidden')))
    assert msg == 'Azure request failed (HTTP 403 AuthorizationFailed): The client has no access.'


def test_storage_style_error_uses_error_code_attribute_and_auth_detail():
    exc = HttpResponseError(message='Server failed to authenticate the request.\nRequestId:1\nContent: '
                                    '<AuthenticationErrorDetail>Invalid token audience.</AuthenticationErrorDetail>',
                            response=Response(403, '<xml/>', 'Forbidden'))
    exc.error_code = 'AuthenticationFailed'
    msg = describe_error(exc)
    assert 'HTTP 403 AuthenticationFailed' in msg
    assert 'Invalid token audience' in msg


def test_resource_not_found_error():
    body = json.dumps({'error': {'code': 'ResourceGroupNotFound', 'message': "Resource group 'rg' could not be found."}})
    msg = describe_error(ResourceNotFoundError(response=Response(404, body, 'Not Found')))
    assert msg.startswith('Not found (HTTP 404 ResourceGroupNotFound)')
    assert "'rg'" in msg


def test_service_request_error_names_url_without_query():
    class Request(object):
        url = 'https://127.0.0.1:1/c/b.vhd?sv=1&sig=SIGNATURE'
    inner = ConnectionError('Connection refused to https://127.0.0.1:1/c/b.vhd?sv=1&sig=SIGNATURE')
    inner.request = Request()
    exc = ServiceRequestError(str(inner), error=inner)
    msg = describe_error(exc)
    assert msg.startswith('Cannot connect to https://127.0.0.1:1/c/b.vhd:')
    assert 'SIGNATURE' not in msg and 'sv=1' not in msg


@pytest.mark.parametrize('exc, expected', [
    (ValueError('bad value'), 'ValueError: bad value'),
    (OSError(2, 'No such file'), "FileNotFoundError: [Errno 2] No such file"),
])
def test_other_exceptions_give_type_and_text(exc, expected):
    assert describe_error(exc) == expected


def test_other_exception_is_scrubbed():
    assert SECRET not in describe_error(RuntimeError('token for %s' % SECRET), [SECRET])
