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
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._vhd.footer import new_fixed_footer
from ansible_collections.vmimage.azure.tests.support import tls
from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION, Azurite, find_azurite
from ansible_collections.vmimage.azure.tests.support.fake_entra import FakeEntra

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
CLIENT_ID = '6f1c2b7e-8d4a-4e0b-9c3f-2a5d7e9b1c40'
SECRET = 'Entra~Test.Secret/+=%s' % os.getpid()  # distinctive enough to grep for
CONTAINER = 'vhds'

pytestmark = pytest.mark.skipif(find_azurite() is None, reason='Azurite is not installed')


def write_fixed_vhd(path, size=24 * MIB, seed=11):
    """A sparse fixed VHD with a few MiB of pseudo-random data; returns its bytes' SHA-256."""
    rng = random.Random(seed)
    with open(path, 'wb') as f:
        f.truncate(size)
        for offset in (0, 5 * MIB, size - MIB):
            f.seek(offset)
            f.write(rng.randbytes(MIB - 4096))
        f.seek(size)
        f.write(new_fixed_footer(size).pack())
    return sha256(path)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(MIB), b''):
            digest.update(chunk)
    return digest.hexdigest()


def tool(name):
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def run_playbook(workdir, tasks, env):
    """Run ``tasks`` with -vvv; return (results of each task, everything ansible printed)."""
    workdir = Path(workdir)
    out = workdir / 'results.json'
    plays = []
    for i, task in enumerate(tasks):
        plays.append(dict(task, name='Step %d' % i, register='r%d' % i, ignore_errors=True))
    plays.append({'name': 'Save results', 'ansible.builtin.copy': {
        'content': '{{ [%s] | to_json }}' % ', '.join('r%d' % i for i in range(len(tasks))),
        'dest': str(out), 'mode': '0600'}})
    playbook = workdir / 'playbook.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': plays}]))
    env = dict({k: v for k, v in os.environ.items() if not k.startswith('AZURE_')}, **env)
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))
    env.update(ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False', ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([tool('ansible-playbook'), '-vvv', '-i', 'localhost,', '-c', 'local',
                           '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)],
                          capture_output=True, text=True, env=env, cwd=str(workdir), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and out.exists(), output[-6000:]
    results = json.loads(out.read_text())
    out.unlink()
    return results, output


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


def test_upload_with_entra_id_token(stack, tmp_path):
    files, entra, azurite = stack
    source = tmp_path / 'disk.vhd'
    digest = write_fixed_vhd(source)
    common = dict(path=str(source), account_url=azurite.account_url, container=CONTAINER,
                  api_version=API_VERSION, concurrency=4)
    auth = dict(auth_source='credentials', client_id=CLIENT_ID, secret=SECRET, tenant=entra.tenant,
                authority_host=entra.authority_host, disable_instance_discovery=True)
    env_auth = {'AZURE_CLIENT_ID': CLIENT_ID, 'AZURE_SECRET': SECRET, 'AZURE_TENANT': entra.tenant,
                'AZURE_AUTHORITY_HOST': entra.authority_host, 'AZURE_DISABLE_INSTANCE_DISCOVERY': 'true'}
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
    (first, again, bad), output = run_playbook(tmp_path, tasks, dict(env_auth, **tls.client_env(files)))

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
    print(bad['msg'])
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
