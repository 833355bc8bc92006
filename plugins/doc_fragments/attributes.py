# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # The attributes every module of the collection has: check mode and diff in full, run on a POSIX host.
    # A module adds its own C(details) under the same keys; they merge with these.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    # An info module: reads only, so there is no diff.
    INFO_MODULE = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The module changes nothing.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    # Members of the azure action group.
    AZURE_GROUP = r"""
attributes:
  action_group:
    description: Use C(group/vmimage.azure.azure) in C(module_defaults) to set defaults for this module.
    support: full
    membership: [vmimage.azure.azure]
"""
