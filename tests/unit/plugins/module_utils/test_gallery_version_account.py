# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._compute.gallery_version import blob_account


@pytest.mark.parametrize('url, account', [
    ('https://mystore.blob.core.windows.net/vhds/disk.vhd', 'mystore'),
    ('https://mystore.blob.core.usgovcloudapi.net/vhds/disk.vhd?sv=x', 'mystore'),
    ('http://127.0.0.1:10000/devstoreaccount1/images/disk.vhd', 'devstoreaccount1'),
    ('http://localhost:10000/devstoreaccount1/images/disk.vhd', 'devstoreaccount1'),
    ('http://[::1]:10000/devstoreaccount1/images/disk.vhd', 'devstoreaccount1'),
])
def test_blob_account_from_service_and_emulator_urls(url, account):
    assert blob_account(url) == account
