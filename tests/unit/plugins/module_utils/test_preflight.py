# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared preflight (pure logic): generation, security type and size checks."""
from __future__ import annotations

import pytest

from ansible_collections.vmimage.azure.plugins.module_utils._compute import preflight
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import ComputeError

GIB = 1024 ** 3
TIB = 1024 ** 4
MIB = 1024 ** 2


def _raises(code, call, *args, **kwargs):
    with pytest.raises(ComputeError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, str(info.value)
    return str(info.value)


# --- generation -------------------------------------------------------------------------------------

def test_agree_generation_returns_the_shared_value_ignoring_none_and_case():
    facts = [('v2', "source disk 'os1'"), (None, 'hyper_v_generation'), ('V2', 'VHD partition table (EFI system partition)')]
    assert preflight.agree_generation(facts) == 'V2'
    assert preflight.agree_generation(iter([('V1', 'a')])) == 'V1'


def test_agree_generation_none_when_nothing_says():
    assert preflight.agree_generation([]) is None
    assert preflight.agree_generation([(None, 'a'), ('', 'b')]) is None


def test_generation_mismatch_names_both_values_and_every_source():
    text = _raises('generation_mismatch', preflight.agree_generation,
                   [('V2', "source disk 'os1'"), ('V1', "gallery image definition 'gal/def'"),
                    ('v2', 'VHD partition table (EFI system partition)')])
    assert "V2 from source disk 'os1' and VHD partition table (EFI system partition)" in text
    assert "V1 from gallery image definition 'gal/def'" in text
    assert 'hyper_v_generation' in text


def test_unknown_generation_names_the_value_and_where():
    text = _raises('invalid_generation', preflight.agree_generation, [('V3', 'hyper_v_generation')])
    assert "'V3'" in text and 'hyper_v_generation' in text


# --- security ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('value', [None, '', 'Standard', 'standard'])
@pytest.mark.parametrize('target', ['managed_image', 'gallery', 'disk'])
def test_standard_security_passes_everywhere_and_any_generation(value, target):
    assert preflight.check_security(value, None, target, 'x') is None
    assert preflight.check_security(value, 'V1', target, 'x') is None


@pytest.mark.parametrize('value', ['TrustedLaunch', 'ConfidentialVM', 'TrustedLaunchSupported', 'ConfidentialVmSupported',
                                   'TrustedLaunchAndConfidentialVmSupported', 'trustedlaunch',
                                   'ConfidentialVM_DiskEncryptedWithPlatformKey'])
@pytest.mark.parametrize('generation', ['V1', None])
def test_non_standard_security_needs_gen2(value, generation):
    text = _raises('security_needs_gen2', preflight.check_security, value, generation, 'gallery', "source VM 'vm1'")
    assert value in text and "source VM 'vm1'" in text and 'V2' in text
    assert (generation or 'not set') in text
    assert preflight.check_security(value, 'v2', 'gallery', 'x') is None
    assert preflight.check_security(value, 'V2', 'disk', 'x') is None


@pytest.mark.parametrize('value', ['TrustedLaunch', 'ConfidentialVM', 'ConfidentialVM_NonPersistedTPM'])
def test_managed_image_cannot_carry_trusted_launch_or_confidential(value):
    text = _raises('managed_image_security', preflight.check_security, value, 'V2', 'managed_image', "source VM 'vm1'")
    assert value in text and "source VM 'vm1'" in text
    assert 'gallery_image_version' in text and 'Compute Gallery' in text


def test_managed_image_error_wins_over_generation():
    _raises('managed_image_security', preflight.check_security, 'TrustedLaunch', 'V1', 'managed_image', 'x')


def test_unknown_security_type_and_target():
    text = _raises('invalid_security_type', preflight.check_security, 'Secure', 'V2', 'gallery', 'security_type')
    assert "'Secure'" in text and 'TrustedLaunch' in text
    with pytest.raises(ValueError):
        preflight.check_security(None, 'V2', 'vm', 'x')


@pytest.mark.parametrize('definition', ['TrustedLaunch', 'TrustedLaunchSupported', 'TrustedLaunchAndConfidentialVmSupported',
                                        'trustedlaunchsupported'])
def test_trusted_launch_source_fits_these_definitions(definition):
    assert preflight.check_definition_security(definition, 'TrustedLaunch', 'x') is None


@pytest.mark.parametrize('definition', ['ConfidentialVM', 'ConfidentialVmSupported', 'TrustedLaunchAndConfidentialVmSupported'])
@pytest.mark.parametrize('source', ['ConfidentialVM', 'ConfidentialVM_DiskEncryptedWithCustomerKey'])
def test_confidential_source_fits_these_definitions(definition, source):
    assert preflight.check_definition_security(definition, source, 'x') is None


@pytest.mark.parametrize('definition', [None, 'Standard', 'TrustedLaunch', 'ConfidentialVM', 'TrustedLaunchSupported'])
@pytest.mark.parametrize('source', [None, 'Standard'])
def test_standard_source_fits_every_definition(definition, source):
    assert preflight.check_definition_security(definition, source, 'x') is None


@pytest.mark.parametrize('definition, source', [
    (None, 'TrustedLaunch'), ('Standard', 'TrustedLaunch'), ('ConfidentialVM', 'TrustedLaunch'),
    ('ConfidentialVmSupported', 'TrustedLaunch'), (None, 'ConfidentialVM'), ('TrustedLaunch', 'ConfidentialVM'),
    ('TrustedLaunchSupported', 'ConfidentialVM_DiskEncryptedWithPlatformKey'),
])
def test_security_mismatch_names_both_values_and_where(definition, source):
    where = "source VM 'vm1' for gallery image definition 'gal/def'"
    text = _raises('security_mismatch', preflight.check_definition_security, definition, source, where)
    assert where in text and source in text
    assert (definition or 'Standard (not set)') in text


def test_definition_security_type_from_features():
    features = [dict(name='IsAcceleratedNetworkSupported', value='True'), dict(name='securitytype', value='TrustedLaunch')]
    assert preflight.definition_security_type(features) == 'TrustedLaunch'
    assert preflight.definition_security_type([dict(name='DiskControllerTypes', value='SCSI')]) is None
    assert preflight.definition_security_type(None) is None
    assert preflight.definition_security_type([]) is None


def test_definition_security_type_from_sdk_models():
    from azure.mgmt.compute import models
    features = [models.GalleryImageFeature(name='SecurityType', value='ConfidentialVmSupported')]
    assert preflight.definition_security_type(features) == 'ConfidentialVmSupported'


# --- sizes ------------------------------------------------------------------------------------------

def test_limits_are_the_documented_values():
    limits = preflight.LIMITS
    assert limits['os_disk'] == 4095 * GIB
    assert limits['data_disk'] == 32767 * GIB
    assert limits['upload_min'] == 20972032 and limits['upload_max'] == 35183298347520
    assert limits['gallery_os_disk_full'] == limits['gallery_data_disk_full'] == 2 * TIB
    assert limits['gallery_data_disk_shallow'] == 32 * TIB


@pytest.mark.parametrize('kind, ok, over', [
    ('os_disk', 4095 * GIB, 4096 * GIB),
    ('data_disk', 32767 * GIB, 32768 * GIB),
    ('gallery_os_disk', 2 * TIB, 2 * TIB + GIB),
    ('gallery_data_disk', 2 * TIB, 2 * TIB + GIB),
])
def test_size_limit_names_size_limit_and_where(kind, ok, over):
    assert preflight.check_size(kind, ok, 'x') is None
    text = _raises('size_limit', preflight.check_size, kind, over, "source disk 'big'")
    assert "source disk 'big'" in text and str(over) in text
    limit = preflight.LIMITS[{'gallery_os_disk': 'gallery_os_disk_full',
                              'gallery_data_disk': 'gallery_data_disk_full'}.get(kind, kind)]
    assert str(limit) in text


def test_none_size_passes():
    for kind in preflight.SIZE_KINDS:
        assert preflight.check_size(kind, None, 'x') is None


def test_gallery_full_over_limit_suggests_shallow_replication():
    text = _raises('size_limit', preflight.check_size, 'gallery_data_disk', 4 * TIB, "data disk lun 0 'd0'")
    assert 'Full replication' in text and 'replication_mode' in text and 'Shallow' in text
    assert "data disk lun 0 'd0'" in text


def test_gallery_shallow_takes_larger_disks():
    assert preflight.check_size('gallery_data_disk', 4 * TIB, 'x', replication_mode='Shallow') is None
    assert preflight.check_size('gallery_data_disk', 32 * TIB, 'x', replication_mode='shallow') is None
    assert preflight.check_size('gallery_os_disk', 4095 * GIB, 'x', replication_mode='Shallow') is None
    text = _raises('size_limit', preflight.check_size, 'gallery_data_disk', 33 * TIB, 'x', replication_mode='Shallow')
    assert 'Shallow replication' in text and 'Set publishing_profile' not in text
    _raises('size_limit', preflight.check_size, 'gallery_os_disk', 4096 * GIB, 'x', replication_mode='Shallow')


def test_gallery_full_is_the_default_and_unknown_mode_fails():
    _raises('size_limit', preflight.check_size, 'gallery_os_disk', 3 * TIB, 'x', replication_mode=None)
    text = _raises('invalid', preflight.check_size, 'gallery_os_disk', GIB, 'x', replication_mode='Deep')
    assert "'Deep'" in text


def test_data_disk_larger_skus():
    assert preflight.check_size('data_disk', 65536 * GIB, 'x', sku='PremiumV2_LRS') is None
    text = _raises('size_limit', preflight.check_size, 'data_disk', 40000 * GIB, 'x', sku='Premium_LRS')
    assert 'Premium SSD v2' in text
    _raises('size_limit', preflight.check_size, 'data_disk', 65537 * GIB, 'x', sku='UltraSSD_LRS')


def test_upload_range_and_alignment():
    where = "VHD 'disk.vhd'"
    assert preflight.check_size('upload', 20 * MIB + 512, where) is None
    # The spec's number (35183298347520) is 32,767 GiB + 512, though its words say 32 TiB + 512.
    assert preflight.check_size('upload', 32767 * GIB + 512, where) is None
    text = _raises('size_limit', preflight.check_size, 'upload', 32767 * GIB + MIB + 512, where)
    assert where in text and '35183298347520' in text and 'maximum' in text and '32767 GiB + 512 bytes' in text
    _raises('size_limit', preflight.check_size, 'upload', 32 * TIB + 512, where)
    text = _raises('size_limit', preflight.check_size, 'upload', 10 * MIB + 512, where)
    assert where in text and '20972032' in text and 'minimum' in text and '20 MiB + 512 bytes' in text
    text = _raises('size_alignment', preflight.check_size, 'upload', 30 * MIB + 1024, where)
    assert where in text and str(30 * MIB + 512) in text and 'MiB' in text


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        preflight.check_size('vm', 1, 'x')


def test_sdk_enums_are_read_as_their_values():
    from azure.mgmt.compute import models
    text = _raises('managed_image_security', preflight.check_security, models.DiskSecurityTypes.TRUSTED_LAUNCH, 'V2',
                   'managed_image', "source disk 'os'")
    assert 'security type TrustedLaunch' in text and 'DiskSecurityTypes' not in text
    assert preflight.agree_generation([(models.HyperVGeneration.V2, 'a'), ('V2', 'b')]) == 'V2'
    assert preflight.check_definition_security('TrustedLaunchSupported', models.SecurityTypes.TRUSTED_LAUNCH, 'x') is None


def test_normalize_security_type_keeps_disk_spellings_and_fixes_case():
    assert preflight.normalize_security_type('confidentialvm_diskencryptedwithcustomerkey') == \
        'ConfidentialVM_DiskEncryptedWithCustomerKey'
    assert preflight.normalize_security_type('trustedlaunchsupported') == 'TrustedLaunchSupported'
    assert preflight.normalize_security_type('Standard') is None
    assert preflight.security_family('ConfidentialVM_NonPersistedTPM') == 'ConfidentialVM'
    assert preflight.security_family('TrustedLaunchSupported') is None
    text = _raises('managed_image_security', preflight.check_security, 'ConfidentialVM_DiskEncryptedWithPlatformKey', 'V2',
                   'managed_image', "source disk 'c'")
    assert 'SecurityType=ConfidentialVM,' in text
