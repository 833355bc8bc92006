# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""~/.azure/credentials profiles, read as azure.azcollection reads them (INI, [default] or a named profile)."""
from __future__ import annotations

import os

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth

TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
SUB = '11111111-2222-3333-4444-555555555555'
SECRET = 'pr0file%Secret;with=odd#chars'  # % would break ConfigParser interpolation: it is read raw
PASSWORD = 'profile password'

PROFILES = """\
[default]
subscription_id = {sub}
client_id = default-app
secret = {secret}
tenant = {tenant}

[ci]
subscription_id = sub-ci
client_id = ci-app
secret = {secret}
tenant = {tenant}
cloud_environment = AzureUSGovernment

[user]
subscription_id = sub-user
ad_user = bob@contoso.com
password = {password}

[nosub]
client_id = nosub-app
secret = {secret}
tenant = {tenant}
""".format(sub=SUB, secret=SECRET, tenant=TENANT, password=PASSWORD)


class Recorder(object):
    def __getattr__(self, name):
        def build(*args, **kwargs):
            return (name, args, kwargs)
        return build


@pytest.fixture(autouse=True)
def recorded(monkeypatch, clean_env):
    monkeypatch.setattr(auth, 'identity', Recorder())


@pytest.fixture
def home(tmp_path):
    path = tmp_path / 'home'
    (path / '.azure').mkdir(parents=True)
    return str(path)


def write(home, text=PROFILES, mode=0o600):
    path = os.path.join(home, '.azure', 'credentials')
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def resolve(home, env=None, **given):
    result = ArgumentSpecValidator(auth.AUTH_ARGSPEC).validate(given)
    assert not result.error_messages
    return auth.resolve(result.validated_parameters, env=env or {}, home=home)


def test_default_profile(home):
    write(home)
    r = resolve(home, auth_source='credential_file')
    assert (r.source, r.profile, r.subscription_id, r.client_id, r.tenant) == (
        'credential_file', 'default', SUB, 'default-app', TENANT)
    assert r.credential == ('ClientSecretCredential', (TENANT, 'default-app', SECRET),
                            {'authority': 'https://login.microsoftonline.com'})
    assert r.summary()['profile'] == 'default' and not r.warnings


@pytest.mark.parametrize('given, env', [
    (dict(profile='ci'), {}),
    ({}, {'AZURE_PROFILE': 'ci'}),
    (dict(profile='ci'), {'AZURE_PROFILE': 'user'}),  # the option wins
])
def test_named_profile_by_option_or_azure_profile(home, given, env):
    write(home)
    r = resolve(home, env=env, auth_source='credential_file', **given)
    assert (r.profile, r.subscription_id, r.client_id) == ('ci', 'sub-ci', 'ci-app')
    assert r.cloud.name == 'AzureUSGovernment'  # the profile's cloud_environment


def test_user_password_profile(home):
    write(home)
    r = resolve(home, profile='user')
    assert (r.source, r.kind, r.subscription_id) == ('credential_file', 'user_password', 'sub-user')
    assert r.credential == ('UsernamePasswordCredential', (auth.CLI_CLIENT_ID, 'bob@contoso.com', PASSWORD),
                            {'tenant_id': 'organizations', 'authority': 'https://login.microsoftonline.com'})


def test_explicit_profile_without_subscription_is_accepted(home):
    write(home)
    r = resolve(home, profile='nosub')
    assert r.client_id == 'nosub-app' and r.subscription_id is None
    r = resolve(home, env={'AZURE_SUBSCRIPTION_ID': 'from-env'}, profile='nosub')
    assert r.subscription_id == 'from-env'


def test_subscription_option_beats_the_profile_and_the_profile_beats_env(home):
    write(home)
    assert resolve(home, profile='ci', subscription_id='opt').subscription_id == 'opt'
    assert resolve(home, env={'AZURE_SUBSCRIPTION_ID': 'env'}, profile='ci').subscription_id == 'sub-ci'


def test_options_override_profile_keys(home):
    write(home)
    r = resolve(home, profile='ci', tenant='other-tenant', cloud_environment='AzureCloud')
    assert r.credential[1] == ('other-tenant', 'ci-app', SECRET) and r.cloud.name == 'AzureCloud'


def test_profile_keys_read_like_azcollection(home):
    write(home, '[default]\nSUBSCRIPTION_ID = %s\nclient_id=a\nsecret = %s\ntenant=t\n'
                'cert_validation_mode = ignore\ndisable_instance_discovery = True\n'
                'adfs_authority_url = https://adfs.contoso.com/adfs\nunknown_key = whatever\n' % (SUB, SECRET))
    r = resolve(home, auth_source='credential_file')
    assert r.subscription_id == SUB and r.connection_verify is False
    assert r.credential == ('ClientSecretCredential', ('adfs', 'a', SECRET), {
        'authority': 'https://adfs.contoso.com', 'disable_instance_discovery': True, 'connection_verify': False})


def test_missing_file(home):
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(home, auth_source='credential_file')
    msg = str(err.value)
    assert "auth_source=credential_file names profile 'default'" in msg
    assert os.path.join(home, '.azure', 'credentials') + ' does not exist' in msg and '[default]' in msg


def test_missing_file_for_a_profile_option(home):
    with pytest.raises(auth.AuthConfigError, match="^profile names profile 'ci', but .* does not exist"):
        resolve(home, profile='ci')


def test_missing_profile_lists_the_profiles(home):
    write(home)
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(home, env={'AZURE_PROFILE': 'prod'})
    msg = str(err.value)
    assert "AZURE_PROFILE names profile 'prod'" in msg and 'profiles there: default, ci, user, nosub' in msg
    assert 'Set profile (or AZURE_PROFILE)' in msg and SECRET not in msg


def test_profile_without_a_credential(home):
    write(home, '[default]\nsubscription_id = %s\n' % SUB)
    with pytest.raises(auth.AuthConfigError, match=r'profile \[default\] of .* has no credential'):
        resolve(home, auth_source='credential_file')


def test_incomplete_profile_names_the_key_to_add(home):
    write(home, '[default]\nsubscription_id = %s\nclient_id = a\nsecret = %s\n' % (SUB, SECRET))
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(home, auth_source='credential_file')
    msg = str(err.value)
    assert 'missing: tenant' in msg and 'tenant in profile [default] of' in msg and SECRET not in msg


def test_malformed_file_does_not_leak_its_lines(home):
    write(home, '[default]\nsecret = %s\nthis line is not key value %s\n[broken\n' % (SECRET, SECRET))
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(home, auth_source='credential_file')
    msg = str(err.value)
    assert 'is not a valid INI file (ParsingError, line 4)' in msg and SECRET not in msg


def test_no_section_header(home):
    write(home, 'secret = %s\n' % SECRET)
    with pytest.raises(auth.AuthConfigError) as err:
        resolve(home, auth_source='credential_file')
    assert 'MissingSectionHeaderError' in str(err.value) and SECRET not in str(err.value)


def test_unreadable_file(home):
    # A directory where the file should be: unreadable for root too (a chmod 0 file is not).
    os.mkdir(os.path.join(home, '.azure', 'credentials'))
    with pytest.raises(auth.AuthConfigError, match='Cannot read .*credentials'):
        resolve(home, auth_source='credential_file')


def test_world_readable_file_with_a_secret_warns(home):
    write(home, mode=0o644)
    r = resolve(home, auth_source='credential_file')
    assert len(r.warnings) == 1 and 'readable by other users: chmod 600' in r.warnings[0]


def test_service_principal_options_without_a_file(home):
    r = resolve(home, auth_source='credential_file', client_id='a', secret=SECRET, tenant=TENANT)
    assert r.source == 'parameters' and r.profile is None


def test_auto_skips_a_default_profile_without_subscription(home):
    write(home, '[default]\nclient_id = a\nsecret = %s\ntenant = t\n' % SECRET)
    r = resolve(home)
    assert r.source == 'msi' and 'profile' not in r.summary()


def test_uppercase_default_section_is_not_the_default_profile(home):
    """ConfigParser's [DEFAULT] is a defaults section, not a profile (azure.azcollection reads it the same)."""
    write(home, '[DEFAULT]\nsubscription_id = %s\nclient_id = a\nsecret = %s\ntenant = t\n' % (SUB, SECRET))
    assert resolve(home).source == 'msi'
