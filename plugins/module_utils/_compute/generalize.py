# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Generalize an Azure VM for an image, guest included, with a backup first (``vm_generalize``).

    planned = plan(client, subscription_id, params)        # GETs only; ComputeError on bad input
    result = apply(client, planned, wait)                  # the writes, in order; StepError names the step
    result = run(client, subscription_id, params, check_mode, wait)   # both, as the module calls it

Steps, each with its own timeout (``params['timeout']`` seconds: every long-running operation and
every wait for a state), each failing with a StepError that names it:

``backup``      an incremental snapshot of the OS disk and of every data disk, named
                ``<backup_prefix>os`` / ``<backup_prefix>lun<N>`` and tagged with the VM's id, so a
                rerun finds and reuses them (the backup stays the one taken before the first attempt);
``guest``       Run Command: Linux ``RunShellScript`` (``_guest/linux_generalize``), Windows
                ``RunPowerShellScript`` (``_guest/scripts``: Sysprep, then ImageState polled);
``guest_shutdown`` (Linux) the deprovision runs detached from the agent and powers the VM off: wait
                for PowerState/stopped;
``power_off``, ``deallocate``, ``generalize``, ``confirm`` (OSState/generalized in the instance view).

A failed guest step leaves the VM running and not generalized: nothing after it runs.
"""

from __future__ import annotations

import re
import time

from ansible_collections.vmimage.azure.plugins.module_utils._azure import ids
from ansible_collections.vmimage.azure.plugins.module_utils._azure.errors import describe_error
from ansible_collections.vmimage.azure.plugins.module_utils._compute import snapshot as snapshots
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import ComputeError, get_or_none, wire
from ansible_collections.vmimage.azure.plugins.module_utils._guest import linux_generalize

TAG_VM = 'vmimage_backup_of'
TAG_DISK = 'vmimage_backup_lun'
GUESTS = ('auto', 'linux', 'windows', 'none')
COMMANDS = {'linux': 'RunShellScript', 'windows': 'RunPowerShellScript'}
# Azure's rules for a snapshot name.
_SNAPSHOT_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]$|^[A-Za-z0-9]$')
# Run Command output Azure keeps of each stream, and what a result quotes of it.
OUTPUT_TAIL = 4096
# The Windows script's own wait for ImageState ends this long before the module gives up on the command.
WINDOWS_MARGIN = 60
GOOD_IMAGE_STATE = 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE'


class StepError(ComputeError):
    """A step that failed or did not finish in time; ``step`` names it, ``result`` is what was done so far."""

    def __init__(self, step, message, result=None, code='step_failed'):
        super(StepError, self).__init__(message, code=code)
        self.step = step
        self.result = dict(result or {}, step=step)


# --- reading ---------------------------------------------------------------------------------------

def _statuses(view):
    """(power state, generalized) from an instance view (a model or its wire dict)."""
    body = view if isinstance(view, dict) else wire(view)
    codes = [(s.get('code') or '').lower() for s in body.get('statuses') or []]
    power = next((c.split('/', 1)[1] for c in codes if c.startswith('powerstate/')), None)
    return power, 'osstate/generalized' in codes


def _read_vm(client, rg, name):
    vm = get_or_none(client.virtual_machines.get, rg, name, expand='instanceView')
    if vm is None:
        raise ComputeError("VM '%s' was not found in resource group '%s'. Check name and resource_group."
                           % (name, rg), code='vm_not_found')
    body = wire(vm)
    props = body.get('properties') or {}
    storage = props.get('storageProfile') or {}
    power, generalized = _statuses(props.get('instanceView') or {})
    os_disk = storage.get('osDisk') or {}
    data = sorted(storage.get('dataDisks') or [], key=lambda d: d.get('lun') or 0)
    disks = [(None, os_disk)] + [(d.get('lun'), d) for d in data]
    return dict(id=body.get('id'), name=body.get('name'), location=body.get('location'),
                os_type=os_disk.get('osType'), power=power, generalized=generalized, disks=disks,
                ephemeral=bool(os_disk.get('diffDiskSettings')))


def _backup_name(prefix, lun):
    return '%s%s' % (prefix, 'os' if lun is None else 'lun%d' % lun)


def _disk_label(lun):
    return 'the OS disk' if lun is None else 'the data disk at lun %d' % lun


def _plan_backups(client, subscription_id, params, vm):
    """One entry per disk: reuse the snapshot of an earlier run, or the snapshot service's create plan."""
    rg, prefix = params['resource_group'], params.get('backup_prefix') or '%s-pregen-' % vm['name']
    if vm['ephemeral']:
        raise ComputeError("VM '%s' has an ephemeral OS disk, which cannot be snapshotted: set backup=false."
                           % vm['name'], code='invalid')
    entries = []
    for lun, ref in vm['disks']:
        disk_id = (ref.get('managedDisk') or {}).get('id')
        if not disk_id:
            raise ComputeError("%s of VM '%s' is not a managed disk (an unmanaged VHD), which vm_generalize cannot "
                               'snapshot: back it up yourself and set backup=false.'
                               % (_disk_label(lun).capitalize(), vm['name']), code='unmanaged_disk')
        name = _backup_name(prefix, lun)
        if not _SNAPSHOT_NAME.match(name):
            raise ComputeError("The backup snapshot name '%s' (backup_prefix '%s' + '%s') is not a valid snapshot name "
                               '(1 to 80 letters, digits, underscores, periods or hyphens, starting with a letter or '
                               'digit and ending with a letter, digit or underscore): choose another backup_prefix.'
                               % (name, prefix, name[len(prefix):]), code='invalid')
        entry = dict(lun=lun, disk_id=disk_id, name=name, snapshot_id=None)
        found = snapshots.normalize(get_or_none(client.snapshots.get, rg, name))
        if found:
            tags = found.get('tags') or {}
            if not (ids.same(tags.get(TAG_VM) or '', vm['id']) and ids.same(found.get('source_id') or '', disk_id)):
                raise ComputeError(
                    "Snapshot '%s' exists in resource group '%s' but is not the backup of %s of VM '%s' (its source is "
                    "%s, tag %s is %r). Choose another backup_prefix, or delete the snapshot."
                    % (name, rg, _disk_label(lun), vm['name'], found.get('source_id') or 'not a disk',
                       TAG_VM, tags.get(TAG_VM)), code='backup_conflict')
            if (found.get('provisioning_state') or '').lower() == 'failed':
                raise ComputeError("The backup snapshot '%s' of an earlier run is in state Failed: delete it and run the "
                                   'task again.' % name, code='backup_failed')
            entry.update(action='reuse', snapshot_id=found['id'])
        else:
            tags = {TAG_VM: vm['id'], TAG_DISK: 'os' if lun is None else str(lun)}
            entry.update(action='create', plan=snapshots.plan(client, subscription_id, dict(
                resource_group=rg, name=name, state='present', source=disk_id, incremental=True, tags=tags)))
        entries.append(entry)
    return entries


def _guest_kind(params, vm):
    guest = params.get('guest') or 'auto'
    if guest not in GUESTS:
        raise ComputeError('guest must be one of %s, not %r.' % (', '.join(GUESTS), guest))
    os_type = (vm['os_type'] or '').lower()
    if guest == 'auto':
        if os_type not in COMMANDS:
            raise ComputeError("VM '%s' does not say its OS type (%r): set guest to linux, windows or none."
                               % (vm['name'], vm['os_type']))
        guest = os_type
    elif guest != 'none' and os_type in COMMANDS and guest != os_type:
        raise ComputeError("guest=%s, but VM '%s' is a %s VM: use guest=auto (or %s)."
                           % (guest, vm['name'], vm['os_type'], os_type))
    if params.get('deprovision_user') and guest != 'linux':
        raise ComputeError('deprovision_user applies to the Linux guest step only (guest=%s): remove it.' % guest)
    return guest


def _steps(vm, planned):
    steps = [dict(step='backup', detail="%s snapshot '%s' of %s" % (
        'create' if b['action'] == 'create' else 'reuse', b['name'], _disk_label(b['lun'])))
        for b in planned['backups']]
    guest = planned['guest']
    if guest != 'none':
        what = ('deprovision the guest (waagent -force %s, cloud-init clean, shell history), detached so that it '
                'powers the VM off' % ('-deprovision+user' if planned['deprovision_user'] else '-deprovision')
                if guest == 'linux' else 'Sysprep /generalize /oobe /quit /mode:vm, then wait for ImageState '
                + GOOD_IMAGE_STATE)
        steps.append(dict(step='guest', detail='Run Command %s: %s' % (COMMANDS[guest], what)))
    if guest == 'linux':
        steps.append(dict(step='guest_shutdown', detail='wait for the guest to power the VM off'))
    elif vm['power'] not in ('stopped', 'deallocated'):
        steps.append(dict(step='power_off', detail='power off the VM'))
    if vm['power'] != 'deallocated':
        steps.append(dict(step='deallocate', detail='deallocate the VM'))
    steps.append(dict(step='generalize', detail='mark the VM generalized in Azure'))
    steps.append(dict(step='confirm', detail='wait for OSState/generalized in the instance view'))
    return steps


def _check_timeout(params):
    timeout = params.get('timeout')
    if timeout is not None and timeout < 1:
        raise ComputeError('timeout must be a number of seconds of at least 1, not %r.' % timeout)


def plan(client, subscription_id, params):
    """Read the VM (and the backups of an earlier run) and decide the steps; only GETs."""
    _check_timeout(params)
    rg, name = params['resource_group'], params['name']
    vm = _read_vm(client, rg, name)
    planned = dict(resource_group=rg, name=name, vm=vm, guest='none', deprovision_user=bool(params.get('deprovision_user')),
                   timeout=params.get('timeout') or 1800, backups=[])
    if vm['generalized']:
        planned.update(action='none', steps=[], backups=_existing_backups(client, params, vm))
        return planned
    planned['guest'] = _guest_kind(params, vm)
    if planned['guest'] != 'none' and vm['power'] != 'running':
        raise ComputeError(
            "VM '%s' is %s, not running, and not generalized: the guest step needs it running. If an earlier run of "
            'vm_generalize already generalized the guest (its guest step succeeded before it failed), run the task '
            'again with guest=none to finish; otherwise start the VM first.'
            % (name, vm['power'] or 'in no known power state'), code='vm_not_running')
    if params.get('backup', True):
        planned['backups'] = _plan_backups(client, subscription_id, params, vm)
    planned.update(action='generalize', steps=_steps(vm, planned))
    return planned


def _existing_backups(client, params, vm):
    """The backups of an earlier run, for the result of an already generalized VM (GETs only)."""
    if not params.get('backup', True):
        return []
    prefix = params.get('backup_prefix') or '%s-pregen-' % vm['name']
    found = []
    for lun, ref in vm['disks']:
        name = _backup_name(prefix, lun)
        if not _SNAPSHOT_NAME.match(name):
            continue
        snap = snapshots.normalize(get_or_none(client.snapshots.get, params['resource_group'], name))
        if snap and ids.same((snap.get('tags') or {}).get(TAG_VM) or '', vm['id']):
            found.append(dict(lun=lun, disk_id=(ref.get('managedDisk') or {}).get('id'), snapshot_id=snap['id'],
                              action='none'))
    return found


# --- writing ---------------------------------------------------------------------------------------

def _public_backups(backups):
    return [dict(lun=b['lun'], disk_id=b['disk_id'], snapshot_id=b['snapshot_id'], action=b.get('action'))
            for b in backups]


def _run_output(result):
    """(stdout, stderr, messages) of a RunCommandResult: Linux reports both streams in one message."""
    values = wire(result).get('value') or []
    messages = [(v.get('code') or '', v.get('message') or '') for v in values]
    stdout = stderr = ''
    for code, message in messages:
        low = code.lower()
        if '/stdout/' in low:
            stdout = message
        elif '/stderr/' in low:
            stderr = message
        elif '[stdout]' in message:
            out, _sep, err = message.partition('[stdout]')[2].partition('[stderr]')
            stdout, stderr = out.strip('\n'), err.strip('\n')
        else:
            stdout = stdout or message
    return stdout, stderr, messages


def _tail(text, limit=1000):
    text = (text or '').strip()
    return text if len(text) <= limit else '...' + text[-limit:]


class _Runner(object):
    """Carries out a plan step by step; every failure becomes a StepError naming the step."""

    def __init__(self, client, planned, wait, sleep, clock):
        self.client, self.planned, self.wait, self.sleep, self.clock = client, planned, wait, sleep, clock
        self.rg, self.name = planned['resource_group'], planned['name']
        self.timeout = planned['timeout']
        self.done = []
        self.result = dict(vm_id=planned['vm']['id'], guest=planned['guest'], backups=[], steps=self.done,
                           guest_output=None, guest_result=None)
        self.guest_done = False

    def fail(self, step, what, detail):
        if step in ('backup', 'guest'):
            after = 'The VM is left running and not generalized: fix the cause and run the task again'
            after += ' (the backups are reused).' if self.result['backups'] else '.'
        elif self.guest_done:
            after = ("The guest is already generalized (the guest step succeeded): run the task again with guest=none "
                     'to finish (stop, deallocate, generalize); do not start the VM.')
        else:
            after = 'Run the task again to finish.'
        raise StepError(step, "vm_generalize step '%s' (%s) failed: %s %s" % (step, what, detail.rstrip(), after),
                        result=self.result)

    def step(self, step, what, work):
        """``work()``; any exception it raises (a timeout included) fails ``step``."""
        try:
            return work()
        except StepError:
            raise
        except Exception as exc:  # the step's own failure
            self.fail(step, what, describe_error(exc))

    def long(self, step, what, begin):
        """Start a long-running operation with ``begin()`` and wait for it (the module's timeout)."""
        return self.step(step, what, lambda: self.wait(begin(), what))

    def until(self, step, what, test, hint=''):
        """Poll the instance view until ``test(power, generalized)``; fail after the timeout."""
        deadline = self.clock() + self.timeout
        interval = max(1, min(10, self.timeout // 20))
        seen = None
        while True:
            try:
                seen = _statuses(self.client.virtual_machines.instance_view(self.rg, self.name))
            except Exception as exc:  # a failed read is the step's failure
                self.fail(step, what, describe_error(exc))
            if test(*seen):
                return seen
            if self.clock() >= deadline:
                self.fail(step, what, 'not done within %d seconds (power state %s%s).%s'
                          % (self.timeout, seen[0], ', generalized' if seen[1] else '', hint))
            self.sleep(interval)

    def record(self, step, detail):
        self.done.append(dict(step=step, detail=detail))

    def backup(self):
        for entry in self.planned['backups']:
            label = "snapshot '%s' of %s" % (entry['name'], _disk_label(entry['lun']))
            if entry['action'] == 'create':
                state = self.step('backup', 'create ' + label,
                                  lambda e=entry: snapshots.apply(self.client, e['plan'], self.wait))
                entry.update(snapshot_id=state.get('id'), action='created')
            else:
                entry['action'] = 'reused'
            self.result['backups'] = _public_backups([b for b in self.planned['backups'] if b['snapshot_id']])
            self.record('backup', '%s %s' % (entry['action'], label))

    def guest(self):
        guest = self.planned['guest']
        if guest == 'none':
            return
        from azure.mgmt.compute import models
        command = COMMANDS[guest]
        what = 'Run Command %s' % command
        if guest == 'linux':
            script = linux_generalize.run_command_script(self.planned['deprovision_user'])
        else:
            scripts = _windows_scripts()
            script = scripts.windows_run_command_script(self._windows_script_timeout(), shutdown=False)
        body = models.RunCommandInput(command_id=command, script=list(script))
        outcome = self.long('guest', what, lambda: self.client.virtual_machines.begin_run_command(self.rg, self.name, body))
        stdout, stderr, messages = _run_output(outcome)
        self.result['guest_output'] = dict(stdout=_tail(stdout, OUTPUT_TAIL), stderr=_tail(stderr, OUTPUT_TAIL))
        said = '; '.join('%s: %s' % (c, _tail(m, 300)) for c, m in messages) or 'no output'
        if guest == 'linux':
            parsed = linux_generalize.parse_result(stdout)
            self.result['guest_result'] = parsed
            if parsed is None:
                self.fail('guest', what, 'the script printed no result line; Run Command said: %s' % said)
            if parsed.get('outcome') != 'started':
                self.fail('guest', what, 'the script reports: %s' % parsed.get('message'))
            self.record('guest', '%s: %s' % (what, parsed.get('message')))
        else:
            try:
                parsed = scripts.parse_result(stdout)
            except ValueError as exc:  # scripts.ScriptResultError: no usable result line, its text says why
                self.fail('guest', what, '%s Run Command said: %s' % (exc, said))
            self.result['guest_result'] = parsed
            # Good only when the script says so and Windows is in the one state an Azure image may be captured in
            # (the script's tables are _guest/sysprep.py's; a rerun on a generalized guest reports 'unchanged').
            if parsed.get('failed', True) or parsed.get('image_state') != GOOD_IMAGE_STATE:
                detail = 'ImageState is %s, not %s (outcome %s): %s' % (
                    parsed.get('image_state') or 'unknown', GOOD_IMAGE_STATE, parsed.get('outcome') or 'unknown',
                    parsed.get('message') or 'no message')
                tail = parsed.get('log_tail')
                if tail:
                    detail = '%s Tail of setupact.log: %s' % (detail.rstrip(), _tail(tail if isinstance(tail, str)
                                                                                     else '\n'.join(tail)))
                self.fail('guest', what, detail)
            self.record('guest', '%s: ImageState %s' % (what, parsed.get('image_state')))
        self.guest_done = True

    def _windows_script_timeout(self):
        return self.timeout - WINDOWS_MARGIN if self.timeout > 2 * WINDOWS_MARGIN else max(1, self.timeout // 2)

    def stop(self):
        if self.planned['guest'] == 'linux':
            self.until('guest_shutdown', 'wait for the guest to power the VM off',
                       lambda power, gen: power in ('stopped', 'deallocated'),
                       hint=' The deprovision failed or is still running in the guest: see /run/vmimage-generalize.log '
                            '(journalctl -u vmimage-generalize) on the VM.')
            self.record('guest_shutdown', 'the guest powered the VM off')
        power = self.until('power_off', 'read the power state', lambda power, gen: True)[0]
        if power not in ('stopped', 'deallocated'):
            self.long('power_off', 'power off', lambda: self.client.virtual_machines.begin_power_off(self.rg, self.name))
            self.record('power_off', 'powered off')
        if power != 'deallocated':
            self.long('deallocate', 'deallocate', lambda: self.client.virtual_machines.begin_deallocate(self.rg, self.name))
            self.record('deallocate', 'deallocated')

    def generalize(self):
        try:
            self.client.virtual_machines.generalize(self.rg, self.name)
        except Exception as exc:  # the step's own failure
            self.fail('generalize', 'generalize', describe_error(exc))
        self.record('generalize', 'generalized')
        self.until('confirm', 'confirm OSState/generalized', lambda power, gen: gen)
        self.record('confirm', 'OSState/generalized')


def _windows_scripts():
    from ansible_collections.vmimage.azure.plugins.module_utils._guest import scripts
    return scripts


def apply(client, planned, wait, sleep=time.sleep, clock=time.monotonic):
    """Carry out ``planned`` (from plan); ``wait(poller, operation)`` waits for a long-running operation.

    Returns the result; raises StepError (``.step``, ``.result``) when a step fails or times out."""
    if planned['action'] == 'none':
        return dict(vm_id=planned['vm']['id'], guest=planned['guest'], backups=_public_backups(planned['backups']),
                    steps=[], guest_output=None, guest_result=None)
    runner = _Runner(client, planned, wait, sleep, clock)
    runner.backup()
    runner.guest()
    runner.stop()
    runner.generalize()
    return runner.result


def run(client, subscription_id, params, check_mode, wait, sleep=time.sleep, clock=time.monotonic):
    """The module's whole result (``changed``, ``steps``, ``backups``, ``diff``, ...)."""
    planned = plan(client, subscription_id, params)
    vm = planned['vm']
    before = dict(os_state='generalized' if vm['generalized'] else 'specialized', power_state=vm['power'])
    if planned['action'] == 'none':
        result = apply(client, planned, wait, sleep, clock)
        return dict(result, changed=False, os_state='generalized', power_state=vm['power'], os_type=vm['os_type'])
    after = dict(os_state='generalized', power_state='deallocated')
    if check_mode:
        return dict(changed=True, vm_id=vm['id'], guest=planned['guest'], os_type=vm['os_type'], steps=planned['steps'],
                    backups=_public_backups(planned['backups']), guest_output=None, guest_result=None, diff=dict(before=before, after=after),
                    os_state=before['os_state'], power_state=vm['power'])
    result = apply(client, planned, wait, sleep, clock)
    return dict(result, changed=True, os_type=vm['os_type'], diff=dict(before=before, after=after),
                os_state='generalized', power_state='deallocated')
