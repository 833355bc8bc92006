# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every benchmark does first: make the collection importable as ``ansible_collections.vmimage.azure``.

A benchmark is run as a script (``python benchmarks/bench_x.py``), so this directory is on sys.path and
``import _bootstrap`` finds this file; ``make layout`` normally creates the layout, this creates it when missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / '.build' / 'collections'


def import_collection():
    """Put the checkout's collection layout (.build/collections) first on sys.path; returns the layout's path."""
    link = LAYOUT / 'ansible_collections' / 'vmimage' / 'azure'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink('../../../..', link)
    if str(LAYOUT) not in sys.path:
        sys.path.insert(0, str(LAYOUT))
    return LAYOUT
