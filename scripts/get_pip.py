# Copyright: (c) 2026, vmimage.azure maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for ansible-test's ``get-pip.py``.

``ansible-test sanity`` creates its virtual environments with ``python -m venv --without-pip`` and
then bootstraps pip by downloading ``get-pip-<version>.py`` from ci-files.testing.ansible.com,
unless a copy already sits in ``~/.ansible/test/cache/get_pip_<version>.py``. The Makefile seeds
that cache path with this file, so only the package index (PyPI or a configured mirror) is needed.

ansible-test runs it as ``GET_PIP=<this file> python quiet_pip.py <get-pip arguments>``, where the
arguments are pip install arguments plus get-pip's own ``--no-setuptools`` / ``--no-wheel``. We
get *a* pip into the interpreter first (``ensurepip``, or, failing that, the pip of
``$VMIMAGE_BOOTSTRAP_PYTHON`` via ``pip --python``), then let it install what was asked for.
"""

import os
import subprocess
import sys

GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def _run(cmd):
    """Run quietly; show the output only when the command fails."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if proc.returncode:
        sys.stderr.write(proc.stdout.decode('utf-8', 'replace'))
        raise subprocess.CalledProcessError(proc.returncode, cmd)


def _has_pip():
    return subprocess.call(
        [sys.executable, '-c', 'import pip'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) == 0


def _seed_pip():
    """Put some version of pip into this interpreter's environment."""
    if _has_pip():
        return
    try:
        _run([sys.executable, '-m', 'ensurepip', '--default-pip'])
        return
    except subprocess.CalledProcessError:
        pass
    helper = os.environ.get('VMIMAGE_BOOTSTRAP_PYTHON')
    if not helper:
        sys.exit('get_pip stand-in: ensurepip is unavailable and VMIMAGE_BOOTSTRAP_PYTHON is not set')
    _run([helper, '-m', 'pip', '--python', sys.executable, 'install', '--disable-pip-version-check', 'pip'])


def main():
    argv = sys.argv[1:]
    pip_args = [arg for arg in argv if arg not in GET_PIP_ONLY]
    _seed_pip()
    _run([sys.executable, '-m', 'pip', 'install'] + pip_args)
    # get-pip.py installs neither setuptools nor wheel when told so; ensurepip may have added them.
    unwanted = [name for flag, name in (('--no-setuptools', 'setuptools'), ('--no-wheel', 'wheel')) if flag in argv]
    if unwanted:
        subprocess.call([sys.executable, '-m', 'pip', 'uninstall', '--yes', '--quiet', '--disable-pip-version-check'] + unwanted,
                        stdout=sys.stderr, stderr=subprocess.DEVNULL)


if __name__ == '__main__':
    main()
