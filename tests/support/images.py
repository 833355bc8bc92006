# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test disk images written by hand."""

from __future__ import annotations


def write_sparse(path, size, writes=()):
    """Write a sparse file of ``size`` bytes holding ``writes`` (``(offset, bytes)`` pairs); the rest
    is a hole. Returns the path as a string."""
    with open(path, 'wb') as fh:
        fh.truncate(size)
        for offset, data in writes:
            fh.seek(offset)
            fh.write(data)
    return str(path)
