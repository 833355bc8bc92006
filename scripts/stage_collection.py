# Copyright: (c) 2026, vmimage.azure maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy the collection's files into DEST for ansible-test, which refuses symlinked trees.

Copies what git would track (tracked files plus untracked files that .gitignore does not
exclude), so the sanity run sees the working tree, not the last commit. Outside a git checkout
it walks the tree and leaves out build and cache directories. DEST is replaced on every run and
gets an empty git repository of its own (see the end of main()).

Usage: stage_collection.py SRC DEST
"""

import os
import shutil
import subprocess
import sys

SKIP_DIRS = {'.git', '.build', '.venv', 'node_modules', '__pycache__', '.pytest_cache', 'output', 'collections'}


def git_files(src):
    try:
        out = subprocess.run(
            ['git', '-C', src, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
            check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted({name for name in out.decode('utf-8', 'surrogateescape').split('\0') if name})


def walked_files(src):
    found = []
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            found.append(os.path.relpath(os.path.join(root, name), src))
    return sorted(found)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    src, dest = (os.path.abspath(p) for p in sys.argv[1:])
    files = git_files(src)
    if files is None:
        files = walked_files(src)
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    copied = 0
    for rel in files:
        path = os.path.join(src, rel)
        if not os.path.lexists(path):  # tracked but deleted in the working tree
            continue
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(path):
            os.symlink(os.readlink(path), target)  # keep it a link: the symlinks sanity test judges it
        else:
            shutil.copy2(path, target)
        copied += 1
    # ansible-test walks up to the nearest .git to list content; without one of its own the copy
    # would be judged by the checkout's repository, whose .gitignore hides .build entirely.
    if shutil.which('git'):
        subprocess.run(['git', 'init', '--quiet', dest], check=True)
    print('staged %d files in %s' % (copied, dest))


if __name__ == '__main__':
    main()
