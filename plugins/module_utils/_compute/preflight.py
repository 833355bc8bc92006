# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""The shared preflight: checks every module that writes runs before its first write.

Pure functions on plain data (strings, numbers, lists of dicts); each raises ComputeError with a
``code`` and a message that names the values, where each came from, and what to do:

* ``agree_generation``: the Hyper-V generation agrees across the source (VM, disk, image, VHD hint),
  the managed image and the gallery image definition (``generation_mismatch``);
* ``check_security``: Trusted Launch / confidential VM need Gen2 (``security_needs_gen2``) and cannot
  be carried by a managed image (``managed_image_security``);
* ``check_definition_security``: a Trusted Launch / confidential source needs a gallery image
  definition with a matching SecurityType (``security_mismatch``);
* ``check_size``: Azure's size limits for disks, direct uploads and gallery image versions
  (``size_limit``, ``size_alignment``).
"""

from __future__ import annotations

from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import ComputeError

MIB = 1024 ** 2
GIB = 1024 ** 3
TIB = 1024 ** 4
VHD_FOOTER = 512

# The limits used, in bytes, with where Microsoft documents each (Microsoft Learn articles are in
# the MicrosoftDocs/azure-compute-docs repository under articles/virtual-machines/).
LIMITS = {
    # managed-disks-overview.md, "OS disk": "The OS disk has a maximum capacity of 4,095 gibibytes
    # (GiB)" (an MBR partition table can use only 2 TiB of it).
    'os_disk': 4095 * GIB,
    # disks-types.md, "Compare Azure managed disk types", Max disk size: 32,767 GiB for Premium SSD,
    # Standard SSD and Standard HDD; 65,536 GiB for Ultra Disk and Premium SSD v2 (neither usable as
    # an OS disk; "Ultra Disks ... can only be created as empty disks").
    'data_disk': 32767 * GIB,
    'data_disk_v2_ultra': 65536 * GIB,
    # The REST specification (DiskRP disk.json, CreationData.uploadSizeBytes; the same text in
    # azure-mgmt-compute's CreationData docstring): "This value should be between 20972032 (20 MiB +
    # 512 bytes for the VHD footer) and 35183298347520 bytes (32 TiB + 512 bytes for the VHD footer)".
    # The number given, 35183298347520, is 32,767 GiB + 512 bytes (the largest managed disk), not
    # 32 TiB + 512 as the words say: we use the number.
    # That the size less the footer must be a whole number of MiB is Azure's answer to other sizes
    # ("The upload size in bytes N - 512 bytes for the VHD footer (M in this case) must be a multiple
    # of MiB."), quoted in MicrosoftDocs/azure-docs#58853; not stated in the reference docs.
    'upload_min': 20972032,
    'upload_max': 35183298347520,
    # azure-compute-gallery.md, "Limits": "The image size should be less than 2 TB, but you can use
    # shallow replication to support larger image sizes (up to 32 TB)"; shared-image-galleries.md,
    # "Shallow replication": "large images (up to 32 TB) ... Because the source image isn't copied,
    # larger disks can be used". The docs do not say whether the limit is per disk or for the whole
    # image, nor whether TB means 10^12 or 2^40 bytes: we apply it per disk and read TB as TiB (the
    # lenient reading, so that we never refuse what Azure takes). An OS disk stays within 'os_disk'.
    'gallery_os_disk_full': 2 * TIB,
    'gallery_data_disk_full': 2 * TIB,
    'gallery_os_disk_shallow': 4095 * GIB,
    'gallery_data_disk_shallow': 32 * TIB,
}
# Disk SKUs whose disks may be larger than LIMITS['data_disk'].
LARGE_DISK_SKUS = ('premiumv2_lrs', 'ultrassd_lrs')

GEN_V1, GEN_V2 = 'V1', 'V2'
_GENERATIONS = {'v1': GEN_V1, 'v2': GEN_V2, 'gen1': GEN_V1, 'gen2': GEN_V2, '1': GEN_V1, '2': GEN_V2}

STANDARD = 'Standard'
TRUSTED_LAUNCH = 'TrustedLaunch'
CONFIDENTIAL_VM = 'ConfidentialVM'
TRUSTED_LAUNCH_SUPPORTED = 'TrustedLaunchSupported'
CONFIDENTIAL_VM_SUPPORTED = 'ConfidentialVmSupported'
BOTH_SUPPORTED = 'TrustedLaunchAndConfidentialVmSupported'
# Gallery image definition SecurityType values and VM securityProfile.securityType values.
SECURITY_TYPES = (STANDARD, TRUSTED_LAUNCH, CONFIDENTIAL_VM, TRUSTED_LAUNCH_SUPPORTED, CONFIDENTIAL_VM_SUPPORTED,
                  BOTH_SUPPORTED)
# Disk securityProfile.securityType values besides TrustedLaunch: the disk spellings of a confidential
# VM (azure-mgmt-compute's DiskSecurityTypes).
DISK_SECURITY_TYPES = ('ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey', 'ConfidentialVM_DiskEncryptedWithPlatformKey',
                       'ConfidentialVM_DiskEncryptedWithCustomerKey', 'ConfidentialVM_NonPersistedTPM')
# Which definition SecurityType values take a source of each kind.
DEFINITION_TAKES = {
    TRUSTED_LAUNCH: (TRUSTED_LAUNCH, TRUSTED_LAUNCH_SUPPORTED, BOTH_SUPPORTED),
    CONFIDENTIAL_VM: (CONFIDENTIAL_VM, CONFIDENTIAL_VM_SUPPORTED, BOTH_SUPPORTED),
}
TARGETS = ('managed_image', 'gallery', 'disk')
SIZE_KINDS = ('os_disk', 'data_disk', 'upload', 'gallery_os_disk', 'gallery_data_disk')


def _text(value):
    """A plain string for a value that may be an SDK enum (whose str() is 'SecurityTypes.TRUSTED_LAUNCH')."""
    if value is None:
        return None
    return str(getattr(value, 'value', value)).strip()


# --- Hyper-V generation -----------------------------------------------------------------------------

def normalize_generation(value, where=None):
    """'V1' / 'V2' for any spelling (v1, Gen2, 2); None for None or ''."""
    value = _text(value)
    if not value:
        return None
    found = _GENERATIONS.get(value.lower())
    if found is None:
        raise ComputeError("Unknown Hyper-V generation %r%s: use V1 or V2."
                           % (value, ' (from %s)' % where if where else ''), code='invalid_generation')
    return found


def agree_generation(facts):
    """The one Hyper-V generation that ``facts`` agree on ('V1', 'V2'), or None when none says.

    ``facts``: (value, where) pairs, e.g. ``('V2', "source disk 'os1'")``; None values are ignored and
    values compare without case. A disagreement raises ``generation_mismatch`` naming each value and
    every place it came from."""
    seen = {}
    order = []
    for value, where in facts:
        gen = normalize_generation(value, where)
        if gen is None:
            continue
        if gen not in seen:
            seen[gen] = []
            order.append(gen)
        seen[gen].append(where)
    if not order:
        return None
    if len(order) == 1:
        return order[0]
    said = ', but '.join('%s from %s' % (gen, ' and '.join(seen[gen])) for gen in order)
    raise ComputeError(
        'Hyper-V generation mismatch: %s. A generation 1 (BIOS/MBR) disk does not boot as generation 2 (UEFI) '
        'or the other way round, and the generation cannot be changed once a disk, image or gallery image '
        'definition exists. Make them agree: set hyper_v_generation to the generation the source was built '
        'for, or use a source, image or gallery image definition of that generation.' % said,
        code='generation_mismatch')


# --- security type ----------------------------------------------------------------------------------

def normalize_security_type(value, where=None):
    """The canonical spelling of a security type; None for None, '' and Standard.

    The disk spellings of a confidential VM (ConfidentialVM_DiskEncryptedWithPlatformKey, ...) are kept
    (a disk is created with them); ``security_family`` says they are ConfidentialVM."""
    value = _text(value)
    if not value:
        return None
    low = value.lower()
    if low == 'standard':
        return None
    for known in SECURITY_TYPES + DISK_SECURITY_TYPES:
        if low == known.lower():
            return known
    if low.startswith('confidentialvm_'):
        return value  # a disk spelling this module does not know yet
    raise ComputeError('Unknown security type %r%s: use one of %s.'
                       % (value, ' (from %s)' % where if where else '', ', '.join(SECURITY_TYPES + DISK_SECURITY_TYPES)),
                       code='invalid_security_type')


def security_family(value, where=None):
    """TrustedLaunch, ConfidentialVM (any confidential disk spelling too) or None (Standard, and the
    gallery's *Supported values, which are not what a source is)."""
    canonical = normalize_security_type(value, where)
    if canonical is None:
        return None
    if canonical.lower().startswith('confidentialvm_'):
        return CONFIDENTIAL_VM
    return canonical if canonical in (TRUSTED_LAUNCH, CONFIDENTIAL_VM) else None


def check_security(security_type, generation, target, where):
    """Refuse a security type that ``target`` ('managed_image', 'gallery' or 'disk') cannot carry.

    Anything but Standard (None) needs Hyper-V generation V2; a managed image carries none of them."""
    if target not in TARGETS:
        raise ValueError('target must be one of %s, not %r' % (', '.join(TARGETS), target))
    security_type = _text(security_type)
    wanted = normalize_security_type(security_type, where)
    if wanted is None:
        return
    family = security_family(wanted) or wanted
    if target == 'managed_image':
        raise ComputeError(
            "%s has security type %s, which a managed image cannot carry: Azure does not support managed "
            "images for Trusted Launch or confidential VMs (a managed image has no security profile). Publish it to "
            "an Azure Compute Gallery instead (vmimage.azure.gallery_image with features SecurityType=%s, then vmimage.azure.gallery_image_version)."
            % (where, security_type, family), code='managed_image_security')
    gen = normalize_generation(generation, where)
    if gen != GEN_V2:
        raise ComputeError(
            "%s has security type %s, which needs Hyper-V generation V2, but the generation is %s. Trusted Launch and "
            "confidential VMs boot only with UEFI (generation 2): set hyper_v_generation to V2 (with a source built "
            "for generation 2), or use security type Standard." % (where, security_type, gen or 'not set (V1 by default)'),
            code='security_needs_gen2')


def check_definition_security(definition_security_type, source_security_type, where):
    """Refuse a Trusted Launch or confidential source for a gallery image definition whose SecurityType
    cannot take it (None is Standard); a Standard source fits every definition."""
    source_security_type, definition_security_type = _text(source_security_type), _text(definition_security_type)
    family = security_family(source_security_type, where)
    definition = normalize_security_type(definition_security_type, where)
    if family is None:
        return
    takes = DEFINITION_TAKES[family]
    if definition in takes:
        return
    raise ComputeError(
        "Security type mismatch for %s: the source's security type is %s, but the gallery image definition's "
        "SecurityType is %s. A %s source needs a definition whose SecurityType is %s. The SecurityType of a "
        "definition cannot be changed: publish to another gallery image definition that has one of these "
        "(vmimage.azure.gallery_image with features SecurityType=...), or use a Standard source."
        % (where, source_security_type, definition_security_type or 'Standard (not set)', family, ' or '.join(takes)),
        code='security_mismatch')


def definition_security_type(features):
    """The SecurityType feature of a gallery image definition (a list of {name, value} dicts, or SDK
    GalleryImageFeature models), or None when it has none."""
    for feature in features or []:
        if isinstance(feature, dict):
            name, value = feature.get('name'), feature.get('value')
        else:
            name, value = getattr(feature, 'name', None), getattr(feature, 'value', None)
        if (_text(name) or '').lower() == 'securitytype':
            return _text(value)
    return None


# --- sizes ------------------------------------------------------------------------------------------

def _human(size):
    """A size for people: '4095 GiB', '20 MiB + 512 bytes', '2.50 TiB'."""
    for rest in (0, VHD_FOOTER):
        for unit, scale in (('TiB', TIB), ('GiB', GIB), ('MiB', MIB)):
            if size - rest >= scale and (size - rest) % scale == 0:
                return '%d %s%s' % ((size - rest) // scale, unit, ' + %d bytes' % rest if rest else '')
    for unit, scale in (('TiB', TIB), ('GiB', GIB), ('MiB', MIB)):
        if size >= scale:
            return '%.2f %s' % (size / float(scale), unit)
    return '%d bytes' % size


def _size_error(what, size, limit, where, advice, above=True):
    return ComputeError(
        '%s is %s (%d bytes), %s the %s limit of %s (%d bytes) for %s. %s'
        % (where, _human(size), size, 'over' if above else 'under', 'maximum' if above else 'minimum',
           _human(limit), limit, what, advice), code='size_limit')


def check_size(kind, size_bytes, where, replication_mode=None, sku=None):
    """Refuse a size outside Azure's limits for ``kind``; None sizes pass.

    ``kind``: 'os_disk', 'data_disk' (a managed disk's size; ``sku`` PremiumV2_LRS / UltraSSD_LRS
    allows larger data disks), 'upload' (uploadSizeBytes of a direct upload to a managed disk: the VHD
    file's size, footer included; also checked for Azure's minimum and MiB alignment),
    'gallery_os_disk', 'gallery_data_disk' (a disk of a gallery image version; the limit depends on
    ``replication_mode``, Full when None)."""
    if kind not in SIZE_KINDS:
        raise ValueError('kind must be one of %s, not %r' % (', '.join(SIZE_KINDS), kind))
    if size_bytes is None:
        return
    size = int(size_bytes)
    if kind == 'os_disk':
        if size > LIMITS['os_disk']:
            raise _size_error('a managed OS disk', size, LIMITS['os_disk'], where,
                              'Make the OS disk smaller and keep the rest on data disks.')
    elif kind == 'data_disk':
        large = str(sku or '').lower() in LARGE_DISK_SKUS
        limit = LIMITS['data_disk_v2_ultra' if large else 'data_disk']
        if size > limit:
            what = 'a managed data disk' + ('' if large else ' (Standard HDD/SSD, Premium SSD)')
            advice = 'Split the data across several data disks%s.' % (
                '' if large else ', or use a Premium SSD v2 or Ultra disk (up to %s)' % _human(LIMITS['data_disk_v2_ultra']))
            raise _size_error(what, size, limit, where, advice)
    elif kind == 'upload':
        _check_upload(size, where)
    else:
        _check_gallery(kind, size, where, replication_mode)


def _check_upload(size, where):
    what = 'a direct upload to a managed disk (uploadSizeBytes, the VHD file with its 512-byte footer)'
    if size > LIMITS['upload_max']:
        raise _size_error(what, size, LIMITS['upload_max'], where,
                          'A managed disk takes at most %s from an upload: make the disk smaller.' % _human(LIMITS['upload_max'] - VHD_FOOTER))
    if size < LIMITS['upload_min']:
        raise _size_error(what, size, LIMITS['upload_min'], where,
                          'Azure refuses smaller uploads: grow the disk to at least 20 MiB (for example '
                          '`qemu-img resize` of the raw image, then convert it to a fixed VHD).', above=False)
    if (size - VHD_FOOTER) % MIB:
        raise ComputeError(
            '%s is %d bytes: a direct upload to a managed disk needs a VHD whose size less the 512-byte footer is a '
            'whole number of MiB (here %d bytes, %.4f MiB), or Azure refuses it. Grow the disk to the next whole MiB '
            '(for example `qemu-img resize` of the raw image, then `qemu-img convert -O vpc -o '
            'subformat=fixed,force_size`).' % (where, size, size - VHD_FOOTER, (size - VHD_FOOTER) / float(MIB)),
            code='size_alignment')


def _check_gallery(kind, size, where, replication_mode):
    mode = str(replication_mode or 'Full').strip().lower()
    if mode not in ('full', 'shallow'):
        raise ComputeError("Unknown replication_mode %r (for %s): use Full or Shallow." % (replication_mode, where),
                           code='invalid')
    disk = 'os_disk' if kind == 'gallery_os_disk' else 'data_disk'
    limit = LIMITS['gallery_%s_%s' % (disk, mode)]
    if size <= limit:
        return
    what = '%s of a gallery image version with %s replication' % (
        'the OS disk' if disk == 'os_disk' else 'a data disk', 'Full' if mode == 'full' else 'Shallow')
    shallow = LIMITS['gallery_%s_shallow' % disk]
    if mode == 'full' and size <= shallow:
        advice = ('Set publishing_profile.replication_mode to Shallow (the image is not copied, so the version serves '
                  'only a few concurrent deployments; disks up to %s), or use a smaller disk.'
                  % _human(shallow))
    else:
        advice = 'Use a smaller disk.'
    raise _size_error(what, size, limit, where, advice)
