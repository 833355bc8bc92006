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
    (remote('uploading', fp=''), 'different', 'replace'),
    (remote(), 'different', None),
    (remote('uploading'), 'never', None),
])
def test_decide_before_the_fingerprint_is_known(existing, overwrite, action):
    assert state.decide(existing, None, SIZE, overwrite) == action


@pytest.mark.parametrize('fingerprint', [FP, None])
def test_never_does_not_replace_an_upload_in_progress(fingerprint):
    """An upload still scanning (or interrupted before it recorded its fingerprint) has state
    uploading and an empty fingerprint: overwrite=never leaves it alone, leased or not."""
    for lease in (None, 'available', 'leased'):
        existing = state.remote_state('PageBlob', SIZE, state.metadata('uploading', '', SIZE), lease=lease)
        with pytest.raises(state.UploadConflict) as err:
            state.decide(existing, fingerprint, SIZE, 'never')
        assert 'upload in progress' in str(err.value) and 'overwrite=never never replaces it' in str(err.value)
    with pytest.raises(state.UploadConflict):
        state.decide(remote('uploading', fp=OTHER), fingerprint or FP, SIZE, 'never')
    assert state.decide(remote('uploading'), FP, SIZE, 'never') == 'resume'  # the same source: finished, not replaced


def test_remote_state_carries_the_lease():
    r = state.remote_state('PageBlob', SIZE, {}, lease='leased', lease_duration='fixed', etag='"0x1"')
    assert (r['lease'], r['lease_duration'], r['etag']) == ('leased', 'fixed', '"0x1"')
    assert state.leased(r) and state.leased(dict(r, lease='breaking'))
    assert not any(state.leased(dict(r, lease=s)) for s in ('available', 'expired', 'broken', None))
    assert not state.leased(None)


def test_may_be_unchanged_only_for_a_complete_upload_of_the_same_size():
    assert state.may_be_unchanged(remote(), SIZE)
    assert not state.may_be_unchanged(remote('uploading'), SIZE)
    assert not state.may_be_unchanged(remote(size=SIZE * 2), SIZE)
    assert not state.may_be_unchanged(remote(st=None), SIZE)
    assert not state.may_be_unchanged(remote(blob_type='BlockBlob'), SIZE)
    assert not state.may_be_unchanged(None, SIZE)


@pytest.mark.parametrize('duration, words', [
    ('fixed', 'expires by itself 60 seconds after its upload stops renewing it'),
    ('infinite', 'never expires by itself'),
    (None, 'lease state leased'),
])
def test_lease_message(duration, words):
    r = state.remote_state('PageBlob', SIZE, state.metadata('uploading', FP, SIZE), lease='leased',
                           lease_duration=duration)
    msg = state.lease_message(r)
    assert 'another upload holds a lease on this blob (' in msg and words in msg and 'blob state uploading' in msg
    assert msg.endswith('; wait for it to finish, or set break_lease: true if no upload is running.')
