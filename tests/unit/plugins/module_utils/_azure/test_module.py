# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AzureModule wiring: argument spec merge, library checks, lazy credential/clients, scrubbed failures."""
from __future__ import annotations

import json

import pytest
from ansible_collections.vmimage.azure.tests.support.module_args import patch_module_args
from azure.core.exceptions import ClientAuthenticationError

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth, module as base
from ansible_collections.vmimage.azure.plugins.module_utils._azure.module import AzureModule

TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
SECRET = 'Very$ecret/Value=='
SPEC = dict(name=dict(type='str', required=True), account_key=dict(type='str', no_log=True))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for names in auth.ENV.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run(args, capsys, **kwargs):
    """Build the module, call kwargs['then'](module), return (exit code, parsed JSON result)."""
    then = kwargs.pop('then', None)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            m = AzureModule(SPEC, **kwargs)
            then(m)
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_auth_options_are_merged_and_the_environment_resolved(clean_env, capsys):
    clean_env.setenv('AZURE_SUBSCRIPTION_ID', 'sub-from-env')
    clean_env.setenv('AZURE_CLIENT_ID', 'app')
    clean_env.setenv('AZURE_SECRET', SECRET)
    clean_env.setenv('AZURE_TENANT', TENANT)

    def then(m):
        m.exit(changed=False, params=dict(m.params), subscription=m.resolved().subscription_id)
    code, out = run({'name': 'x'}, capsys, then=then)
    assert code == 0
    assert set(auth.AUTH_ARGSPEC) <= set(out['params'])
    assert out['subscription'] == 'sub-from-env' and out['params']['auth_source'] == 'auto'
    assert out['auth_source'] == 'env' and SECRET not in json.dumps(out)


def test_without_auth_the_options_are_unknown(capsys):
    code, out = run({'name': 'x', 'client_id': 'a'}, capsys, auth=False, then=lambda m: m.exit())
    assert code == 1 and 'client_id' in out['msg'] and 'Unsupported parameters' in out['msg']


def test_redefining_an_auth_option_is_a_programming_error():
    with pytest.raises(ValueError, match='tenant'):
        AzureModule(dict(tenant=dict(type='str')))


def test_missing_library_uses_missing_required_lib(monkeypatch, capsys):
    monkeypatch.setattr(base, 'REQUIRED_LIBS', [('azure-identity', ImportError('No module named azure.identity'))])
    code, out = run({'name': 'x'}, capsys, then=lambda m: m.exit(changed=False))
    assert code == 1
    assert 'Failed to import the required Python library (azure-identity)' in out['msg']


def test_extra_required_libs_are_checked_too(capsys):
    code, out = run({'name': 'x'}, capsys, auth=False, required_libs=[('azure-storage-blob', ImportError('nope'))],
                    then=lambda m: m.exit())
    assert code == 1 and 'azure-storage-blob' in out['msg']


def test_credential_is_built_once(capsys):
    args = {'name': 'x', 'client_id': 'a', 'secret': SECRET, 'tenant': TENANT}

    def then(m):
        first = m.credential()
        m.exit(same=first is m.credential(), kind=type(first).__name__)
    code, out = run(args, capsys, then=then)
    assert (code, out['same'], out['kind']) == (0, True, 'ClientSecretCredential')


def test_fail_scrubs_every_no_log_value(capsys):
    args = {'name': 'x', 'client_id': 'a', 'secret': SECRET, 'tenant': TENANT, 'account_key': 'KEY-123456'}

    def then(m):
        exc = ClientAuthenticationError('AADSTS7000215: bad secret %s, key KEY-123456' % SECRET)
        m.fail(exc, detail='used %s' % SECRET)
    code, out = run(args, capsys, then=then)
    text = json.dumps(out)
    assert code == 1 and out['failed'] is True
    assert SECRET not in text and 'KEY-123456' not in text
    assert out['msg'].startswith('Azure authentication failed: AADSTS7000215')


def test_fail_with_config_error_from_main(capsys):
    def then(m):
        try:
            m.credential()
        except auth.AuthConfigError as exc:
            m.fail(exc)
    code, out = run({'name': 'x', 'auth_source': 'credentials', 'secret': SECRET}, capsys, then=then)
    assert code == 1 and 'missing: client_id, tenant' in out['msg'] and SECRET not in json.dumps(out)


def test_client_factory_gets_cloud_endpoints_and_is_cached(capsys):
    calls = []

    def factory(credential, subscription_id, **kwargs):
        calls.append((type(credential).__name__, subscription_id, kwargs))
        return object()

    def then(m):
        m.exit(same=m.client(factory) is m.client(factory))
    args = {'name': 'x', 'client_id': 'a', 'secret': SECRET, 'tenant': TENANT, 'subscription_id': 'sub',
            'cloud_environment': 'AzureUSGovernment', 'resource_manager_endpoint': 'https://127.0.0.1:9443'}
    code, out = run(args, capsys, then=then)
    assert code == 0 and out['same'] is True
    assert len(calls) == 1 and calls[0][:2] == ('ClientSecretCredential', 'sub')
    kwargs = calls[0][2]
    assert kwargs['base_url'] == 'https://127.0.0.1:9443'
    assert kwargs['credential_scopes'] == ['https://management.usgovcloudapi.net/.default']
    # azure-core's retry policy and pollers, configured in one place (clients.py).
    assert (kwargs['retry_total'], kwargs['polling_interval'], kwargs['user_agent']) == (6, 5, 'vmimage.azure')
    assert 'connection_verify' not in kwargs


def test_client_without_subscription_says_what_to_set(capsys):
    def then(m):
        try:
            m.client(lambda *a, **k: None)
        except auth.AuthConfigError as exc:
            m.fail(exc)
    code, out = run({'name': 'x'}, capsys, then=then)
    assert code == 1 and 'AZURE_SUBSCRIPTION_ID' in out['msg']


def test_check_mode_is_exposed(capsys):
    code, out = run({'name': 'x', '_ansible_check_mode': True}, capsys,
                    then=lambda m: m.exit(check=m.check_mode))
    assert out['check'] is True
