# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
"""Run ``qemu-img`` on untrusted images: always with ``-f``, under resource limits and a timeout.

``qemu-img info`` gets what OpenStack gives it (1 GiB of address space, 30 s of CPU), through
``prlimit`` when it is installed, else through ``resource.setrlimit`` in the child; every run has a
wall-clock timeout. A crafted image that makes qemu-img allocate or compute without end is stopped
and reported as ``VhdError('qemu_img_limit')``.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import subprocess

from .errors import VhdError

GIB = 1 << 30
MIB = 1 << 20
QEMU_HINT = 'install qemu-utils (Debian/Ubuntu) or qemu-img (RHEL/Fedora)'

Limits = collections.namedtuple('Limits', 'address_space cpu_seconds timeout')
# qemu-img info, as OpenStack runs it (oslo_concurrency ProcessLimits(address_space=1 GiB, cpu_time=30)).
INFO_LIMITS = Limits(address_space=GIB, cpu_seconds=30, timeout=120)
# qemu-img convert copies the whole disk: no CPU or memory bound, but a wall-clock bound that is
# generous for the disk's size (an hour plus 16 MiB/s of virtual size).
CONVERT_BASE_TIMEOUT = 3600
CONVERT_MIN_RATE = 16 * MIB

# How a process stopped by a limit ends: the CPU limit sends SIGXCPU (SIGKILL past the hard
# limit); an address-space limit makes qemu abort or fail to map memory.
_LIMIT_SIGNALS = {signal.SIGXCPU, signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS}
_LIMIT_TEXT = re.compile(r'cannot allocate memory|failed to allocate|out of memory|resource temporarily unavailable|'
                         r'failed to map segment|qemu_thread_create', re.I)


def qemu_img():
    """Path of qemu-img or VhdError('qemu_img_missing')."""
    path = shutil.which('qemu-img')
    if not path:
        raise VhdError('qemu_img_missing', 'qemu-img is needed to convert this image but was not found on PATH; ' + QEMU_HINT)
    return path


def convert_limits(virtual_size):
    return Limits(address_space=None, cpu_seconds=None, timeout=CONVERT_BASE_TIMEOUT + virtual_size // CONVERT_MIN_RATE)


def _describe(limits):
    parts = []
    if limits.address_space:
        parts.append('%d MiB of address space' % (limits.address_space // MIB))
    if limits.cpu_seconds:
        parts.append('%d s of CPU' % limits.cpu_seconds)
    parts.append('%d s in all' % limits.timeout)
    return ', '.join(parts)


def command(args, limits):
    """``(argv, preexec_fn)`` that run ``qemu-img args`` under ``limits``.

    With ``prlimit`` on PATH the limits are on the command line (``prlimit --as=N --cpu=N --``);
    otherwise ``preexec_fn`` sets them with ``resource.setrlimit`` in the child.
    """
    argv = [qemu_img()] + [str(a) for a in args]
    rlimits = []
    if limits.address_space:
        rlimits.append(('as', 'RLIMIT_AS', int(limits.address_space)))
    if limits.cpu_seconds:
        rlimits.append(('cpu', 'RLIMIT_CPU', int(limits.cpu_seconds)))
    if not rlimits:
        return argv, None
    prlimit = shutil.which('prlimit')
    if prlimit:
        return [prlimit] + ['--%s=%d' % (opt, value) for opt, dummy, value in rlimits] + ['--'] + argv, None

    def preexec():
        import resource     # POSIX only, and only needed in the child
        for dummy, name, value in rlimits:
            resource.setrlimit(getattr(resource, name), (value, value))
    return argv, preexec


def run(args, what, limits):
    """Run ``qemu-img args``; return its stdout. Raises ``qemu_img_failed`` or ``qemu_img_limit``."""
    argv, preexec = command(args, limits)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=limits.timeout,
                              preexec_fn=preexec, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise VhdError('qemu_img_limit', 'qemu-img %s did not finish within %d s and was stopped (its limits: %s). An image that '
                       'takes that long to %s is damaged or crafted; check where it comes from, or make it again'
                       % (what, limits.timeout, _describe(limits), what)) from None
    if proc.returncode == 0:
        return proc.stdout
    detail = (proc.stderr or proc.stdout or '').strip()
    limited = limits.address_space or limits.cpu_seconds
    if limited and ((proc.returncode < 0 and -proc.returncode in _LIMIT_SIGNALS) or _LIMIT_TEXT.search(detail)):
        how = ('was stopped by signal %s' % signal.Signals(-proc.returncode).name) if proc.returncode < 0 else 'ran out of resources'
        raise VhdError('qemu_img_limit', 'qemu-img %s %s: it hit its limits (%s)%s. An image that needs more than that to %s is '
                       'damaged or crafted; check where it comes from, or make it again'
                       % (what, how, _describe(limits), ': ' + detail.splitlines()[-1] if detail else '', what))
    if proc.returncode < 0:
        detail = 'killed by signal %s. %s' % (signal.Signals(-proc.returncode).name, detail)
    raise VhdError('qemu_img_failed', 'qemu-img %s rejected the image: %s' % (what, detail))


def info(path, fmt, backing_chain=False):
    """``qemu-img info -f fmt --output=json [--backing-chain] path`` -> list of dicts (the image first).

    Without ``backing_chain`` qemu-img opens no backing file (only the image and, for qcow2, its
    data file, or for vmdk its extents: check those first with ``references``).
    """
    args = ['info', '-f', fmt, '--output=json'] + (['--backing-chain'] if backing_chain else []) + [os.path.abspath(path)]
    out = run(args, 'info', INFO_LIMITS)
    try:
        data = json.loads(out)
    except ValueError:
        raise VhdError('qemu_img_failed', 'qemu-img info printed something that is not JSON') from None
    return data if isinstance(data, list) else [data]


def convert(src, fmt, out, virtual_size):
    """``qemu-img convert -f fmt -O vpc -o subformat=fixed,force_size src out``."""
    run(['convert', '-f', fmt, '-O', 'vpc', '-o', 'subformat=fixed,force_size', os.path.abspath(src), out], 'convert',
        convert_limits(virtual_size))


__all__ = ['qemu_img', 'command', 'run', 'info', 'convert', 'Limits', 'INFO_LIMITS', 'convert_limits']
