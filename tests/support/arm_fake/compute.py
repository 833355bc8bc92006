# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft.Compute state and behaviour of the ARM fake (a mixin of ArmFake).

Shapes follow the REST specs' examples (azure-rest-api-specs, Microsoft.Compute):
DiskRP ``Disk_Get.json``, ``Disk_Create_FromAnExistingManagedDisk.json``, ``Snapshot_Get.json``,
``Snapshot_Create_ByImportingAnUnmanagedBlobFromTheSameSubscription.json``; ComputeRP
``Image_CreateFromAVM.json``, ``VirtualMachine_Get.json``, ``VirtualMachine_Get_InstanceView.json``,
``VirtualMachine_Generalize.json``, ``VirtualMachineRunCommand.json``,
``VirtualMachineImage_Get/List*_MaximumSet_Gen.json``; GalleryRP ``CommunityGallery_Get.json``,
``CommunityGalleryImage_List.json``, ``CommunityGalleryImageVersion_List.json``. Error texts are the
ones real calls return (quoted in azure-cli / azure-powershell / ansible issues) where known.
Galleries, definitions and versions are in galleries.py; upload disks and disk access in uploads.py.

Everything here runs under ``self._lock``; handlers return ``(status, body, headers)`` or raise
ArmError. Long-running operations go through ``self._lro(...)`` (server.py).
"""

from __future__ import annotations

import copy
import re
import uuid

from .common import (ArmError, bad_request, conflict, id_eq, lower, new_id, norm_location, not_found, parse_id,
                     rg_not_found, source_not_found, timestamp)

GIB = 1024 ** 3
PROVIDER = 'Microsoft.Compute'
# URL segment (lowercase) -> (canonical segment, ARM type)
TYPES = {
    'disks': ('disks', 'Microsoft.Compute/disks'),
    'snapshots': ('snapshots', 'Microsoft.Compute/snapshots'),
    'images': ('images', 'Microsoft.Compute/images'),
    'virtualmachines': ('virtualMachines', 'Microsoft.Compute/virtualMachines'),
    'galleries': ('galleries', 'Microsoft.Compute/galleries'),
}
SKU_TIERS = {'standard_lrs': 'Standard', 'premium_lrs': 'Premium', 'standardssd_lrs': 'Standard',
             'ultrassd_lrs': 'Ultra', 'premium_zrs': 'Premium', 'standardssd_zrs': 'Standard',
             'premiumv2_lrs': 'Premium', 'standard_zrs': 'Standard'}
PREMIUM_TIERS = ((4, 'P1'), (8, 'P2'), (16, 'P3'), (32, 'P4'), (64, 'P6'), (128, 'P10'), (256, 'P15'),
                 (512, 'P20'), (1024, 'P30'), (2048, 'P40'), (4096, 'P50'), (8192, 'P60'), (16384, 'P70'),
                 (32767, 'P80'))
POWER_DISPLAY = {'running': 'VM running', 'stopped': 'VM stopped', 'deallocated': 'VM deallocated',
                 'starting': 'VM starting', 'stopping': 'VM stopping', 'deallocating': 'VM deallocating'}
RUN_COMMANDS = {'linux': ('RunShellScript', 'ifconfig'),
                'windows': ('RunPowerShellScript', 'EnableRemotePS', 'IPConfig', 'RDPSettings', 'ResetRDPCert',
                            'SetRDPPort', 'EnableAdminAccount')}
RUN_COMMAND_OUTPUT_LIMIT = 4096  # the service keeps the last 4,096 bytes of each stream


def _version_key(name):
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r'[.\-]', name))


def _tier(sku, size):
    if not sku.lower().startswith('premium_') or not size:
        return None
    return next((t for limit, t in PREMIUM_TIERS if size <= limit), 'P80')


def _set_tags(resource, body):
    if 'tags' in body and body['tags'] is not None:
        resource['tags'] = dict(body['tags'])


def _drop_none(d):
    return {k: v for k, v in d.items() if v is not None}


class ComputeMixin(object):
    """Resource state, seed helpers and Microsoft.Compute handlers."""

    def _reset_compute(self):
        self._groups = {}          # lower name -> resource group JSON
        self._res = {}             # lower id -> resource JSON (disks, snapshots, images, VMs, galleries, ...)
        self._vm_state = {}        # lower VM id -> {'power': ..., 'generalized': bool}
        self._market = []          # marketplace image entries
        self._community = {}       # lower public gallery name -> {'location', 'gallery', 'images'}
        self.run_commands = []     # every run command received: vm, command_id, script, parameters
        # generalize answers 200 but the instance view shows OSState/generalized only once this is False again
        # (a generalization Azure has not finished); tests of waiting for it set it.
        self.hold_generalize = False

    # --- ids and lookups -------------------------------------------------------------------------
    def _rid(self, rg, segment, name):
        return '/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s' % (
            self.subscription_id, rg, PROVIDER, segment, name)

    def _group(self, name):
        group = self._groups.get(lower(name))
        if group is None:
            raise rg_not_found(name)
        return group

    def get(self, resource_id):
        """The stored ARM JSON of a resource (case-insensitive id), or None. A deep copy."""
        with self._lock:
            found = self._res.get(lower(resource_id).rstrip('/'))
            return copy.deepcopy(found)

    def remove(self, resource_id):
        """Delete a resource directly (no HTTP), as someone else would; True when it existed."""
        with self._lock:
            key = lower(resource_id).rstrip('/')
            for side in (self._uploads, self._grants, self._replication, self._failures):
                side.pop(key, None)
            return self._res.pop(key, None) is not None

    def _find(self, resource_id):
        return self._res.get(lower(resource_id).rstrip('/'))

    def _store(self, resource):
        self._res[lower(resource['id'])] = resource
        return resource

    def _children(self, prefix, arm_type):
        prefix = lower(prefix) + '/'
        return [r for k, r in self._res.items() if k.startswith(prefix) and r['type'] == arm_type
                and '/' not in k[len(prefix):]]

    def _in_sub(self, arm_type):
        return [r for r in self._res.values() if r['type'] == arm_type]

    def _location_or_group(self, rg, location):
        return norm_location(location) if location else self._group(rg)['location']

    # --- seed helpers (no HTTP) ------------------------------------------------------------------
    def add_resource_group(self, name, location='westeurope', tags=None):
        with self._lock:
            group = {'id': '/subscriptions/%s/resourceGroups/%s' % (self.subscription_id, name), 'name': name,
                     'type': 'Microsoft.Resources/resourceGroups', 'location': norm_location(location),
                     'properties': {'provisioningState': 'Succeeded'}}
            if tags is not None:
                group['tags'] = dict(tags)
            self._groups[lower(name)] = group
            return copy.deepcopy(group)

    def add_disk(self, rg, name, size_gb=30, os_type=None, hyper_v_generation=None, location=None,
                 sku='Premium_LRS', create_option='Empty', tags=None, security_type=None, architecture=None,
                 **properties):
        """A managed disk (Unattached). Extra ``properties`` (camelCase) are merged in."""
        with self._lock:
            creation = {'createOption': create_option}
            disk = self._new_disk(rg, name, self._location_or_group(rg, location), sku, size_gb, creation,
                                  os_type, hyper_v_generation, tags)
            if security_type:
                disk['properties']['securityProfile'] = {'securityType': security_type}
            if architecture:
                disk['properties']['supportedCapabilities'] = {'architecture': architecture}
            disk['properties'].update(properties)
            return copy.deepcopy(self._store(disk))

    def add_snapshot(self, rg, name, source=None, size_gb=None, os_type=None, hyper_v_generation=None, location=None,
                     incremental=False, sku='Standard_LRS', tags=None, source_uri=None):
        """A snapshot: a Copy of ``source`` (a disk id or a disk name in ``rg``), an Import of
        ``source_uri``, or (neither) an Import of a made-up blob."""
        with self._lock:
            location = self._location_or_group(rg, location)
            body = {'location': location, 'properties': {'incremental': incremental}, 'sku': {'name': sku}}
            if source:
                source_id = source if source.startswith('/') else self._rid(rg, 'disks', source)
                body['properties']['creationData'] = {'createOption': 'Copy', 'sourceResourceId': source_id}
            else:
                body['properties']['creationData'] = {
                    'createOption': 'Import',
                    'sourceUri': source_uri or 'https://fakeaccount.blob.core.windows.net/vhds/%s.vhd' % name}
            for key, value in (('diskSizeGB', size_gb), ('osType', os_type), ('hyperVGeneration', hyper_v_generation)):
                if value is not None:
                    body['properties'][key] = value
            if tags is not None:
                body['tags'] = tags
            snap = self._build_snapshot(rg, name, body, None)
            snap['properties']['provisioningState'] = 'Succeeded'
            return copy.deepcopy(self._store(snap))

    def add_vm(self, rg, name, location=None, os_type='Linux', hyper_v_generation='V2', data_disks=(),
               power_state='running', generalized=False, security_type=None, vm_size='Standard_D2s_v5',
               os_disk_size_gb=30, sku='Premium_LRS', tags=None):
        """A VM with its OS disk and one data disk per size in ``data_disks``, all attached."""
        with self._lock:
            location = self._location_or_group(rg, location)
            vm_id = self._rid(rg, 'virtualMachines', name)
            linux = os_type.lower() == 'linux'
            image = (('Canonical', 'ubuntu-24_04-lts', 'server', '24.04.202501010') if linux else
                     ('MicrosoftWindowsServer', 'WindowsServer', '2022-datacenter-g2', '20348.2966.241205'))
            image_id = ('/Subscriptions/%s/Providers/Microsoft.Compute/Locations/%s/Publishers/%s/ArtifactTypes/'
                        'VMImage/Offers/%s/Skus/%s/Versions/%s' % ((self.subscription_id, location) + image))
            os_disk = self._new_disk(rg, '%s_OsDisk_1_%s' % (name, uuid.uuid4().hex), location, sku, os_disk_size_gb,
                                     {'createOption': 'FromImage', 'imageReference': {'id': image_id}},
                                     'Linux' if linux else 'Windows', hyper_v_generation, None)
            if security_type:
                os_disk['properties']['securityProfile'] = {'securityType': security_type}
            self._store(os_disk)
            data = []
            for lun, size in enumerate(data_disks):
                disk = self._store(self._new_disk(rg, '%s_DataDisk_%d' % (name, lun), location, sku, size,
                                                  {'createOption': 'Empty'}, None, None, None))
                data.append({'lun': lun, 'name': disk['name'], 'createOption': 'Empty', 'caching': 'None',
                             'managedDisk': {'storageAccountType': sku, 'id': disk['id']}, 'deleteOption': 'Detach',
                             'diskSizeGB': size, 'toBeDetached': False})
            properties = {
                'vmId': new_id(),
                'hardwareProfile': {'vmSize': vm_size},
                'storageProfile': {
                    'imageReference': {'publisher': image[0], 'offer': image[1], 'sku': image[2], 'version': 'latest',
                                       'exactVersion': image[3]},
                    'osDisk': {'osType': 'Linux' if linux else 'Windows', 'name': os_disk['name'],
                               'createOption': 'FromImage', 'caching': 'ReadWrite',
                               'managedDisk': {'storageAccountType': sku, 'id': os_disk['id']},
                               'deleteOption': 'Detach', 'diskSizeGB': os_disk_size_gb},
                    'dataDisks': data,
                    'diskControllerType': 'SCSI',
                },
                'osProfile': dict({'computerName': name, 'adminUsername': 'azureuser', 'secrets': [],
                                   'allowExtensionOperations': True},
                                  **({'linuxConfiguration': {'disablePasswordAuthentication': True,
                                                             'provisionVMAgent': True}} if linux else
                                     {'windowsConfiguration': {'provisionVMAgent': True,
                                                               'enableAutomaticUpdates': True}})),
                'networkProfile': {'networkInterfaces': [{'id': '/subscriptions/%s/resourceGroups/%s/providers/'
                                                          'Microsoft.Network/networkInterfaces/%s-nic'
                                                          % (self.subscription_id, rg, name)}]},
                'diagnosticsProfile': {'bootDiagnostics': {'enabled': True}},
                'provisioningState': 'Succeeded',
                'timeCreated': timestamp(),
            }
            if security_type:
                properties['securityProfile'] = {'securityType': security_type}
                if security_type.lower() == 'trustedlaunch':
                    properties['securityProfile']['uefiSettings'] = {'secureBootEnabled': True, 'vTpmEnabled': True}
            vm = {'name': name, 'id': vm_id, 'type': 'Microsoft.Compute/virtualMachines', 'location': location,
                  'properties': properties}
            if tags is not None:
                vm['tags'] = dict(tags)
            self._store(vm)
            self._vm_state[lower(vm_id)] = {'power': power_state, 'generalized': bool(generalized),
                                            'hyper_v': hyper_v_generation}
            self._attach_disks(vm)
            return copy.deepcopy(vm)

    def add_image(self, rg, name, source_vm=None, os_disk=None, os_type='Linux', os_state='Generalized',
                  hyper_v_generation='V2', data_disks=(), location=None, zone_resilient=False, tags=None):
        """A managed image from ``source_vm`` (id or name in rg; it must be generalized) or from
        ``os_disk`` (a disk/snapshot id or a blob URI) plus ``data_disks`` (ids or URIs, lun = index)."""
        with self._lock:
            location = self._location_or_group(rg, location)
            props = {'hyperVGeneration': hyper_v_generation}
            if source_vm:
                vm_id = source_vm if source_vm.startswith('/') else self._rid(rg, 'virtualMachines', source_vm)
                props = {'sourceVirtualMachine': {'id': vm_id}}
            else:
                def ref(source):
                    if source.lower().startswith('http'):
                        return {'blobUri': source}
                    return {'snapshot' if '/snapshots/' in source.lower() else 'managedDisk': {'id': source}}
                props['storageProfile'] = {
                    'osDisk': dict(ref(os_disk), osType=os_type, osState=os_state),
                    'dataDisks': [dict(ref(s), lun=i) for i, s in enumerate(data_disks)],
                    'zoneResilient': zone_resilient}
            body = {'location': location, 'properties': props}
            if tags is not None:
                body['tags'] = tags
            image = self._build_image(rg, name, body, None)
            image['properties']['provisioningState'] = 'Succeeded'
            return copy.deepcopy(self._store(image))

    def add_marketplace_image(self, location, publisher, offer, sku, version, hyper_v_generation='V2',
                              architecture='x64', os_type='Linux', size_gb=30, features=None):
        with self._lock:
            location = norm_location(location)
            base = '/Subscriptions/%s/Providers/Microsoft.Compute/Locations/%s/Publishers/%s' % (
                self.subscription_id, location, publisher)
            vid = '%s/ArtifactTypes/VMImage/Offers/%s/Skus/%s/Versions/%s' % (base, offer, sku, version)
            if features is None:
                features = [{'name': 'SecurityType', 'value': 'TrustedLaunchSupported'},
                            {'name': 'IsAcceleratedNetworkSupported', 'value': 'True'},
                            {'name': 'DiskControllerTypes', 'value': 'SCSI, NVMe'},
                            {'name': 'IsHibernateSupported', 'value': 'True'}] if hyper_v_generation == 'V2' else []
            detail = {'properties': {
                'hyperVGeneration': hyper_v_generation, 'architecture': architecture, 'replicaType': 'Managed',
                'disallowed': {'vmDiskType': 'None'},
                'automaticOSUpgradeProperties': {'automaticOSUpgradeSupported': False},
                'imageDeprecationStatus': {'imageState': 'Active'},
                'features': features,
                'osDiskImage': {'operatingSystem': os_type, 'sizeInGb': size_gb},
                'dataDiskImages': []},
                'location': location, 'name': version, 'id': vid}
            entry = {'location': location, 'publisher': publisher, 'offer': offer, 'sku': sku, 'version': version,
                     'detail': detail, 'base': base}
            self._market = [e for e in self._market if self._market_key(e) != self._market_key(entry)] + [entry]
            return copy.deepcopy(detail)

    @staticmethod
    def _market_key(e):
        return tuple(lower(e[k]) for k in ('location', 'publisher', 'offer', 'sku', 'version'))

    def add_community_gallery(self, public_name, location='westeurope', images=(), publisher_uri=None,
                              eula=None):
        """A community gallery. ``images``: dicts with name, os_type, os_state, hyper_v_generation,
        publisher, offer, sku, architecture, features and versions (names, or dicts with name,
        size_gb, published_date, end_of_life_date, exclude_from_latest)."""
        with self._lock:
            location = norm_location(location)
            gallery = {'name': public_name, 'location': location, 'type': 'Microsoft.Compute/locations/communityGallery',
                       'identifier': {'uniqueId': '/CommunityGalleries/%s' % public_name},
                       'properties': {'disclaimer': eula or 'https://example.invalid/disclaimer',
                                      'artifactTags': {},
                                      'communityMetadata': {'publisherUri': publisher_uri or 'https://example.invalid',
                                                            'publisherContact': 'images@example.invalid',
                                                            'eula': eula or 'https://example.invalid/eula',
                                                            'publicNames': [public_name]}}}
            entry = {'location': location, 'gallery': gallery, 'images': {}}
            for spec in images:
                spec = dict(spec)
                img_name = spec['name']
                uid = '/CommunityGalleries/%s/Images/%s' % (public_name, img_name)
                img = {'name': img_name, 'location': location,
                       'type': 'Microsoft.Compute/locations/communityGalleries/images', 'identifier': {'uniqueId': uid},
                       'properties': _drop_none({
                           'osType': spec.get('os_type', 'Linux'), 'osState': spec.get('os_state', 'Generalized'),
                           'hyperVGeneration': spec.get('hyper_v_generation', 'V2'),
                           'architecture': spec.get('architecture', 'x64'),
                           'identifier': {'publisher': spec.get('publisher', public_name),
                                          'offer': spec.get('offer', img_name), 'sku': spec.get('sku', img_name)},
                           'features': spec.get('features'), 'artifactTags': {},
                           'disclaimer': gallery['properties']['disclaimer']})}
                versions = {}
                for v in spec.get('versions', ()):
                    v = {'name': v} if isinstance(v, str) else dict(v)
                    versions[lower(v['name'])] = {
                        'name': v['name'], 'location': location,
                        'type': 'Microsoft.Compute/locations/communityGalleries/images/versions',
                        'identifier': {'uniqueId': '%s/Versions/%s' % (uid, v['name'])},
                        'properties': _drop_none({
                            'publishedDate': v.get('published_date', timestamp()),
                            'endOfLifeDate': v.get('end_of_life_date'),
                            'excludeFromLatest': v.get('exclude_from_latest', False),
                            'storageProfile': {'osDiskImage': {'diskSizeGB': v.get('size_gb', 30),
                                                               'hostCaching': 'ReadWrite'}},
                            'artifactTags': {}, 'disclaimer': gallery['properties']['disclaimer']})}
                entry['images'][lower(img_name)] = {'json': img, 'versions': versions}
            self._community[lower(public_name)] = entry
            return copy.deepcopy(gallery)

    def set_power_state(self, vm_id, state):
        """Set a VM's power state ('running', 'stopped', 'deallocated', ...) directly."""
        with self._lock:
            vm = self._find(vm_id)
            if vm is None:
                raise KeyError(vm_id)
            self._vm_state[lower(vm['id'])]['power'] = state
            self._attach_disks(vm)

    def set_generalized(self, vm_id, generalized=True):
        with self._lock:
            vm = self._find(vm_id)
            if vm is None:
                raise KeyError(vm_id)
            self._vm_state[lower(vm['id'])]['generalized'] = generalized

    def release_generalize(self):
        """Let generalizations held by ``hold_generalize`` show in the instance view (and stop holding)."""
        with self._lock:
            self.hold_generalize = False
            for state in self._vm_state.values():
                if state.pop('generalize_held', False):
                    state['generalized'] = True

    # --- builders --------------------------------------------------------------------------------
    def _new_disk(self, rg, name, location, sku, size_gb, creation, os_type, hyper_v, tags):
        props = {'creationData': creation}
        if os_type:
            props['osType'] = os_type
        if hyper_v:
            props['hyperVGeneration'] = hyper_v
        props.update({'diskSizeGB': size_gb, 'diskIOPSReadWrite': 500, 'diskMBpsReadWrite': 100,
                      'encryption': {'type': 'EncryptionAtRestWithPlatformKey'}, 'networkAccessPolicy': 'AllowAll',
                      'publicNetworkAccess': 'Enabled', 'timeCreated': timestamp(), 'provisioningState': 'Succeeded',
                      'diskState': 'Unattached', 'diskSizeBytes': size_gb * GIB if size_gb else None,
                      'uniqueId': new_id()})
        tier = _tier(sku, size_gb)
        if tier:
            props['tier'] = tier
        disk = {'name': name, 'id': self._rid(rg, 'disks', name), 'type': 'Microsoft.Compute/disks',
                'location': location, 'sku': {'name': sku, 'tier': SKU_TIERS.get(sku.lower(), 'Standard')},
                'properties': _drop_none(props)}
        if tags is not None:
            disk['tags'] = dict(tags)
        return disk

    def _attach_disks(self, vm):
        """Mark a VM's disks attached (Reserved when it is deallocated), managedBy the VM."""
        power = self._vm_state[lower(vm['id'])]['power']
        sp = vm['properties']['storageProfile']
        for ref in [sp['osDisk']] + sp['dataDisks']:
            disk = self._find(ref['managedDisk']['id'])
            if disk is not None:
                disk['managedBy'] = vm['id']
                disk['properties']['diskState'] = 'Reserved' if power == 'deallocated' else 'Attached'

    def _detach_disks(self, vm):
        sp = vm['properties']['storageProfile']
        for ref in [sp['osDisk']] + sp['dataDisks']:
            disk = self._find(ref['managedDisk']['id'])
            if disk is not None:
                disk.pop('managedBy', None)
                disk['properties']['diskState'] = 'Unattached'

    def _source(self, source_id, kinds=('disks', 'snapshots')):
        """A disk/snapshot (or other ``kinds``) named by id, or raise DiskRP's 404 NotFound."""
        parsed = parse_id(source_id)
        found = self._find(source_id) if parsed and parsed[1][0][0] in kinds else None
        if found is None:
            raise source_not_found(source_id)
        self._check_usable_source(found)
        return found

    @staticmethod
    def _require_creation_data(props):
        if not (props.get('creationData') or {}).get('createOption'):
            raise bad_request('InvalidParameter', "Required parameter 'creationData.createOption' is missing (null).",
                              target='creationData.createOption')

    def _build_disk(self, rg, name, body, existing):
        props = body.get('properties') or {}
        if existing is None:
            self._require_creation_data(props)
        location = norm_location(body.get('location'))
        sku = (body.get('sku') or {}).get('name') or (existing['sku']['name'] if existing else 'Standard_LRS')
        if existing is not None:
            disk = copy.deepcopy(existing)
            old = existing['properties']['creationData']
            new = props.get('creationData') or {}
            for key in ('createOption', 'sourceResourceId', 'sourceUri', 'storageAccountId', 'uploadSizeBytes'):
                if lower(str(new.get(key) or '')) != lower(str(old.get(key) or '')) and (new.get(key) or old.get(key)):
                    raise conflict('PropertyChangeNotAllowed', "Changing property 'creationData.%s' is not allowed."
                                   % key, target='creationData.%s' % key)
            size = props.get('diskSizeGB')
            if size is not None and size < disk['properties'].get('diskSizeGB', 0):
                raise bad_request('BadRequest', 'Disk size reduction is not supported. Requested size: %d GB, '
                                  'current size: %d GB.' % (size, disk['properties']['diskSizeGB']))
            self._apply_disk_update(disk, body)
            disk['sku'] = {'name': sku, 'tier': SKU_TIERS.get(sku.lower(), 'Standard')}
            return disk
        creation = dict(props['creationData'])
        option = lower(creation.get('createOption'))
        size = props.get('diskSizeGB')
        os_type, hyper_v = props.get('osType'), props.get('hyperVGeneration')
        extra = {}
        if option == 'empty':
            if not size:
                raise bad_request('InvalidParameter', "Required parameter 'diskSizeGB' is missing (null).",
                                  target='diskSizeGB')
        elif option in ('copy', 'copystart', 'restore'):
            if not creation.get('sourceResourceId'):
                raise bad_request('InvalidParameter', "Required parameter 'creationData.sourceResourceId' is missing "
                                  "(null).", target='creationData.sourceResourceId')
            src = self._source(creation['sourceResourceId'])
            if src['location'] != location and option != 'copystart':
                raise source_not_found(creation['sourceResourceId'])
            creation['sourceUniqueId'] = src['properties'].get('uniqueId')
            size = size or src['properties'].get('diskSizeGB')
            os_type = os_type or src['properties'].get('osType')
            hyper_v = hyper_v or src['properties'].get('hyperVGeneration')
            for key in ('securityProfile', 'supportedCapabilities'):
                if key in src['properties'] and key not in props:
                    extra[key] = copy.deepcopy(src['properties'][key])
        elif option in ('import', 'importsecure'):
            if not creation.get('sourceUri'):
                raise bad_request('InvalidParameter', "Required parameter 'creationData.sourceUri' is missing (null).",
                                  target='creationData.sourceUri')
            size = size or self.blob_sizes.get(creation['sourceUri'], 30)
        elif option in ('upload', 'uploadpreparedsecure'):
            if not creation.get('uploadSizeBytes'):
                raise bad_request('InvalidParameter', "Required parameter 'creationData.uploadSizeBytes' is missing "
                                  "(null).", target='creationData.uploadSizeBytes')
            self._check_upload_size(creation['uploadSizeBytes'])
            size = None  # from uploadSizeBytes, below
        elif option == 'fromimage':
            ref = (creation.get('imageReference') or creation.get('galleryImageReference') or {})
            size = size or 30
            market = self._market_by_id(ref.get('id'))
            if market:
                hyper_v = hyper_v or market['detail']['properties']['hyperVGeneration']
                os_type = os_type or market['detail']['properties']['osDiskImage']['operatingSystem']
        disk = self._new_disk(rg, name, location, sku, size, creation, os_type, hyper_v, body.get('tags'))
        disk['properties'].update(extra)
        if option in ('upload', 'uploadpreparedsecure'):
            self._upload_disk_props(disk, creation)
        for key, value in props.items():
            if key not in disk['properties'] and key != 'creationData':
                disk['properties'][key] = copy.deepcopy(value)
        for key in ('zones', 'extendedLocation'):
            if key in body:
                disk[key] = copy.deepcopy(body[key])
        return disk

    def _apply_disk_update(self, disk, body):
        """A PATCH (DiskUpdate/SnapshotUpdate) or the mutable part of a PUT."""
        _set_tags(disk, body)
        if (body.get('sku') or {}).get('name'):
            sku = body['sku']['name']
            disk['sku'] = {'name': sku, 'tier': SKU_TIERS.get(sku.lower(), 'Standard')}
        for key, value in (body.get('properties') or {}).items():
            if key in ('creationData', 'incremental'):
                continue
            disk['properties'][key] = copy.deepcopy(value)
        size = disk['properties'].get('diskSizeGB')
        if size:
            # An upload disk's size in bytes is its uploadSizeBytes minus the footer, until resized.
            if (body.get('properties') or {}).get('diskSizeGB') is not None or lower(disk['id']) not in self._uploads:
                disk['properties']['diskSizeBytes'] = size * GIB
            tier = _tier(disk['sku']['name'], size) if disk['type'].endswith('/disks') else None
            if tier:
                disk['properties']['tier'] = tier

    def _build_snapshot(self, rg, name, body, existing):
        props = body.get('properties') or {}
        if existing is None:
            self._require_creation_data(props)
        location = norm_location(body.get('location'))
        if existing is not None:
            snap = copy.deepcopy(existing)
            old, new = existing['properties']['creationData'], props.get('creationData') or {}
            for key in ('createOption', 'sourceResourceId', 'sourceUri'):
                if lower(new.get(key)) != lower(old.get(key)) and (new.get(key) or old.get(key)):
                    raise conflict('PropertyChangeNotAllowed', "Changing property 'creationData.%s' is not allowed."
                                   % key, target='creationData.%s' % key)
            if 'incremental' in props and bool(props['incremental']) != bool(snap['properties'].get('incremental')):
                raise conflict('PropertyChangeNotAllowed', "Changing property 'incremental' is not allowed.",
                               target='incremental')
            self._apply_disk_update(snap, body)
            return snap
        creation = dict(props['creationData'])
        option = lower(creation.get('createOption'))
        size, os_type, hyper_v = props.get('diskSizeGB'), props.get('osType'), props.get('hyperVGeneration')
        extra = {}
        if option in ('copy', 'copystart'):
            if not creation.get('sourceResourceId'):
                raise bad_request('InvalidParameter', "Required parameter 'creationData.sourceResourceId' is missing "
                                  "(null).", target='creationData.sourceResourceId')
            src = self._source(creation['sourceResourceId'])
            # Copy reads the source in its own region; a source elsewhere is "not found" (CopyStart copies across).
            if src['location'] != location and option == 'copy':
                raise source_not_found(creation['sourceResourceId'])
            creation['sourceUniqueId'] = src['properties'].get('uniqueId')
            size = src['properties'].get('diskSizeGB')
            os_type = os_type or src['properties'].get('osType')
            hyper_v = hyper_v or src['properties'].get('hyperVGeneration')
            for key in ('securityProfile', 'supportedCapabilities', 'purchasePlan', 'supportsHibernation'):
                if key in src['properties'] and key not in props:
                    extra[key] = copy.deepcopy(src['properties'][key])
        elif option == 'import':
            if not creation.get('sourceUri'):
                raise bad_request('InvalidParameter', "Required parameter 'creationData.sourceUri' is missing (null).",
                                  target='creationData.sourceUri')
            size = size or self.blob_sizes.get(creation['sourceUri'], 30)
        else:
            raise bad_request('InvalidParameter', "The value '%s' of parameter 'creationData.createOption' is not "
                              "supported for snapshots." % creation.get('createOption'),
                              target='creationData.createOption')
        sku = (body.get('sku') or {}).get('name') or 'Standard_LRS'
        incremental = bool(props.get('incremental', False))
        p = {'creationData': creation, 'diskSizeGB': size, 'diskSizeBytes': size * GIB if size else None,
             'osType': os_type, 'hyperVGeneration': hyper_v, 'incremental': incremental,
             'encryption': {'type': 'EncryptionAtRestWithPlatformKey'}, 'networkAccessPolicy': 'AllowAll',
             'publicNetworkAccess': 'Enabled', 'timeCreated': timestamp(), 'provisioningState': 'Creating',
             'diskState': 'Unattached', 'uniqueId': new_id()}
        if incremental:
            family = creation.get('sourceUniqueId') or creation.get('sourceUri') or name
            p['incrementalSnapshotFamilyId'] = str(uuid.uuid5(uuid.NAMESPACE_URL, 'family:%s' % family))
        p.update(extra)
        for key, value in props.items():
            if key not in p:
                p[key] = copy.deepcopy(value)
        snap = {'name': name, 'id': self._rid(rg, 'snapshots', name), 'type': 'Microsoft.Compute/snapshots',
                'location': location, 'sku': {'name': sku, 'tier': SKU_TIERS.get(sku.lower(), 'Standard')},
                'properties': _drop_none(p)}
        _set_tags(snap, body)
        if 'extendedLocation' in body:
            snap['extendedLocation'] = copy.deepcopy(body['extendedLocation'])
        return snap

    def _image_disk(self, ref, location, what):
        """Resolve an ImageOSDisk/ImageDataDisk source: its size and generation."""
        sources = [k for k in ('snapshot', 'managedDisk', 'blobUri') if ref.get(k)]
        if len(sources) != 1:
            raise bad_request('InvalidParameter', "Exactly one of 'snapshot', 'managedDisk' or 'blobUri' must be "
                              "specified for %s." % what, target=what)
        out = {k: copy.deepcopy(v) for k, v in ref.items()}
        out.setdefault('caching', 'ReadWrite' if what.endswith('osDisk') else 'None')
        if sources[0] == 'blobUri':
            out.setdefault('diskSizeGB', self.blob_sizes.get(ref['blobUri']))
            out.setdefault('storageAccountType', 'Standard_LRS')
            return _drop_none(out), None
        src_id = ref[sources[0]]['id']
        src = self._source(src_id, kinds=('snapshots',) if sources[0] == 'snapshot' else ('disks',))
        if src['location'] != location:
            raise bad_request('InvalidParameter', "The source '%s' is in location '%s'; the image must be created in "
                              "the same location." % (src_id, src['location']), target=what)
        out.setdefault('diskSizeGB', src['properties'].get('diskSizeGB'))
        out.setdefault('storageAccountType', src['sku']['name'])
        return _drop_none(out), src['properties'].get('hyperVGeneration')

    def _build_image(self, rg, name, body, existing):
        props = body.get('properties') or {}
        location = norm_location(body.get('location'))
        if existing is not None:
            self._check_image_unchanged(existing, props)
            image = copy.deepcopy(existing)
            _set_tags(image, body)
            return image
        sp_in = props.get('storageProfile') or {}
        vm_ref = (props.get('sourceVirtualMachine') or {}).get('id')
        hyper_v = props.get('hyperVGeneration')
        if vm_ref and sp_in.get('osDisk'):
            raise bad_request('InvalidParameter', "Either 'sourceVirtualMachine' or 'storageProfile.osDisk' can be "
                              "specified, not both.", target='sourceVirtualMachine')
        if vm_ref:
            vm = self._find(vm_ref)
            if vm is None or vm['type'] != 'Microsoft.Compute/virtualMachines':
                raise source_not_found(vm_ref)
            state = self._vm_state[lower(vm['id'])]
            if not state['generalized']:
                raise conflict('OperationNotAllowed', "The operation 'Create Image' requires the Virtual Machine "
                               "'%s' to be Generalized." % vm['name'])
            if vm['location'] != location:
                raise bad_request('InvalidParameter', "The source virtual machine '%s' is in location '%s'; the "
                                  "image must be created in the same location." % (vm['id'], vm['location']),
                                  target='sourceVirtualMachine')
            if hyper_v and lower(hyper_v) != lower(state['hyper_v']):
                raise bad_request('InvalidParameter', "The Hyper-V generation '%s' of the image does not match the "
                                  "generation '%s' of the source virtual machine '%s'."
                                  % (hyper_v, state['hyper_v'], vm['name']), target='hyperVGeneration')
            vsp = vm['properties']['storageProfile']
            osd = vsp['osDisk']
            storage = {
                'osDisk': {'osType': osd['osType'], 'osState': 'Generalized',
                           'managedDisk': {'id': osd['managedDisk']['id']}, 'caching': osd.get('caching', 'ReadWrite'),
                           'diskSizeGB': osd['diskSizeGB'],
                           'storageAccountType': osd['managedDisk']['storageAccountType']},
                'dataDisks': [{'lun': d['lun'], 'managedDisk': {'id': d['managedDisk']['id']},
                               'caching': d.get('caching', 'None'), 'diskSizeGB': d['diskSizeGB'],
                               'storageAccountType': d['managedDisk']['storageAccountType']}
                              for d in vsp['dataDisks']],
                'zoneResilient': bool(sp_in.get('zoneResilient', False))}
            out = {'sourceVirtualMachine': {'id': vm['id']}, 'storageProfile': storage,
                   'hyperVGeneration': state['hyper_v']}
        else:
            if not sp_in.get('osDisk'):
                raise bad_request('InvalidParameter', "Required parameter 'storageProfile.osDisk' is missing (null).",
                                  target='storageProfile.osDisk')
            os_disk, source_gen = self._image_disk(sp_in['osDisk'], location, 'storageProfile.osDisk')
            luns = [d.get('lun') for d in sp_in.get('dataDisks') or ()]
            if len(set(luns)) != len(luns):
                raise bad_request('InvalidParameter', 'The data disks of the image must have unique luns.',
                                  target='storageProfile.dataDisks')
            data = [self._image_disk(d, location, 'storageProfile.dataDisks[%d]' % i)[0]
                    for i, d in enumerate(sp_in.get('dataDisks') or ())]
            storage = {'osDisk': os_disk, 'dataDisks': data, 'zoneResilient': bool(sp_in.get('zoneResilient', False))}
            out = {'storageProfile': storage, 'hyperVGeneration': hyper_v or source_gen or 'V1'}
        out['provisioningState'] = 'Creating'
        image = {'name': name, 'id': self._rid(rg, 'images', name), 'type': 'Microsoft.Compute/images',
                 'location': location, 'properties': out}
        _set_tags(image, body)
        return image

    @staticmethod
    def _norm_image_disk(d):
        src = d.get('blobUri') or (d.get('snapshot') or {}).get('id') or (d.get('managedDisk') or {}).get('id')
        return (d.get('lun'), lower(src), lower(d.get('osType')), lower(d.get('osState')))

    def _check_image_unchanged(self, existing, props, patch=False):
        """CRP refuses a PUT that changes anything but tags on an image: 409 PropertyChangeNotAllowed.

        A PATCH (``patch``) changes only what it names."""
        old = existing['properties']

        def refuse(prop):
            raise conflict('PropertyChangeNotAllowed', "Changing property '%s' is not allowed." % prop, target=prop)
        old_vm = (old.get('sourceVirtualMachine') or {}).get('id')
        new_vm = (props.get('sourceVirtualMachine') or {}).get('id')
        named = 'sourceVirtualMachine' in props or not patch
        if named and lower(old_vm) != lower(new_vm) and (new_vm or not (props.get('storageProfile') or {}).get('osDisk')):
            refuse('sourceVirtualMachine')
        if props.get('hyperVGeneration') and lower(props['hyperVGeneration']) != lower(old.get('hyperVGeneration')):
            refuse('hyperVGeneration')
        sp = props.get('storageProfile') or {}
        osp = old['storageProfile']
        if 'zoneResilient' in sp and bool(sp['zoneResilient']) != bool(osp.get('zoneResilient')):
            refuse('storageProfile.zoneResilient')
        if not old_vm:
            if sp.get('osDisk') and self._norm_image_disk(sp['osDisk']) != self._norm_image_disk(osp['osDisk']):
                refuse('storageProfile.osDisk')
            if 'dataDisks' in sp and sorted(map(self._norm_image_disk, sp['dataDisks'] or [])) != sorted(
                    map(self._norm_image_disk, osp.get('dataDisks') or [])):
                refuse('storageProfile.dataDisks')

    # --- HTTP handlers ---------------------------------------------------------------------------
    def _paged(self, ctx, items):
        """A page of ``items`` with ARM's nextLink ($skiptoken is an offset)."""
        start = int(ctx.query.get('$skiptoken') or 0)
        page = items[start:start + self.page_size]
        body = {'value': [copy.deepcopy(i) for i in page]}
        if start + self.page_size < len(items):
            body['nextLink'] = '%s%s?api-version=%s&$skiptoken=%d' % (self.url, ctx.path, ctx.api_version,
                                                                      start + self.page_size)
        return 200, body, {}

    def _resource_groups(self, ctx, rest):
        if not rest:
            if ctx.method != 'GET':
                raise ArmError(405, 'MethodNotAllowed', 'The requested method is not allowed.')
            return self._paged(ctx, list(self._groups.values()))
        group = self._groups.get(lower(rest[0]))
        if len(rest) == 1 and ctx.method in ('GET', 'HEAD'):
            if group is None:
                if ctx.method == 'HEAD':
                    return 404, None, {}
                raise rg_not_found(rest[0])
            return (204, None, {}) if ctx.method == 'HEAD' else (200, copy.deepcopy(group), {})
        raise ArmError(405, 'MethodNotAllowed', 'The fake supports GET and HEAD on resource groups only.')

    def _compute_rg(self, ctx, rg, rest):
        """Requests under /subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/..."""
        kind = lower(rest[0])
        if kind not in TYPES:
            raise ArmError(400, 'InvalidResourceType', "The resource type '%s' could not be found in the namespace "
                           "'Microsoft.Compute' for api version '%s'." % (rest[0], ctx.api_version))
        self._group(rg)
        segment, arm_type = TYPES[kind]
        if len(rest) == 1:
            if ctx.method != 'GET':
                raise ArmError(405, 'MethodNotAllowed', 'The requested method is not allowed.')
            prefix = '/subscriptions/%s/resourceGroups/%s/providers/%s/%s' % (
                self.subscription_id, rg, PROVIDER, segment)
            return self._paged(ctx, self._children(prefix, arm_type))
        name, extra = rest[1], rest[2:]
        if kind == 'virtualmachines':
            return self._vm(ctx, rg, name, [lower(e) for e in extra])
        if kind == 'galleries' and extra:
            return self._gallery_child(ctx, rg, name, extra)
        if extra:
            actions = ('begingetaccess', 'endgetaccess')
            if kind in ('disks', 'snapshots') and len(extra) == 1 and lower(extra[0]) in actions:
                return self._access(ctx, rg, kind, name, lower(extra[0]))
            raise ArmError(404, 'NotFound', "No HTTP resource was found that matches the request URI '%s%s'."
                           % (self.url, ctx.path))
        resource_id = self._rid(rg, segment, name)
        existing = self._find(resource_id)
        if ctx.method == 'GET':
            if existing is None:
                raise not_found(arm_type, name, rg)
            return 200, copy.deepcopy(existing), {}
        if ctx.method == 'DELETE':
            return self._delete(ctx, existing, kind)
        if ctx.method == 'PUT':
            return self._put(ctx, rg, kind, name, existing)
        if ctx.method == 'PATCH':
            if existing is None:
                raise not_found(arm_type, name, rg)
            return self._patch(ctx, kind, existing)
        raise ArmError(405, 'MethodNotAllowed', 'The requested method is not allowed.')

    def _check_location(self, body, existing):
        if not body.get('location'):
            raise bad_request('LocationRequired', 'The location property is required for this definition.')
        if existing is not None and norm_location(body['location']) != existing['location']:
            rg = parse_id(existing['id'])[0]
            raise bad_request('InvalidResourceLocation', "The resource '%s' already exists in location '%s' in "
                              "resource group '%s'. A resource with the same name cannot be created in location "
                              "'%s'. Please select a new resource name." % (existing['name'], existing['location'], rg,
                                                                            norm_location(body['location'])))

    def _put(self, ctx, rg, kind, name, existing):
        body = ctx.json
        self._check_location(body, existing)
        build = {'disks': self._build_disk, 'snapshots': self._build_snapshot, 'images': self._build_image,
                 'galleries': self._build_gallery}.get(kind)
        if build is None:
            raise ArmError(400, 'FakeNotImplemented', 'The ARM fake does not implement PUT on %s.' % kind)
        resource = build(rg, existing['name'] if existing else name, body, existing)
        return self._write(ctx, kind, resource, existing)

    def _write(self, ctx, kind, resource, existing):
        """Store a created/updated resource in its transient state and start the LRO of its RP."""
        creating = existing is None
        resource['properties']['provisioningState'] = 'Creating' if creating else 'Updating'
        self._store(resource)
        key = lower(resource['id'])

        def done(op):
            current = self._res.get(key)
            if current is not None:
                current['properties']['provisioningState'] = 'Succeeded'
            return current

        def failed(op):
            current = self._res.get(key)
            if current is not None:
                current['properties']['provisioningState'] = 'Failed'
        dialect = {'disks': 'disk', 'snapshots': 'disk', 'images': 'crp', 'galleries': 'caps', 'galleryimages': 'caps',
                   'galleryimageversions': 'caps'}[kind]
        if dialect == 'disk':
            status = 202 if creating or ctx.method == 'PATCH' else 200
        else:
            status = 201 if creating else 200
        return self._lro(ctx, dialect, resource['location'], status, copy.deepcopy(resource), done, failed,
                         location_header=(dialect == 'disk'), resource_key=key)

    def _patch(self, ctx, kind, existing):
        body = ctx.json
        resource = copy.deepcopy(existing)
        if kind in ('disks', 'snapshots'):
            props = body.get('properties') or {}
            size = props.get('diskSizeGB')
            state = resource['properties'].get('diskState')
            if size is not None and state in ('ReadyToUpload', 'ActiveUpload'):
                # unsourced text; tags (and other properties) can be PATCHed in every state.
                raise conflict('OperationNotAllowed', "The size of disk '%s' cannot be changed in the '%s' state; "
                               "it is set by creationData.uploadSizeBytes." % (resource['name'], state))
            if size is not None and size < resource['properties'].get('diskSizeGB', 0):
                raise bad_request('BadRequest', 'Disk size reduction is not supported.')
            self._apply_disk_update(resource, body)
        elif kind == 'images':
            self._check_image_unchanged(existing, body.get('properties') or {}, patch=True)
            _set_tags(resource, body)
        elif kind == 'galleries':
            resource = self._build_gallery(None, existing['name'], body, existing)
        else:
            raise ArmError(400, 'FakeNotImplemented', 'The ARM fake does not implement PATCH on %s.' % kind)
        return self._write(ctx, kind, resource, existing)

    def _delete(self, ctx, existing, kind):
        if existing is None:
            return 204, None, {}
        if kind == 'disks' and existing.get('managedBy'):
            raise conflict('OperationNotAllowed', 'Disk %s is attached to VM %s.'
                           % (existing['name'], existing['managedBy']))
        if kind in ('galleries', 'galleryimages'):
            self._check_gallery_delete(existing, kind)
        if kind == 'galleryimageversions':
            return self._delete_version(ctx, existing)
        key = lower(existing['id'])

        def done(op):
            resource = self._res.pop(key, None)
            self._uploads.pop(key, None)
            self._grants.pop(key, None)
            if resource is not None and resource['type'] == 'Microsoft.Compute/virtualMachines':
                self._detach_disks(resource)
                self._vm_state.pop(key, None)
            return None

        def failed(op):
            if key in self._res:
                self._res[key]['properties']['provisioningState'] = 'Failed'
        dialect = {'disks': 'disk', 'snapshots': 'disk', 'images': 'crp', 'virtualmachines': 'crp',
                   'galleries': 'caps', 'galleryimages': 'caps', 'galleryimageversions': 'caps'}[kind]
        return self._lro(ctx, dialect, existing['location'], 202, None, done, failed, location_header=True,
                         resource_key=key)

    # virtual machines ----------------------------------------------------------------------------
    def _vm(self, ctx, rg, name, extra):
        vm = self._find(self._rid(rg, 'virtualMachines', name))
        if not extra:
            if ctx.method == 'GET':
                if vm is None:
                    raise not_found('Microsoft.Compute/virtualMachines', name, rg)
                out = copy.deepcopy(vm)
                if lower(ctx.query.get('$expand')) == 'instanceview':
                    out['properties']['instanceView'] = self._instance_view(vm)
                return 200, out, {}
            if ctx.method == 'DELETE':
                return self._delete(ctx, vm, 'virtualmachines')
            raise ArmError(400, 'FakeNotImplemented', 'The ARM fake does not implement %s on virtual machines '
                           '(seed them with add_vm).' % ctx.method)
        if vm is None:
            raise not_found('Microsoft.Compute/virtualMachines', name, rg)
        action = extra[0]
        if action == 'instanceview' and ctx.method == 'GET':
            return 200, self._instance_view(vm), {}
        if ctx.method != 'POST' or len(extra) != 1:
            raise ArmError(404, 'NotFound', "No HTTP resource was found that matches the request URI '%s%s'."
                           % (self.url, ctx.path))
        state = self._vm_state[lower(vm['id'])]
        if action == 'generalize':
            if state['power'] not in ('stopped', 'deallocated'):
                raise conflict('OperationNotAllowed', "Operation 'generalize' is not allowed on VM '%s' since the VM "
                               "is running. Please stop the VM (Generalize requires the VM to be powered off)."
                               % vm['name'])
            if self.hold_generalize:
                state['generalize_held'] = True
            else:
                state['generalized'] = True
            return 200, None, {}
        if action == 'runcommand':
            return self._run_command(ctx, vm, state)
        moves = {'start': ('starting', 'running'), 'poweroff': ('stopping', 'stopped'),
                 'deallocate': ('deallocating', 'deallocated'), 'restart': ('running', 'running')}
        if action not in moves:
            raise ArmError(400, 'FakeNotImplemented', "The ARM fake does not implement the VM action '%s'." % action)
        if state['generalized'] and action in ('start', 'restart'):
            raise conflict('OperationNotAllowed', "Operation '%s' is not allowed on VM '%s' since the VM is "
                           "generalized." % (extra[0] if action == 'start' else 'restart', vm['name']))
        if action == 'restart' and state['power'] != 'running':
            raise conflict('OperationNotAllowed', "Operation 'restart' is not allowed on VM '%s' since the VM is %s."
                           % (vm['name'], state['power']))
        before = state['power']
        transient, final = moves[action]
        if action == 'poweroff' and before == 'deallocated':
            transient = final = 'deallocated'
        state['power'] = transient
        vm['properties']['provisioningState'] = 'Updating'
        key = lower(vm['id'])

        def done(op):
            if key in self._vm_state:
                self._vm_state[key]['power'] = final
                self._res[key]['properties']['provisioningState'] = 'Succeeded'
                self._attach_disks(self._res[key])
            return None

        def failed(op):
            if key in self._vm_state:
                self._vm_state[key]['power'] = before
                self._res[key]['properties']['provisioningState'] = 'Failed'
        return self._lro(ctx, 'crp', vm['location'], 202, None, done, failed, location_header=True)

    def _run_command(self, ctx, vm, state):
        body = ctx.json or {}
        command_id = body.get('commandId')
        if not command_id:
            raise bad_request('InvalidParameter', "Required parameter 'commandId' is missing (null).",
                              target='commandId')
        os_type = lower(vm['properties']['storageProfile']['osDisk']['osType'])
        if lower(command_id) not in [c.lower() for c in RUN_COMMANDS[os_type]]:
            raise bad_request('InvalidParameter', "The command id '%s' is not supported for a VM with OS type '%s'. "
                              "Supported: %s." % (command_id, os_type.capitalize(), ', '.join(RUN_COMMANDS[os_type])),
                              target='commandId')
        if state['power'] != 'running':
            raise conflict('OperationNotAllowed', 'The operation requires the VM to be running (or set to run).')
        script = list(body.get('script') or [])
        parameters = list(body.get('parameters') or [])
        record = {'vm': vm['id'], 'command_id': command_id, 'script': script, 'parameters': parameters}
        self.run_commands.append(record)
        handler = self.run_command_handler
        # A handler returns (stdout, stderr) or (stdout, stderr, exit status). An agent that fails the command is
        # arm.inject('lro_failed', path=r'/runCommand$', code=..., message=...).
        answer = ('', '') if handler is None else handler(copy.deepcopy(vm), command_id, script, parameters)
        stdout, stderr = answer[0], answer[1]
        status = answer[2] if len(answer) > 2 else 0
        stdout = (stdout or '')[-RUN_COMMAND_OUTPUT_LIMIT:]
        stderr = (stderr or '')[-RUN_COMMAND_OUTPUT_LIMIT:]
        if os_type == 'linux' and status:
            # The Run Command extension's words for a script that exits non-zero; the operation still succeeds.
            value = [{'code': 'ProvisioningState/succeeded', 'level': 'Info', 'displayStatus': 'Provisioning succeeded',
                      'message': 'Enable failed: failed to execute command: command terminated with exit status=%d'
                                 '\n[stdout]\n%s\n[stderr]\n%s' % (status, stdout, stderr)}]
        elif os_type == 'linux':
            # The Linux agent reports both streams in one status, as real calls show.
            value = [{'code': 'ProvisioningState/succeeded', 'level': 'Info', 'displayStatus': 'Provisioning succeeded',
                      'message': 'Enable succeeded: \n[stdout]\n%s\n[stderr]\n%s' % (stdout, stderr)}]
        else:
            value = [{'code': 'ComponentStatus/StdOut/succeeded', 'level': 'Info',
                      'displayStatus': 'Provisioning succeeded', 'message': stdout},
                     {'code': 'ComponentStatus/StdErr/succeeded', 'level': 'Info',
                      'displayStatus': 'Provisioning succeeded', 'message': stderr}]

        def done(op):
            return {'value': value}
        return self._lro(ctx, 'crp', vm['location'], 202, None, done, None, location_header=True,
                         output_is_body=True)

    def _instance_view(self, vm):
        state = self._vm_state[lower(vm['id'])]
        power = state['power']
        prov = vm['properties']['provisioningState']
        statuses = [{'code': 'ProvisioningState/%s' % prov.lower(), 'level': 'Info' if prov != 'Failed' else 'Error',
                     'displayStatus': 'Provisioning %s' % prov.lower(), 'time': vm['properties']['timeCreated']}]
        if state['generalized']:
            statuses.append({'code': 'OSState/generalized', 'level': 'Info', 'displayStatus': 'VM generalized'})
        statuses.append({'code': 'PowerState/%s' % power, 'level': 'Info',
                         'displayStatus': POWER_DISPLAY.get(power, 'VM %s' % power)})
        sp = vm['properties']['storageProfile']
        disks = [{'name': d['name'], 'statuses': [{'code': 'ProvisioningState/succeeded', 'level': 'Info',
                                                   'displayStatus': 'Provisioning succeeded',
                                                   'time': vm['properties']['timeCreated']}]}
                 for d in [sp['osDisk']] + sp['dataDisks']]
        view = {'hyperVGeneration': state['hyper_v'], 'disks': disks, 'statuses': statuses}
        if power == 'running':
            linux = sp['osDisk']['osType'] == 'Linux'
            view.update({'computerName': vm['properties']['osProfile']['computerName'],
                         'osName': 'ubuntu' if linux else 'Windows Server 2022 Datacenter',
                         'osVersion': '24.04' if linux else '10.0.20348.2966',
                         'vmAgent': {'vmAgentVersion': '2.12.0.2' if linux else '2.7.41491.1136',
                                     'statuses': [{'code': 'ProvisioningState/succeeded', 'level': 'Info',
                                                   'displayStatus': 'Ready',
                                                   'message': 'Guest Agent is running', 'time': timestamp()}]}})
        return view

    # subscription / location scope ---------------------------------------------------------------
    def _compute_sub(self, ctx, rest):
        """/subscriptions/s/providers/Microsoft.Compute/{type} lists and /locations/{loc}/..."""
        kind = lower(rest[0])
        if kind in TYPES and len(rest) == 1 and ctx.method == 'GET':
            return self._paged(ctx, self._in_sub(TYPES[kind][1]))
        if kind == 'locations' and len(rest) >= 3:
            location, what = norm_location(rest[1]), lower(rest[2])
            if what in ('operations', 'diskoperations', 'capsoperations') and len(rest) == 4:
                return self._poll(ctx, rest[3])
            if what == 'publishers':
                return self._marketplace(ctx, location, rest[3:])
            if what == 'communitygalleries' and len(rest) >= 4:
                return self._community_gallery(ctx, location, rest[3:])
        raise ArmError(404, 'NotFound', "No HTTP resource was found that matches the request URI '%s%s'."
                       % (self.url, ctx.path))

    def _market_by_id(self, image_id):
        for e in self._market:
            if id_eq(e['detail']['id'], image_id):
                return e
        return None

    def _marketplace(self, ctx, location, rest):
        """Platform images: plain JSON arrays of {location, name, id}, not paged (as the examples)."""
        low = [lower(r) for r in rest]
        entries = [e for e in self._market if e['location'] == location]

        def item(name, rid):
            return {'location': location, 'name': name, 'id': rid}

        def unique(rows):
            seen, out = set(), []
            for name, rid in rows:
                if lower(name) not in seen:
                    seen.add(lower(name))
                    out.append(item(name, rid))
            return out
        missing = ArmError(404, 'NotFound', 'Artifact: VMImage was not found.')
        if not rest:
            return 200, unique((e['publisher'], e['base']) for e in entries), {}
        entries = [e for e in entries if lower(e['publisher']) == low[0]]
        if len(rest) < 3 or low[1] != 'artifacttypes' or low[2] != 'vmimage':
            raise ArmError(404, 'NotFound', "No HTTP resource was found that matches the request URI '%s%s'."
                           % (self.url, ctx.path))
        offer_base = '%s/ArtifactTypes/VMImage/Offers/%s'
        if len(rest) == 4 and low[3] == 'offers':
            if not entries:
                raise missing
            return 200, unique((e['offer'], offer_base % (e['base'], e['offer'])) for e in entries), {}
        if len(rest) < 5 or low[3] != 'offers':
            raise missing
        entries = [e for e in entries if lower(e['offer']) == low[4]]
        if len(rest) == 6 and low[5] == 'skus':
            if not entries:
                raise missing
            return 200, unique((e['sku'], '%s/Skus/%s' % (offer_base % (e['base'], e['offer']), e['sku']))
                               for e in entries), {}
        if len(rest) < 8 or low[5] != 'skus' or low[7] != 'versions':
            raise missing
        entries = [e for e in entries if lower(e['sku']) == low[6]]
        if len(rest) == 8:
            if not entries:
                raise missing
            entries = sorted(entries, key=lambda e: _version_key(e['version']),
                             reverse='desc' in lower(ctx.query.get('$orderby')))
            top = ctx.query.get('$top')
            if top:
                entries = entries[:int(top)]
            expand = lower(ctx.query.get('$expand')) == 'properties'
            rows = []
            for e in entries:
                row = item(e['version'], e['detail']['id'])
                if expand:
                    row['properties'] = copy.deepcopy(e['detail']['properties'])
                rows.append(row)
            return 200, rows, {}
        found = [e for e in entries if lower(e['version']) == low[8]] if len(rest) == 9 else []
        if not found:
            raise missing
        return 200, copy.deepcopy(found[0]['detail']), {}

    def _community_gallery(self, ctx, location, rest):
        entry = self._community.get(lower(rest[0]))
        missing = ArmError(404, 'NotFound', 'The entity was not found in this Azure location.')
        if entry is None or entry['location'] != location:
            raise missing
        if len(rest) == 1:
            return 200, copy.deepcopy(entry['gallery']), {}
        if lower(rest[1]) != 'images':
            raise missing
        if len(rest) == 2:
            return self._paged(ctx, [i['json'] for i in entry['images'].values()])
        image = entry['images'].get(lower(rest[2]))
        if image is None:
            raise missing
        if len(rest) == 3:
            return 200, copy.deepcopy(image['json']), {}
        if lower(rest[3]) != 'versions':
            raise missing
        if len(rest) == 4:
            return self._paged(ctx, sorted(image['versions'].values(), key=lambda v: _version_key(v['name'])))
        version = image['versions'].get(lower(rest[4])) if len(rest) == 5 else None
        if version is None:
            raise missing
        return 200, copy.deepcopy(version), {}
