# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The idempotence decision: every combination of remote state and overwrite policy."""

from __future__ import annotations

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._storage import state

FP, OTHER, SIZE = 'sha256:aa', 'sha256:bb', 1024 * 1024 + 512


def remote(st='complete', fp=FP, size=SIZE, blob_type='PageBlob'):
    return state.remote_state(blob_type, size, state.metadata(st, fp, size) if st else {})


@pytest.mark.parametrize('overwrite', state.OVERWRITE_CHOICES)
def test_absent_blob_is_created(overwrite):
    assert state.decide(None, FP, SIZE, overwrite) == 'create'


@pytest.mark.parametrize('existing, overwrite, action', [
    (remote(), 'never', 'none'),
    (remote(), 'different', 'none'),
    (remote(), 'always', 'replace'),
    (remote('uploading'), 'never', 'resume'),
    (remote('uploading'), 'different', 'resume'),
    (remote('uploading'), 'always', 'replace'),
    (remote(fp=OTHER), 'different', 'replace'),
    (remote('uploading', fp=OTHER), 'different', 'replace'),
    (remote(size=SIZE * 2), 'different', 'replace'),
    (remote(blob_type='BlockBlob'), 'different', 'replace'),
    (remote(st=None), 'different', 'replace'),
])
def test_decide(existing, overwrite, action):
    assert state.decide(existing, FP, SIZE, overwrite) == action


@pytest.mark.parametrize('existing, words', [
    (remote(fp=OTHER), 'different image'),
    (remote('uploading', fp=OTHER), 'different image'),
    (remote(st=None), 'not written by this module'),
    (remote(blob_type='BlockBlob', st=None), 'BlockBlob'),
])
def test_never_refuses_to_replace(existing, words):
    with pytest.raises(state.UploadConflict) as err:
        state.decide(existing, FP, SIZE, 'never')
    assert words in str(err.value) and 'overwrite=different' in str(err.value)


def test_metadata_keys_are_case_insensitive():
    r = state.remote_state('PageBlob', SIZE, {'VMIMAGE_STATE': 'complete', 'Vmimage_Fingerprint': FP})
    assert state.decide(r, FP, SIZE) == 'none'


def test_diff_before_after():
    d = state.diff(None, FP, SIZE, 'create')
    assert d == {'before': {}, 'after': {'state': 'complete', 'fingerprint': FP, 'size': SIZE}}
    same = remote()
    d = state.diff(same, FP, SIZE, 'none')
    assert d['before'] == d['after']
    d = state.diff(remote('uploading'), FP, SIZE, 'resume')
    assert d['before']['state'] == 'uploading' and d['after']['state'] == 'complete'


def test_bad_overwrite():
    with pytest.raises(ValueError):
        state.decide(None, FP, SIZE, 'sometimes')


@pytest.mark.parametrize('existing, overwrite, action', [
    (None, 'different', 'create'),
    (remote(), 'always', 'replace'),
    (remote(st=None), 'different', 'replace'),
    (remote(size=SIZE * 2), 'different', 'replace'),
    (remote('uploading', fp=''), 'never', 'replace'),
    (remote(), 'different', None),
    (remote('uploading'), 'never', None),
])
def test_decide_before_the_fingerprint_is_known(existing, overwrite, action):
    assert state.decide(existing, None, SIZE, overwrite) == action
