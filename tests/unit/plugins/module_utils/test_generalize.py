# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vm_generalize's Linux script (the .sh file, its .py copy, run against stub commands) and the
service's pure helpers. The ARM side is tested through ansible-playbook in
tests/integration/test_vm_generalize.py.

After editing _guest/linux_generalize.sh, regenerate the ``SCRIPT`` constant of
_guest/linux_generalize.py by running this file as a script (from the checkout, after ``make layout``):
``PYTHONPATH=.build/collections .venv/bin/python tests/unit/plugins/module_utils/test_generalize.py``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._compute import generalize
from ansible_collections.vmimage.azure.plugins.module_utils._guest import linux_generalize

GUEST = Path(__file__).resolve().parents[4] / 'plugins' / 'module_utils' / '_guest'
SH = GUEST / 'linux_generalize.sh'
HOLDER = GUEST / 'linux_generalize.py'
BEGIN, END = "SCRIPT = r'''", "'''\n# END linux_generalize.sh\n"


def regenerate():
    """Put the .sh file's text into the .py holder, between its markers."""
    text, body = HOLDER.read_text(), SH.read_text()
    if "'''" in body or body.endswith('\\'):
        raise SystemExit("linux_generalize.sh must not contain ''' nor end with a backslash")
    head = text[:text.index(BEGIN) + len(BEGIN)]
    HOLDER.write_text(head + body + END)


# --- the script as data -------------------------------------------------------------------------------

def test_the_py_holder_is_a_byte_for_byte_copy_of_the_sh_file():
    assert linux_generalize.SCRIPT.encode('utf-8') == SH.read_bytes(), (
        'run "python %s" to regenerate plugins/module_utils/_guest/linux_generalize.py' % Path(__file__).name)
    assert HOLDER.read_text().endswith(END)


@pytest.mark.parametrize('shell', ['sh', 'bash', 'dash'])
def test_the_script_parses(shell):
    found = shutil.which(shell)
    if not found:
        pytest.skip('%s is not installed' % shell)
    proc = subprocess.run([found, '-n', str(SH)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_shellcheck_finds_nothing():
    found = shutil.which('shellcheck')
    if not found:
        pytest.skip('shellcheck is not installed (Debian package shellcheck; make deps installs it)')
    proc = subprocess.run([found, '-s', 'sh', str(SH)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_run_command_script_puts_the_settings_first():
    lines = linux_generalize.run_command_script(deprovision_user=True, delay=7)
    assert lines[:2] == ['VMIMAGE_DEPROVISION_USER=yes', 'VMIMAGE_DELAY=7']
    assert lines[2:] == SH.read_text().splitlines()
    assert linux_generalize.run_command_script()[:2] == ['VMIMAGE_DEPROVISION_USER=no', 'VMIMAGE_DELAY=30']


def test_parse_result_takes_the_last_result_line():
    out = 'noise\nVMIMAGE_GENERALIZE {"outcome": "failed"}\nVMIMAGE_GENERALIZE {"outcome": "started", "x": 1}\n'
    assert linux_generalize.parse_result(out) == {'outcome': 'started', 'x': 1}
    assert linux_generalize.parse_result('nothing here') is None
    assert linux_generalize.parse_result('VMIMAGE_GENERALIZE {broken') is None
    assert linux_generalize.parse_result(None) is None


# --- the script against stub commands -----------------------------------------------------------------

def _stub(bindir, name, body):
    path = bindir / name
    path.write_text('#!/bin/sh\n' + body + '\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def guest(tmp_path):
    """A fake guest: stub commands that log their arguments to calls.log, a work directory, a root
    prefix with histories. ``run(script_lines, **env) -> (CompletedProcess, calls)``."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    calls = tmp_path / 'calls.log'
    for name in ('waagent', 'cloud-init', 'setsid', 'systemd-run', 'shutdown', 'poweroff', 'sync'):
        _stub(bindir, name, 'echo "%s $*" >> "%s"' % (name, calls))
    _stub(bindir, 'systemctl', 'echo "systemctl $*" >> "%s"\n[ "$1" != is-active ]' % calls)
    _stub(bindir, 'id', 'echo 0')
    work = tmp_path / 'run'
    work.mkdir()
    root = tmp_path / 'root'
    for history in ('root/.bash_history', 'home/alice/.bash_history', 'home/bob/.zsh_history', 'home/bob/notes'):
        (root / history).parent.mkdir(parents=True, exist_ok=True)
        (root / history).write_text('secret commands\n')
    system = ':'.join(p for p in ('/usr/bin', '/bin') if os.path.isdir(p))

    def run(lines, **env):
        full = dict(PATH='%s:%s' % (bindir, system), VMIMAGE_WORKDIR=str(work), VMIMAGE_ROOT=str(root), **env)
        proc = subprocess.run(['/bin/sh', '-c', '\n'.join(lines)], capture_output=True, text=True, env=full,
                              timeout=60, check=False)
        return proc, calls.read_text().splitlines() if calls.exists() else []
    return dict(run=run, bindir=bindir, work=work, root=root, calls=calls)


def test_the_script_starts_the_detached_deprovision_and_reports(guest):
    proc, calls = guest['run'](linux_generalize.run_command_script(deprovision_user=True, delay=0))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = linux_generalize.parse_result(proc.stdout)
    assert result['outcome'] == 'started', result
    assert result['waagent'] == str(guest['bindir'] / 'waagent')
    assert result['deprovision'] == '-deprovision+user' and result['cloud_init'] is True
    assert result['runner'] in ('systemd-run', 'setsid')
    # The worker was started (by the stub runner, which only logs), not run inside the command.
    started = [c for c in calls if c.startswith(('setsid ', 'systemd-run '))]
    assert len(started) == 1 and str(guest['work'] / 'vmimage-generalize.sh') in started[0], calls
    assert not any(c.startswith('waagent') for c in calls), calls
    assert (guest['work'] / 'vmimage-generalize.sh').exists()


def test_without_waagent_the_script_fails_saying_what_to_do(guest):
    (guest['bindir'] / 'waagent').unlink()
    if os.path.exists('/usr/sbin/waagent') or os.path.exists('/usr/local/sbin/waagent'):
        pytest.skip('this machine has a waagent of its own')
    proc, calls = guest['run'](linux_generalize.run_command_script())
    assert proc.returncode == 1
    result = linux_generalize.parse_result(proc.stdout)
    assert result['outcome'] == 'failed' and 'waagent' in result['message'] and 'guest=none' in result['message']
    assert calls == [] or not any(c.startswith(('setsid', 'systemd-run')) for c in calls)


def test_bad_settings_are_refused(guest):
    proc = guest['run'](['VMIMAGE_DEPROVISION_USER=maybe'] + linux_generalize.SCRIPT.splitlines())[0]
    assert proc.returncode == 1 and 'VMIMAGE_DEPROVISION_USER' in linux_generalize.parse_result(proc.stdout)['message']
    proc = guest['run'](['VMIMAGE_DELAY=soon'] + linux_generalize.SCRIPT.splitlines())[0]
    assert proc.returncode == 1 and 'VMIMAGE_DELAY' in linux_generalize.parse_result(proc.stdout)['message']


def _worker(guest):
    """The unit's script, as the main script writes it."""
    guest['run'](linux_generalize.run_command_script(delay=0))
    return guest['work'] / 'vmimage-generalize.sh'


@pytest.mark.parametrize('flag', ['-deprovision', '-deprovision+user'])
def test_the_worker_deprovisions_cleans_and_powers_off(guest, flag):
    worker = _worker(guest)
    guest['calls'].unlink()
    log = guest['work'] / 'worker.log'
    env = dict(PATH='%s:/usr/bin:/bin' % guest['bindir'])
    proc = subprocess.run(['/bin/sh', str(worker), str(guest['bindir'] / 'waagent'), flag, '0', 'true', str(log),
                           str(guest['root'])], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, log.read_text()
    calls = guest['calls'].read_text().splitlines()
    assert calls[0] == 'waagent -force %s' % flag
    assert calls[1] == 'cloud-init clean --logs'
    assert calls[-1] in ('systemctl --no-block poweroff', 'shutdown -h now'), calls
    assert not (guest['root'] / 'root/.bash_history').exists()
    assert not (guest['root'] / 'home/alice/.bash_history').exists()
    assert not (guest['root'] / 'home/bob/.zsh_history').exists()
    assert (guest['root'] / 'home/bob/notes').exists()


def test_a_failed_deprovision_does_not_power_off(guest):
    worker = _worker(guest)
    _stub(guest['bindir'], 'waagent', 'echo "waagent $*" >> "%s"; exit 3' % guest['calls'])
    guest['calls'].unlink()
    log = guest['work'] / 'worker.log'
    proc = subprocess.run(['/bin/sh', str(worker), str(guest['bindir'] / 'waagent'), '-deprovision', '0', 'false',
                           str(log), str(guest['root'])], env=dict(PATH='%s:/usr/bin:/bin' % guest['bindir']),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert guest['calls'].read_text().splitlines() == ['waagent -force -deprovision']
    assert 'FAILED' in log.read_text() and 'not powered off' in log.read_text()
    assert (guest['root'] / 'root/.bash_history').exists()


# --- service helpers ----------------------------------------------------------------------------------

class _Model(object):
    def __init__(self, body):
        self.body = body

    def as_dict(self):
        return self.body


def test_run_output_splits_the_linux_message_and_reads_windows_streams():
    linux = _Model({'value': [{'code': 'ProvisioningState/succeeded',
                               'message': 'Enable succeeded: \n[stdout]\nline 1\nline 2\n[stderr]\nwarn\n'}]})
    assert generalize._run_output(linux)[:2] == ('line 1\nline 2', 'warn')
    windows = _Model({'value': [{'code': 'ComponentStatus/StdOut/succeeded', 'message': 'out'},
                                {'code': 'ComponentStatus/StdErr/succeeded', 'message': 'err'}]})
    assert generalize._run_output(windows)[:2] == ('out', 'err')


def test_statuses_reads_power_state_and_os_state():
    view = {'statuses': [{'code': 'ProvisioningState/succeeded'}, {'code': 'OSState/generalized'},
                         {'code': 'PowerState/deallocated'}]}
    assert generalize._statuses(view) == ('deallocated', True)
    assert generalize._statuses({'statuses': [{'code': 'PowerState/running'}]}) == ('running', False)
    assert generalize._statuses({}) == (None, False)


@pytest.mark.parametrize('prefix, lun, valid', [
    ('vm1-pregen-', None, True), ('vm1-pregen-', 3, True), ('-bad', None, False), ('x' * 80, None, False),
    ('a b', 0, False)])
def test_backup_names(prefix, lun, valid):
    name = generalize._backup_name(prefix, lun)
    assert name.endswith('os' if lun is None else 'lun%d' % lun)
    assert bool(generalize._SNAPSHOT_NAME.match(name)) is valid


def test_step_error_carries_the_step_and_the_partial_result():
    exc = generalize.StepError('guest', 'boom', result={'backups': [1]})
    assert exc.step == 'guest' and exc.result == {'backups': [1], 'step': 'guest'} and str(exc) == 'boom'
    assert json.dumps(exc.result)


# --- the Windows branch, with a stand-in for _guest/scripts (its own tests are its owner's) ---------------

class _Poller(object):
    def __init__(self, value=None):
        self.value = value


class _VMs(object):
    """client.virtual_machines of a running Windows VM that answers Run Command with ``stdout``."""

    def __init__(self, stdout):
        self.stdout, self.calls, self.power, self.generalized = stdout, [], 'running', False

    def instance_view(self, rg, name):
        statuses = [{'code': 'PowerState/%s' % self.power}] + ([{'code': 'OSState/generalized'}] if self.generalized else [])
        return _Model({'statuses': statuses})

    def begin_run_command(self, rg, name, body):
        self.calls.append(('run_command', body.command_id, list(body.script)))
        return _Poller(_Model({'value': [{'code': 'ComponentStatus/StdOut/succeeded', 'message': self.stdout},
                                         {'code': 'ComponentStatus/StdErr/succeeded', 'message': ''}]}))

    def begin_power_off(self, rg, name):
        self.calls.append(('power_off',))
        self.power = 'stopped'
        return _Poller()

    def begin_deallocate(self, rg, name):
        self.calls.append(('deallocate',))
        self.power = 'deallocated'
        return _Poller()

    def generalize(self, rg, name):
        self.calls.append(('generalize',))
        self.generalized = True


class _Scripts(object):
    def __init__(self):
        self.asked = []

    def windows_run_command_script(self, timeout, shutdown=False):
        self.asked.append((timeout, shutdown))
        return ['Write-Output "sysprep"']

    @staticmethod
    def parse_result(output):
        if not output:
            raise ValueError('The Sysprep script printed no VMIMAGE_RESULT line.')
        return json.loads(output)


def _windows_plan(timeout=1800):
    vm = dict(id='/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/win', name='win',
              os_type='Windows', power='running', generalized=False, disks=[], ephemeral=False)
    planned = dict(resource_group='rg', name='win', vm=vm, guest='windows', deprovision_user=False, timeout=timeout,
                   backups=[], action='generalize')
    planned['steps'] = generalize._steps(vm, planned)
    return planned


class _Client(object):
    def __init__(self, stdout):
        self.virtual_machines = _VMs(stdout)


def _apply_windows(monkeypatch, answer, timeout=1800):
    scripts = _Scripts()
    monkeypatch.setattr(generalize, '_windows_scripts', lambda: scripts)
    client = _Client(json.dumps(answer))
    try:
        return client, scripts, generalize.apply(client, _windows_plan(timeout), lambda poller, what: poller.value,
                                                 sleep=lambda s: None)
    except generalize.StepError as exc:
        return client, scripts, exc


def test_windows_success_powers_off_deallocates_and_generalizes(monkeypatch):
    answer = dict(image_state=generalize.GOOD_IMAGE_STATE, outcome='generalized', failed=False, message='ok', log_tail='')
    client, scripts, result = _apply_windows(monkeypatch, answer)
    assert [c[0] for c in client.virtual_machines.calls] == ['run_command', 'power_off', 'deallocate', 'generalize']
    assert client.virtual_machines.calls[0][1] == 'RunPowerShellScript'
    assert scripts.asked == [(1800 - generalize.WINDOWS_MARGIN, False)]
    assert result['guest_result']['image_state'] == generalize.GOOD_IMAGE_STATE
    assert [s['step'] for s in result['steps']] == ['guest', 'power_off', 'deallocate', 'generalize', 'confirm']


@pytest.mark.parametrize('answer', [
    dict(image_state='IMAGE_STATE_UNDEPLOYABLE', outcome='sysprep_failed', failed=True, message='restore the backup',
         log_tail='line a\nline b'),
    dict(image_state='IMAGE_STATE_COMPLETE', outcome='generalized', failed=False, message='claims success', log_tail=''),
    dict(image_state=generalize.GOOD_IMAGE_STATE, outcome='timeout', failed=True, message='too slow', log_tail=['x']),
])
def test_windows_bad_end_states_stop_before_power_off(monkeypatch, answer):
    client, scripts, exc = _apply_windows(monkeypatch, answer, timeout=100)
    assert isinstance(exc, generalize.StepError) and exc.step == 'guest'
    assert [c[0] for c in client.virtual_machines.calls] == ['run_command']
    assert answer['image_state'] in str(exc) and answer['message'] in str(exc)
    assert 'left running and not generalized' in str(exc)
    if answer['log_tail']:
        assert 'setupact.log' in str(exc)
    assert scripts.asked == [(50, False)]
    assert exc.result['guest_result'] == answer


def test_windows_without_a_result_line_fails_the_guest_step(monkeypatch):
    scripts = _Scripts()
    monkeypatch.setattr(generalize, '_windows_scripts', lambda: scripts)
    client = _Client('')
    with pytest.raises(generalize.StepError) as info:
        generalize.apply(client, _windows_plan(), lambda poller, what: poller.value, sleep=lambda s: None)
    assert info.value.step == 'guest' and 'printed no VMIMAGE_RESULT line' in str(info.value)
    assert [c[0] for c in client.virtual_machines.calls] == ['run_command']


if __name__ == '__main__':
    regenerate()
    sys.exit(0)
