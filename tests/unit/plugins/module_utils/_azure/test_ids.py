# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource ids: parsing, building, case-insensitive comparison."""
from __future__ import annotations

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._azure import ids

SUB = '00000000-0000-0000-0000-000000000001'


def test_parse_a_child_resource():
    parsed = ids.parse('/subscriptions/%s/resourceGroups/RG/providers/Microsoft.Compute/galleries/g/images/i' % SUB)
    assert (parsed.subscription, parsed.resource_group, parsed.name) == (SUB, 'RG', 'i')
    assert parsed.type == 'Microsoft.Compute/galleries/images'
    assert str(parsed) == '/subscriptions/%s/resourceGroups/RG/providers/Microsoft.Compute/galleries/g/images/i' % SUB


def test_parse_accepts_any_case_and_normalises_the_fixed_segments():
    parsed = ids.parse('/SUBSCRIPTIONS/%s/resourcegroups/rg/PROVIDERS/microsoft.compute/disks/d1' % SUB)
    assert parsed is not None and parsed.type == 'microsoft.compute/disks' and parsed.name == 'd1'
    assert str(parsed).startswith('/subscriptions/%s/resourceGroups/rg/providers/' % SUB)


@pytest.mark.parametrize('value', ['', 'disk1', '/subscriptions/x', '/subscriptions/x/resourceGroups/rg',
                                   '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/disks',
                                   '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/disks//x'])
def test_not_an_id(value):
    assert ids.parse(value) is None


def test_build_and_same():
    built = ids.build(SUB, 'rg', 'Microsoft.Compute/snapshots', 's1')
    assert built == '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s1' % SUB
    assert ids.same(built, built.upper() + '/')
    assert not ids.same(built, built[:-1] + '2')
    assert ids.same(None, None) and not ids.same(built, None)
