# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""build_credential / validate_auth, with the real argument spec processing its env fallbacks. No network."""
from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from azure import identity

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth

ENV_VARS = sorted({name for names in auth.ENV.values() for name in names} | {
    'AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_USERNAME', 'AZURE_PASSWORD',
    'AZURE_TOKEN_CREDENTIALS', 'IDENTITY_ENDPOINT', 'MSI_ENDPOINT', 'AZURE_REGIONAL_AUTHORITY_NAME'})
TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def params(**given):
    """The parameters a module would see: argument spec validation applies fallbacks and defaults."""
    result = ArgumentSpecValidator(auth.AUTH_ARGSPEC).validate(given)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


class Recorder(object):
    """Stands in for azure.identity: records which credential class is built and with what."""

    def __getattr__(self, name):
        def build(*args, **kwargs):
            return (name, args, kwargs)
        return build


@pytest.fixture
def recorded(monkeypatch):
    monkeypatch.setattr(auth, 'identity', Recorder())


def test_argspec_defaults_and_no_log():
    p = params()
    assert p['auth_source'] == 'auto' and p['cloud_environment'] == 'AzureCloud'
    assert p['disable_instance_discovery'] is False
    assert auth.AUTH_ARGSPEC['secret']['no_log'] is True
    assert all('fallback' in spec for spec in auth.AUTH_ARGSPEC.values())


@pytest.mark.parametrize('secret_var, tenant_var', [
    ('AZURE_SECRET', 'AZURE_TENANT'), ('AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID')])
def test_env_fallbacks_fill_service_principal(clean_env, recorded, secret_var, tenant_var):
    clean_env.setenv('AZURE_CLIENT_ID', 'app-id')
    clean_env.setenv(secret_var, 'env-secret')
    clean_env.setenv(tenant_var, TENANT)
    clean_env.setenv('AZURE_SUBSCRIPTION_ID', 'sub-1')
    p = params()
    assert (p['client_id'], p['secret'], p['tenant'], p['subscription_id']) == ('app-id', 'env-secret', TENANT, 'sub-1')
    name, args, kwargs = auth.build_credential(p)
    assert name == 'ClientSecretCredential'
    assert args == (TENANT, 'app-id', 'env-secret')
    assert kwargs == {'authority': 'https://login.microsoftonline.com'}


def test_explicit_option_wins_over_env(clean_env):
    clean_env.setenv('AZURE_CLIENT_ID', 'from-env')
    assert params(client_id='from-task')['client_id'] == 'from-task'


@pytest.mark.parametrize('cloud, authority, arm', [
    ('AzureCloud', 'https://login.microsoftonline.com', 'https://management.azure.com'),
    ('AzureUSGovernment', 'https://login.microsoftonline.us', 'https://management.usgovcloudapi.net'),
    ('AzureChinaCloud', 'https://login.chinacloudapi.cn', 'https://management.chinacloudapi.cn'),
])
def test_cloud_environment_selects_authority_and_arm(recorded, cloud, authority, arm):
    p = params(cloud_environment=cloud, client_id='a', secret='s', tenant=TENANT)
    assert auth.build_credential(p)[2]['authority'] == authority
    endpoints = auth.cloud_endpoints(p)
    assert endpoints['resource_manager'] == arm and endpoints['arm_scope'] == arm + '/.default'


def test_overrides_for_test_clouds_keep_the_cloud_audience(clean_env, recorded):
    clean_env.setenv('AZURE_AUTHORITY_HOST', 'https://127.0.0.1:8443/')
    p = params(resource_manager_endpoint='https://127.0.0.1:9443/', disable_instance_discovery=True,
               client_id='a', secret='s', tenant=TENANT)
    assert auth.build_credential(p)[2] == {'authority': 'https://127.0.0.1:8443', 'disable_instance_discovery': True}
    endpoints = auth.cloud_endpoints(p)
    assert endpoints['resource_manager'] == 'https://127.0.0.1:9443'
    assert endpoints['arm_scope'] == 'https://management.azure.com/.default'


@pytest.mark.parametrize('given, expected_name, expected_kwargs', [
    (dict(auth_source='msi'), 'ManagedIdentityCredential', {'client_id': None}),
    (dict(auth_source='msi', client_id='uami'), 'ManagedIdentityCredential', {'client_id': 'uami'}),
    (dict(auth_source='cli'), 'AzureCliCredential', {'tenant_id': ''}),
    (dict(auth_source='cli', tenant=TENANT), 'AzureCliCredential', {'tenant_id': TENANT}),
    (dict(), 'DefaultAzureCredential', {'authority': 'https://login.microsoftonline.com'}),
    (dict(client_id='uami'), 'DefaultAzureCredential',
     {'authority': 'https://login.microsoftonline.com', 'managed_identity_client_id': 'uami'}),
    (dict(auth_source='workload_identity', client_id='a', tenant=TENANT, federated_token_file='/var/run/token'),
     'WorkloadIdentityCredential', {'authority': 'https://login.microsoftonline.com', 'tenant_id': TENANT,
                                    'client_id': 'a', 'token_file_path': '/var/run/token'}),
])
def test_each_auth_source_builds_its_credential(recorded, given, expected_name, expected_kwargs):
    name, args, kwargs = auth.build_credential(params(**given))
    assert (name, args, kwargs) == (expected_name, (), expected_kwargs)


def test_env_source_uses_environment_credential(clean_env, recorded):
    for name, value in (('AZURE_CLIENT_ID', 'a'), ('AZURE_TENANT_ID', TENANT), ('AZURE_CLIENT_SECRET', 's')):
        clean_env.setenv(name, value)
    assert auth.build_credential(params(auth_source='env'))[0] == 'EnvironmentCredential'


def test_msi_ignores_a_secret_from_the_environment(clean_env, recorded):
    clean_env.setenv('AZURE_SECRET', 'left-over')
    assert auth.build_credential(params(auth_source='msi'))[0] == 'ManagedIdentityCredential'


@pytest.mark.parametrize('given, env, fragments', [
    (dict(auth_source='credentials', client_id='a', secret='s'), {},
     ['auth_source=credentials', 'missing: tenant', 'AZURE_TENANT / AZURE_TENANT_ID']),
    (dict(auth_source='credentials'), {},
     ['missing: client_id, secret, tenant', 'AZURE_CLIENT_ID', 'AZURE_SECRET / AZURE_CLIENT_SECRET']),
    (dict(secret='s', tenant=TENANT), {}, ['a client secret needs', 'missing: client_id']),
    (dict(auth_source='workload_identity', client_id='a', tenant=TENANT), {},
     ['missing: federated_token_file', 'AZURE_FEDERATED_TOKEN_FILE']),
    (dict(auth_source='env'), {'AZURE_CLIENT_ID': 'a'},
     ['auth_source=env', 'AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH']),
    (dict(authority_host='http://login.example'), {}, ['authority_host must be an https:// URL']),
    (dict(resource_manager_endpoint='management.example'), {}, ['resource_manager_endpoint must be an https://']),
])
def test_bad_combinations_say_what_to_set(clean_env, recorded, given, env, fragments):
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(auth.AuthConfigError) as err:
        auth.build_credential(params(**given))
    for fragment in fragments:
        assert fragment in str(err.value)
    assert "'s'" not in str(err.value)  # never echo the secret


def test_real_credential_classes_accept_our_configuration():
    """Same checks against azure-identity itself: constructing a credential sends nothing."""
    p = params(client_id='app', secret='s3cret', tenant=TENANT, authority_host='https://127.0.0.1:8443',
               disable_instance_discovery=True)
    cred = auth.build_credential(p)
    assert isinstance(cred, identity.ClientSecretCredential)
    assert cred._authority == 'https://127.0.0.1:8443'
    assert cred._instance_discovery is False and cred._tenant_id == TENANT and cred._client_id == 'app'
    assert isinstance(auth.build_credential(params(auth_source='msi')), identity.ManagedIdentityCredential)
    assert isinstance(auth.build_credential(params(auth_source='cli')), identity.AzureCliCredential)
    assert isinstance(auth.build_credential(params()), identity.DefaultAzureCredential)
    wi = params(auth_source='workload_identity', client_id='a', tenant=TENANT, federated_token_file='/nonexistent')
    assert isinstance(auth.build_credential(wi), identity.WorkloadIdentityCredential)


def test_missing_library_is_reported(monkeypatch):
    monkeypatch.setattr(auth, 'identity', None)
    monkeypatch.setattr(auth, 'IDENTITY_IMPORT_ERROR', ImportError('No module named azure.identity'))
    with pytest.raises(auth.AuthConfigError, match='azure-identity'):
        auth.build_credential(params())
