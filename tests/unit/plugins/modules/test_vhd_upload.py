# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vhd_upload: its documentation matches its argument spec (what validate-modules checks), and force/overwrite."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan
from ansible_collections.vmimage.azure.plugins.modules import vhd_upload

DOC = yaml.safe_load(vhd_upload.DOCUMENTATION)['options']


@pytest.mark.parametrize('name', sorted(vhd_upload.ARGSPEC))
def test_every_option_is_documented_as_specified(name):
    spec, doc = vhd_upload.ARGSPEC[name], DOC[name]
    assert doc.get('type', 'str') == spec.get('type', 'str')
    assert doc.get('default') == spec.get('default')
    assert sorted(doc.get('aliases', [])) == sorted(spec.get('aliases', []))
    assert doc.get('choices') == spec.get('choices')
    assert bool(doc.get('required')) == bool(spec.get('required'))


def test_documented_options_exist():
    assert set(DOC) == set(vhd_upload.ARGSPEC)


def test_azure_rm_storageblob_spellings_and_new_options():
    spec = vhd_upload.ARGSPEC
    assert (spec['path']['aliases'], spec['container']['aliases'], spec['blob']['aliases']) == (
        ['src'], ['container_name'], ['blob_name'])
    assert spec['force'] == dict(type='bool', default=False)
    assert spec['break_lease'] == dict(type='bool', default=False)
    assert spec['merge_gap'] == dict(type='int', default=getattr(plan, 'MERGE_GAP', 65536)) == dict(type='int', default=65536)


def test_urls_are_not_secrets_but_credentials_are():
    spec = vhd_upload.ARGSPEC
    assert spec['blob_url']['no_log'] is False and spec['account_url']['no_log'] is False
    assert all(spec[name]['no_log'] is True for name in ('account_key', 'sas_token', 'connection_string'))


@pytest.mark.parametrize('overwrite, force, expected', [
    (None, False, 'different'),
    (None, True, 'always'),
    ('always', True, 'always'),
    ('never', False, 'never'),
    ('different', False, 'different'),
])
def test_overwrite_option(overwrite, force, expected):
    assert vhd_upload.overwrite_option(overwrite, force) == expected


@pytest.mark.parametrize('overwrite', ['never', 'different'])
def test_force_with_another_overwrite_is_refused(overwrite):
    with pytest.raises(ValueError, match='force=true means overwrite=always, so it cannot be combined with '
                                         'overwrite=%s' % overwrite):
        vhd_upload.overwrite_option(overwrite, True)


def test_a_managed_disk_is_never_replaced_by_default():
    assert vhd_upload.overwrite_option(None, False, 'never') == 'never'
    assert vhd_upload.overwrite_option(None, True, 'never') == 'always'
    assert vhd_upload.overwrite_option('different', False, 'never') == 'different'


SIZE = 32 * 1024 * 1024 + 512


def _disk(disk_state='Unattached', state='complete', fingerprint='sha256:a', size=SIZE, create_option='Upload',
          managed_by=None):
    return dict(disk_state=disk_state, state=state, fingerprint=fingerprint, upload_size_bytes=size,
                create_option=create_option, managed_by=managed_by)


@pytest.mark.parametrize('disk, fingerprint, overwrite, expected', [
    ({}, 'sha256:a', 'never', 'create'),
    (_disk(), 'sha256:a', 'never', 'none'),
    (_disk(disk_state='Attached', managed_by='vm1'), 'sha256:a', 'never', 'none'),
    (_disk(disk_state='ActiveUpload', state='uploading'), 'sha256:a', 'never', 'resume'),
    (_disk(disk_state='ActiveUpload', state='complete'), 'sha256:a', 'never', 'resume'),
    (_disk(disk_state='ReadyToUpload', state='uploading', fingerprint='sha256:b'), 'sha256:a', 'never', 'resume'),
    (_disk(state='uploading'), 'sha256:a', 'never', 'finish'),
    (_disk(), 'sha256:b', 'different', 'replace'),
    (_disk(), 'sha256:a', 'always', 'replace'),
    (_disk(disk_state='ActiveUpload', state='uploading'), 'sha256:b', 'different', 'replace'),
    (_disk(create_option='Empty', state=None, fingerprint=None), 'sha256:a', 'different', 'replace'),
])
def test_disk_decisions(disk, fingerprint, overwrite, expected):
    from ansible_collections.vmimage.azure.plugins.module_utils._compute import disk_upload
    assert disk_upload.decide(disk, fingerprint, SIZE, overwrite) == expected


@pytest.mark.parametrize('disk, fingerprint, words', [
    (_disk(), 'sha256:b', 'holds another image'),
    (_disk(disk_state='ActiveUpload', state='uploading'), 'sha256:b', 'is being uploaded (ActiveUpload) from another source'),
    (_disk(size=SIZE + 1024 * 1024), 'sha256:a', 'was created for an upload of'),
    (_disk(create_option='Empty', state=None, fingerprint=None), 'sha256:a', 'was not created for an upload'),
    (_disk(state=None, fingerprint=None), 'sha256:a', 'without the tags of this module'),
])
def test_disk_conflicts_say_what_to_do(disk, fingerprint, words):
    from ansible_collections.vmimage.azure.plugins.module_utils._compute import disk_upload
    from ansible_collections.vmimage.azure.plugins.module_utils._storage import state
    with pytest.raises(state.UploadConflict) as err:
        disk_upload.decide(disk, fingerprint, SIZE, 'never', "managed disk 'd'")
    assert words in str(err.value) and 'overwrite=different' in str(err.value)
    assert str(err.value).startswith("Managed disk 'd' exists and ")
