# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vhd_upload with Microsoft Entra ID: a real ansible-playbook -vvv, Azurite over HTTPS with
``--oauth basic``, and the fake Entra ID token endpoint (both on 127.0.0.1, same throwaway CA).

Checks: the upload succeeds with a bearer token obtained by ClientSecretCredential (options or
environment variables), the token request reaches fake_entra with the storage scope, a wrong secret
fails with Entra's AADSTS7000215 and writes nothing, and the secret appears nowhere in results or
in the -vvv output.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION, Azurite, find_azurite

# Plain imports by location (like vhd_ansible in test_vhd_modules.py): conftest.py imports collection
# code before pytest-ansible installs Ansible's collection finder, which then refuses new imports
# below ansible_collections.vmimage.azure.tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'support'))
import tls  # noqa: E402  pylint: disable=wrong-import-position
from fake_entra import FakeEntra  # noqa: E402  pylint: disable=wrong-import-position

MIB = 1024 * 1024
CLIENT_ID = '6f1c2b7e-8d4a-4e0b-9c3f-2a5d7e9b1c40'
SECRET = 'Entra~Test.Secret/+=%d' % random.SystemRandom().randrange(10 ** 9)  # distinctive enough to grep for
CONTAINER = 'vhds'

pytestmark = pytest.mark.skipif(find_azurite() is None, reason='Azurite is not installed')


def random_chunks(size, seed=11):
    """A few MiB of pseudo-random data at the start, middle and end of the disk; the rest are holes."""
    rng = random.Random(seed)
    return {offset: rng.randbytes(MIB - 4096) for offset in (0, 5 * MIB, size - MIB)}


def sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(MIB), b''):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope='module')
def stack(tmp_path_factory):
    """TLS files, fake Entra ID and Azurite (HTTPS, --oauth basic), for the whole module."""
    base = tmp_path_factory.mktemp('entra')
    files = tls.make_tls(base / 'tls')
    with FakeEntra(files, clients={CLIENT_ID: SECRET}) as entra:
        with Azurite(base / 'azurite', cert=files.cert, key=files.key, oauth='basic') as azurite:
            yield files, entra, azurite


def blob_props(azurite, files, name):
    service = azurite.service_client(connection_verify=files.ca_cert)
    blob = service.get_blob_client(CONTAINER, name)
    return blob.get_blob_properties() if blob.exists() else None


def download(azurite, files, name, dest):
    service = azurite.service_client(connection_verify=files.ca_cert)
    with open(dest, 'wb') as f:
        service.get_blob_client(CONTAINER, name).download_blob().readinto(f)
    return sha256(dest)


def test_upload_with_entra_id_token(stack, tmp_path, fixed_vhd, upload_playbook, monkeypatch):
    files, entra, azurite = stack
    size = 24 * MIB
    source = fixed_vhd('disk.vhd', size, random_chunks(size))
    digest = sha256(source)
    common = dict(path=str(source), account_url=azurite.account_url, container=CONTAINER,
                  api_version=API_VERSION, concurrency=4)
    auth = dict(auth_source='credentials', client_id=CLIENT_ID, secret=SECRET, tenant=entra.tenant,
                authority_host=entra.authority_host, disable_instance_discovery=True)
    wrong = dict(auth, secret='Wrong~' + SECRET)
    tasks = [
        {'vmimage.azure.vhd_upload': dict(common, blob='a.vhd', create_container=True, **auth)},
        # the same upload again, every auth option from the environment (env fallbacks): nothing to do
        {'vmimage.azure.vhd_upload': dict(common, blob='a.vhd')},
        {'vmimage.azure.vhd_upload': dict(common, blob='wrong.vhd', **wrong)},
    ]
    # The controller's environment reaches the module (local connection); NOT the task's
    # `environment:` keyword, which ansible-playbook -vvv prints. The module process must trust
    # the test CA, for both fake_entra and Azurite.
    env = {'AZURE_CLIENT_ID': CLIENT_ID, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': entra.tenant,
           'AZURE_AUTHORITY_HOST': entra.authority_host, 'AZURE_DISABLE_INSTANCE_DISCOVERY': 'true'}
    for name in ('AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID', 'AZURE_SUBSCRIPTION_ID', 'ANSIBLE_AZURE_AUTH_SOURCE',
                 'AZURE_CLOUD_ENVIRONMENT', 'AZURE_RESOURCE_MANAGER_ENDPOINT'):
        monkeypatch.delenv(name, raising=False)
    for name, value in dict(env, **tls.client_env(files)).items():
        monkeypatch.setenv(name, value)
    (first, again, bad), output = upload_playbook(tasks, verbosity=3)

    assert first.get('failed') is not True, first.get('msg')
    assert first['changed'] is True and first['action'] != 'none'
    assert first['bytes_uploaded'] > 0 and first['bytes_uploaded'] < first['size']  # sparse: zeros skipped
    assert download(azurite, files, 'a.vhd', tmp_path / 'back.vhd') == digest

    assert again.get('failed') is not True, again.get('msg')
    assert again['changed'] is False and again['action'] == 'none'

    # Both successful runs got a storage token from fake_entra, in their own process.
    posts = entra.token_requests()
    assert len(posts) >= 3  # two successes + the wrong secret
    good = [p for p in posts if p['form']['client_id'] == CLIENT_ID]
    assert {p['form']['scope'] for p in good} == {'https://storage.azure.com/.default'}
    assert all(p['tenant'] == entra.tenant and p['form']['grant_type'] == 'client_credentials' for p in good)
    assert all(claims['aud'] == 'https://storage.azure.com' for claims in entra.tokens)

    assert bad['failed'] is True
    assert 'AADSTS7000215' in bad['msg'] and 'Invalid client secret' in bad['msg']
    assert 'check client_id, secret and tenant' in bad['msg']
    assert blob_props(azurite, files, 'wrong.vhd') is None  # nothing written with a bad credential

    everything = json.dumps([first, again, bad]) + output
    assert '"module_args"' in output and 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in output  # -vvv shows arguments
    assert SECRET not in everything and wrong['secret'] not in everything
    assert 'Entra~Test.Secret' not in everything  # not even a prefix of it


def test_token_for_wrong_audience_is_refused_by_azurite(stack, tmp_path):
    """The check above is meaningful: Azurite really validates the bearer token it is given."""
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
    from azure.storage.blob import BlobServiceClient

    files, entra, azurite = stack

    class ArmToken(object):
        def get_token(self, *scopes, **kwargs):
            t = entra.issue_token(entra.tenant, CLIENT_ID, 'https://management.azure.com/.default')
            return AccessToken(t['access_token'], 2 ** 31)

    service = BlobServiceClient(azurite.account_url, credential=ArmToken(), connection_verify=files.ca_cert,
                                api_version=API_VERSION)
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as err:
        service.get_container_client(CONTAINER).exists()
    assert err.value.status_code == 401 or err.value.status_code == 403


def _entra_env(monkeypatch, files):
    """The module process trusts the test CA; nothing of the caller's Azure setup leaks in."""
    for name in [n for n in list(os.environ) if n.startswith(('AZURE_', 'ANSIBLE_AZURE_'))]:
        monkeypatch.delenv(name)
    for name, value in tls.client_env(files).items():
        monkeypatch.setenv(name, value)


def test_blob_url_without_sas_comes_back_whole(stack, fixed_vhd, upload_playbook, monkeypatch):
    """With Entra ID the blob URL holds no secret: url returns it unmasked, for the next task to use."""
    files, entra, azurite = stack
    _entra_env(monkeypatch, files)
    size = 24 * MIB
    source = fixed_vhd('whole.vhd', size, random_chunks(size, seed=12))
    blob_url = '%s/%s/whole-url.vhd' % (azurite.account_url, CONTAINER)
    auth = dict(client_id=CLIENT_ID, secret=SECRET, tenant=entra.tenant,
                authority_host=entra.authority_host, disable_instance_discovery=True)
    service = azurite.service_client(connection_verify=files.ca_cert)
    if CONTAINER not in [c.name for c in service.list_containers()]:
        service.create_container(CONTAINER)
    tasks = [
        {'vmimage.azure.vhd_upload': dict(path=str(source), blob_url=blob_url, api_version=API_VERSION, **auth)},
        {'ansible.builtin.assert': {'that': ["r0.url == '%s'" % blob_url], 'success_msg': 'url is the blob URL'}},
        {'ansible.builtin.debug': {'msg': 'image source: {{ r0.url }}'}},
    ]
    (upload, check, shown), output = upload_playbook(tasks, verbosity=3)
    assert upload.get('failed') is not True, upload.get('msg')
    assert (upload['action'], upload['url'], upload['auth_source']) == ('create', blob_url, 'parameters')
    assert '"blob_url": "%s",' % blob_url in output  # -vvv shows the argument as given
    assert check.get('failed') is not True and check['msg'] == 'url is the blob URL', check
    assert shown['msg'] == 'image source: %s' % blob_url
    assert 'image source: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' not in output
    assert SECRET not in output and SECRET not in json.dumps([upload, check, shown])
    assert download(azurite, files, 'whole-url.vhd', source.with_suffix('.back')) == sha256(source)


# A Python without azure-identity: sitecustomize (found through PYTHONPATH, in the module's environment
# only) refuses to import azure.identity and everything below it.
BLOCK_AZURE_IDENTITY = '''
import sys


class _NoAzureIdentity(object):
    def find_spec(self, name, path=None, target=None):
        if name == 'azure.identity' or name.startswith('azure.identity.'):
            raise ModuleNotFoundError("No module named %r (blocked by the test)" % name, name=name)
        return None


sys.meta_path.insert(0, _NoAzureIdentity())
'''
MISSING_IDENTITY = 'Failed to import the required Python library (azure-identity)'


@pytest.fixture
def no_azure_identity(tmp_path):
    """``environment:`` for a task whose module must run without azure-identity."""
    path = tmp_path / 'no-azure-identity'
    path.mkdir()
    (path / 'sitecustomize.py').write_text(BLOCK_AZURE_IDENTITY)
    return {'PYTHONPATH': str(path)}


def test_without_azure_identity_keys_work_and_entra_id_names_the_library(stack, fixed_vhd, upload_playbook,
                                                                         monkeypatch, no_azure_identity):
    files, entra, azurite = stack
    _entra_env(monkeypatch, files)
    size = 24 * MIB
    source = fixed_vhd('nolib.vhd', size, random_chunks(size, seed=13))
    common = dict(path=str(source), account_url=azurite.account_url, container=CONTAINER, api_version=API_VERSION,
                  create_container=True)
    auth = dict(client_id=CLIENT_ID, secret=SECRET, tenant=entra.tenant,
                authority_host=entra.authority_host, disable_instance_discovery=True)
    tasks = [
        # the blocker works: this Python cannot import azure.identity
        {'ansible.builtin.command': {'argv': [sys.executable, '-c', 'import azure.identity']},
         'environment': no_azure_identity},
        {'vmimage.azure.vhd_upload': dict(common, blob='nolib-key.vhd', account_key=azurite.account_key),
         'environment': no_azure_identity},
        {'vmimage.azure.vhd_upload': dict(common, blob='nolib-entra.vhd', **auth), 'environment': no_azure_identity},
        # the same Entra ID upload with azure-identity importable: the fake Entra ID gives a token
        {'vmimage.azure.vhd_upload': dict(common, blob='nolib-entra-control.vhd', **auth)},
    ]
    (blocked, with_key, with_entra, control), output = upload_playbook(tasks)
    assert blocked['rc'] == 1 and "No module named 'azure.identity' (blocked by the test)" in blocked['stderr']

    assert with_key.get('failed') is not True, with_key.get('msg')
    assert (with_key['action'], with_key['changed']) == ('create', True)
    assert download(azurite, files, 'nolib-key.vhd', source.with_suffix('.key')) == sha256(source)

    assert with_entra['failed'] is True, with_entra
    assert with_entra['msg'].startswith(MISSING_IDENTITY), with_entra['msg']
    assert 'This is required for Microsoft Entra ID authentication.' in with_entra['msg']
    assert blob_props(azurite, files, 'nolib-entra.vhd') is None  # nothing was sent

    assert control.get('failed') is not True and control['action'] == 'create', control.get('msg')
    assert SECRET not in output and SECRET not in json.dumps([with_key, with_entra, control])


@pytest.mark.parametrize('module, args', [
    ('vmimage.azure.image_info', dict(resource_group='rg')),
    ('vmimage.azure.snapshot', dict(resource_group='rg', name='snap', source='disk-1')),
    ('vmimage.azure.image', dict(resource_group='rg', name='img', source='https://acct.blob.core.windows.net/v/a.vhd',
                                 os_type='Linux')),
])
def test_without_azure_identity_resource_manager_modules_name_the_library(upload_playbook, monkeypatch,
                                                                          no_azure_identity, module, args):
    """Every Resource Manager call needs a token: these modules fail first thing, naming the library."""
    for name in [n for n in list(os.environ) if n.startswith(('AZURE_', 'ANSIBLE_AZURE_'))]:
        monkeypatch.delenv(name)
    auth = dict(client_id=CLIENT_ID, secret=SECRET, tenant='72f988bf-86f1-41af-91ab-2d7cd011db47',
                subscription_id='11111111-2222-3333-4444-555555555555')
    (result,), output = upload_playbook([{module: dict(args, **auth), 'environment': no_azure_identity}])
    assert result['failed'] is True, result
    assert result['msg'].startswith(MISSING_IDENTITY), result['msg']
    assert 'This is required for Microsoft Entra ID authentication.' in result['msg']
    assert SECRET not in output and SECRET not in json.dumps(result)
