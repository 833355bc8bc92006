# -*- coding: utf-8 -*-
# Copyright (c) vmimage.azure contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this package may change at any time; do not import it from outside
# the collection.
"""The one exception type of the VHD core."""

from __future__ import annotations


class VhdError(Exception):
    """A problem with a disk image.

    ``code`` is a stable identifier (``truncated``, ``bad_checksum``, ``not_azure_ready``...),
    ``message`` says what is wrong and what to do. ``problems`` carries the problem list of
    ``image.inspect_image`` when the error summarises several of them.
    """

    def __init__(self, code, message, problems=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = list(problems or [])

    def __str__(self):
        return self.message
