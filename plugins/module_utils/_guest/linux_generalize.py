# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""The Linux generalization script that vm_generalize sends through Run Command (RunShellScript).

The script is data: its source is ``linux_generalize.sh`` next to this file (checked with
``sh -n``, ``bash -n`` and shellcheck by the unit tests). A module runs on the controller as an
AnsiballZ zip, which carries only the ``.py`` files of module_utils, so the script travels as the
constant ``SCRIPT`` below, a byte-for-byte copy of that file (a unit test compares them; after
editing the ``.sh``, regenerate it with ``python tests/unit/plugins/module_utils/test_generalize.py``).

    lines = run_command_script(deprovision_user=False, delay=30)   # RunCommandInput.script
    result = parse_result(stdout)                                   # the VMIMAGE_GENERALIZE line, or None
"""

from __future__ import annotations

import json

RESULT_MARKER = 'VMIMAGE_GENERALIZE '
# Seconds the detached deprovision waits for Run Command to report before it stops the agent.
DEFAULT_DELAY = 30


def run_command_script(deprovision_user=False, delay=DEFAULT_DELAY):
    """The script as Run Command takes it (a list of lines), its settings first."""
    settings = ['VMIMAGE_DEPROVISION_USER=%s' % ('yes' if deprovision_user else 'no'), 'VMIMAGE_DELAY=%d' % int(delay)]
    return settings + SCRIPT.splitlines()


def parse_result(stdout):
    """The last ``VMIMAGE_GENERALIZE {...}`` line of ``stdout`` as a dict, or None when there is none."""
    for line in reversed((stdout or '').splitlines()):
        line = line.strip()
        if line.startswith(RESULT_MARKER):
            try:
                found = json.loads(line[len(RESULT_MARKER):])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


# BEGIN linux_generalize.sh (generated: do not edit here)
SCRIPT = r'''# shellcheck shell=sh
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure. Generalizes a Linux guest for an Azure image; vm_generalize sends it
# through Azure Run Command (RunShellScript), which runs it as root. The module puts two settings
# before it (one line each):
#   VMIMAGE_DEPROVISION_USER=yes|no   "waagent -force -deprovision+user" (also removes the
#                                     provisioning user) or "waagent -force -deprovision"
#   VMIMAGE_DELAY=<seconds>           how long the deprovision waits for Run Command to report
# (VMIMAGE_WORKDIR, default /run, and VMIMAGE_ROOT, default empty, exist for the collection's tests:
# where the unit's script and log go, and the prefix of the history files removed.)
#
# Why the work is detached: Run Command is carried out by the Azure Linux agent, and
# "waagent -deprovision" stops that agent and deletes /var/lib/waagent, so a deprovision run inside
# the command kills the agent before it reports and the command never ends (WALinuxAgent issues
# 2006 and 3547). This script therefore checks everything it can, starts the deprovision as a
# transient systemd unit (outside the agent's cgroup; a detached session where systemd-run is
# missing) and prints its result line. The unit waits VMIMAGE_DELAY seconds so the command's
# output reaches Azure, runs waagent, "cloud-init clean --logs" where cloud-init exists, clears
# shell history, and powers the VM off; vm_generalize waits for that power-off. When a step fails
# the VM is not powered off, and the unit's log is in /run/vmimage-generalize.log (also
# "journalctl -u vmimage-generalize").
#
# The last line of the output is machine-readable:
#   VMIMAGE_GENERALIZE {"outcome": "started"|"failed", "message": "...", "waagent": "...",
#                       "deprovision": "-deprovision"|"-deprovision+user", "cloud_init": true|false,
#                       "runner": "systemd-run"|"setsid"}

set -u

deprovision_user=${VMIMAGE_DEPROVISION_USER:-no}
delay=${VMIMAGE_DELAY:-30}
unit=vmimage-generalize
workdir=${VMIMAGE_WORKDIR:-/run}
root=${VMIMAGE_ROOT:-}
log=$workdir/vmimage-generalize.log
worker=$workdir/vmimage-generalize.sh
waagent=
runner=
cloud_init=false
deprovision=-deprovision

json_string() {
    printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr '\n\r\t' '   ')"
}

result() {
    printf 'VMIMAGE_GENERALIZE {"outcome": %s, "message": %s, "waagent": %s, "deprovision": %s, "cloud_init": %s, "runner": %s}\n' \
        "$(json_string "$1")" "$(json_string "$2")" "$(json_string "$waagent")" "$(json_string "$deprovision")" \
        "$cloud_init" "$(json_string "$runner")"
}

fail() {
    echo "vmimage-generalize: $1" >&2
    result failed "$1"
    exit 1
}

find_waagent() {
    for candidate in "$(command -v waagent 2>/dev/null || true)" /usr/sbin/waagent /usr/local/sbin/waagent; do
        if [ -n "$candidate" ] && [ -f "$candidate" ] && [ -x "$candidate" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

case $deprovision_user in
    yes) deprovision=-deprovision+user ;;
    no) deprovision=-deprovision ;;
    *) fail "VMIMAGE_DEPROVISION_USER must be yes or no, not '$deprovision_user'" ;;
esac
case $delay in
    '' | *[!0-9]*) fail "VMIMAGE_DELAY must be a number of seconds, not '$delay'" ;;
esac

if [ "$(id -u)" != 0 ]; then
    fail 'the script must run as root (Run Command runs it as root)'
fi
if ! waagent=$(find_waagent); then
    fail 'waagent (the Azure Linux agent) was not found on PATH, in /usr/sbin or in /usr/local/sbin: install it
(Debian: waagent, other distributions: WALinuxAgent or walinuxagent), or deprovision the guest yourself and run
vm_generalize with guest=none'
fi
if command -v cloud-init >/dev/null 2>&1; then
    cloud_init=true
fi
if [ ! -d "$workdir" ] || [ ! -w "$workdir" ]; then
    fail "$workdir is not a writable directory"
fi
if command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    runner=systemd-run
elif command -v setsid >/dev/null 2>&1; then
    runner=setsid
else
    fail 'neither systemd-run nor setsid is available to run the deprovision outside the agent'
fi
if [ "$runner" = systemd-run ] && systemctl is-active --quiet "$unit.service" 2>/dev/null; then
    fail "a deprovision is already running ($unit.service): wait for the VM to power off"
fi

# The unit's own script: arguments waagent, deprovision flag, delay, cloud_init, log, root.
cat >"$worker" <<'WORKER' || fail "cannot write $worker"
set -u
waagent=$1
deprovision=$2
delay=$3
cloud_init=$4
log=$5
root=$6
exec >>"$log" 2>&1
echo "vmimage-generalize: started $(date -u +%Y-%m-%dT%H:%M:%SZ), waiting $delay s for Run Command to report"
sleep "$delay"
echo "vmimage-generalize: $waagent -force $deprovision"
if ! "$waagent" -force "$deprovision"; then
    echo "vmimage-generalize: FAILED: waagent -force $deprovision; the VM is not powered off"
    exit 1
fi
if [ "$cloud_init" = true ]; then
    echo 'vmimage-generalize: cloud-init clean --logs'
    if ! cloud-init clean --logs; then
        echo 'vmimage-generalize: FAILED: cloud-init clean --logs; the VM is not powered off'
        exit 1
    fi
fi
echo 'vmimage-generalize: clearing shell history'
for history in "$root"/root/.bash_history "$root"/root/.sh_history "$root"/root/.zsh_history \
    "$root"/home/*/.bash_history "$root"/home/*/.sh_history "$root"/home/*/.zsh_history; do
    if [ -f "$history" ] && [ ! -L "$history" ]; then
        rm -f -- "$history"
    fi
done
sync
echo 'vmimage-generalize: done, powering off'
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl --no-block poweroff
else
    shutdown -h now || poweroff
fi
WORKER

: >"$log" || fail "cannot write $log"
if [ "$runner" = systemd-run ]; then
    if ! said=$(systemd-run --unit="$unit" --description='vmimage.azure: deprovision and power off' --no-block \
        --property=Type=oneshot /bin/sh "$worker" "$waagent" "$deprovision" "$delay" "$cloud_init" "$log" "$root" 2>&1); then
        fail "systemd-run could not start $unit: $said"
    fi
else
    setsid /bin/sh "$worker" "$waagent" "$deprovision" "$delay" "$cloud_init" "$log" "$root" </dev/null >/dev/null 2>&1 &
fi
result started "waagent -force $deprovision starts in $delay seconds; the VM powers off when it is done"
'''
# END linux_generalize.sh
