# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vmimage.azure maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Boot a local disk with qemu the way the tests and the main job need it: SSH forwarded to 127.0.0.1,
the serial console in a file (what Azure's boot diagnostics shows), power-off ends qemu.

KVM is used only where it really runs a kernel: /dev/kvm can exist and still hang or crash a real
kernel (it does on the machines this project is built on), so the first use boots the disk's own kernel
under KVM with no root file system and takes KVM only if that kernel gets as far as its panic; the
answer is kept in ACCEL_CACHE for this boot of the machine. VMIMAGE_QEMU_ACCEL=kvm|tcg overrides it.

Usage (what playbooks/build_local.yml runs; every command prints JSON):
  qemu_vm.py start --disk D --dir W [--kernel K --initrd I --append A] [--memory MiB]
  qemu_vm.py wait-ssh --dir W [--timeout S]        the guest's SSH answers with its banner
  qemu_vm.py wait-serial --dir W --pattern RE [--timeout S]
  qemu_vm.py wait-exit --dir W [--timeout S]       the guest powered off (qemu has exited)
  qemu_vm.py host-keys --dir W                     the guest's SSH host keys (ssh-keyscan)
  qemu_vm.py screenshot --dir W [--png P]          the guest's screen as a PNG
  qemu_vm.py stop --dir W                          kill qemu if it still runs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import struct
import sys
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCEL_CACHE = os.path.join(ROOT, '.build', 'qemu-accel.json')
PROBE_SECONDS = 10
STATE = 'qemu.json'


class VmError(Exception):
    """The guest did not do what was waited for; the message says what and where its console log is."""


def qemu_binary():
    for name in ('qemu-system-x86_64',):
        for folder in os.environ.get('PATH', '').split(os.pathsep) + ['/usr/bin', '/usr/local/bin']:
            path = os.path.join(folder, name)
            if os.access(path, os.X_OK):
                return path
    raise VmError('qemu-system-x86_64 is not installed: run "make sysdeps" (Debian package qemu-system-x86)')


def _boot_id():
    try:
        with open('/proc/sys/kernel/random/boot_id', encoding='ascii') as handle:
            return handle.read().strip()
    except OSError:
        return ''


def detect_accel(kernel, cache=ACCEL_CACHE):
    """'kvm' when KVM really boots ``kernel`` here, else 'tcg'; (accel, how it was decided)."""
    forced = os.environ.get('VMIMAGE_QEMU_ACCEL')
    if forced in ('kvm', 'tcg'):
        return forced, 'VMIMAGE_QEMU_ACCEL'
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        return 'tcg', 'no usable /dev/kvm'
    try:
        with open(cache, encoding='utf-8') as handle:
            known = json.load(handle)
        if known.get('boot_id') == _boot_id():
            return known['accel'], 'probed earlier this boot (%s)' % cache
    except (OSError, ValueError, KeyError):
        pass
    log = cache + '.probe.log'
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    if os.path.exists(log):
        os.unlink(log)
    argv = [qemu_binary(), '-accel', 'kvm', '-m', '256', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1',
            '-no-reboot', '-serial', 'file:' + log, '-display', 'none', '-monitor', 'none', '-nodefaults']
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = _read(log)
    accel = 'kvm' if ('Kernel panic' in text or 'Unable to mount root' in text) else 'tcg'
    with open(cache, 'w', encoding='utf-8') as handle:
        json.dump({'boot_id': _boot_id(), 'accel': accel}, handle)
    how = 'KVM booted the kernel to its panic' if accel == 'kvm' else 'KVM did not run the kernel within %d s' % PROBE_SECONDS
    return accel, how


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _state(workdir):
    try:
        with open(os.path.join(workdir, STATE), encoding='utf-8') as handle:
            return json.load(handle)
    except OSError as exc:
        raise VmError('no guest was started in %s (%s): run "qemu_vm.py start" first' % (workdir, exc)) from exc


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own child not yet reaped) has exited
        with open('/proc/%d/stat' % pid, encoding='ascii') as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def start(disk, workdir, kernel=None, initrd=None, append=None, memory=1024, cpus=2, accel_kernel=None):
    """Boot ``disk`` (raw) in the background; returns the state (pid, ssh_port, serial, accel...)."""
    os.makedirs(workdir, exist_ok=True)
    accel, how = detect_accel(accel_kernel or kernel) if (accel_kernel or kernel) else ('tcg', 'no kernel to probe KVM with')
    port = free_port()
    serial = os.path.join(workdir, 'serial.log')
    pidfile = os.path.join(workdir, 'qemu.pid')
    for path in (serial, pidfile):
        if os.path.exists(path):
            os.unlink(path)
    argv = [qemu_binary(), '-machine', 'pc', '-accel', accel, '-cpu', 'max' if accel == 'tcg' else 'host',
            '-m', str(memory), '-smp', str(cpus), '-nodefaults', '-no-reboot',
            # A VGA card as every Generation 1 VM has (GRUB waits forever on a machine without one);
            # nothing displays it, but `screenshot` saves it, like boot diagnostics' screenshot.
            '-vga', 'std', '-display', 'none', '-monitor', 'unix:%s,server,nowait' % os.path.join(workdir, 'monitor.sock'),
            '-drive', 'file=%s,format=raw,if=virtio' % disk,
            '-netdev', 'user,id=net0,hostfwd=tcp:127.0.0.1:%d-:22' % port, '-device', 'virtio-net-pci,netdev=net0',
            '-serial', 'file:' + serial, '-daemonize', '-pidfile', pidfile]
    if kernel:
        argv += ['-kernel', kernel, '-append', append or '']
        if initrd:
            argv += ['-initrd', initrd]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise VmError('qemu failed to start: %s' % proc.stderr.strip()[-1000:])
    with open(pidfile, encoding='ascii') as handle:
        pid = int(handle.read().strip())
    state = {'pid': pid, 'ssh_port': port, 'serial': serial, 'accel': accel, 'accel_reason': how, 'disk': disk,
             'direct_kernel': bool(kernel), 'started': time.time()}
    with open(os.path.join(workdir, STATE), 'w', encoding='utf-8') as handle:
        json.dump(state, handle)
    return state


def _tail(state, lines=25):
    text = _read(state['serial']).replace('\r', '')
    return '\n'.join(text.rstrip('\n').split('\n')[-lines:])


def _failure(state, what, timeout):
    running = alive(state['pid'])
    return VmError('%s within %d s (qemu %s, accel %s); the last lines of the serial console (%s):\n%s'
                   % (what, timeout, 'still running' if running else 'has exited', state['accel'], state['serial'], _tail(state)))


def ssh_banner(port, wait=5.0):
    """The SSH identification line the guest sends, or None (slirp accepts a connection even when the
    guest does not listen yet, so only the banner proves sshd answers)."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=wait) as sock:
            sock.settimeout(wait)
            data = sock.recv(256)
    except OSError:
        return None
    line = data.split(b'\n', 1)[0].decode('ascii', 'replace').strip()
    return line if line.startswith('SSH-') else None


def wait_ssh(workdir, timeout=300):
    state = _state(workdir)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        banner = ssh_banner(state['ssh_port'])
        if banner:
            return {'banner': banner, 'seconds': round(time.monotonic() - started, 1), 'since_start': round(time.time() - state['started'], 1)}
        if not alive(state['pid']):
            break
        time.sleep(1)
    raise _failure(state, 'the guest\'s SSH did not answer', timeout)


def wait_serial(workdir, pattern, timeout=300):
    state = _state(workdir)
    regex = re.compile(pattern, re.M)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        match = regex.search(_read(state['serial']).replace('\r', ''))
        if match:
            return {'match': match.group(0), 'seconds': round(time.monotonic() - started, 1), 'since_start': round(time.time() - state['started'], 1)}
        if not alive(state['pid']):
            break
        time.sleep(1)
    raise _failure(state, 'the serial console did not show %r' % pattern, timeout)


def wait_exit(workdir, timeout=300):
    state = _state(workdir)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not alive(state['pid']):
            return {'exited': True, 'seconds': round(time.monotonic() - started, 1), 'since_start': round(time.time() - state['started'], 1)}
        time.sleep(0.5)
    raise _failure(state, 'the guest did not power off', timeout)


def host_keys(workdir):
    """{key type: base64 key} of the guest's sshd, read with ssh-keyscan (no login)."""
    state = _state(workdir)
    # One ssh-keyscan per key type, side by side: a key exchange costs seconds of a software-emulated
    # guest, and ssh-keyscan does the types one after the other.
    procs = [subprocess.Popen(['ssh-keyscan', '-T', '20', '-t', key_type, '-p', str(state['ssh_port']), '127.0.0.1'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for key_type in ('rsa', 'ecdsa', 'ed25519')]
    keys = {}
    errors = []
    for proc in procs:
        out, err = proc.communicate()
        errors.append(err.strip())
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 3 and not line.startswith('#'):
                keys[fields[1]] = fields[2]
    if not keys:
        raise VmError('ssh-keyscan got no host key from the guest: %s' % ' '.join(errors)[-500:])
    return keys


def screenshot(workdir, png):
    """The guest's screen as a PNG file (qemu's monitor writes a PPM; turned into PNG here)."""
    state = _state(workdir)
    if not alive(state['pid']):
        raise VmError('the guest is not running: no screen to save')
    ppm = png + '.ppm'
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(os.path.join(workdir, 'monitor.sock'))
        sock.recv(4096)
        sock.sendall(('screendump %s\n' % ppm).encode())
        for _attempt in range(50):
            time.sleep(0.1)
            if os.path.exists(ppm) and os.path.getsize(ppm) > 15:
                break
    time.sleep(0.3)
    with open(ppm, 'rb') as handle:
        magic, size, depth, pixels = handle.read().split(b'\n', 3)
    width, height = (int(n) for n in size.split())
    if magic != b'P6' or depth != b'255':
        raise VmError('qemu wrote an unexpected screen dump (%r)' % magic)
    rows = b''.join(b'\x00' + pixels[y * width * 3:(y + 1) * width * 3] for y in range(height))

    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff)
    with open(png, 'wb') as handle:
        handle.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
                     + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
    os.unlink(ppm)
    return {'png': png, 'width': width, 'height': height}


def stop(workdir):
    state = _state(workdir)
    if alive(state['pid']):
        os.kill(state['pid'], signal.SIGKILL)
        for _attempt in range(50):
            if not alive(state['pid']):
                break
            time.sleep(0.1)
        return {'killed': True}
    return {'killed': False}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('command', choices=('start', 'wait-ssh', 'wait-serial', 'wait-exit', 'host-keys', 'screenshot', 'stop'))
    parser.add_argument('--dir', required=True, help='the guest\'s working directory (state, serial log)')
    parser.add_argument('--disk')
    parser.add_argument('--kernel')
    parser.add_argument('--initrd')
    parser.add_argument('--append')
    parser.add_argument('--accel-kernel', help='a kernel to probe KVM with when --kernel is not given')
    parser.add_argument('--memory', type=int, default=1024)
    parser.add_argument('--pattern')
    parser.add_argument('--png', help='screenshot: the PNG file (default DIR/screen.png)')
    parser.add_argument('--timeout', type=int, default=300)
    args = parser.parse_args(argv)
    try:
        if args.command == 'start':
            if not args.disk:
                parser.error('start needs --disk')
            out = start(args.disk, args.dir, args.kernel, args.initrd, args.append, args.memory, accel_kernel=args.accel_kernel)
        elif args.command == 'wait-ssh':
            out = wait_ssh(args.dir, args.timeout)
        elif args.command == 'wait-serial':
            if not args.pattern:
                parser.error('wait-serial needs --pattern')
            out = wait_serial(args.dir, args.pattern, args.timeout)
        elif args.command == 'wait-exit':
            out = wait_exit(args.dir, args.timeout)
        elif args.command == 'screenshot':
            out = screenshot(args.dir, args.png or os.path.join(args.dir, 'screen.png'))
        elif args.command == 'host-keys':
            out = host_keys(args.dir)
        else:
            out = stop(args.dir)
    except VmError as exc:
        print('qemu_vm.py %s: %s' % (args.command, exc), file=sys.stderr)
        return 1
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
