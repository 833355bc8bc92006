# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AzureModule wiring: argument spec merge, library checks, lazy credential/clients, scrubbed failures."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from ansible_collections.vmimage.azure.tests.support.module_args import patch_module_args
from azure.core.exceptions import ClientAuthenticationError

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth
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


@pytest.fixture
def no_azure_identity(monkeypatch):
    """azure.identity cannot be imported (None in sys.modules stops the import), as on a host without it."""
    monkeypatch.setitem(sys.modules, 'azure.identity', None)
    monkeypatch.setattr(auth, 'identity', None)
    monkeypatch.setattr(auth, 'IDENTITY_IMPORT_ERROR', None)


MISSING_IDENTITY = 'Failed to import the required Python library (azure-identity)'


def test_azure_identity_is_not_needed_until_a_credential_is(tmp_path):
    """A fresh Python that cannot import azure.identity builds the module, and never tries to import it."""
    script = tmp_path / 'probe.py'
    script.write_text(textwrap.dedent('''
        import json, sys
        tried = []

        class Block(object):
            def find_spec(self, name, path=None, target=None):
                if name.startswith('azure.identity'):
                    tried.append(name)
                    raise ModuleNotFoundError(name)

        sys.meta_path.insert(0, Block())
        from ansible_collections.vmimage.azure.tests.support.module_args import patch_module_args
        from ansible_collections.vmimage.azure.plugins.module_utils._azure.module import AzureModule
        with patch_module_args({'name': 'x', 'client_id': 'a', 'secret': 's', 'tenant': 't'}):
            try:
                AzureModule(dict(name=dict(type='str'))).exit(changed=False)
            except SystemExit:
                pass
        sys.stderr.write(json.dumps(dict(tried=tried, loaded='azure.identity' in sys.modules)))
    '''))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (proc.returncode, out['changed']) == (0, False), (proc.stdout, proc.stderr)
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == dict(tried=[], loaded=False), proc.stderr


def test_missing_azure_identity_uses_missing_required_lib_when_a_token_is_needed(no_azure_identity, capsys):
    def then(m):
        try:
            m.credential()
        except auth.AuthConfigError as exc:
            m.fail(exc)
    code, out = run({'name': 'x', 'client_id': 'a', 'secret': SECRET, 'tenant': TENANT}, capsys, then=then)
    assert code == 1 and out['failed'] is True
    assert out['msg'].startswith(MISSING_IDENTITY), out['msg']
    assert 'This is required for Microsoft Entra ID authentication.' in out['msg']
    assert SECRET not in json.dumps(out)


def test_resource_manager_modules_report_missing_azure_identity(no_azure_identity, capsys):
    """snapshot and image (run_plan) and image_info (compute() in main's try) need a token first thing."""
    class Service(object):
        @staticmethod
        def plan(client, subscription_id, params):
            raise AssertionError('no plan without a credential')

    args = {'name': 'x', 'client_id': 'a', 'secret': SECRET, 'tenant': TENANT, 'subscription_id': 'sub'}
    code, out = run(args, capsys, then=lambda m: m.run_plan(Service, 'snapshot'))
    assert code == 1 and out['msg'].startswith(MISSING_IDENTITY), out

    def info(m):
        try:
            m.compute()
        except Exception as exc:  # image_info's main()
            m.fail(exc)
    code, out = run(args, capsys, then=info)
    assert code == 1 and out['msg'].startswith(MISSING_IDENTITY), out


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


# -- options that are not secrets but may hold one (a URL with a SAS) -------------------------------------
SIG = 'S1gn4ture%2Bab/c%3D'
SAS = 'sv=2025-11-05&se=2030-01-01T00%3A00%3A00Z&sr=b&sp=rcw&sig=' + SIG
BLOB = 'https://acct.blob.core.windows.net/vhds/a.vhd'
URL_SPEC = dict(blob_url=dict(type='str', no_log=False), container=dict(type='str'),
                account_key=dict(type='str', no_log=True))


def sas_secrets(params):
    from ansible_collections.vmimage.azure.plugins.module_utils._storage.client import secret_values
    return secret_values(params)


def run_url(args, capsys, then, **kwargs):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            then(AzureModule(URL_SPEC, auth=False, secrets=sas_secrets, partly_secret=('blob_url',), **kwargs))
    text = capsys.readouterr().out
    return exited.value.code, json.loads(text), text


def signature_forms():
    from urllib.parse import unquote
    return (SIG, unquote(SIG), SAS)


def test_url_without_sas_is_returned_as_is(capsys):
    code, out, _text = run_url({'blob_url': BLOB}, capsys, then=lambda m: m.exit(url=BLOB, msg='uploaded to %s' % BLOB))
    assert code == 0 and out['url'] == BLOB and out['msg'] == 'uploaded to ' + BLOB
    assert out['invocation']['module_args']['blob_url'] == BLOB


def test_only_the_sas_of_a_url_is_masked(capsys):
    url = BLOB + '?' + SAS

    def then(m):
        m.exit(url=BLOB, msg='sent to %s' % url, sig_alone='sig was %s' % SIG)
    code, out, text = run_url({'blob_url': url}, capsys, then=then)
    assert code == 0 and out['url'] == BLOB
    assert out['msg'].startswith('sent to %s?' % BLOB) and out['sig_alone'] == 'sig was ********'
    assert out['invocation']['module_args']['blob_url'].startswith(BLOB + '?')
    for secret in signature_forms():
        assert secret not in text


def test_sas_is_masked_before_the_first_possible_failure(capsys):
    """A failed library check (the first fail_json after AnsibleModule) already masks the SAS."""
    code, out, text = run_url({'blob_url': BLOB + '?' + SAS}, capsys, then=lambda m: m.exit(),
                              required_libs=[('azure-storage-blob', ImportError('nope %s' % SIG))])
    assert code == 1 and 'azure-storage-blob' in out['msg']
    assert out['invocation']['module_args']['blob_url'].startswith(BLOB + '?')
    for secret in signature_forms():
        assert secret not in text


def test_sas_is_hidden_when_the_arguments_are_refused(capsys):
    """AnsibleModule fails (returning the arguments) before secrets() can run: the URL is hidden whole."""
    code, out, text = run_url({'blob_url': BLOB + '?' + SAS, 'unknown': 1}, capsys, then=lambda m: m.exit())
    assert code == 1 and 'Unsupported parameters' in out['msg']
    assert out['invocation']['module_args']['blob_url'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    for secret in signature_forms():
        assert secret not in text


def test_a_secret_option_with_the_same_value_stays_masked(capsys):
    code, out, _text = run_url({'blob_url': 'samevalue-123', 'account_key': 'samevalue-123'}, capsys,
                               then=lambda m: m.exit(echo='samevalue-123'))
    assert code == 0 and out['echo'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
