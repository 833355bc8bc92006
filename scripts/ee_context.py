# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vmimage.azure maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the execution environment's build context with ansible-builder (`make ee`): no image is built
and nothing is downloaded; `podman build` (or `ansible-builder build`) on the context does that.

meta/execution-environment.yml's paths are relative to the collection's root (that is how
ansible-builder's introspection reads them in any execution environment that installs vmimage.azure),
while ansible-builder reads a definition's paths relative to the definition's folder. So it runs on the
definition as seen from the root: a staging folder with copies of the definition, requirements.txt and
bindep.txt (ansible-builder would copy a linked requirements file as a dangling link) and the
collection's tarball, built with ansible-galaxy and named as the definition's additional_build_files
expects.

Usage: ee_context.py OUT [--tarball T]     prints the context's folder
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARBALL = os.path.join('.build', 'ee', 'vmimage-azure.tar.gz')


class ContextError(Exception):
    pass


def _run(argv, cwd=None):
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise ContextError('%s failed (%d): %s' % (os.path.basename(argv[0]), proc.returncode, (proc.stdout + proc.stderr).strip()[-3000:]))
    return proc.stdout + proc.stderr


def build_tarball(out_dir, bindir):
    """ansible-galaxy collection build of the checkout into out_dir; returns the tarball's path."""
    _run([os.path.join(bindir, 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path', out_dir, ROOT])
    found = glob.glob(os.path.join(out_dir, 'vmimage-azure-*.tar.gz'))
    if len(found) != 1:
        raise ContextError('ansible-galaxy built %d tarballs in %s, expected one' % (len(found), out_dir))
    return found[0]


def create(out, tarball=None, bindir=None):
    """The build context in ``out`` (replaced); returns (out, ansible-builder's output)."""
    bindir = bindir or os.path.dirname(sys.executable)
    builder = os.path.join(bindir, 'ansible-builder')
    if not os.path.exists(builder):
        raise ContextError('ansible-builder is not installed next to %s (tests/requirements.txt: ansible-builder>=3.1,<4)' % sys.executable)
    with tempfile.TemporaryDirectory(prefix='vmimage-ee-') as stage:
        if tarball is None:
            tarball = build_tarball(stage, bindir)
        shutil.copy(os.path.join(ROOT, 'meta', 'execution-environment.yml'), os.path.join(stage, 'execution-environment.yml'))
        for name in ('requirements.txt', 'bindep.txt'):
            shutil.copy(os.path.join(ROOT, name), os.path.join(stage, name))
        os.makedirs(os.path.dirname(os.path.join(stage, TARBALL)))
        shutil.copy(tarball, os.path.join(stage, TARBALL))
        if os.path.lexists(out):
            shutil.rmtree(out)
        output = _run([builder, 'create', '-f', os.path.join(stage, 'execution-environment.yml'), '-c', out,
                       '--output-filename', 'Containerfile'], cwd=stage)
    if 'No matches' in output:
        raise ContextError('ansible-builder found no file for a path of the definition: %s' % output.strip()[-2000:])
    return out, output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('out', help='the build context folder (replaced)')
    parser.add_argument('--tarball', help='the collection tarball to put in it (default: built now with ansible-galaxy)')
    args = parser.parse_args(argv)
    try:
        out, _output = create(os.path.abspath(args.out), args.tarball)
    except ContextError as exc:
        print('ee_context.py: %s' % exc, file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
