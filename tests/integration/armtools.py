# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the tests of the Resource Manager modules (the fixtures are in conftest.py)."""
from __future__ import annotations


def arm_requests(fake):
    """The Resource Manager requests the fake recorded (not the token or metadata ones)."""
    return [r for r in fake.requests if '/subscriptions/' in r.path.lower()]


def methods(fake):
    """The set of HTTP methods of those requests, sorted."""
    return sorted({r.method for r in arm_requests(fake)})


def check(task):
    """The task in check mode, with diff."""
    return dict(task, check_mode=True, diff=True)
