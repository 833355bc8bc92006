# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Upload state kept in the page blob's metadata, and the idempotence decision.

Metadata written by the upload (all values are strings):

* ``vmimage_state``: ``uploading`` from the moment the blob is created until the last page and
  the final metadata are written, then ``complete``;
* ``vmimage_fingerprint``: the source fingerprint (see ``plan.py``); empty while a first upload
  is still scanning its source (scan and upload overlap), which makes an interruption in that
  window restart from scratch instead of resuming;
* ``vmimage_size``: the blob size in bytes.

While an upload writes to the blob it holds a lease on it (``upload.py``): the lease state is part of
``remote_state`` (``lease``: ``available``, ``leased``, ``expired``, ``breaking``, ``broken``), and a
blob leased by someone else is never written to (:func:`lease_message`), unless ``break_lease``.
"""

from __future__ import annotations

STATE_KEY = 'vmimage_state'
FINGERPRINT_KEY = 'vmimage_fingerprint'
SIZE_KEY = 'vmimage_size'
UPLOADING = 'uploading'
COMPLETE = 'complete'

OVERWRITE_CHOICES = ('never', 'different', 'always')
# Actions: none (nothing to send), create (no blob yet), resume (finish an interrupted upload of
# the same source), replace (recreate the blob: all earlier pages are discarded).
ACTIONS = ('none', 'create', 'resume', 'replace')


# Lease states in which a write without the lease id is refused.
LEASED_STATES = ('leased', 'breaking')


class UploadConflict(Exception):
    """The destination exists and ``overwrite`` forbids replacing it."""


def metadata(state, fingerprint, size):
    return {STATE_KEY: state, FINGERPRINT_KEY: fingerprint, SIZE_KEY: str(size)}


def remote_state(blob_type, size, meta, lease=None, lease_duration=None, etag=None):
    """Normalize what the service returns about an existing blob to the fields we manage."""
    meta = dict((k.lower(), v) for k, v in (meta or {}).items())
    return {
        'blob_type': blob_type,
        'size': size,
        'state': meta.get(STATE_KEY),
        'fingerprint': meta.get(FINGERPRINT_KEY),
        'lease': lease,
        'lease_duration': lease_duration,
        'etag': etag,
    }


def leased(remote):
    """Whether someone holds a lease on the blob (writes without its id are refused)."""
    return remote is not None and remote.get('lease') in LEASED_STATES


def may_be_unchanged(remote, size):
    """Whether the blob may turn out to hold a complete upload of a source of ``size`` bytes (the
    answer needs the fingerprint): the only case in which a leased blob is left alone."""
    return (remote is not None and remote['state'] == COMPLETE and remote['blob_type'] == 'PageBlob'
            and remote['size'] == size and bool(remote['fingerprint']))


def lease_message(remote, lease_seconds=60):
    """Why a leased blob is not written to, and what to do."""
    duration = remote.get('lease_duration')
    if duration == 'infinite':
        how = 'an infinite lease: it never expires by itself'
    elif duration == 'fixed':
        how = ('a lease of fixed duration: the one vhd_upload takes expires by itself %d seconds after its '
               'upload stops renewing it' % lease_seconds)
    else:
        how = 'lease state %s' % remote.get('lease')
    what = ('state %s' % remote['state']) if remote.get('state') else 'no vmimage upload state'
    return ('Cannot upload: another upload holds a lease on this blob (%s; blob %s); wait for it to finish, '
            'or set break_lease: true if no upload is running.' % (how, what))


def decide(remote, fingerprint, size, overwrite='different'):
    """Return the action for an upload of a source (``fingerprint``, ``size``) given the
    ``remote_state`` (or None when the blob does not exist). Raises :class:`UploadConflict`.

    ``fingerprint`` None means "not computed yet": the answer is then None when it depends on the
    fingerprint (the blob holds an upload of ours of the same size), so that the caller scans the
    source only when it must before sending.
    """
    if overwrite not in OVERWRITE_CHOICES:
        raise ValueError('overwrite must be one of %s' % ', '.join(OVERWRITE_CHOICES))
    if remote is None:
        return 'create'
    if overwrite == 'always':
        return 'replace'
    if remote['state'] == UPLOADING and not remote['fingerprint']:
        if overwrite == 'never':  # an upload still scanning, or one interrupted before it knew its source
            raise UploadConflict(
                'The destination blob holds an upload in progress, or one interrupted before it recorded its '
                'source fingerprint (state %s); overwrite=never never replaces it. Wait for that upload to '
                'finish, or use overwrite=different (or always) to replace it, or choose another blob name.'
                % UPLOADING)
        return 'replace'  # interrupted before its fingerprint was recorded: nothing worth keeping
    candidate = remote['blob_type'] == 'PageBlob' and remote['size'] == size and remote['fingerprint']
    if candidate and fingerprint is None:
        return None
    same = candidate and remote['fingerprint'] == fingerprint
    if same and remote['state'] == COMPLETE:
        return 'none'
    if same and remote['state'] == UPLOADING:
        return 'resume'
    if overwrite == 'never':
        if same:
            what = 'has an unknown upload state %r' % remote['state']
        elif remote['fingerprint']:
            what = 'holds a different image (fingerprint %s, state %s)' % (
                remote['fingerprint'], remote['state'])
        else:
            what = 'was not written by this module (a %s of %s bytes without vmimage metadata)' % (
                remote['blob_type'], remote['size'])
        raise UploadConflict(
            'The destination blob exists and %s; overwrite=never forbids replacing it. '
            'Use overwrite=different (or always) to replace it, or choose another blob name.' % what)
    return 'replace'


def diff(remote, fingerprint, size, action):
    def view(r):
        if r is None:
            return {}
        return {'state': r['state'], 'fingerprint': r['fingerprint'], 'size': r['size']}
    after = view(remote) if action == 'none' else {
        'state': COMPLETE, 'fingerprint': fingerprint, 'size': size}
    return {'before': view(remote), 'after': after}
