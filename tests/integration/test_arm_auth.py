# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication as azure.azcollection users write it, through a module run by ansible-playbook
against the ARM fake: AWX's environment injection, options, ~/.azure/credentials profiles, the
auto order between them, a custom cloud by Resource Manager URL, and errors that name what to set
without showing the secret. The cloud is always the fake's URL: the module reads its metadata
endpoint to find the token endpoint and audience, as it would for Azure Stack Hub."""
from __future__ import annotations

import json

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests

CA_ONLY = ('REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE')


def listing(**args):
    return {'vmimage.azure.image_info': dict(dict(resource_group='rg'), **args)}


def sp_options(arm, **extra):
    """The fake's service principal given as options (``extra`` overrides them)."""
    options = dict(client_id=arm.client_id, secret=arm.client_secret, tenant=arm.tenant,
                   subscription_id=arm.subscription_id, cloud_environment=arm.url)
    options.update(extra)
    return options


def write_profiles(tmp_path, text):
    azure = tmp_path / 'home' / '.azure'
    azure.mkdir(parents=True, exist_ok=True)
    (azure / 'credentials').write_text(text)
    (azure / 'credentials').chmod(0o600)


def profile(arm, name, secret=None):
    return ('[%s]\nsubscription_id=%s\nclient_id=%s\nsecret=%s\ntenant=%s\ncloud_environment=%s\n' % (
        name, arm.subscription_id, arm.client_id, secret or arm.client_secret, arm.tenant, arm.url))


def test_awx_injection_alone_authenticates(arm, arm_playbook):
    (r0,) = arm_playbook([listing()])[0]
    assert not r0.get('failed') and r0['auth_source'] == 'env', r0
    assert arm.entra.requests and arm_requests(arm)


def test_options_beat_the_environment(arm, arm_playbook):
    (r0,) = arm_playbook([listing(**sp_options(arm))], env={'AZURE_SECRET': 'wrong-secret-from-env'})[0]
    assert not r0.get('failed') and r0['auth_source'] == 'parameters', r0


def test_credentials_file_default_and_named_profiles(arm, arm_playbook, tmp_path):
    write_profiles(tmp_path, profile(arm, 'default') + profile(arm, 'build') + profile(arm, 'stale', 'old-secret'))
    results = arm_playbook([listing(), listing(profile='build'), listing(auth_source='credential_file'),
                            listing(profile='stale'), listing(profile='nope')], auth=False)[0]
    default, named, explicit, stale, missing = results
    assert default['auth_source'] == named['auth_source'] == explicit['auth_source'] == 'credential_file', results
    assert not default.get('failed') and not named.get('failed') and not explicit.get('failed')
    assert stale['failed'] and 'old-secret' not in json.dumps(stale)
    assert missing['failed'] and 'nope' in missing['msg'] and 'credentials' in missing['msg'], missing


def test_azure_profile_picks_the_profile_as_awx_would(arm, arm_playbook, tmp_path):
    write_profiles(tmp_path, profile(arm, 'default', 'old-secret') + profile(arm, 'build'))
    (r0,) = arm_playbook([listing()], auth=False, env={'AZURE_PROFILE': 'build'})[0]
    assert not r0.get('failed') and r0['auth_source'] == 'credential_file', r0


def test_a_wrong_secret_names_where_to_fix_it_and_never_shows_it(arm, arm_playbook):
    wrong = 'Wr0ng-S3cret-Value~42'
    (r0,), output = arm_playbook([listing(**sp_options(arm, secret=wrong))], verbosity=3)
    assert r0['failed'], r0
    assert 'secret' in r0['msg'] and 'AZURE_SECRET' in r0['msg'], r0['msg']
    assert wrong not in output and wrong not in json.dumps(r0)
    assert arm_requests(arm) == []  # no token, so nothing reached Resource Manager


def test_no_secret_in_vvv_output_of_a_successful_run(arm, arm_playbook):
    (r0,), output = arm_playbook([listing(**sp_options(arm))], verbosity=3)
    assert not r0.get('failed'), r0
    assert arm.client_secret not in output


def test_cloud_environment_errors(arm, arm_playbook):
    tasks = [listing(cloud_environment='AzureMoonCloud'),
             listing(cloud_environment=arm.url.replace('https://', 'http://')),
             listing(cloud_environment='https://127.0.0.1:9')]
    unknown, plain, unreachable = arm_playbook(tasks)[0]
    assert unknown['failed'] and 'AzureMoonCloud' in unknown['msg'] and 'AzureCloud' in unknown['msg'], unknown
    assert plain['failed'] and 'https' in plain['msg'], plain
    assert unreachable['failed'] and 'cloud_environment' in unreachable['msg'], unreachable
    assert 'metadata' in unreachable['msg'].lower()
    assert arm_requests(arm) == []


def test_the_old_credentials_spelling_still_works_with_a_deprecation(arm, arm_playbook):
    (r0,), output = arm_playbook([listing(**sp_options(arm, auth_source='credentials'))])
    assert 'DEPRECATION' in output
    assert not r0.get('failed'), r0
    messages = [d['msg'] for d in r0.get('deprecations', [])]
    assert any('auth_source=credential_file' in m for m in messages), (messages, output[-2000:])
    assert r0['auth_source'] == 'parameters'
