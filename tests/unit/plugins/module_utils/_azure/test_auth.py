# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""auth.resolve: every auth_source, azure.azcollection's auto order, AWX's environment, secrets kept out.

The parameters go through the real argument spec (as a module would see them); azure.identity is
replaced by a Recorder that says which credential class would be built and with what. No network.
"""
from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from azure import identity

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth, cloud

TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
SUB = '11111111-2222-3333-4444-555555555555'
SECRET = 'Sup3r~Secret/Value+='
PASSWORD = 'Pa55word!with spaces'
PUBLIC = 'https://login.microsoftonline.com'


@pytest.fixture(autouse=True)
def no_env(clean_env):
    return clean_env


@pytest.fixture
def home(tmp_path):
    """An empty home directory: no ~/.azure/credentials, no Azure CLI login."""
    path = tmp_path / 'home'
    path.mkdir()
    return str(path)


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


def resolve(given=None, env=None, home=None, **kwargs):
    return auth.resolve(params(**(given or {})), env=env or {}, home=home, **kwargs)


def write_profiles(home, text):
    os.makedirs(os.path.join(home, '.azure'), exist_ok=True)
    path = os.path.join(home, '.azure', 'credentials')
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def cli_login(home, subscriptions, config=None, bom=True):
    os.makedirs(os.path.join(home, '.azure'), exist_ok=True)
    data = json.dumps({'installationId': 'x', 'subscriptions': subscriptions}).encode()
    with open(os.path.join(home, '.azure', 'azureProfile.json'), 'wb') as f:
        f.write((b'\xef\xbb\xbf' if bom else b'') + data)
    if config:
        with open(os.path.join(home, '.azure', 'config'), 'w') as f:
            f.write(config)


def cli_sub(sub_id, tenant=TENANT, default=False, env='AzureCloud'):
    return {'id': sub_id, 'name': 'sub ' + sub_id[:4], 'state': 'Enabled', 'tenantId': tenant, 'isDefault': default,
            'environmentName': env, 'user': {'name': 'someone@example.com', 'type': 'user'}}


SP_OPTIONS = dict(client_id='app-opt', secret=SECRET, tenant=TENANT)
SP_ENV = {'AZURE_CLIENT_ID': 'app-env', 'AZURE_SECRET': SECRET + 'env', 'AZURE_TENANT': TENANT,
          'AZURE_SUBSCRIPTION_ID': SUB}


# -- argument spec ----------------------------------------------------------------------------------
def test_argspec_options_defaults_and_no_log():
    assert set(auth.AUTH_ARGSPEC) == {
        'auth_source', 'profile', 'subscription_id', 'client_id', 'secret', 'tenant', 'ad_user', 'password',
        'cloud_environment', 'cert_validation_mode', 'adfs_authority_url', 'x509_certificate_path', 'thumbprint',
        'disable_instance_discovery', 'authority_host', 'resource_manager_endpoint', 'federated_token_file'}
    p = params()
    assert p['auth_source'] == 'auto' and p['cloud_environment'] is None and p['disable_instance_discovery'] is False
    assert auth.AUTH_ARGSPEC['secret']['no_log'] is True and auth.AUTH_ARGSPEC['password']['no_log'] is True
    assert auth.AUTH_ARGSPEC['auth_source']['choices'] == [
        'auto', 'cli', 'credential_file', 'env', 'msi', 'workload_identity', 'credentials']
    assert auth.AUTH_ARGSPEC['cert_validation_mode']['choices'] == ['validate', 'ignore']


def test_only_source_neutral_options_have_an_env_fallback(clean_env):
    with_fallback = sorted(n for n, spec in auth.AUTH_ARGSPEC.items() if 'fallback' in spec)
    assert with_fallback == ['auth_source', 'authority_host', 'federated_token_file', 'resource_manager_endpoint']
    clean_env.setenv('AZURE_CLIENT_ID', 'from-env')
    clean_env.setenv('AZURE_SUBSCRIPTION_ID', SUB)
    clean_env.setenv('ANSIBLE_AZURE_AUTH_SOURCE', 'env')
    p = params()
    assert p['client_id'] is None and p['subscription_id'] is None  # resolved in code, not by the argspec
    assert p['auth_source'] == 'env'


def test_every_env_var_of_azcollection_is_known():
    names = {v for vs in auth.ENV.values() for v in vs}
    assert {'AZURE_SUBSCRIPTION_ID', 'AZURE_CLIENT_ID', 'AZURE_SECRET', 'AZURE_TENANT', 'AZURE_AD_USER',
            'AZURE_PASSWORD', 'AZURE_CLOUD_ENVIRONMENT', 'AZURE_PROFILE', 'AZURE_CERT_VALIDATION_MODE',
            'AZURE_X509_CERTIFICATE_PATH', 'AZURE_THUMBPRINT', 'ANSIBLE_AZURE_AUTH_SOURCE',
            'AZURE_ADFS_AUTHORITY_URL', 'AZURE_DISABLE_INSTANCE_DISCOVERY'} <= names


# -- each auth_source -------------------------------------------------------------------------------
def test_parameters_service_principal(recorded, home):
    r = resolve(dict(SP_OPTIONS, subscription_id=SUB), home=home)
    assert (r.source, r.kind, r.subscription_id, r.tenant, r.client_id) == (
        'parameters', 'client_secret', SUB, TENANT, 'app-opt')
    assert r.credential == ('ClientSecretCredential', (TENANT, 'app-opt', SECRET), {'authority': PUBLIC})
    assert r.cloud == cloud.CLOUDS['AzureCloud'] and r.connection_verify is True
    assert not r.warnings and not r.deprecations


@pytest.mark.parametrize('source', ['auto', 'credential_file'])
def test_service_principal_given_as_options_works_under_auto_and_credential_file(recorded, home, source):
    r = resolve(dict(SP_OPTIONS, auth_source=source), home=home)
    assert r.source == 'parameters' and r.credential[0] == 'ClientSecretCredential'
    assert not r.deprecations


def test_deprecated_credentials_spelling(recorded, home):
    r = resolve(dict(SP_OPTIONS, auth_source='credentials'), home=home)
    assert r.source == 'parameters' and r.credential == (
        'ClientSecretCredential', (TENANT, 'app-opt', SECRET), {'authority': PUBLIC})
    assert len(r.deprecations) == 1
    text = r.deprecations[0]
    assert 'auth_source=credentials is deprecated' in text and 'auth_source=credential_file' in text
    assert '0.3.0' in text and SECRET not in text
    assert auth.DEPRECATION_VERSION == '0.3.0'


def test_deprecated_spelling_from_ansible_azure_auth_source(recorded, home, clean_env):
    clean_env.setenv('ANSIBLE_AZURE_AUTH_SOURCE', 'credentials')
    r = auth.resolve(params(**SP_OPTIONS), env={}, home=home)
    assert r.source == 'parameters' and r.deprecations


def test_deprecated_spelling_without_options_reads_the_credentials_file(recorded, home):
    write_profiles(home, '[default]\nsubscription_id=%s\nclient_id=file-app\nsecret=%s\ntenant=%s\n'
                   % (SUB, SECRET, TENANT))
    r = resolve(dict(auth_source='credentials'), home=home)
    assert (r.source, r.profile, r.subscription_id) == ('credential_file', 'default', SUB)
    assert r.credential[1] == (TENANT, 'file-app', SECRET) and r.deprecations


@pytest.mark.parametrize('secret_var, tenant_var', [
    ('AZURE_SECRET', 'AZURE_TENANT'), ('AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID')])
def test_env_source(recorded, home, secret_var, tenant_var):
    env = {'AZURE_CLIENT_ID': 'app-env', secret_var: SECRET, tenant_var: TENANT, 'AZURE_SUBSCRIPTION_ID': SUB}
    r = resolve(dict(auth_source='env'), env=env, home=home)
    assert (r.source, r.kind, r.subscription_id) == ('env', 'client_secret', SUB)
    assert r.credential == ('ClientSecretCredential', (TENANT, 'app-env', SECRET), {'authority': PUBLIC})


def test_env_source_with_azure_profile_reads_that_profile(recorded, home):
    write_profiles(home, '[default]\nsubscription_id=d\nclient_id=d\nsecret=d\ntenant=d\n'
                         '[ci]\nsubscription_id=%s\nclient_id=ci-app\nsecret=%s\ntenant=%s\n' % (SUB, SECRET, TENANT))
    r = resolve(dict(auth_source='env'), env={'AZURE_PROFILE': 'ci'}, home=home)
    assert (r.source, r.profile, r.subscription_id, r.client_id) == ('credential_file', 'ci', SUB, 'ci-app')


def test_env_source_without_a_credential_says_what_to_export(recorded, home):
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(dict(auth_source='env'), env={'AZURE_SUBSCRIPTION_ID': SUB}, home=home)
    msg = str(err.value)
    assert 'auth_source=env found no credential' in msg
    for name in ('AZURE_CLIENT_ID', 'AZURE_SECRET', 'AZURE_TENANT', 'AZURE_AD_USER', 'AZURE_PASSWORD', 'AZURE_PROFILE'):
        assert name in msg


def test_msi(recorded, home):
    r = resolve(dict(auth_source='msi'), home=home)
    assert (r.source, r.kind, r.subscription_id) == ('msi', 'managed_identity', None)
    assert r.credential == ('ManagedIdentityCredential', (), {'client_id': None})


def test_msi_user_assigned_from_option_or_env_and_subscription_from_env(recorded, home):
    assert resolve(dict(auth_source='msi', client_id='uami'), home=home).credential[2] == {'client_id': 'uami'}
    r = resolve(dict(auth_source='msi'), env={'AZURE_CLIENT_ID': 'uami-env', 'AZURE_SUBSCRIPTION_ID': SUB}, home=home)
    assert r.credential[2] == {'client_id': 'uami-env'} and r.subscription_id == SUB and r.client_id == 'uami-env'


def test_msi_ignores_a_secret_and_says_so(recorded, home):
    r = resolve(dict(auth_source='msi', secret=SECRET), env={'AZURE_SECRET': 'left-over'}, home=home)
    assert r.credential[0] == 'ManagedIdentityCredential'
    assert r.warnings == ['secret is not used with auth_source=msi.']


def test_cli_without_a_login_file(recorded, home):
    r = resolve(dict(auth_source='cli'), home=home)
    assert (r.source, r.kind, r.subscription_id) == ('cli', 'azure_cli', None)
    assert r.credential == ('AzureCliCredential', (), {'tenant_id': ''})
    assert r.cloud.name == 'AzureCloud'


def test_cli_default_subscription_tenant_and_cloud(recorded, home):
    other = '99999999-2222-3333-4444-555555555555'
    cli_login(home, [cli_sub(other, tenant='t-other'), cli_sub(SUB, default=True, env='AzureUSGovernment')],
              config='[cloud]\nname = AzureUSGovernment\n')
    r = resolve(dict(auth_source='cli'), home=home)
    assert (r.subscription_id, r.tenant, r.cloud.name) == (SUB, TENANT, 'AzureUSGovernment')
    assert r.credential == ('AzureCliCredential', (), {'tenant_id': TENANT})
    # subscription_id (option, then AZURE_SUBSCRIPTION_ID) picks another subscription, and its tenant
    r = resolve(dict(auth_source='cli', subscription_id=other), home=home)
    assert (r.subscription_id, r.tenant) == (other, 't-other')
    r = resolve(dict(auth_source='cli'), env={'AZURE_SUBSCRIPTION_ID': other}, home=home)
    assert (r.subscription_id, r.tenant) == (other, 't-other')
    # an explicit tenant and cloud win
    r = resolve(dict(auth_source='cli', tenant='explicit', cloud_environment='AzureChinaCloud'), home=home)
    assert r.credential[2] == {'tenant_id': 'explicit'} and r.cloud.name == 'AzureChinaCloud'


def test_cli_honours_azure_config_dir(recorded, home, tmp_path):
    config_dir = str(tmp_path / 'azcfg')
    os.makedirs(config_dir)
    with open(os.path.join(config_dir, 'azureProfile.json'), 'w') as f:
        json.dump({'subscriptions': [cli_sub(SUB, default=True)]}, f)
    r = resolve(env={'AZURE_CONFIG_DIR': config_dir}, home=home)
    assert (r.source, r.subscription_id) == ('cli', SUB)


def test_cli_custom_cloud_from_clouds_config(recorded, home):
    cli_login(home, [cli_sub(SUB, default=True, env='MyStack')], config='[cloud]\nname = MyStack\n')
    with open(os.path.join(home, '.azure', 'clouds.config'), 'w') as f:
        f.write('[MyStack]\nendpoint_resource_manager = https://management.local.azurestack.external/\n'
                'endpoint_active_directory = https://login.microsoftonline.com/\n'
                'endpoint_active_directory_resource_id = https://management.contoso.onmicrosoft.com/guid\n')
    r = resolve(dict(auth_source='cli'), home=home)
    assert r.cloud.name == 'MyStack' and r.cloud.resource_manager == 'https://management.local.azurestack.external'
    assert r.cloud.arm_scope == 'https://management.contoso.onmicrosoft.com/guid/.default'


def test_cli_unknown_cloud_says_to_set_cloud_environment(recorded, home):
    cli_login(home, [cli_sub(SUB, default=True)], config='[cloud]\nname = Elsewhere\n')
    with pytest.raises(auth.AuthConfigError, match="active cloud is 'Elsewhere'.*Set cloud_environment"):
        resolve(dict(auth_source='cli'), home=home)


def test_workload_identity(recorded, home):
    r = resolve(dict(auth_source='workload_identity', client_id='a', tenant=TENANT,
                     federated_token_file='/var/run/token'), home=home)
    assert r.source == 'workload_identity' and r.credential == ('WorkloadIdentityCredential', (), {
        'authority': PUBLIC, 'tenant_id': TENANT, 'client_id': 'a', 'token_file_path': '/var/run/token'})


def test_workload_identity_from_the_aks_environment(recorded, home, clean_env):
    clean_env.setenv('AZURE_FEDERATED_TOKEN_FILE', '/var/run/secrets/azure/tokens/azure-identity-token')
    clean_env.setenv('AZURE_AUTHORITY_HOST', 'https://login.microsoftonline.com/')
    env = {'AZURE_CLIENT_ID': 'wi-app', 'AZURE_TENANT_ID': TENANT,
           'AZURE_FEDERATED_TOKEN_FILE': '/var/run/secrets/azure/tokens/azure-identity-token'}
    for source in ('workload_identity', 'auto'):
        r = auth.resolve(params(auth_source=source), env=env, home=home)
        assert r.source == 'workload_identity' and r.kind == 'workload_identity'
        assert r.credential[2]['client_id'] == 'wi-app' and r.credential[2]['tenant_id'] == TENANT
        assert r.credential[2]['authority'] == PUBLIC and 'disable_instance_discovery' not in r.credential[2]


def test_workload_identity_missing_pieces(recorded, home):
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(dict(auth_source='workload_identity', client_id='a', tenant=TENANT), home=home)
    assert 'missing: federated_token_file' in str(err.value) and 'AZURE_FEDERATED_TOKEN_FILE' in str(err.value)
    with pytest.raises(auth.AuthConfigError, match='missing: client_id, tenant, federated_token_file'):
        resolve(dict(auth_source='workload_identity'), home=home)


# -- auto, case by case -----------------------------------------------------------------------------
def everything(home):
    """A home with a [default] and a [named] profile and an Azure CLI login."""
    write_profiles(home, '[default]\nsubscription_id=sub-default\nclient_id=default-app\nsecret=%s\ntenant=%s\n'
                         '[named]\nsubscription_id=sub-named\nclient_id=named-app\nsecret=%s\ntenant=%s\n'
                   % (SECRET, TENANT, SECRET, TENANT))
    cli_login(home, [cli_sub('sub-cli', default=True)])


def test_auto_profile_option_beats_everything(recorded, home):
    everything(home)
    r = resolve(dict(SP_OPTIONS, profile='named'), env=dict(SP_ENV, AZURE_PROFILE='default'), home=home)
    assert (r.source, r.profile, r.subscription_id) == ('credential_file', 'named', 'sub-named')
    assert r.client_id == 'app-opt'  # options still override the profile's keys


def test_auto_options_beat_env(recorded, home):
    everything(home)
    r = resolve(dict(SP_OPTIONS), env=SP_ENV, home=home)
    assert (r.source, r.client_id) == ('parameters', 'app-opt')
    assert r.subscription_id == SUB  # no subscription_id option: AZURE_SUBSCRIPTION_ID


def test_auto_ad_user_option_selects_parameters(recorded, home):
    everything(home)
    r = resolve(dict(ad_user='bob@example.com', password=PASSWORD), env=SP_ENV, home=home)
    assert (r.source, r.kind) == ('parameters', 'user_password')


def test_auto_azure_profile_comes_with_the_environment(recorded, home):
    everything(home)
    r = resolve(env=dict(SP_ENV, AZURE_PROFILE='named'), home=home)
    assert (r.source, r.profile, r.subscription_id) == ('credential_file', 'named', 'sub-named')


def test_auto_env_beats_default_profile(recorded, home):
    everything(home)
    r = resolve(env=SP_ENV, home=home)
    assert (r.source, r.client_id, r.subscription_id) == ('env', 'app-env', SUB)


def test_auto_default_profile_beats_cli(recorded, home):
    everything(home)
    r = resolve(home=home)
    assert (r.source, r.profile, r.client_id, r.subscription_id) == (
        'credential_file', 'default', 'default-app', 'sub-default')


def test_auto_default_profile_without_subscription_is_skipped_for_cli(recorded, home):
    write_profiles(home, '[default]\nclient_id=default-app\nsecret=x\ntenant=t\n')
    cli_login(home, [cli_sub('sub-cli', default=True)])
    r = resolve(home=home)
    assert (r.source, r.subscription_id, r.profile) == ('cli', 'sub-cli', None)


def test_auto_cli_then_managed_identity(recorded, home):
    cli_login(home, [cli_sub('sub-cli', default=True)])
    assert resolve(home=home).source == 'cli'
    home2 = os.path.join(home, 'elsewhere')
    os.makedirs(home2)
    r = resolve(home=home2)
    assert (r.source, r.kind) == ('msi', 'managed_identity')
    assert isinstance(r.credential, auth._AutoManagedIdentity)
    assert r.credential.credential == ('ManagedIdentityCredential', (), {'client_id': None})


def test_auto_cli_login_without_subscriptions_does_not_count(recorded, home):
    cli_login(home, [])
    assert resolve(home=home).source == 'msi'


def test_auto_subscription_alone_in_env_does_not_hide_the_cli(recorded, home):
    """azure.azcollection would pick env and fail; the CLI login is used, with AZURE_SUBSCRIPTION_ID."""
    cli_login(home, [cli_sub('sub-cli', default=True), cli_sub(SUB)])
    r = resolve(env={'AZURE_SUBSCRIPTION_ID': SUB}, home=home)
    assert (r.source, r.subscription_id) == ('cli', SUB)


def test_auto_client_id_alone_in_env_is_the_managed_identity(recorded, home):
    r = resolve(env={'AZURE_CLIENT_ID': 'uami'}, home=home)
    assert r.source == 'msi' and r.credential.credential[2] == {'client_id': 'uami'}


def test_auto_managed_identity_failure_lists_what_was_tried(home):
    class Unavailable(object):
        def get_token(self, *scopes, **kwargs):
            raise identity.CredentialUnavailableError(message='ManagedIdentityCredential authentication unavailable')
    wrapper = auth._AutoManagedIdentity(Unavailable(), '/h/.azure/credentials', '/h/.azure/azureProfile.json')
    with pytest.raises(identity.CredentialUnavailableError) as err:
        wrapper.get_token('https://management.azure.com/.default')
    msg = str(err.value)
    assert 'auth_source=auto found no credential' in msg and '/h/.azure/credentials' in msg
    assert 'az login' in msg and 'ManagedIdentityCredential authentication unavailable' in msg
    with pytest.raises(identity.CredentialUnavailableError):
        wrapper.get_token_info('https://management.azure.com/.default')


def test_auto_managed_identity_other_errors_pass_through():
    class Broken(object):
        def get_token(self, *scopes, **kwargs):
            raise ValueError('boom')
    with pytest.raises(ValueError, match='boom'):
        auth._AutoManagedIdentity(Broken(), 'a', 'b').get_token('s')


# -- AWX's "Microsoft Azure Resource Manager" credential --------------------------------------------
def test_awx_service_principal_injection(recorded, home):
    env = {'AZURE_SUBSCRIPTION_ID': SUB, 'AZURE_CLIENT_ID': 'awx-app', 'AZURE_TENANT': TENANT,
           'AZURE_SECRET': SECRET}
    r = resolve(env=env, home=home)
    assert (r.source, r.kind, r.subscription_id, r.client_id, r.tenant) == ('env', 'client_secret', SUB, 'awx-app',
                                                                            TENANT)
    assert r.credential == ('ClientSecretCredential', (TENANT, 'awx-app', SECRET), {'authority': PUBLIC})


def test_awx_username_password_injection(recorded, home):
    env = {'AZURE_SUBSCRIPTION_ID': SUB, 'AZURE_AD_USER': 'bob@contoso.com', 'AZURE_PASSWORD': PASSWORD,
           'AZURE_CLOUD_ENVIRONMENT': 'AzureUSGovernment'}
    r = resolve(env=env, home=home)
    assert (r.source, r.kind, r.subscription_id, r.cloud.name) == ('env', 'user_password', SUB, 'AzureUSGovernment')
    assert r.credential == ('UsernamePasswordCredential', (auth.CLI_CLIENT_ID, 'bob@contoso.com', PASSWORD),
                            {'tenant_id': 'organizations', 'authority': 'https://login.microsoftonline.us'})
    assert auth.CLI_CLIENT_ID == '04b07795-8ddb-461a-bbee-02f9e1bf7b46'


def test_awx_credential_with_an_empty_secret(recorded, home):
    env = {'AZURE_SUBSCRIPTION_ID': SUB, 'AZURE_CLIENT_ID': 'awx-app', 'AZURE_TENANT': TENANT, 'AZURE_SECRET': ''}
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(env=env, home=home)
    msg = str(err.value)
    assert 'client_id is set (AZURE_CLIENT_ID)' in msg and 'AZURE_SECRET is empty' in msg
    assert 'auth_source=msi' in msg


def test_awx_credential_with_an_empty_password(recorded, home):
    env = {'AZURE_SUBSCRIPTION_ID': SUB, 'AZURE_AD_USER': 'bob', 'AZURE_PASSWORD': ''}
    with pytest.raises(auth.AuthConfigError, match='missing: password. Set AZURE_PASSWORD'):
        resolve(env=env, home=home)


def test_awx_custom_cloud_url(recorded, home, metadata_doc):
    def fetch(url, verify=True, origin=None):
        assert url == 'https://management.local.azurestack.external' and verify is True
        assert origin == 'cloud_environment (or AZURE_CLOUD_ENVIRONMENT)'
        return metadata_doc('https://login.microsoftonline.com/', 'https://management.contoso/guid')
    env = {'AZURE_SUBSCRIPTION_ID': SUB, 'AZURE_CLIENT_ID': 'awx-app', 'AZURE_TENANT': TENANT, 'AZURE_SECRET': SECRET,
           'AZURE_CLOUD_ENVIRONMENT': 'https://management.local.azurestack.external'}
    r = resolve(env=env, home=home, fetch=fetch)
    assert r.cloud.custom and r.cloud.arm_scope == 'https://management.contoso/guid/.default'
    assert r.credential[2] == {'authority': PUBLIC}  # a public login endpoint keeps instance discovery


# -- credential kinds -------------------------------------------------------------------------------
def test_user_password_with_client_id_and_tenant(recorded, home):
    r = resolve(dict(ad_user='bob', password=PASSWORD, client_id='app', tenant=TENANT), home=home)
    assert r.credential == ('UsernamePasswordCredential', ('app', 'bob', PASSWORD),
                            {'tenant_id': TENANT, 'authority': PUBLIC})


def test_user_password_with_the_real_class_emits_no_python_warning(home, recwarn):
    r = resolve(dict(ad_user='bob', password=PASSWORD), home=home)
    assert isinstance(r.credential, identity.UsernamePasswordCredential)
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


def test_certificate(recorded, home, tmp_path):
    pem = tmp_path / 'sp.pem'
    pem.write_text('-----BEGIN PRIVATE KEY-----\n...\n')
    r = resolve(dict(client_id='app', tenant=TENANT, x509_certificate_path=str(pem), thumbprint='AB12'), home=home)
    assert r.kind == 'certificate' and r.credential == (
        'CertificateCredential', (TENANT, 'app'), {'certificate_path': str(pem), 'authority': PUBLIC})


def test_certificate_from_env(recorded, home, tmp_path):
    pem = tmp_path / 'sp.pem'
    pem.write_text('x')
    env = {'AZURE_CLIENT_ID': 'app', 'AZURE_TENANT': TENANT, 'AZURE_X509_CERTIFICATE_PATH': str(pem),
           'AZURE_THUMBPRINT': 'AB12', 'AZURE_SUBSCRIPTION_ID': SUB}
    r = resolve(env=env, home=home)
    assert (r.source, r.kind) == ('env', 'certificate')


def test_certificate_file_missing(recorded, home):
    with pytest.raises(auth.AuthConfigError, match=r'x509_certificate_path \(or AZURE_X509_CERTIFICATE_PATH\) is '
                                                   r'/nonexistent.pem, which is not a readable file'):
        resolve(dict(client_id='app', tenant=TENANT, x509_certificate_path='/nonexistent.pem'), home=home)


def test_certificate_that_is_not_one(home, tmp_path):
    pem = tmp_path / 'bad.pem'
    pem.write_text('not a certificate')
    with pytest.raises(auth.AuthConfigError, match='cannot be used'):
        resolve(dict(client_id='app', tenant=TENANT, x509_certificate_path=str(pem)), home=home)


def test_adfs_authority_url(recorded, home):
    r = resolve(dict(ad_user='bob', password=PASSWORD, client_id='app',
                     adfs_authority_url='https://adfs.contoso.com/adfs/'), home=home)
    assert r.tenant == 'adfs' and r.credential[2] == {
        'tenant_id': 'adfs', 'authority': 'https://adfs.contoso.com', 'disable_instance_discovery': True}
    assert r.cloud.authority_host == 'https://adfs.contoso.com'


def test_adfs_authority_url_from_env_with_a_service_principal(recorded, home):
    env = dict(SP_ENV, AZURE_ADFS_AUTHORITY_URL='https://adfs.contoso.com/adfs', AZURE_TENANT='not-adfs')
    r = resolve(env=env, home=home)
    assert r.credential[1][0] == 'adfs' and r.credential[2]['authority'] == 'https://adfs.contoso.com'
    assert r.warnings == ["tenant 'not-adfs' is not used with ADFS (https://adfs.contoso.com): the tenant is adfs."]


def test_adfs_custom_cloud_from_metadata(recorded, home, metadata_doc):
    doc = metadata_doc('https://adfs.local.azurestack.external/adfs/', 'https://management.adfs.azurestack.local/g')
    r = resolve(dict(client_id='app', secret=SECRET, cloud_environment='https://management.local.azurestack.external'),
                home=home, fetch=lambda url, **kw: doc)
    assert r.credential == ('ClientSecretCredential', ('adfs', 'app', SECRET), {
        'authority': 'https://adfs.local.azurestack.external', 'disable_instance_discovery': True})
    assert r.tenant == 'adfs'


def test_service_principal_needs_a_tenant(recorded, home):
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(dict(client_id='app', secret=SECRET), home=home)
    msg = str(err.value)
    assert 'missing: tenant' in msg and 'the option tenant' in msg and 'AZURE_TENANT / AZURE_TENANT_ID' in msg


def test_client_id_alone_is_not_a_service_principal(recorded, home):
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(dict(client_id='uami'), home=home)
    assert 'client_id is set (option client_id) but no secret' in str(err.value)
    assert 'auth_source=msi' in str(err.value)


# -- cloud, TLS and instance discovery -------------------------------------------------------------
@pytest.mark.parametrize('cloud_name, authority, arm', [
    ('AzureCloud', PUBLIC, 'https://management.azure.com'),
    ('AzureUSGovernment', 'https://login.microsoftonline.us', 'https://management.usgovcloudapi.net'),
    ('azurechinacloud', 'https://login.chinacloudapi.cn', 'https://management.chinacloudapi.cn'),
])
def test_cloud_environment_selects_authority_and_arm(recorded, home, cloud_name, authority, arm):
    r = resolve(dict(SP_OPTIONS, cloud_environment=cloud_name), home=home)
    assert r.credential[2]['authority'] == authority
    assert r.cloud.resource_manager == arm and r.cloud.arm_scope == arm + '/.default'


def test_cloud_environment_option_beats_env_and_profile(recorded, home):
    write_profiles(home, '[default]\nsubscription_id=s\nclient_id=a\nsecret=b\ntenant=c\n'
                         'cloud_environment=AzureChinaCloud\n')
    r = resolve(dict(cloud_environment='AzureUSGovernment'), env={'AZURE_CLOUD_ENVIRONMENT': 'AzureCloud'}, home=home)
    assert r.cloud.name == 'AzureUSGovernment'
    r = resolve(env={'AZURE_CLOUD_ENVIRONMENT': 'AzureCloud'}, home=home)
    assert r.cloud.name == 'AzureChinaCloud'  # the profile's own setting
    r = resolve(dict(SP_OPTIONS), env={'AZURE_CLOUD_ENVIRONMENT': 'AzureUSGovernment'}, home=home)
    assert r.cloud.name == 'AzureUSGovernment'


def test_bad_cloud_name_from_env_names_it(recorded, home):
    with pytest.raises(auth.AuthConfigError, match=r"^cloud_environment \(or AZURE_CLOUD_ENVIRONMENT\) is 'Moon'"):
        resolve(dict(SP_OPTIONS), env={'AZURE_CLOUD_ENVIRONMENT': 'Moon'}, home=home)


def test_overrides_for_test_clouds_keep_the_cloud_audience(recorded, home, clean_env):
    clean_env.setenv('AZURE_AUTHORITY_HOST', 'https://127.0.0.1:8443/')
    r = resolve(dict(SP_OPTIONS, resource_manager_endpoint='https://127.0.0.1:9443/'), home=home)
    assert r.credential[2] == {'authority': 'https://127.0.0.1:8443', 'disable_instance_discovery': True}
    assert r.cloud.resource_manager == 'https://127.0.0.1:9443'
    assert r.cloud.arm_scope == 'https://management.azure.com/.default'
    assert r.cloud.authority_host == 'https://127.0.0.1:8443'


@pytest.mark.parametrize('given, fragment', [
    (dict(authority_host='http://login.example'), 'authority_host (or AZURE_AUTHORITY_HOST) must be an https://'),
    (dict(resource_manager_endpoint='management.example'), 'resource_manager_endpoint (or AZURE_RESOURCE_MANAGER_ENDP'),
    (dict(adfs_authority_url='http://adfs.example/adfs'), 'adfs_authority_url must be an https:// URL'),
])
def test_bad_urls(recorded, home, given, fragment):
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(dict(SP_OPTIONS, **given), home=home)
    assert fragment in str(err.value)


def test_instance_discovery_is_turned_off_for_unknown_login_hosts(recorded, home, metadata_doc):
    doc = metadata_doc('https://login.private.example/', 'https://arm.private.example/')
    r = resolve(dict(SP_OPTIONS, cloud_environment='https://arm.private.example'), home=home,
                fetch=lambda url, **kw: doc)
    assert r.credential[2] == {'authority': 'https://login.private.example', 'disable_instance_discovery': True}


@pytest.mark.parametrize('given, env, profile', [
    (dict(disable_instance_discovery=True), {}, ''),
    ({}, {'AZURE_DISABLE_INSTANCE_DISCOVERY': 'true'}, ''),
    ({}, {}, 'disable_instance_discovery = yes\n'),
])
def test_disable_instance_discovery_sources(recorded, home, given, env, profile):
    write_profiles(home, '[default]\nsubscription_id=s\nclient_id=a\nsecret=b\ntenant=c\n' + profile)
    r = resolve(dict(given, auth_source='credential_file'), env=env, home=home)
    assert r.credential[2] == {'authority': PUBLIC, 'disable_instance_discovery': True}


def test_bad_boolean_in_env(recorded, home):
    with pytest.raises(auth.AuthConfigError, match='AZURE_DISABLE_INSTANCE_DISCOVERY must be true or false'):
        resolve(dict(SP_OPTIONS), env={'AZURE_DISABLE_INSTANCE_DISCOVERY': 'maybe'}, home=home)


@pytest.mark.parametrize('given, env, profile, origin', [
    (dict(cert_validation_mode='ignore'), {}, '', 'cert_validation_mode'),
    ({}, {'AZURE_CERT_VALIDATION_MODE': 'ignore'}, '', 'AZURE_CERT_VALIDATION_MODE'),
    ({}, {'AZURE_CERT_VALIDATION_MODE': 'validate'}, 'cert_validation_mode = ignore\n', 'in profile [default]'),
])
def test_cert_validation_mode_ignore(recorded, home, given, env, profile, origin):
    write_profiles(home, '[default]\nsubscription_id=s\nclient_id=a\nsecret=b\ntenant=c\n' + profile)
    r = resolve(dict(given, auth_source='credential_file'), env=env, home=home)
    assert r.connection_verify is False and r.summary()['cert_validation_mode'] == 'ignore'
    assert r.credential[2] == {'authority': PUBLIC, 'connection_verify': False}
    assert len(r.warnings) == 1 and 'not verified' in r.warnings[0] and origin in r.warnings[0]


def test_cert_validation_mode_option_beats_profile_and_env(recorded, home):
    write_profiles(home, '[default]\nsubscription_id=s\nclient_id=a\nsecret=b\ntenant=c\ncert_validation_mode=ignore\n')
    r = resolve(dict(cert_validation_mode='validate'), env={'AZURE_CERT_VALIDATION_MODE': 'ignore'}, home=home)
    assert r.connection_verify is True and 'connection_verify' not in r.credential[2]


def test_cert_validation_mode_ignore_reaches_the_metadata_request(recorded, home, metadata_doc):
    seen = []

    def fetch(url, verify=True, origin=None):
        seen.append(verify)
        return metadata_doc('https://login.microsoftonline.com/', 'https://arm/')
    resolve(dict(SP_OPTIONS, cloud_environment='https://arm.example', cert_validation_mode='ignore'), home=home,
            fetch=fetch)
    assert seen == [False]


def test_bad_cert_validation_mode_in_env(recorded, home):
    with pytest.raises(auth.AuthConfigError, match="AZURE_CERT_VALIDATION_MODE must be validate or ignore, not 'off'"):
        resolve(dict(SP_OPTIONS), env={'AZURE_CERT_VALIDATION_MODE': 'off'}, home=home)


# -- secrets never leave ----------------------------------------------------------------------------
def test_summary_says_what_won_and_holds_no_secret(recorded, home):
    r = resolve(dict(SP_OPTIONS, subscription_id=SUB), home=home)
    assert r.summary() == {
        'source': 'parameters', 'credential': 'client_secret', 'cloud': 'AzureCloud',
        'resource_manager': 'https://management.azure.com', 'authority_host': PUBLIC, 'subscription_id': SUB,
        'tenant': TENANT, 'client_id': 'app-opt', 'cert_validation_mode': 'validate'}
    r = resolve(env={'AZURE_AD_USER': 'bob', 'AZURE_PASSWORD': PASSWORD, 'AZURE_SUBSCRIPTION_ID': SUB}, home=home)
    for text in (json.dumps(r.summary()), repr(r)):
        assert PASSWORD not in text and SECRET not in text and 'bob' not in text


@pytest.mark.parametrize('given, env', [
    (dict(secret=SECRET, tenant=TENANT), {}),
    (dict(client_id='a', secret=SECRET), {}),
    (dict(auth_source='credential_file', secret=SECRET), {}),
    (dict(ad_user='bob', password=PASSWORD, cloud_environment='Nowhere'), {}),
    (dict(ad_user='bob', password=PASSWORD, cloud_environment='http://%s@x' % PASSWORD), {}),
    (dict(password=PASSWORD), {}),
    ({}, {'AZURE_SECRET': SECRET, 'AZURE_CLIENT_ID': 'a'}),
    ({}, {'AZURE_PASSWORD': PASSWORD, 'AZURE_SUBSCRIPTION_ID': SUB}),
    ({}, {'AZURE_SECRET': SECRET, 'AZURE_TENANT': TENANT, 'AZURE_CERT_VALIDATION_MODE': SECRET}),
    ({}, {'AZURE_CLIENT_ID': 'a', 'AZURE_SECRET': SECRET, 'AZURE_TENANT': TENANT,
          'AZURE_DISABLE_INSTANCE_DISCOVERY': 'x' + SECRET}),
])
def test_errors_never_echo_a_secret(recorded, home, given, env):
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(given, env=env, home=home)
    msg = str(err.value)
    assert SECRET not in msg and PASSWORD not in msg, msg


def test_message_for_deprecated_spelling_without_anything(recorded, home):
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(dict(auth_source='credentials', secret=SECRET), home=home)
    assert 'missing: client_id, tenant' in str(err.value) and SECRET not in str(err.value)


# -- compatibility and the real classes ------------------------------------------------------------
def test_build_credential_is_resolve_credential(recorded, home, monkeypatch):
    monkeypatch.setenv('HOME', home)
    assert auth.build_credential(params(**SP_OPTIONS)) == (
        'ClientSecretCredential', (TENANT, 'app-opt', SECRET), {'authority': PUBLIC})


def test_real_credential_classes_accept_our_configuration(home, tmp_path):
    """Same checks against azure-identity itself: constructing a credential sends nothing."""
    r = resolve(dict(client_id='app', secret='s3cret', tenant=TENANT, authority_host='https://127.0.0.1:8443'),
                home=home)
    cred = r.credential
    assert isinstance(cred, identity.ClientSecretCredential)
    assert cred._authority == 'https://127.0.0.1:8443'
    assert cred._instance_discovery is False and cred._tenant_id == TENANT and cred._client_id == 'app'
    assert isinstance(resolve(dict(auth_source='msi'), home=home).credential, identity.ManagedIdentityCredential)
    assert isinstance(resolve(dict(auth_source='cli'), home=home).credential, identity.AzureCliCredential)
    auto = resolve(home=home).credential
    assert isinstance(auto, auth._AutoManagedIdentity)
    assert isinstance(auto.credential, identity.ManagedIdentityCredential)
    wi = dict(auth_source='workload_identity', client_id='a', tenant=TENANT, federated_token_file='/nonexistent')
    assert isinstance(resolve(wi, home=home).credential, identity.WorkloadIdentityCredential)
    ignore = resolve(dict(SP_OPTIONS, cert_validation_mode='ignore'), home=home).credential
    assert isinstance(ignore, identity.ClientSecretCredential)


def test_missing_library_is_reported(monkeypatch, home):
    monkeypatch.setattr(auth, 'identity', None)
    monkeypatch.setattr(auth, 'IDENTITY_IMPORT_ERROR', ImportError('No module named azure.identity'))
    with pytest.raises(auth.AuthConfigError, match='azure-identity'):
        resolve(dict(SP_OPTIONS), home=home)


def test_unknown_auth_source_from_a_raw_dict(home):
    with pytest.raises(auth.AuthConfigError, match=r"auth_source \(or ANSIBLE_AZURE_AUTH_SOURCE\) must be one of "
                                                   r"auto, cli, credential_file, env, msi, workload_identity, not 'x'"):
        auth.resolve({'auth_source': 'x'}, env={}, home=home)


def test_encrypted_certificate_key_is_refused_clearly(home, tmp_path):
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'sp')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = tmp_path / 'encrypted.pem'
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b'key-passphrase'))
                    + cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(auth.AuthConfigError, match='cannot be used') as err:
        resolve(dict(client_id='app', tenant=TENANT, x509_certificate_path=str(pem)), home=home)
    assert 'key-passphrase' not in str(err.value)
    plain = tmp_path / 'plain.pem'
    plain.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    r = resolve(dict(client_id='app', tenant=TENANT, x509_certificate_path=str(plain)), home=home)
    assert isinstance(r.credential, identity.CertificateCredential) and r.kind == 'certificate'
