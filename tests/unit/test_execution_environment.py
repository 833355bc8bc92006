# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""meta/execution-environment.yml through ansible-builder, and the AWX credential types of docs/awx.md.

The definition's paths are relative to the collection's root: ansible-builder's introspection reads them
that way from every installed collection, and that is how our requirements reach any execution
environment that installs vmimage.azure. ansible-builder itself reads a definition's paths relative to
the definition's folder, so scripts/ee_context.py (`make ee`) runs it on the file as seen from the
collection's root, in a staging folder; these tests use that script, with the collection's tarball built
here. `create` only writes the build context (no image, no network).
"""
from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from ansible_collections.vmimage.azure.plugins.module_utils._azure import auth
from ansible_collections.vmimage.azure.tests.support import guests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFINITION = ROOT / 'meta' / 'execution-environment.yml'


def _lines(path):
    return [line.strip() for line in path.read_text(encoding='utf-8').splitlines() if line.strip() and not line.lstrip().startswith('#')]


def _builder():
    builder = BIN / 'ansible-builder'
    if not builder.exists():
        pytest.skip('ansible-builder is not installed (tests/requirements.txt: ansible-builder>=3.1,<4)')
    return builder


@pytest.fixture(scope='module')
def ee_context():
    return guests.script('ee_context')


@pytest.fixture(scope='module')
def collection_tarball(tmp_path_factory, ee_context):
    return Path(ee_context.build_tarball(str(tmp_path_factory.mktemp('galaxy')), str(BIN)))


@pytest.fixture(scope='module')
def context(tmp_path_factory, collection_tarball, ee_context):
    _builder()
    out, _output = ee_context.create(str(tmp_path_factory.mktemp('ee') / 'context'), str(collection_tarball), str(BIN))
    return Path(out)


def test_the_definition_is_version_3_with_collection_root_paths():
    definition = yaml.safe_load(DEFINITION.read_text(encoding='utf-8'))
    assert definition['version'] == 3
    assert definition['dependencies']['python'] == 'requirements.txt'
    assert definition['dependencies']['system'] == 'bindep.txt'
    for entry in definition['additional_build_files']:
        assert not Path(entry['src']).is_absolute() and '..' not in Path(entry['src']).parts, entry
    assert {'name': 'collections/vmimage-azure.tar.gz', 'type': 'file'} in definition['dependencies']['galaxy']['collections']


def test_the_context_names_every_python_requirement(context):
    assert _lines(context / '_build' / 'requirements.txt') == _lines(ROOT / 'requirements.txt')


def test_the_context_names_every_system_requirement(context):
    assert _lines(context / '_build' / 'bindep.txt') == _lines(ROOT / 'bindep.txt')


def test_the_containerfile_installs_them_and_the_collection(context):
    containerfile = (context / 'Containerfile').read_text(encoding='utf-8')
    assert 'COPY _build/requirements.txt requirements.txt' in containerfile
    assert 'COPY _build/bindep.txt bindep.txt' in containerfile
    assert re.search(r'introspect\.py introspect .*--user-pip=requirements\.txt --user-bindep=bindep\.txt', containerfile)
    assert re.search(r'ansible-galaxy collection install .*-r requirements\.yml', containerfile)
    assert '/output/scripts/install-from-bindep' in containerfile
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text(encoding='utf-8'))
    names = [entry['name'] for entry in galaxy['collections']]
    assert names[0] == 'collections/vmimage-azure.tar.gz'
    assert {'ansible.windows', 'community.windows', 'community.general', 'ansible.posix'} <= set(names)


def test_the_collection_in_the_context_carries_the_same_requirements(context):
    with tarfile.open(context / '_build' / 'collections' / 'vmimage-azure.tar.gz') as tar:
        for name in ('requirements.txt', 'bindep.txt', 'meta/execution-environment.yml'):
            member = tar.extractfile(name)
            assert member is not None, name
            assert member.read() == (ROOT / name).read_bytes(), name


def test_introspection_of_the_installed_collection_finds_our_requirements(tmp_path, collection_tarball):
    """What the image build does in its builder stage, on the collection installed from the tarball."""
    _builder()
    from ansible_builder._target_scripts import introspect

    collections = tmp_path / 'collections'
    command = [str(BIN / 'ansible-galaxy'), 'collection', 'install', '--force', '--no-deps', '--offline', '-p', str(collections), str(collection_tarball)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    found = introspect.process(data_dir=str(collections))
    assert found['python']['vmimage.azure'] == _lines(ROOT / 'requirements.txt')
    assert found['system']['vmimage.azure'] == _lines(ROOT / 'bindep.txt')


# ---------------------------------------------------------------------------------------------
# docs/awx.md


def _yaml_blocks(text):
    return list(re.findall(r'```yaml\n(.*?)```', text, flags=re.S))


def _credential_types():
    types = []
    for block in _yaml_blocks((ROOT / 'docs' / 'awx.md').read_text(encoding='utf-8')):
        documents = list(yaml.safe_load_all(block))
        if len(documents) == 2 and 'fields' in (documents[0] or {}) and 'injectors' in (documents[1] or {}):
            types.append((documents[0], documents[1]['injectors']))
    return types


def _env_names_read_by_the_playbooks():
    names = set()
    for path in (ROOT / 'playbooks').glob('*.yml'):
        names.update(re.findall(r"lookup\('ansible\.builtin\.env', '([A-Z_]+)'\)", path.read_text(encoding='utf-8')))
    return names


def test_awx_doc_has_the_two_credential_types():
    assert len(_credential_types()) == 2


def test_every_injected_variable_is_one_the_collection_reads():
    read_by_auth = {name for names in auth.ENV.values() for name in names}
    read_by_playbooks = _env_names_read_by_the_playbooks()
    (arm_inputs, arm), (storage_inputs, storage) = _credential_types()
    assert set(arm['env']) <= read_by_auth, set(arm['env']) - read_by_auth
    assert set(storage['env']) <= read_by_playbooks, set(storage['env']) - read_by_playbooks
    # Every field is injected, and every injector names a field.
    for inputs, injectors in ((arm_inputs, arm), (storage_inputs, storage)):
        fields = {field['id'] for field in inputs['fields']}
        used = set(re.findall(r'\{\{ (\w+) \}\}', ' '.join(str(value) for value in injectors['env'].values())))
        assert used == fields
        assert {field['id'] for field in inputs['fields'] if field.get('secret')} >= ({'secret', 'password'} & fields)


def test_awx_built_in_azure_credential_is_read_by_the_collection():
    # AWX's "Microsoft Azure Resource Manager" credential type injects these.
    built_in = {'AZURE_SUBSCRIPTION_ID', 'AZURE_CLIENT_ID', 'AZURE_SECRET', 'AZURE_TENANT', 'AZURE_AD_USER', 'AZURE_PASSWORD',
                'AZURE_CLOUD_ENVIRONMENT'}
    assert built_in <= {name for names in auth.ENV.values() for name in names}


@pytest.mark.parametrize('doc, prefixes', [('docs/awx.md', ('capture_vm_', 'upload_vhd_')), ('README.md', ('capture_vm_',))])
def test_the_job_templates_extra_vars_are_the_playbooks_variables(doc, prefixes):
    text = (ROOT / doc).read_text(encoding='utf-8')
    for prefix in prefixes:
        source = (ROOT / 'playbooks' / (prefix.rstrip('_') + '.yml')).read_text(encoding='utf-8')
        (extra,) = [yaml.safe_load(block) for block in _yaml_blocks(text) if block.startswith(prefix)]
        for name in extra:
            assert name.startswith(prefix) and re.search(r'\b%s\b' % name, source), (doc, name)
