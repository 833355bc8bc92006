# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Request body schemas for strict mode, written from the Compute REST specs' definitions.

Sources: azure-rest-api-specs ``specification/compute/resource-manager/Microsoft.Compute``
(DiskRP ``disk.json``/``snapshot`` definitions: Disk, DiskProperties, CreationData, Snapshot,
SnapshotProperties, DiskUpdate, SnapshotUpdate, GrantAccessData; ComputeRP: Image, ImageProperties,
ImageStorageProfile, ImageOSDisk, ImageDataDisk, ImageUpdate, RunCommandInput; GalleryRP (TypeSpec
``Compute/ComputeGallery/models.tsp``, api-version 2026-03-03): Gallery, GalleryIdentity, SharingProfile,
SoftDeletePolicy, GalleryImage, GalleryImageVersion, TargetRegion, EncryptionImages and their update
models). The same definitions hold for every api-version the fake accepts (2023-10-02 .. 2026-03-02
and so on): none of the members used here changed in that range, except members added later
(storageAccountStrategy in 2025-03-03, SoftDeletePolicy's retention and grace periods in 2026-03-03),
which an older client simply does not send.

What ARM does with a body, and what this validator reproduces:

* an unknown member fails Json.NET deserialization: 400 ``InvalidRequestContent`` "Could not find
  member 'x' on object of type 'DiskProperties'. Path 'properties.x'"; at the top level of a
  tracked resource the type is ARM's own ``ResourceDefinition``;
* a value of the wrong JSON type, or a value outside a closed enum (``modelAsString: false``, e.g.
  OperatingSystemTypes), is a conversion error: 400 ``InvalidRequestContent``;
* a value outside an extensible enum (``modelAsString: true``, e.g. DiskCreateOption) passes
  deserialization and the resource provider refuses it: 400 ``InvalidParameter``;
* a missing required member: 400 ``InvalidParameter`` "Required parameter 'x' is missing (null).";
* read-only members (provisioningState, uniqueId, timeCreated, ...) are ignored, as ARM does.

Enum values compare case-insensitively, as the services do.
"""

from __future__ import annotations

import json

from .common import ArmError

# --- schema vocabulary ---------------------------------------------------------------------------


class Obj(object):
    def __init__(self, name, props, required=(), readonly=()):
        self.name, self.props, self.required, self.readonly = name, props, tuple(required), set(readonly)


class Arr(object):
    def __init__(self, item):
        self.item = item


class Enum(object):
    def __init__(self, name, values, extensible=True):
        self.name, self.values, self.extensible = name, tuple(values), extensible


class Map(object):
    """A JSON object of free keys (tags)."""

    def __init__(self, item):
        self.item = item


STR, INT, BOOL, NUM, ANY = 'string', 'integer', 'boolean', 'number', 'any'
TAGS = Map(STR)

OS_TYPES = Enum('OperatingSystemTypes', ('Windows', 'Linux'), extensible=False)
OS_STATES = Enum('OperatingSystemStateTypes', ('Generalized', 'Specialized'), extensible=False)
HYPER_V = Enum('HyperVGeneration', ('V1', 'V2'))
CACHING = Enum('CachingTypes', ('None', 'ReadOnly', 'ReadWrite'), extensible=False)
HOST_CACHING = Enum('HostCaching', ('None', 'ReadOnly', 'ReadWrite'), extensible=False)
DISK_SKUS = Enum('DiskStorageAccountTypes', ('Standard_LRS', 'Premium_LRS', 'StandardSSD_LRS', 'UltraSSD_LRS',
                                             'Premium_ZRS', 'StandardSSD_ZRS', 'PremiumV2_LRS'))
SNAPSHOT_SKUS = Enum('SnapshotStorageAccountTypes', ('Standard_LRS', 'Premium_LRS', 'Standard_ZRS'))
CREATE_OPTIONS = Enum('DiskCreateOption', ('Empty', 'Attach', 'FromImage', 'Import', 'Copy', 'Restore', 'Upload',
                                           'CopyStart', 'ImportSecure', 'UploadPreparedSecure',
                                           'CopyFromSanSnapshot'))
ARCHITECTURES = Enum('Architecture', ('x64', 'Arm64'))
GALLERY_SKUS = Enum('StorageAccountType', ('Standard_LRS', 'Standard_ZRS', 'Premium_LRS', 'PremiumV2_LRS'))
NETWORK_ACCESS = Enum('NetworkAccessPolicy', ('AllowAll', 'AllowPrivate', 'DenyAll'))
PUBLIC_ACCESS = Enum('PublicNetworkAccess', ('Enabled', 'Disabled'))

SUB_RESOURCE = Obj('SubResource', {'id': STR})
EXTENDED_LOCATION = Obj('ExtendedLocation', {'name': STR, 'type': STR})
PURCHASE_PLAN = Obj('PurchasePlan', {'publisher': STR, 'name': STR, 'product': STR, 'promotionCode': STR},
                    required=('publisher', 'name', 'product'))
DISK_REFERENCE = Obj('ImageDiskReference', {'id': STR, 'sharedGalleryImageId': STR, 'communityGalleryImageId': STR,
                                            'lun': INT})
CREATION_DATA = Obj('CreationData', {
    'createOption': CREATE_OPTIONS, 'storageAccountId': STR, 'imageReference': DISK_REFERENCE,
    'galleryImageReference': DISK_REFERENCE, 'sourceUri': STR, 'sourceResourceId': STR, 'sourceUniqueId': STR,
    'uploadSizeBytes': INT, 'logicalSectorSize': INT, 'securityDataUri': STR, 'securityMetadataUri': STR,
    'performancePlus': BOOL, 'elasticSanResourceId': STR,
    'provisionedBandwidthCopySpeed': Enum('ProvisionedBandwidthCopyOption', ('None', 'Enhanced')),
    'instantAccessDurationMinutes': INT,
}, required=('createOption',), readonly=('sourceUniqueId',))
SUPPORTED_CAPABILITIES = Obj('SupportedCapabilities', {'diskControllerTypes': STR, 'acceleratedNetwork': BOOL,
                                                       'architecture': ARCHITECTURES,
                                                       'supportedSecurityOption': STR})
DISK_SECURITY = Obj('DiskSecurityProfile', {'securityType': STR, 'secureVMDiskEncryptionSetId': STR,
                                            'confidentialVMVersion': STR}, readonly=('confidentialVMVersion',))
ENCRYPTION = Obj('Encryption', {'diskEncryptionSetId': STR, 'type': STR})

_DISK_COMMON = {
    'osType': OS_TYPES, 'hyperVGeneration': HYPER_V, 'purchasePlan': PURCHASE_PLAN,
    'supportedCapabilities': SUPPORTED_CAPABILITIES, 'creationData': CREATION_DATA, 'diskSizeGB': INT,
    'diskSizeBytes': INT, 'uniqueId': STR, 'encryptionSettingsCollection': ANY, 'provisioningState': STR,
    'timeCreated': STR, 'diskState': STR, 'encryption': ENCRYPTION, 'networkAccessPolicy': NETWORK_ACCESS,
    'diskAccessId': STR, 'securityProfile': DISK_SECURITY, 'supportsHibernation': BOOL,
    'publicNetworkAccess': PUBLIC_ACCESS, 'completionPercent': NUM,
    'dataAccessAuthMode': Enum('DataAccessAuthMode', ('AzureActiveDirectory', 'None')),
}
_DISK_READONLY = ('diskSizeBytes', 'uniqueId', 'provisioningState', 'timeCreated', 'diskState')

DISK_PROPERTIES = Obj('DiskProperties', dict(_DISK_COMMON, **{
    'diskIOPSReadWrite': INT, 'diskMBpsReadWrite': INT, 'diskIOPSReadOnly': INT, 'diskMBpsReadOnly': INT,
    'maxShares': INT, 'shareInfo': ANY, 'tier': STR, 'burstingEnabled': BOOL, 'burstingEnabledTime': STR,
    'propertyUpdatesInProgress': ANY, 'optimizedForFrequentAttach': BOOL, 'LastOwnershipUpdateTime': STR,
    'availabilityPolicy': ANY,
}), required=('creationData',), readonly=_DISK_READONLY + (
    'shareInfo', 'burstingEnabledTime', 'propertyUpdatesInProgress', 'LastOwnershipUpdateTime'))

SNAPSHOT_PROPERTIES = Obj('SnapshotProperties', dict(_DISK_COMMON, **{
    'incremental': BOOL, 'incrementalSnapshotFamilyId': STR,
    'copyCompletionError': Obj('CopyCompletionError', {'errorCode': STR, 'errorMessage': STR},
                               required=('errorCode', 'errorMessage')),
    'snapshotAccessState': STR, 'immutabilityPolicy': ANY,
}), required=('creationData',), readonly=_DISK_READONLY + (
    'incrementalSnapshotFamilyId', 'snapshotAccessState', 'immutabilityPolicy'))

_TRACKED = {'id': STR, 'name': STR, 'type': STR, 'systemData': ANY, 'location': STR, 'tags': TAGS}
_TRACKED_RO = ('id', 'name', 'type', 'systemData')

DISK = Obj('ResourceDefinition', dict(_TRACKED, **{
    'properties': DISK_PROPERTIES, 'managedBy': STR, 'managedByExtended': Arr(STR),
    'sku': Obj('DiskSku', {'name': DISK_SKUS, 'tier': STR}, readonly=('tier',)),
    'zones': Arr(STR), 'extendedLocation': EXTENDED_LOCATION,
}), required=('location', 'properties'), readonly=_TRACKED_RO + ('managedBy', 'managedByExtended'))

SNAPSHOT = Obj('ResourceDefinition', dict(_TRACKED, **{
    'properties': SNAPSHOT_PROPERTIES, 'managedBy': STR,
    'sku': Obj('SnapshotSku', {'name': SNAPSHOT_SKUS, 'tier': STR}, readonly=('tier',)),
    'extendedLocation': EXTENDED_LOCATION,
}), required=('location', 'properties'), readonly=_TRACKED_RO + ('managedBy',))

DISK_UPDATE = Obj('DiskUpdate', {
    'tags': TAGS, 'sku': Obj('DiskSku', {'name': DISK_SKUS, 'tier': STR}, readonly=('tier',)),
    'properties': Obj('DiskUpdateProperties', {
        'osType': OS_TYPES, 'diskSizeGB': INT, 'encryptionSettingsCollection': ANY, 'diskIOPSReadWrite': INT,
        'diskMBpsReadWrite': INT, 'diskIOPSReadOnly': INT, 'diskMBpsReadOnly': INT, 'maxShares': INT,
        'encryption': ENCRYPTION, 'networkAccessPolicy': NETWORK_ACCESS, 'diskAccessId': STR, 'tier': STR,
        'burstingEnabled': BOOL, 'purchasePlan': PURCHASE_PLAN, 'supportedCapabilities': SUPPORTED_CAPABILITIES,
        'propertyUpdatesInProgress': ANY, 'supportsHibernation': BOOL, 'publicNetworkAccess': PUBLIC_ACCESS,
        'dataAccessAuthMode': ANY, 'optimizedForFrequentAttach': BOOL, 'availabilityPolicy': ANY,
    }, readonly=('propertyUpdatesInProgress',)),
})

SNAPSHOT_UPDATE = Obj('SnapshotUpdate', {
    'tags': TAGS, 'sku': Obj('SnapshotSku', {'name': SNAPSHOT_SKUS, 'tier': STR}, readonly=('tier',)),
    'properties': Obj('SnapshotUpdateProperties', {
        'osType': OS_TYPES, 'diskSizeGB': INT, 'encryptionSettingsCollection': ANY, 'encryption': ENCRYPTION,
        'networkAccessPolicy': NETWORK_ACCESS, 'diskAccessId': STR, 'supportsHibernation': BOOL,
        'publicNetworkAccess': PUBLIC_ACCESS, 'dataAccessAuthMode': ANY,
        'supportedCapabilities': SUPPORTED_CAPABILITIES, 'snapshotAccessState': STR,
    }, readonly=('snapshotAccessState',)),
})

_IMAGE_DISK = {
    'snapshot': SUB_RESOURCE, 'managedDisk': SUB_RESOURCE, 'blobUri': STR, 'caching': CACHING, 'diskSizeGB': INT,
    'storageAccountType': DISK_SKUS, 'diskEncryptionSet': SUB_RESOURCE,
}
IMAGE_PROPERTIES = Obj('ImageProperties', {
    'sourceVirtualMachine': SUB_RESOURCE,
    'storageProfile': Obj('ImageStorageProfile', {
        'osDisk': Obj('ImageOSDisk', dict(_IMAGE_DISK, osType=OS_TYPES, osState=OS_STATES),
                      required=('osType', 'osState')),
        'dataDisks': Arr(Obj('ImageDataDisk', dict(_IMAGE_DISK, lun=INT), required=('lun',))),
        'zoneResilient': BOOL,
    }),
    'provisioningState': STR, 'hyperVGeneration': HYPER_V,
}, readonly=('provisioningState',))

IMAGE = Obj('ResourceDefinition', dict(_TRACKED, properties=IMAGE_PROPERTIES, extendedLocation=EXTENDED_LOCATION),
            required=('location',), readonly=_TRACKED_RO)
IMAGE_UPDATE = Obj('ImageUpdate', {'tags': TAGS, 'properties': IMAGE_PROPERTIES})

RUN_COMMAND_INPUT = Obj('RunCommandInput', {
    'commandId': STR, 'script': Arr(STR),
    'parameters': Arr(Obj('RunCommandInputParameter', {'name': STR, 'value': STR}, required=('name', 'value'))),
}, required=('commandId',))

# GalleryRP 2026-03-03 (ComputeGallery/models.tsp and the SDK's models of that version).
GALLERY_PROPERTIES = Obj('GalleryProperties', {
    'description': STR, 'identifier': Obj('GalleryIdentifier', {'uniqueName': STR}, readonly=('uniqueName',)),
    'provisioningState': STR,
    'sharingProfile': Obj('SharingProfile', {
        'permissions': Enum('GallerySharingPermissionTypes', ('Private', 'Groups', 'Community')),
        'groups': ANY,
        'communityGalleryInfo': Obj('CommunityGalleryInfo', {
            'publisherUri': STR, 'publisherContact': STR, 'eula': STR, 'publicNamePrefix': STR,
            'communityGalleryEnabled': BOOL, 'publicNames': Arr(STR)},
            readonly=('communityGalleryEnabled', 'publicNames'))}, readonly=('groups',)),
    'softDeletePolicy': Obj('SoftDeletePolicy', {'isSoftDeleteEnabled': BOOL, 'retentionPeriodInDays': INT,
                                                 'gracePeriodInDays': INT}),
    'sharingStatus': ANY,
}, readonly=('provisioningState', 'sharingStatus'))
GALLERY_IDENTITY = Obj('GalleryIdentity', {
    'principalId': STR, 'tenantId': STR,
    'type': Enum('ResourceIdentityType', ('SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned', 'None'),
                 extensible=False),
    'userAssignedIdentities': Map(ANY)}, readonly=('principalId', 'tenantId'))
GALLERY = Obj('ResourceDefinition', dict(_TRACKED, properties=GALLERY_PROPERTIES, identity=GALLERY_IDENTITY),
              required=('location',), readonly=_TRACKED_RO)
GALLERY_UPDATE = Obj('GalleryUpdate', {'id': STR, 'name': STR, 'type': STR, 'tags': TAGS,
                                       'properties': GALLERY_PROPERTIES, 'identity': GALLERY_IDENTITY},
                     readonly=('id', 'name', 'type'))

RESOURCE_RANGE = Obj('ResourceRange', {'min': INT, 'max': INT})
GALLERY_IMAGE_PROPERTIES = Obj('GalleryImageProperties', {
    'description': STR, 'eula': STR, 'privacyStatementUri': STR, 'releaseNoteUri': STR, 'osType': OS_TYPES,
    'osState': OS_STATES, 'hyperVGeneration': HYPER_V, 'endOfLifeDate': STR,
    'identifier': Obj('GalleryImageIdentifier', {'publisher': STR, 'offer': STR, 'sku': STR},
                      required=('publisher', 'offer', 'sku')),
    'recommended': Obj('RecommendedMachineConfiguration', {'vCPUs': RESOURCE_RANGE, 'memory': RESOURCE_RANGE}),
    'disallowed': Obj('Disallowed', {'diskTypes': Arr(STR)}),
    'purchasePlan': Obj('ImagePurchasePlan', {'name': STR, 'publisher': STR, 'product': STR}),
    'provisioningState': STR,
    'features': Arr(Obj('GalleryImageFeature', {'name': STR, 'value': STR, 'startsAtVersion': STR})),
    'architecture': ARCHITECTURES, 'allowUpdateImage': BOOL,
}, required=('osType', 'osState', 'identifier'), readonly=('provisioningState',))
GALLERY_IMAGE = Obj('ResourceDefinition', dict(_TRACKED, properties=GALLERY_IMAGE_PROPERTIES),
                    required=('location', 'properties'), readonly=_TRACKED_RO)
GALLERY_IMAGE_UPDATE = Obj('GalleryImageUpdate', {'id': STR, 'name': STR, 'type': STR, 'tags': TAGS,
                                                  'properties': GALLERY_IMAGE_PROPERTIES},
                           readonly=('id', 'name', 'type'))

_DISK_IMAGE_SOURCE = Obj('GalleryDiskImageSource', {'id': STR, 'uri': STR, 'storageAccountId': STR})
_DISK_IMAGE_SECURITY = Obj('OSDiskImageSecurityProfile', {
    'confidentialVMEncryptionType': Enum('ConfidentialVMEncryptionType', (
        'EncryptedVMGuestStateOnlyWithPmk', 'EncryptedWithPmk', 'EncryptedWithCmk', 'NonPersistedTPM')),
    'secureVMDiskEncryptionSetId': STR})
ENCRYPTION_IMAGES = Obj('EncryptionImages', {
    'osDiskImage': Obj('OSDiskImageEncryption', {'diskEncryptionSetId': STR, 'securityProfile': _DISK_IMAGE_SECURITY}),
    'dataDiskImages': Arr(Obj('DataDiskImageEncryption', {'diskEncryptionSetId': STR, 'lun': INT,
                                                          'securityProfile': _DISK_IMAGE_SECURITY},
                              required=('lun',))),
})
TARGET_REGION = Obj('TargetRegion', {
    'name': STR, 'regionalReplicaCount': INT, 'storageAccountType': GALLERY_SKUS, 'encryption': ENCRYPTION_IMAGES,
    'excludeFromLatest': BOOL,
    'additionalReplicaSets': Arr(Obj('AdditionalReplicaSet', {'storageAccountType': GALLERY_SKUS,
                                                              'regionalReplicaCount': INT})),
}, required=('name',))
GALLERY_IMAGE_VERSION_PROPERTIES = Obj('GalleryImageVersionProperties', {
    'publishingProfile': Obj('GalleryImageVersionPublishingProfile', {
        'targetRegions': Arr(TARGET_REGION),
        'replicaCount': INT, 'excludeFromLatest': BOOL, 'publishedDate': STR, 'endOfLifeDate': STR,
        'storageAccountType': GALLERY_SKUS, 'replicationMode': Enum('ReplicationMode', ('Full', 'Shallow')),
        'targetExtendedLocations': ANY,
        'storageAccountStrategy': Enum('StorageAccountStrategy', ('PreferStandard_ZRS', 'DefaultStandard_LRS')),
    }, readonly=('publishedDate',)),
    'provisioningState': STR,
    'storageProfile': Obj('GalleryImageVersionStorageProfile', {
        'source': Obj('GalleryArtifactVersionFullSource', {'id': STR, 'uri': STR, 'communityGalleryImageId': STR,
                                                           'virtualMachineId': STR}),
        'osDiskImage': Obj('GalleryOSDiskImage', {'sizeInGB': INT, 'hostCaching': HOST_CACHING,
                                                  'source': _DISK_IMAGE_SOURCE}, readonly=('sizeInGB',)),
        'dataDiskImages': Arr(Obj('GalleryDataDiskImage', {'sizeInGB': INT, 'hostCaching': HOST_CACHING,
                                                           'source': _DISK_IMAGE_SOURCE, 'lun': INT},
                                  required=('lun',), readonly=('sizeInGB',))),
    }),
    'safetyProfile': Obj('GalleryImageVersionSafetyProfile', {
        'allowDeletionOfReplicatedLocations': BOOL, 'reportedForPolicyViolation': BOOL, 'policyViolations': ANY,
        'blockDeletionBeforeEndOfLife': BOOL}, readonly=('reportedForPolicyViolation', 'policyViolations')),
    'replicationStatus': ANY,
    'securityProfile': Obj('ImageVersionSecurityProfile', {'uefiSettings': ANY, 'secretsProvisioningSettings': ANY}),
    'restore': BOOL, 'validationsProfile': ANY, 'imageMetadataProfiles': ANY,
}, required=('storageProfile',), readonly=('provisioningState', 'replicationStatus', 'validationsProfile',
                                           'imageMetadataProfiles'))
GALLERY_IMAGE_VERSION = Obj('ResourceDefinition', dict(_TRACKED, properties=GALLERY_IMAGE_VERSION_PROPERTIES),
                            required=('location', 'properties'), readonly=_TRACKED_RO)
GALLERY_IMAGE_VERSION_UPDATE = Obj('GalleryImageVersionUpdate', {
    'id': STR, 'name': STR, 'type': STR, 'tags': TAGS, 'properties': GALLERY_IMAGE_VERSION_PROPERTIES},
    readonly=('id', 'name', 'type'))

# DiskRP diskRPCommon.json GrantAccessData (the body of beginGetAccess on disks and snapshots).
GRANT_ACCESS_DATA = Obj('GrantAccessData', {
    'access': Enum('AccessLevel', ('None', 'Read', 'Write')), 'durationInSeconds': INT,
    'getSecureVMGuestStateSAS': BOOL, 'fileFormat': Enum('FileFormat', ('VHD', 'VHDX')),
}, required=('access', 'durationInSeconds'))

# (resource type, method) -> schema; POST actions without a body map to None.
SCHEMAS = {
    ('disks', 'PUT'): DISK, ('disks', 'PATCH'): DISK_UPDATE,
    ('snapshots', 'PUT'): SNAPSHOT, ('snapshots', 'PATCH'): SNAPSHOT_UPDATE,
    ('images', 'PUT'): IMAGE, ('images', 'PATCH'): IMAGE_UPDATE,
    ('runcommand', 'POST'): RUN_COMMAND_INPUT,
    ('galleries', 'PUT'): GALLERY, ('galleries', 'PATCH'): GALLERY_UPDATE,
    ('galleryimages', 'PUT'): GALLERY_IMAGE, ('galleryimages', 'PATCH'): GALLERY_IMAGE_UPDATE,
    ('galleryimageversions', 'PUT'): GALLERY_IMAGE_VERSION,
    ('galleryimageversions', 'PATCH'): GALLERY_IMAGE_VERSION_UPDATE,
    ('grantaccess', 'POST'): GRANT_ACCESS_DATA,
}


# --- validation ----------------------------------------------------------------------------------

def _where(raw, path):
    """Json.NET's ', line L, position P.' for the last member of ``path`` (approximate: first match)."""
    key = path.rsplit('.', 1)[-1].split('[', 1)[0]
    index = raw.find('"%s"' % key) if raw else -1
    if index < 0:
        return ''
    end = index + len(key) + 2
    line = raw.count('\n', 0, end) + 1
    column = end - (raw.rfind('\n', 0, end) + 1)
    return ', line %d, position %d' % (line, column)


def _content_error(raw, text, path):
    return ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: "
                    "'%s Path '%s'%s.'." % (text, path, _where(raw, path)))


def _type_name(schema):
    return schema.name if isinstance(schema, (Obj, Enum)) else {
        STR: 'System.String', INT: 'System.Int32', BOOL: 'System.Boolean', NUM: 'System.Double'}.get(schema, schema)


def _show(value):
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(',', ':'))


def _check(schema, value, path, raw):
    """Validate ``value``; return it with read-only members dropped."""
    if schema == ANY or value is None:
        return value
    if isinstance(schema, Obj):
        if not isinstance(value, dict):
            raise _content_error(raw, 'Error converting value %s to type \'%s\'.' % (_show(value), schema.name), path)
        out = {}
        for key, item in value.items():
            sub = '%s.%s' % (path, key) if path else key
            if key not in schema.props:
                raise _content_error(raw, "Could not find member '%s' on object of type '%s'." % (key, schema.name),
                                     sub)
            if key in schema.readonly:
                continue
            out[key] = _check(schema.props[key], item, sub, raw)
        for key in schema.required:
            if out.get(key) is None:
                name = '%s.%s' % (path, key) if path else key
                raise ArmError(400, 'InvalidParameter', "Required parameter '%s' is missing (null)." % key,
                               target=name)
        return out
    if isinstance(schema, Map):
        if not isinstance(value, dict):
            raise _content_error(raw, 'Error converting value %s to type \'Dictionary`2\'.' % _show(value), path)
        return {k: _check(schema.item, v, '%s.%s' % (path, k), raw) for k, v in value.items()}
    if isinstance(schema, Arr):
        if not isinstance(value, list):
            raise _content_error(raw, 'Cannot deserialize the current JSON value into type \'List`1\' because the '
                                 'type requires a JSON array (e.g. [1,2,3]) to deserialize correctly.', path)
        return [_check(schema.item, v, '%s[%d]' % (path, i), raw) for i, v in enumerate(value)]
    if isinstance(schema, Enum):
        if not isinstance(value, str):
            raise _content_error(raw, 'Error converting value %s to type \'%s\'.' % (_show(value), schema.name), path)
        match = [v for v in schema.values if v.lower() == value.lower()]
        if not match:
            if not schema.extensible:
                raise _content_error(raw, 'Error converting value %s to type \'%s\'.' % (_show(value), schema.name),
                                     path)
            raise ArmError(400, 'InvalidParameter', "The value '%s' of parameter '%s' is not allowed. Allowed values "
                           "are '%s'." % (value, path.rsplit('.', 1)[-1], "', '".join(schema.values)), target=path)
        return value
    ok = {STR: isinstance(value, str),
          INT: isinstance(value, int) and not isinstance(value, bool),
          BOOL: isinstance(value, bool),
          NUM: isinstance(value, (int, float)) and not isinstance(value, bool)}[schema]
    if not ok:
        if schema == INT and isinstance(value, str):
            text = 'Could not convert string to integer: %s.' % value
        elif schema == BOOL and isinstance(value, str):
            text = 'Could not convert string to boolean: %s.' % value
        else:
            text = 'Error converting value %s to type \'%s\'.' % (_show(value), _type_name(schema))
        raise _content_error(raw, text, path)
    return value


def validate(kind, method, body, raw):
    """Validate the body of ``method`` on resource ``kind``; raises ArmError, returns the cleaned body."""
    schema = SCHEMAS.get((kind, method))
    if schema is None:
        return body
    if not isinstance(body, dict):
        raise _content_error(raw, 'Error converting value %s to type \'%s\'.' % (_show(body), schema.name), '')
    return _check(schema, body, '', raw)
