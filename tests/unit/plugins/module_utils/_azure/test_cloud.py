# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cloud.resolve_cloud: cloud names, and Resource Manager URLs read over real TLS from a metadata endpoint."""
from __future__ import annotations

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._azure import cloud
from ansible_collections.vmimage.azure.plugins.module_utils._azure.cloud import AuthConfigError

STACK_AUDIENCE = 'https://management.contoso.onmicrosoft.com/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d'


@pytest.mark.parametrize('name, expected', [
    ('AzureCloud', 'AzureCloud'), ('azurecloud', 'AzureCloud'), (' AZURECHINACLOUD ', 'AzureChinaCloud'),
    ('AzureUSGovernment', 'AzureUSGovernment'), ('azureusgovernment', 'AzureUSGovernment'), (None, 'AzureCloud'),
    ('', 'AzureCloud'),
])
def test_cloud_names_are_case_insensitive(name, expected):
    c = cloud.resolve_cloud(name, fetch=pytest.fail)
    assert c is cloud.CLOUDS[expected] and c.custom is False


@pytest.mark.parametrize('name, authority, arm, storage', [
    ('AzureCloud', 'https://login.microsoftonline.com', 'https://management.azure.com', 'core.windows.net'),
    ('AzureUSGovernment', 'https://login.microsoftonline.us', 'https://management.usgovcloudapi.net',
     'core.usgovcloudapi.net'),
    ('AzureChinaCloud', 'https://login.chinacloudapi.cn', 'https://management.chinacloudapi.cn',
     'core.chinacloudapi.cn'),
])
def test_public_clouds(name, authority, arm, storage):
    c = cloud.CLOUDS[name]
    assert (c.name, c.authority_host, c.resource_manager, c.audience, c.storage_suffix) == (
        name, authority, arm, arm, storage)
    assert c.arm_scope == arm + '/.default' and c.login_tenant is None
    assert cloud.is_well_known_authority(c.authority_host)


def test_unknown_name_lists_the_names_and_says_a_url_works():
    with pytest.raises(AuthConfigError) as err:
        cloud.resolve_cloud('AzureGermanCloud')
    msg = str(err.value)
    assert 'cloud_environment (or AZURE_CLOUD_ENVIRONMENT)' in msg and "'AzureGermanCloud'" in msg
    assert 'AzureChinaCloud, AzureCloud, AzureUSGovernment' in msg and 'https:// URL of the Resource Manager' in msg


@pytest.mark.parametrize('value, fragment', [
    ('http://management.local.azurestack.external', 'must start with https://'),
    ('ftp://x.example', 'must start with https://'),
    ('https://', 'must start with https://'),
    ('https://arm.example:99999', 'must start with https://'),
    ('https://arm.example/?api-version=1', 'without user, query or fragment'),
    ('https://admin:hunter2@arm.example', 'without user, query or fragment'),
])
def test_bad_urls_are_refused_before_any_request(value, fragment):
    with pytest.raises(AuthConfigError) as err:
        cloud.resolve_cloud(value, fetch=pytest.fail)
    assert fragment in str(err.value)
    assert 'hunter2' not in str(err.value)


def test_origin_is_named_in_messages():
    with pytest.raises(AuthConfigError, match=r"^cloud_environment in profile \[x\] is 'Nope'"):
        cloud.resolve_cloud('Nope', origin='cloud_environment in profile [x]')


def test_custom_cloud_from_injected_fetch(metadata_doc):
    seen = []

    def fetch(url, verify=True, origin=None):
        seen.append((url, verify, origin))
        return metadata_doc('https://login.microsoftonline.com/', STACK_AUDIENCE)
    c = cloud.resolve_cloud('https://management.local.azurestack.external/', verify=False, fetch=fetch)
    assert seen == [('https://management.local.azurestack.external', False, cloud.OPTION)]
    assert c == cloud.Cloud(
        name='https://management.local.azurestack.external', resource_manager='https://management.local.azurestack.external',
        authority_host='https://login.microsoftonline.com', audience=STACK_AUDIENCE,
        arm_scope=STACK_AUDIENCE + '/.default', storage_suffix='local.azurestack.external', custom=True,
        login_tenant=None)


def test_adfs_login_endpoint_gives_the_adfs_tenant(metadata_doc):
    doc = metadata_doc('https://adfs.local.azurestack.external/adfs/',
                       'https://management.adfs.azurestack.local/6f6b0c0e-3c84-4c65-8cc2-e9e4ae0f58b2')
    c = cloud.cloud_from_metadata('https://management.local.azurestack.external', doc)
    assert c.authority_host == 'https://adfs.local.azurestack.external' and c.login_tenant == 'adfs'
    assert c.arm_scope == 'https://management.adfs.azurestack.local/6f6b0c0e-3c84-4c65-8cc2-e9e4ae0f58b2/.default'
    assert not cloud.is_well_known_authority(c.authority_host)


def test_audience_with_trailing_slash_gets_one_slash_before_default(metadata_doc):
    doc = metadata_doc('https://login.windows.net/', 'https://management.core.windows.net/')
    c = cloud.cloud_from_metadata('https://management.azure.com', doc)
    assert c.audience == 'https://management.core.windows.net/'
    assert c.arm_scope == 'https://management.core.windows.net/.default'
    assert c.storage_suffix == 'azure.com'  # management.<suffix> convention; suffixes.storage wins when given


def test_storage_suffix_from_metadata_and_newer_list_shape(metadata_doc):
    doc = dict(metadata_doc('https://login.example/', 'https://arm.example/'), suffixes={'storage': '.stor.example'})
    assert cloud.cloud_from_metadata('https://arm.example', doc).storage_suffix == 'stor.example'
    listed = [{'name': 'Other', 'resourceManager': 'https://other.example/',
               'authentication': {'loginEndpoint': 'https://nope.example/', 'audiences': ['https://nope/']}},
              dict(doc, name='Mine', resourceManager='https://arm.example/')]
    c = cloud.cloud_from_metadata('https://arm.example', listed)
    assert c.authority_host == 'https://login.example' and c.audience == 'https://arm.example/'
    assert cloud.cloud_from_metadata('https://x.example', {'authentication': doc['authentication']}).storage_suffix \
        is None


def test_metadata_over_tls_trusted_through_requests_ca_bundle_only(metadata_server, metadata_doc):
    metadata_server.answer((200, metadata_doc('https://login.microsoftonline.com/', STACK_AUDIENCE,
                                              'local.azurestack.external')))
    c = cloud.resolve_cloud(metadata_server.url + '/')
    assert metadata_server.requests == ['/metadata/endpoints?api-version=2015-01-01']
    assert c.resource_manager == metadata_server.url and c.name == metadata_server.url
    assert c.authority_host == 'https://login.microsoftonline.com' and c.audience == STACK_AUDIENCE
    assert c.storage_suffix == 'local.azurestack.external' and c.custom is True


def test_metadata_with_a_path_and_a_bom(metadata_server):
    body = b'\xef\xbb\xbf' + b'{"authentication": {"loginEndpoint": "https://login.example/",' \
                             b' "audiences": ["https://arm.example/"]}}'
    metadata_server.answer((200, body))
    c = cloud.resolve_cloud(metadata_server.url + '/arm/')
    assert metadata_server.requests == ['/arm/metadata/endpoints?api-version=2015-01-01']
    assert c.resource_manager == metadata_server.url + '/arm'


def expect_problem(url, *fragments, **kwargs):
    with pytest.raises(AuthConfigError) as err:
        cloud.resolve_cloud(url, **kwargs)
    msg = str(err.value)
    assert msg.startswith('cloud_environment (or AZURE_CLOUD_ENVIRONMENT) is the Resource Manager URL ')
    assert '/metadata/endpoints?api-version=2015-01-01' in msg
    for fragment in fragments:
        assert fragment in msg
    return msg


def test_connection_refused(refused_url, clean_env):
    expect_problem(refused_url, 'could not be reached (connection refused)', 'reachable from the host', 'HTTPS_PROXY')


def test_unknown_host(clean_env):
    expect_problem('https://management.invalid', 'could not be reached (host name not found)')


def test_timeout(metadata_server, monkeypatch):
    monkeypatch.setattr(cloud, 'METADATA_TIMEOUT', 0.3)
    metadata_server.answer((200, {}, 'application/json', 1.5))
    expect_problem(metadata_server.url, 'did not answer within 0.3 seconds')


def test_default_timeout_is_ten_seconds():
    assert cloud.METADATA_TIMEOUT == 10


def test_untrusted_certificate(other_ca_files, ca_files, clean_env, serve_metadata):
    clean_env.setenv('REQUESTS_CA_BUNDLE', ca_files.ca_cert)
    server = serve_metadata(other_ca_files)
    msg = expect_problem(server.url, 'failed TLS verification', 'CERTIFICATE_VERIFY_FAILED',
                         'REQUESTS_CA_BUNDLE', 'cert_validation_mode=ignore (AZURE_CERT_VALIDATION_MODE)')
    assert 'SSL_CERT_FILE' in msg and not server.requests


def test_verify_false_skips_certificate_checks(other_ca_files, ca_files, clean_env, serve_metadata, metadata_doc):
    clean_env.setenv('REQUESTS_CA_BUNDLE', ca_files.ca_cert)
    server = serve_metadata(other_ca_files)
    server.answer((200, metadata_doc('https://login.example/', 'https://arm.example/')))
    assert cloud.resolve_cloud(server.url, verify=False).authority_host == 'https://login.example'


def test_system_trust_does_not_know_the_test_ca(ca_files, clean_env, serve_metadata):
    server = serve_metadata(ca_files)  # no REQUESTS_CA_BUNDLE: certifi's bundle
    expect_problem(server.url, 'CERTIFICATE_VERIFY_FAILED')


def test_http_error(metadata_server):
    metadata_server.answer((404, {'error': 'nope'}))
    expect_problem(metadata_server.url, 'answered HTTP 404 Not Found', 'not its portal')


def test_server_errors_are_retried_then_reported(metadata_server, monkeypatch):
    monkeypatch.setattr(cloud, 'METADATA_BACKOFF', 0)
    metadata_server.answer((503, {}),)
    expect_problem(metadata_server.url, 'answered HTTP 503')
    assert len(metadata_server.requests) == cloud.METADATA_ATTEMPTS == 3


def test_a_transient_server_error_is_retried(metadata_server, monkeypatch, metadata_doc):
    monkeypatch.setattr(cloud, 'METADATA_BACKOFF', 0)
    metadata_server.answer((503, {}), (200, metadata_doc('https://login.example/', 'https://arm.example/')))
    assert cloud.resolve_cloud(metadata_server.url).audience == 'https://arm.example/'
    assert len(metadata_server.requests) == 2


def test_not_json(metadata_server):
    metadata_server.answer((200, b'<html>portal</html>', 'text/html; charset=utf-8'))
    expect_problem(metadata_server.url, 'did not return JSON (text/html)')


@pytest.mark.parametrize('body, fragment', [
    ({}, 'returned no authentication.loginEndpoint and no authentication.audiences'),
    ({'authentication': {'loginEndpoint': 'https://login.example/'}}, 'returned no authentication.audiences'),
    ({'authentication': {'loginEndpoint': 'https://login.example/', 'audiences': []}}, 'no authentication.audiences'),
    ({'authentication': {'audiences': ['https://arm/']}}, 'returned no authentication.loginEndpoint'),
    ({'authentication': {'loginEndpoint': 'http://login.example/', 'audiences': ['https://arm/']}},
     'login endpoint that is not an https:// URL'),
    ([], 'not a metadata object'),
    ('text', 'not a metadata object'),
])
def test_missing_fields(metadata_server, body, fragment):
    metadata_server.answer((200, body))
    expect_problem(metadata_server.url, fragment)


def test_display_url_hides_user_and_query():
    assert cloud.display_url('https://u:p@h.example:8443/a?sig=x#f') == 'https://h.example:8443/a'


@pytest.mark.parametrize('url, expected', [
    ('https://login.microsoftonline.com/', ('https://login.microsoftonline.com', None)),
    ('https://LOGIN.example:8443/contoso.onmicrosoft.com/', ('https://LOGIN.example:8443', 'contoso.onmicrosoft.com')),
    ('https://adfs.example/ADFS', ('https://adfs.example', 'adfs')),
])
def test_split_authority(url, expected):
    assert cloud.split_authority(url, 'x') == expected


def test_split_authority_refuses_http():
    with pytest.raises(AuthConfigError, match='^authority_host must be an https:// URL'):
        cloud.split_authority('http://login.example', 'authority_host')


def test_cloud_from_cli_config():
    c = cloud.cloud_from_cli_config('MyStack', {
        'endpoint_resource_manager': 'https://management.local.azurestack.external/',
        'endpoint_active_directory': 'https://adfs.local.azurestack.external/adfs',
        'endpoint_active_directory_resource_id': 'https://management.adfs.azurestack.local/guid',
        'suffix_storage_endpoint': 'local.azurestack.external'})
    assert (c.name, c.resource_manager, c.authority_host, c.arm_scope, c.login_tenant, c.custom) == (
        'MyStack', 'https://management.local.azurestack.external', 'https://adfs.local.azurestack.external',
        'https://management.adfs.azurestack.local/guid/.default', 'adfs', True)
    assert cloud.cloud_from_cli_config('x', {'endpoint_resource_manager': 'https://a'}) is None
