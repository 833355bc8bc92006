# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""State comparison and source ids shared by the Compute services (pure logic)."""
from __future__ import annotations

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._compute import common

SUB = '00000000-0000-0000-0000-000000000001'
DISK = '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/disks/d1' % SUB


def test_compare_checks_every_field_not_just_the_first_difference():
    wanted = dict(location='West Europe', source_id=DISK.upper(), incremental=True, sku='Premium_LRS', os_type=None)
    current = dict(location='westeurope', source_id=DISK, incremental=False, sku='Standard_LRS', os_type='Linux')
    changed, immutable = common.compare(wanted, current, ('location', 'source_id', 'incremental'))
    assert changed == ['incremental', 'sku'] and immutable == ['incremental']


def test_compare_ignores_fields_not_asked_for():
    assert common.compare(dict(sku=None, os_type='linux'), dict(sku='x', os_type='Linux'), ()) == ([], [])


def test_immutable_error_names_each_field_and_both_values():
    err = common.immutable_error('Snapshot', 's1', ['source_id', 'incremental'],
                                 dict(source_id='/a', incremental=True), dict(source_id='/b', incremental=False))
    text = str(err)
    assert err.code == 'immutable'
    assert "source_id is '/b', wanted '/a'" in text and 'incremental is False, wanted True' in text
    assert 'replace=true' in text


@pytest.mark.parametrize('value, expected', [
    ('d1', DISK),
    (DISK.lower(), DISK.lower().replace('resourcegroups', 'resourceGroups')),
    (dict(name='d1'), DISK),
    (dict(name='d1', resource_group='other'), DISK.replace('/rg/', '/other/')),
])
def test_source_id(value, expected):
    assert common.source_id(value, SUB, 'rg', 'Microsoft.Compute/disks') == expected


def test_source_id_rejects_a_malformed_id_and_a_nameless_dict():
    with pytest.raises(common.ComputeError, match='not an Azure resource id'):
        common.source_id('/subscriptions/x/disks/d', SUB, 'rg', 'Microsoft.Compute/disks')
    with pytest.raises(common.ComputeError, match='needs a name'):
        common.source_id(dict(resource_group='rg'), SUB, 'rg', 'Microsoft.Compute/disks')
