# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""The decisions of the Windows generalization, as data: ImageState -> outcome, pre-check -> message.

The PowerShell that does the work (``plugins/module_utils/VmimageSysprep.psm1``) holds no copy of
these tables: it takes them as its ``-DecisionsJson`` parameter, the JSON of ``decisions()``.
vm_generalize puts that JSON into the Run Command script (``scripts.windows_run_command_script``);
win_sysprep gets it from ``plugins/module_utils/_VmimageSysprepDecisions.psm1``, which is generated
from ``decisions_json()`` (a unit test compares them; regenerate with
``PYTHONPATH=.build/collections .venv/bin/python tests/unit/plugins/module_utils/test_guest_sysprep.py``).

Message templates contain ``{detail}``, replaced by plain text substitution (``str.replace`` here,
``String.Replace`` in PowerShell), never ``str.format``: a detail may contain braces.

Where Windows keeps its setup state, and what each value means, is Microsoft's "Windows Setup
States" page: HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State, value ImageState.
"""

from __future__ import annotations

import copy
import json

# The only ImageState from which an image may be captured for Azure: generalized, starts OOBE at
# the next boot (where the Azure agent and the unattend answer Azure provides take over).
GOOD_STATE = 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE'

# For every ImageState Microsoft documents:
#   outcome  a short name for the state, returned as is;
#   before   what an ImageState found before Sysprep means: ``run`` (Sysprep may start), ``done``
#            (already generalized: nothing to do, changed false) or ``blocked`` (a pre-check failure);
#   after    what it means once Sysprep has exited: ``success`` or ``failed``;
#   meaning  Microsoft's description, in short;
#   message  what to tell the user when the state stops the run (before: blocked, or after: failed).
IMAGE_STATES = {
    'IMAGE_STATE_COMPLETE': {
        'outcome': 'specialized',
        'before': 'run',
        'after': 'failed',
        'meaning': 'Setup has finished (specialize and oobeSystem passes done): a running, hardware-dependent '
                   'installation that Sysprep /generalize prepares for other machines.',
        'message': 'Windows is not generalized (ImageState is still {detail}): read log_tail '
                   '(setupact.log) and C:\\Windows\\System32\\Sysprep\\Panther\\setuperr.log, fix the cause (often an '
                   'Appx package installed for one user only, or a pending servicing operation), then run again.',
    },
    'IMAGE_STATE_UNDEPLOYABLE': {
        'outcome': 'incomplete',
        'before': 'blocked',
        'after': 'failed',
        'meaning': 'A phase of Setup is not complete: Setup or Sysprep is running, or (when neither is) a phase '
                   'failed and the installation must be reinstalled.',
        'message': 'ImageState is {detail}: a Setup or Sysprep phase did not complete, so this installation cannot be '
                   'generalized any more. Restore the backup taken before Sysprep (or reinstall Windows), read '
                   'C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log for the cause, and run again.',
    },
    GOOD_STATE: {
        'outcome': 'generalized',
        'before': 'done',
        'after': 'success',
        'meaning': 'The generalize pass has completed; Windows starts the oobeSystem pass (OOBE) at the next boot.',
        'message': 'Windows is generalized ({detail}): capture it without starting it again.',
    },
    'IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT': {
        'outcome': 'generalized_to_audit',
        'before': 'blocked',
        'after': 'failed',
        'meaning': 'The generalize pass has completed; Windows starts audit mode at the next boot, not OOBE.',
        'message': 'ImageState is {detail}: Windows was generalized for audit mode, and a VM made from it would never '
                   'provision. Start it (it boots into audit mode), then run this again: Sysprep /generalize /oobe '
                   'reseals it for OOBE.',
    },
    'IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE': {
        'outcome': 'specialized_to_oobe',
        'before': 'blocked',
        'after': 'failed',
        'meaning': 'The specialize pass has completed; Windows starts OOBE at the next boot, keeping this '
                   "machine's identity (Sysprep /oobe ran without /generalize).",
        'message': "ImageState is {detail}: Windows was resealed without /generalize and keeps this machine's identity. "
                   'Start it and finish OOBE, then run this again.',
    },
    'IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT': {
        'outcome': 'specialized_to_audit',
        'before': 'blocked',
        'after': 'failed',
        'meaning': 'The specialize pass has completed; Windows starts audit mode at the next boot.',
        'message': 'ImageState is {detail}: Windows was resealed for audit mode without /generalize. Start it (it '
                   'boots into audit mode), then run this again.',
    },
}

# An ImageState Microsoft does not document, or none at all (the registry value is missing).
UNKNOWN_STATE = {
    'outcome': 'unknown',
    'before': 'blocked',
    'after': 'failed',
    'meaning': 'Not a documented Windows Setup state.',
    'message': "ImageState is '{detail}', which is not a Windows Setup state Microsoft documents "
               '(HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State): this is not a Windows installation '
               'Sysprep can generalize as it is.',
}

# The pre-checks, in the order they run. ``blocking``: a failed check stops the run before anything
# changes; a non-blocking check reports what the run fixes (status ``found``).
PRECHECKS = {
    'image_state': {
        'blocking': True,
        'message': 'Sysprep cannot start from ImageState {detail}.',
    },
    'sysprep_exe': {
        'blocking': True,
        'message': 'Sysprep.exe was not found at {detail}: this Windows has no Sysprep to generalize it with '
                   '(Windows PE, or a 32-bit PowerShell on 64-bit Windows that cannot reach System32).',
    },
    'sysprep_running': {
        'blocking': True,
        'message': 'Sysprep is already running (process {detail}): wait for it to finish and run this again; once it '
                   'has generalized Windows, a rerun reports no change.',
    },
    'upgrade': {
        'blocking': True,
        'message': 'Windows was upgraded in place ({detail} exists) and Sysprep refuses to generalize an upgraded '
                   'installation: build the image from a clean installation.',
    },
    'pending_reboot': {
        'blocking': True,
        'message': 'A reboot is pending ({detail}) and Sysprep fails while servicing operations wait for one: reboot '
                   '(ansible.windows.win_reboot) and run this again.',
    },
    'bitlocker': {
        'blocking': True,
        'message': 'BitLocker is not off on the system drive ({detail}) and Sysprep refuses to generalize an '
                   'encrypted or converting OS volume: run Disable-BitLocker for it, wait until its VolumeStatus is '
                   'FullyDecrypted, then run this again.',
    },
    'unattend': {
        'blocking': False,
        'message': 'Leftover answer files, which would be applied to every VM made from the image, are removed '
                   'before Sysprep runs: {detail}.',
    },
}

# The outcome of a whole run: whether it failed, whether it changed the machine, and its message.
RESULTS = {
    'generalized': {
        'failed': False,
        'changed': True,
        'message': 'Sysprep generalized Windows (ImageState ' + GOOD_STATE + ') in {detail} seconds.',
    },
    'unchanged': {
        'failed': False,
        'changed': False,
        'message': 'Windows is already generalized (ImageState ' + GOOD_STATE + '): nothing to do.',
    },
    'would_generalize': {
        'failed': False,
        'changed': True,
        'message': 'Check mode: the pre-checks passed and Sysprep would run ({detail}).',
    },
    'precheck_failed': {
        'failed': True,
        'changed': False,
        'message': 'Sysprep was not started: {detail}',
    },
    'clean_failed': {
        'failed': True,
        'changed': True,
        'message': 'Sysprep was not started: leftover answer files could not be removed ({detail}); remove them and '
                   'run this again.',
    },
    'sysprep_failed': {
        'failed': True,
        'changed': True,
        'message': 'Sysprep did not generalize Windows: {detail} log_tail has the end of '
                   'C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log.',
    },
    'timeout': {
        'failed': True,
        'changed': True,
        'message': 'Sysprep did not reach ' + GOOD_STATE + ' in time ({detail}). Give it a longer timeout, or wait '
                   'and run this again (once Sysprep has generalized Windows a rerun reports no change); log_tail has '
                   'the end of C:\\Windows\\System32\\Sysprep\\Panther\\setupact.log.',
    },
    'shutdown_failed': {
        'failed': True,
        'changed': True,
        'message': 'Windows is generalized but could not be shut down ({detail}): shut it down without starting it '
                   'again, then capture it.',
    },
    'error': {
        'failed': True,
        'changed': False,
        'message': 'The Sysprep script failed unexpectedly: {detail}',
    },
}

RESULT_FIELDS = ('image_state', 'outcome', 'changed', 'failed', 'message', 'log_tail', 'prechecks', 'steps')


def _fill(template, detail):
    return template.replace('{detail}', '' if detail is None else str(detail))


def outcome(image_state):
    """What an ImageState means: a copy of its entry (``state``, ``outcome``, ``before``, ``after``,
    ``meaning``, ``message`` with the state filled in); an undocumented or missing state gets
    ``UNKNOWN_STATE``."""
    state = image_state or ''
    entry = copy.deepcopy(IMAGE_STATES.get(state, UNKNOWN_STATE))
    entry['state'] = state
    entry['message'] = _fill(entry['message'], state)
    return entry


def precheck_message(name, detail):
    """The message of a pre-check that failed (or found something), with its detail filled in."""
    try:
        entry = PRECHECKS[name]
    except KeyError:
        raise ValueError('unknown Sysprep pre-check %r (known: %s)' % (name, ', '.join(PRECHECKS))) from None
    return _fill(entry['message'], detail)


def result_message(name, detail=''):
    """The message of a run's outcome (a key of ``RESULTS``), with its detail filled in."""
    try:
        entry = RESULTS[name]
    except KeyError:
        raise ValueError('unknown Sysprep result %r (known: %s)' % (name, ', '.join(RESULTS))) from None
    return _fill(entry['message'], detail)


def decisions():
    """Every table, as the PowerShell's ``-DecisionsJson`` takes them."""
    return {
        'good_state': GOOD_STATE,
        'states': copy.deepcopy(IMAGE_STATES),
        'unknown_state': copy.deepcopy(UNKNOWN_STATE),
        'prechecks': copy.deepcopy(PRECHECKS),
        'results': copy.deepcopy(RESULTS),
    }


def decisions_json():
    """``decisions()`` as compact, ASCII-only JSON with sorted keys (the same text on every run)."""
    return json.dumps(decisions(), sort_keys=True, separators=(',', ':'), ensure_ascii=True)


def simulate(before, after=None, timed_out=False, check_mode=False, seconds=60, log_tail='(end of setupact.log)'):
    """The result the PowerShell reports, in outline, for a Windows that starts at ImageState ``before``
    and, when Sysprep runs, ends at ``after`` (or is still running at the deadline: ``timed_out``).

    For test fakes (the ARM fake's Run Command) and tests: the same tables drive it, but the real
    decisions are the PowerShell's; only the image_state pre-check is listed."""
    start = outcome(before)
    check = {'name': 'image_state', 'status': 'passed', 'detail': start['state'], 'message': ''}
    state, log, steps = start['state'], '', []
    if start['before'] == 'done':
        name, detail = 'unchanged', state
    elif start['before'] == 'blocked':
        check.update(status='failed', message=precheck_message('image_state', state) + ' ' + start['message'])
        name, detail = 'precheck_failed', check['message']
    elif check_mode:
        name, detail = 'would_generalize', 'Sysprep.exe /generalize /oobe /quit /quiet /mode:vm'
        steps = [{'name': step, 'status': 'would_run', 'detail': ''} for step in ('clean', 'sysprep', 'wait')]
    else:
        end = outcome(after)
        state = end['state']
        steps = [{'name': 'clean', 'status': 'done', 'detail': ''}, {'name': 'sysprep', 'status': 'done', 'detail': ''}]
        if end['after'] == 'success':
            name, detail = 'generalized', str(seconds)
        elif timed_out:
            name, log = 'timeout', log_tail
            detail = '%d seconds; ImageState is %s and Sysprep is still running' % (seconds, state)
        else:
            name, log = 'sysprep_failed', log_tail
            detail = 'Sysprep exited with code 0 after %d seconds. %s' % (seconds, end['message'])
        steps.append({'name': 'wait', 'status': 'done' if name == 'generalized' else 'failed', 'detail': state})
    entry = RESULTS[name]
    return {
        'image_state': state, 'outcome': name, 'changed': entry['changed'], 'failed': entry['failed'],
        'message': result_message(name, detail), 'log_tail': log, 'prechecks': [check], 'steps': steps,
    }
