# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Azure Compute Gallery (GalleryRP) of the ARM fake: galleries, image definitions, image versions.

The surface is api-version 2026-03-03, what azure-mgmt-compute 39 sends for GalleriesOperations,
GalleryImagesOperations and GalleryImageVersionsOperations (older GalleryRP versions are accepted,
see common.GALLERY_VERSIONS). Facts come from azure-rest-api-specs,
``specification/compute/resource-manager/Microsoft.Compute/Compute/ComputeGallery/`` (TypeSpec:
``models.tsp``, ``GalleryImageVersion.tsp``; examples ``2026-03-03/galleryExamples/GalleryImage_Create.json``,
``GalleryImageVersion_Get_WithReplicationStatus.json``, ``GalleryImageVersion_Delete_BypassSoftDelete.json``,
``Gallery_Delete.json``) and ``GalleryRP/stable/2025-03-03/examples/galleryExamples/``
(``Gallery_Create_SoftDeletionEnabled.json``, ``GallerySoftDeletedResource_ListByArtifactName.json``,
``GalleryImageVersion_Update_RestoreSoftDeleted.json``), the installed SDK's models (the
2026-03-03 docstrings: SoftDeletePolicy retention/grace periods, bypassSoftDelete,
StorageAccountStrategy), and error texts quoted from real answers in public issues (named where used).

Behaviour, in the gallery dialect (201 on create, 200 on update, Azure-AsyncOperation only on PUT
and PATCH; 202 with Azure-AsyncOperation and Location on DELETE; integer Retry-After):

* galleries: ``softDeletePolicy`` {isSoftDeleteEnabled, retentionPeriodInDays, gracePeriodInDays};
  deleting a gallery that holds definitions fails with ARM's 409 ``CannotDeleteResource``;
* image definitions: osType, osState, hyperVGeneration, architecture and identifier are immutable
  (409 ``PropertyChangeNotAllowed``); features change only with ``allowUpdateImage: true``; the
  (publisher, offer, sku) identifier is unique in a gallery. Trusted Launch as default: with
  api-version 2025-03-03 and later a definition created without hyperVGeneration is V2, and a V2
  definition without a SecurityType feature gets ``SecurityType: TrustedLaunchSupported``; older
  api-versions default to V1 and add nothing;
* image versions: name Major.Minor.Patch (each 0..2,147,483,647), the definition must exist, the
  source must exist (disk, snapshot, managed image, gallery image version, VM by
  ``virtualMachineId``, VHD by ``uri``; a VM id in ``source.id`` is refused with ARM's 400
  ``InvalidParameter``); a source of another generation or OS state than the
  definition is accepted (201) and the operation then fails with ``Conflict`` (the version stays,
  provisioningState Failed), as real answers show; ``storageAccountType``, ``replicationMode`` and
  ``storageAccountStrategy`` are immutable; from 2025-03-03 the default storage is
  ``PreferStandard_ZRS`` (Standard_ZRS where the region has zones, else Standard_LRS);
* replication: each target region replicates in turn, in ``replication_steps`` steps (progress
  100/steps each). One step happens at each poll of the version's operation and at each GET of the
  version (time passes in ARM while anyone looks; a client that stops polling and a later one that
  only GETs both see it progress). The operation succeeds, and provisioningState becomes
  Succeeded, when the last region completes. ``$expand=ReplicationStatus`` adds
  ``replicationStatus`` {aggregatedState, summary [{region, state, details, progress}]} to a GET.
  ``hold_replication()`` freezes every (or one) version, ``release_replication()`` lets it go on,
  ``step_replication()`` advances it from the test;
* soft delete: in a gallery whose softDeletePolicy is enabled, DELETE of a version (without
  ``bypassSoftDelete=true``) keeps it as a soft-deleted resource: GET answers 404, it is listed at
  ``galleries/{g}/softDeletedArtifactTypes/Images/artifacts/{image}/versions``, a PUT or PATCH with
  ``properties.restore: true`` brings it back (200), and it still blocks deleting its definition
  and gallery ("Deleting a gallery or image definition with Soft Deleted resources isn't supported").

Texts not found in any public answer (marked "unsourced" below) follow ARM's style.
"""

from __future__ import annotations

import copy
import datetime
import re

from .common import (GALLERY_VERSIONS, ArmError, bad_request, conflict, lower, norm_location, not_found, parse_id,
                     source_not_found, timestamp)

GALLERY_TYPE = 'Microsoft.Compute/galleries'
IMAGE_TYPE = 'Microsoft.Compute/galleries/images'
VERSION_TYPE = 'Microsoft.Compute/galleries/images/versions'
SOFT_DELETED_TYPE = 'Microsoft.Compute/galleries/softDeletedArtifactTypes/artifacts/versions'
INT32_MAX = 2147483647
VERSION_NAME = re.compile(r'^(\d+)\.(\d+)\.(\d+)$')
# Trusted Launch as default for Gen2 gallery image definitions, and PreferStandard_ZRS storage: both
# from GalleryRP api-version 2025-03-03 on (StorageAccountStrategy's doc in models.tsp says so for the
# storage; for TLaD the fake ties the V2 + TrustedLaunchSupported default to the same version).
TLAD_SINCE = '2025-03-03'
ZRS_SINCE = '2025-03-03'
# Regions with availability zones (where PreferStandard_ZRS picks Standard_ZRS).
ZRS_REGIONS = {'westeurope', 'northeurope', 'eastus', 'eastus2', 'westus2', 'westus3', 'centralus', 'uksouth',
               'francecentral', 'germanywestcentral', 'swedencentral'}
REGION_NAMES = {'westeurope': 'West Europe', 'northeurope': 'North Europe', 'eastus': 'East US',
                'eastus2': 'East US 2', 'westus': 'West US', 'westus2': 'West US 2', 'westus3': 'West US 3',
                'centralus': 'Central US', 'uksouth': 'UK South', 'francecentral': 'France Central',
                'germanywestcentral': 'Germany West Central', 'swedencentral': 'Sweden Central'}
IMMUTABLE_IMAGE = ('osType', 'osState', 'hyperVGeneration', 'architecture')
UPDATABLE_IMAGE = ('description', 'eula', 'privacyStatementUri', 'releaseNoteUri', 'endOfLifeDate', 'recommended',
                   'disallowed', 'purchasePlan')
SOFT_DELETE_RETENTION_DAYS = 7  # "recover ... within a 7 day retention period" (Soft Delete in Azure Compute Gallery)


def display_region(name):
    """'westeurope' or 'West Europe' -> 'West Europe' (ARM answers target regions by display name)."""
    return REGION_NAMES.get(norm_location(name), name)


def _set_tags(resource, body):
    if body.get('tags') is not None:
        resource['tags'] = dict(body['tags'])


def _drop_none(d):
    return {k: v for k, v in d.items() if v is not None}


def _feature_map(features):
    return {lower(f.get('name')): f for f in features or () if f.get('name')}


def _same_features(a, b):
    def norm(features):
        return sorted((lower(f.get('name')), lower(f.get('value')), f.get('startsAtVersion') or '') for f in features)
    return norm(a) == norm(b)


def _change_not_allowed(prop):
    """GalleryRP's 409 for an immutable property, e.g. 'galleryImage.properties.osState' (the form of
    "Changing property 'galleryImageVersion.properties.publishingProfile.source.managedImage.id' is not
    allowed." quoted in hashicorp/packer#9716)."""
    return conflict('PropertyChangeNotAllowed', "Changing property '%s' is not allowed." % prop, target=prop)


def _nested_exist(nested_id):
    """ARM's own 409 for deleting a parent before its children (quoted in gardenlinux/gardenlinux#2036)."""
    short = nested_id.split('/providers/', 1)[-1]
    return conflict('CannotDeleteResource', "Cannot delete resource while nested resources exist. Some existing "
                    "nested resource IDs include: '%s'. Please delete all nested resources before deleting this "
                    "resource." % short)


class GalleryMixin(object):
    """Galleries, definitions and versions: seed helpers, builders, handlers, replication, soft delete."""

    def _reset_galleries(self):
        # lower version id -> {'regions': [display names], 'ticks': [int], 'steps': int, 'op': op id or None}
        self._replication = {}
        self._soft_deleted = {}      # lower version id -> {'json': version JSON, 'time': timestamp}
        self._replication_hold = set()   # lower version ids held, or '*' for all
        self._failures = {}          # lower version id -> message of the failed operation

    # --- seed helpers (no HTTP) ------------------------------------------------------------------
    def add_gallery(self, rg, name, location=None, description=None, tags=None, soft_delete=None):
        """A gallery; ``soft_delete=True`` enables its softDeletePolicy."""
        with self._lock:
            body = {'location': self._location_or_group(rg, location), 'properties': {}}
            if description:
                body['properties']['description'] = description
            if soft_delete is not None:
                body['properties']['softDeletePolicy'] = {'isSoftDeleteEnabled': bool(soft_delete)}
            if tags is not None:
                body['tags'] = tags
            gallery = self._build_gallery(rg, name, body, None)
            gallery['properties']['provisioningState'] = 'Succeeded'
            return copy.deepcopy(self._store(gallery))

    def add_gallery_image(self, rg, gallery, name, os_type='Linux', os_state='Generalized', hyper_v_generation='V2',
                          publisher='vmimage', offer='test', sku=None, architecture='x64', features=None,
                          location=None, tags=None, **properties):
        """A gallery image definition, stored as given (no Trusted Launch default: pass
        ``features=[{'name': 'SecurityType', 'value': 'TrustedLaunchSupported'}]`` for that)."""
        with self._lock:
            parent = self._find(self._rid(rg, 'galleries', gallery))
            if parent is None:
                raise ValueError('gallery %s/%s does not exist' % (rg, gallery))
            props = {'osType': os_type, 'osState': os_state, 'hyperVGeneration': hyper_v_generation,
                     'identifier': {'publisher': publisher, 'offer': offer, 'sku': sku or name},
                     'architecture': architecture}
            if features is not None:
                props['features'] = features
            props.update(properties)
            body = {'location': norm_location(location) if location else parent['location'], 'properties': props}
            if tags is not None:
                body['tags'] = tags
            image = self._build_gallery_image(parent, name, body, None, api_version='2024-03-03', seed=True)
            image['properties']['provisioningState'] = 'Succeeded'
            return copy.deepcopy(self._store(image))

    def add_gallery_image_version(self, rg, gallery, image, version, source_id=None, size_gb=30, location=None,
                                  exclude_from_latest=False, target_regions=None, tags=None, end_of_life_date=None,
                                  storage_account_type=None, replicating=False, data_disk_sizes=()):
        """A gallery image version; ``source_id`` (image, VM, snapshot or disk id) is recorded as is
        and not checked (size_gb gives the OS disk size, ``data_disk_sizes`` one data disk per size).
        ``target_regions``: names or TargetRegion dicts (default: the version's region).
        ``replicating=True``: the version is still replicating (provisioningState Creating); each GET
        advances it as for a version created over HTTP."""
        with self._lock:
            parent = self._find(self._rid(rg, 'galleries', gallery) + '/images/' + image)
            if parent is None:
                raise ValueError('gallery image %s/%s/%s does not exist' % (rg, gallery, image))
            location = norm_location(location) if location else parent['location']
            source = source_id or self._rid(rg, 'snapshots', '%s-%s-os' % (image, version))
            low = source.lower()
            if '/virtualmachines/' in low:
                storage = {'source': {'virtualMachineId': source}}  # where ARM keeps a VM source
            elif '/snapshots/' in low or '/disks/' in low:
                storage = {'osDiskImage': {'source': {'id': source}}}
            else:
                storage = {'source': {'id': source}}
            if data_disk_sizes:
                storage['dataDiskImages'] = [{'lun': lun} for lun in range(len(data_disk_sizes))]
            regions = None
            if target_regions is not None:
                regions = [r if isinstance(r, dict) else {'name': r} for r in target_regions]
            body = {'location': location, 'properties': {
                'publishingProfile': _drop_none({'excludeFromLatest': exclude_from_latest, 'targetRegions': regions,
                                                 'endOfLifeDate': end_of_life_date,
                                                 'storageAccountType': storage_account_type}),
                'storageProfile': storage}}
            if tags is not None:
                body['tags'] = tags
            version_json, _failure = self._build_version(parent, version, body, None, GALLERY_VERSIONS[0],
                                                         check_source=False, size_gb=size_gb)
            for disk, size in zip(version_json['properties']['storageProfile'].get('dataDiskImages', ()),
                                  data_disk_sizes):
                disk['sizeInGB'] = size
            key = lower(version_json['id'])
            if replicating:
                version_json['properties']['provisioningState'] = 'Creating'
                self._start_replication(version_json, ())
            else:
                version_json['properties']['provisioningState'] = 'Succeeded'
                self._replication.pop(key, None)
            return copy.deepcopy(self._store(version_json))

    # --- replication knobs -----------------------------------------------------------------------
    def hold_replication(self, version_id=None):
        """Freeze replication (of one version, or of all): polls say InProgress, GETs show no progress."""
        with self._lock:
            self._replication_hold.add(lower(version_id).rstrip('/') if version_id else '*')

    def release_replication(self, version_id=None):
        """Undo hold_replication (for that version, or every hold)."""
        with self._lock:
            if version_id:
                self._replication_hold.discard(lower(version_id).rstrip('/'))
            else:
                self._replication_hold.clear()

    def step_replication(self, version_id, steps=1):
        """Advance a version's replication by ``steps`` steps now (holds are ignored); returns the
        replicationStatus it then has."""
        with self._lock:
            key = lower(version_id).rstrip('/')
            for dummy in range(steps):
                self._replication_step(key, force=True)
            version = self._res.get(key)
            return copy.deepcopy(self._replication_status(version)) if version else None

    def replication_status(self, version_id):
        """The replicationStatus a GET with $expand=ReplicationStatus would show (no step)."""
        with self._lock:
            version = self._find(version_id)
            return copy.deepcopy(self._replication_status(version)) if version else None

    def soft_deleted(self, version_id):
        """The stored JSON of a soft-deleted version, or None."""
        with self._lock:
            entry = self._soft_deleted.get(lower(version_id).rstrip('/'))
            return copy.deepcopy(entry['json']) if entry else None

    # --- replication -----------------------------------------------------------------------------
    def _start_replication(self, version, done_regions):
        """Replicate every target region of ``version`` not in ``done_regions`` (display names, lower)."""
        regions = [t['name'] for t in version['properties']['publishingProfile']['targetRegions']]
        steps = max(1, int(self.replication_steps))
        ticks = [steps if lower(r) in done_regions else 0 for r in regions]
        self._replication[lower(version['id'])] = {'regions': regions, 'ticks': ticks, 'steps': steps, 'op': None}

    def _held(self, key):
        return '*' in self._replication_hold or key in self._replication_hold

    def _replication_step(self, key, force=False):
        """One step of a version's replication; True when every region is done."""
        rep = self._replication.get(key)
        if rep is None:
            return True
        if all(t >= rep['steps'] for t in rep['ticks']):
            return True
        op = self._ops.get(rep['op']) if rep['op'] else None
        if not force and (self._held(key) or (op is not None and op.stuck)):
            return False
        index = next(i for i, t in enumerate(rep['ticks']) if t < rep['steps'])
        rep['ticks'][index] += 1
        finished = all(t >= rep['steps'] for t in rep['ticks'])
        version = self._res.get(key)
        if finished and version is not None and (op is None or not op.fail):
            version['properties']['provisioningState'] = 'Succeeded'
        return finished

    def _replication_status(self, version):
        props = version['properties']
        regions = [t['name'] for t in props['publishingProfile'].get('targetRegions') or ()]
        if props.get('provisioningState') == 'Failed':
            error = self._failures.get(lower(version['id']), '')
            summary = [{'region': r, 'state': 'Failed', 'details': error, 'progress': 0} for r in regions]
            return {'aggregatedState': 'Failed', 'summary': summary}
        rep = self._replication.get(lower(version['id']))
        if rep is None:
            summary = [{'region': r, 'state': 'Completed', 'details': '', 'progress': 100} for r in regions]
            return {'aggregatedState': 'Completed', 'summary': summary}
        summary = []
        for region, ticks in zip(rep['regions'], rep['ticks']):
            progress = 100 if ticks >= rep['steps'] else ticks * 100 // rep['steps']
            summary.append({'region': region, 'state': 'Completed' if progress == 100 else 'Replicating',
                            'details': '', 'progress': progress})
        done = all(s['state'] == 'Completed' for s in summary)
        return {'aggregatedState': 'Completed' if done else 'InProgress', 'summary': summary}

    # --- builders --------------------------------------------------------------------------------
    def _build_gallery(self, rg, name, body, existing):
        props = body.get('properties') or {}
        if existing is not None:
            gallery = copy.deepcopy(existing)
            _set_tags(gallery, body)
            for key in ('description', 'sharingProfile', 'softDeletePolicy'):
                if props.get(key) is not None:
                    gallery['properties'][key] = copy.deepcopy(props[key])
            if body.get('identity') is not None:
                gallery['identity'] = copy.deepcopy(body['identity'])
            return gallery
        p = {k: copy.deepcopy(v) for k, v in props.items() if k not in ('identifier', 'sharingStatus') and v is not None}
        p['identifier'] = {'uniqueName': '%s-%s' % (self.subscription_id, name.upper())}
        p['provisioningState'] = 'Creating'
        gallery = {'name': name, 'id': self._rid(rg, 'galleries', name), 'type': GALLERY_TYPE,
                   'location': norm_location(body.get('location')), 'properties': p}
        if body.get('identity') is not None:
            gallery['identity'] = copy.deepcopy(body['identity'])
        _set_tags(gallery, body)
        return gallery

    def _soft_delete_enabled(self, gallery):
        return bool(((gallery or {}).get('properties') or {}).get('softDeletePolicy', {}).get('isSoftDeleteEnabled'))

    def _build_gallery_image(self, gallery, name, body, existing, api_version=GALLERY_VERSIONS[0], seed=False):
        props = copy.deepcopy(body.get('properties') or {})
        allow_update = bool(props.pop('allowUpdateImage', False))
        if existing is not None:
            old = existing['properties']
            for key in IMMUTABLE_IMAGE:
                if props.get(key) is not None and lower(props[key]) != lower(old.get(key)):
                    raise _change_not_allowed('galleryImage.properties.%s' % key)
            if props.get('identifier') is not None and {k: lower(v) for k, v in props['identifier'].items()} != {
                    k: lower(v) for k, v in old['identifier'].items()}:
                raise _change_not_allowed('galleryImage.properties.identifier')
            image = copy.deepcopy(existing)
            _set_tags(image, body)
            if props.get('features') is not None:
                wanted = copy.deepcopy(props['features'])
                kept = _feature_map(old.get('features')).get('securitytype')
                if kept and 'securitytype' not in _feature_map(wanted):
                    wanted.append(copy.deepcopy(kept))  # not naming SecurityType does not ask to change it
                if not _same_features(wanted, old.get('features') or []):
                    if not allow_update:
                        raise _change_not_allowed('galleryImage.properties.features')
                    image['properties']['features'] = wanted
            for key in UPDATABLE_IMAGE:
                if props.get(key) is not None:
                    image['properties'][key] = props[key]
            return image
        if gallery is not None and not seed and props.get('identifier'):
            wanted = {k: lower(v) for k, v in props['identifier'].items()}
            for other in self._children(gallery['id'] + '/images', IMAGE_TYPE):
                if lower(other['name']) != lower(name) and {
                        k: lower(v) for k, v in other['properties']['identifier'].items()} == wanted:
                    # unsourced text: the (publisher, offer, sku) triple is unique in a gallery.
                    raise conflict('Conflict', "The gallery image identifier (publisher '%s', offer '%s', sku '%s') is "
                                   "already used by gallery image '%s' in gallery '%s'."
                                   % (props['identifier'].get('publisher'), props['identifier'].get('offer'),
                                      props['identifier'].get('sku'), other['name'], gallery['name']),
                                   target='galleryImage.properties.identifier')
        tlad = api_version >= TLAD_SINCE and not seed
        if props.get('hyperVGeneration') is None:
            props['hyperVGeneration'] = 'V2' if tlad else 'V1'
        props.setdefault('architecture', 'x64')
        if tlad and lower(props['hyperVGeneration']) == 'v2' and 'securitytype' not in _feature_map(props.get('features')):
            default = {'name': 'SecurityType', 'value': 'TrustedLaunchSupported'}
            props['features'] = list(props.get('features') or []) + [default]
        props = _drop_none(props)
        props['provisioningState'] = 'Creating'
        image = {'name': name, 'id': '%s/images/%s' % (gallery['id'], name), 'type': IMAGE_TYPE,
                 'location': norm_location(body.get('location')), 'properties': props}
        _set_tags(image, body)
        return image

    def _disk_source(self, source_id, what):
        """A disk or snapshot used as a version's disk image source (404 NotFound when absent)."""
        found = self._source(source_id)
        self._check_usable_source(found)
        return found

    def _version_sources(self, storage, definition, check_source, size_gb):
        """Resolve a GalleryImageVersionStorageProfile: (storage profile as returned, failure or None)."""
        src = storage.get('source') or {}
        vm_id, src_id = src.get('virtualMachineId'), src.get('id')
        os_in = storage.get('osDiskImage') or {}
        data_in = storage.get('dataDiskImages') or []
        os_src = os_in.get('source') or {}
        out = {}
        if src:
            out['source'] = copy.deepcopy(src)
        if not (vm_id or src_id or src.get('communityGalleryImageId') or os_src.get('id') or os_src.get('uri')):
            raise bad_request('InvalidParameter', "Required parameter 'storageProfile.source' or "
                              "'storageProfile.osDiskImage.source' is missing (null).", target='storageProfile')
        luns = [d.get('lun') for d in data_in]
        if len(set(luns)) != len(luns):
            # unsourced text
            raise bad_request('InvalidParameter', 'The data disk images of a gallery image version must have unique '
                              'luns.', target='galleryImageVersion.properties.storageProfile.dataDiskImages')
        os_state = gen = None
        os_size, data = size_gb, []
        ref = vm_id or src_id or os_src.get('id') or os_src.get('uri') or src.get('communityGalleryImageId')
        if check_source:
            if src_id and not vm_id and (parse_id(src_id) or ('', [('', '')]))[1][-1][0] == 'virtualmachines':
                # Real ARM refuses a VM id in source.id (quoted in Azure/azure-cli#28700); seeds
                # (add_gallery_image_version, check_source=False) are not checked.
                raise bad_request('InvalidParameter', "The gallery image version source id: '%s' must be specified in "
                                  "'galleryImageVersion.properties.storageProfile.source.virtualMachineId'." % src_id,
                                  target='galleryImageVersion.properties.storageProfile.source.id')
            if vm_id:
                vm = self._find(vm_id)
                if vm is None or vm['type'] != 'Microsoft.Compute/virtualMachines':
                    raise source_not_found(vm_id)
                state = self._vm_state[lower(vm['id'])]
                os_state = 'Generalized' if state['generalized'] else 'Specialized'
                gen = state['hyper_v']
                vsp = vm['properties']['storageProfile']
                os_size = vsp['osDisk']['diskSizeGB']
                data = [{'lun': d['lun'], 'sizeInGB': d['diskSizeGB']} for d in vsp['dataDisks']]
            elif src_id:
                found = self._find(src_id)
                if found is None:
                    raise source_not_found(src_id)
                if found['type'] == 'Microsoft.Compute/images':
                    isp = found['properties']['storageProfile']
                    os_state, gen = isp['osDisk']['osState'], found['properties'].get('hyperVGeneration')
                    os_size = isp['osDisk'].get('diskSizeGB')
                    data = [{'lun': d['lun'], 'sizeInGB': d.get('diskSizeGB')} for d in isp.get('dataDisks') or ()]
                elif found['type'] == VERSION_TYPE:
                    parent = self._find(found['id'].rsplit('/versions/', 1)[0])
                    pp = (parent or {}).get('properties') or {}
                    os_state, gen = pp.get('osState'), pp.get('hyperVGeneration')
                    vsp = found['properties']['storageProfile']
                    os_size = (vsp.get('osDiskImage') or {}).get('sizeInGB')
                    data = [{'lun': d['lun'], 'sizeInGB': d.get('sizeInGB')} for d in vsp.get('dataDiskImages') or ()]
                else:
                    raise bad_request('InvalidParameter', "The source '%s' cannot be used as the source of an image "
                                      'version.' % src_id, target='galleryImageVersion.properties.storageProfile.source')
            if os_src.get('id'):
                disk = self._disk_source(os_src['id'], 'osDiskImage')
                os_size = disk['properties'].get('diskSizeGB')
                gen = disk['properties'].get('hyperVGeneration') or gen
            elif os_src.get('uri'):
                os_size = self.blob_sizes.get(os_src['uri'], 30)
        dp = definition['properties']
        failure = None
        if os_state and lower(os_state) != lower(dp['osState']):
            failure = ('Conflict', "The resource with id '%s' has a different OS state ['%s'] than the parent gallery "
                       "image OS state ['%s']." % (ref, os_state, dp['osState']))
        elif gen and lower(gen) != lower(dp.get('hyperVGeneration', 'V1')):
            # quoted in MicrosoftDocs/azure-docs#118774 (a failed long-running operation, code Conflict)
            failure = ('Conflict', "The resource with id '%s' has a different Hypervisor generation ['%s'] than the "
                       "parent gallery image Hypervisor generation ['%s']." % (ref, gen, dp.get('hyperVGeneration')))
        os_out = dict(copy.deepcopy(os_in), sizeInGB=os_size)
        os_out.setdefault('hostCaching', 'ReadWrite')
        out['osDiskImage'] = _drop_none(os_out)
        given = {d['lun']: copy.deepcopy(d) for d in data_in}
        for d in data:
            given.setdefault(d['lun'], {'lun': d['lun']})
            given[d['lun']].setdefault('sizeInGB', d['sizeInGB'])
        if given:
            out['dataDiskImages'] = []
            for lun in sorted(given):
                d = given[lun]
                if check_source and (d.get('source') or {}).get('id'):
                    d.setdefault('sizeInGB', self._disk_source(d['source']['id'], 'dataDiskImages')['properties']
                                 .get('diskSizeGB'))
                elif check_source and (d.get('source') or {}).get('uri'):
                    d.setdefault('sizeInGB', self.blob_sizes.get(d['source']['uri'], 30))
                d.setdefault('hostCaching', 'None')
                out['dataDiskImages'].append(_drop_none(d))
        return out, failure

    @staticmethod
    def _check_version_name(name):
        match = VERSION_NAME.match(name or '')
        if not match or any(int(p) > INT32_MAX for p in match.groups()):
            # quoted in Azure/az-hop#707 and openshift/release#61488
            raise bad_request('InvalidParameter', 'The image version name is invalid. The image version name should '
                              'follow Major(int).Minor(int).Patch(int) format, where int is between 0 and '
                              '2,147,483,647 (inclusive). For e.g: 1.0.0, 2018.12.1 etc.',
                              target='galleryImageVersionName')

    def _regions(self, pp, location, api_version, sku_of=None):
        """The target regions as ARM stores them (display names, per-region replica count and storage)."""
        strategy = pp.get('storageAccountStrategy')
        base_sku = pp.get('storageAccountType')

        def default_sku(region):
            if base_sku:
                return base_sku
            if lower(strategy) == 'defaultstandard_lrs' or api_version < ZRS_SINCE:
                return 'Standard_LRS'
            return 'Standard_ZRS' if norm_location(region) in ZRS_REGIONS else 'Standard_LRS'
        regions = copy.deepcopy(pp.get('targetRegions') or [{'name': location}])
        for region in regions:
            region['name'] = display_region(region['name'])
            region.setdefault('regionalReplicaCount', pp.get('replicaCount', 1))
            old = (sku_of or {}).get(lower(region['name']))
            region.setdefault('storageAccountType', old or default_sku(region['name']))
            region.setdefault('excludeFromLatest', pp.get('excludeFromLatest', False))
        if lower(display_region(location)) not in [lower(r['name']) for r in regions]:
            # unsourced text: a version is always replicated to its own region.
            raise bad_request('InvalidParameter', "The target regions of the gallery image version must include its "
                              "location '%s'." % display_region(location),
                              target='galleryImageVersion.properties.publishingProfile.targetRegions')
        names = [lower(r['name']) for r in regions]
        if len(set(names)) != len(names):
            raise bad_request('InvalidParameter', 'A target region is listed more than once.',
                              target='galleryImageVersion.properties.publishingProfile.targetRegions')
        return regions

    def _build_version(self, definition, name, body, existing, api_version, check_source=True, size_gb=30):
        """(version JSON, failure): failure is (code, message) when the operation is to fail."""
        props = body.get('properties') or {}
        location = norm_location(body.get('location'))
        self._check_version_name(name)
        pp_in = props.get('publishingProfile') or {}
        if pp_in.get('storageAccountType') and pp_in.get('storageAccountStrategy'):
            # models.tsp: "Cannot be specified along with storageAccountType" (unsourced text)
            raise bad_request('InvalidParameter', "Parameters 'storageAccountType' and 'storageAccountStrategy' "
                              "cannot be specified together.",
                              target='galleryImageVersion.properties.publishingProfile.storageAccountStrategy')
        if existing is not None:
            return self._update_version(existing, body, api_version), None
        storage, failure = self._version_sources(props.get('storageProfile') or {}, definition, check_source, size_gb)
        pp = copy.deepcopy(pp_in)
        regions = self._regions(pp, location, api_version)
        pp.update({'targetRegions': regions, 'replicaCount': pp.get('replicaCount', 1),
                   'excludeFromLatest': pp.get('excludeFromLatest', False), 'publishedDate': timestamp()})
        if not pp.get('storageAccountType'):
            if api_version >= ZRS_SINCE:
                pp.setdefault('storageAccountStrategy', 'PreferStandard_ZRS')
            else:
                pp['storageAccountType'] = 'Standard_LRS'
        safety = dict({'allowDeletionOfReplicatedLocations': True, 'reportedForPolicyViolation': False,
                       'blockDeletionBeforeEndOfLife': False}, **(props.get('safetyProfile') or {}))
        out = {'publishingProfile': _drop_none(pp), 'storageProfile': storage, 'safetyProfile': safety,
               'provisioningState': 'Creating'}
        if props.get('securityProfile') is not None:
            out['securityProfile'] = copy.deepcopy(props['securityProfile'])
        version = {'name': name, 'id': '%s/versions/%s' % (definition['id'], name), 'type': VERSION_TYPE,
                   'location': location, 'properties': out}
        _set_tags(version, body)
        return version, failure

    def _update_version(self, existing, body, api_version):
        props = body.get('properties') or {}
        old_sp = existing['properties']['storageProfile']
        new_sp = props.get('storageProfile') or {}

        def src_of(sp):
            s = sp.get('source') or {}
            o = (sp.get('osDiskImage') or {}).get('source') or {}
            return lower(s.get('virtualMachineId') or s.get('id') or s.get('communityGalleryImageId') or o.get('id')
                         or o.get('uri'))
        if src_of(new_sp) and src_of(new_sp) != src_of(old_sp):
            raise _change_not_allowed('galleryImageVersion.properties.storageProfile.source.id')
        version = copy.deepcopy(existing)
        _set_tags(version, body)
        pp_in = props.get('publishingProfile') or {}
        old_pp = version['properties']['publishingProfile']
        for key in ('storageAccountType', 'replicationMode', 'storageAccountStrategy'):
            if pp_in.get(key) is not None and lower(pp_in[key]) != lower(old_pp.get(key)):
                raise _change_not_allowed('galleryImageVersion.properties.publishingProfile.%s' % key)
        for key in ('replicaCount', 'excludeFromLatest', 'endOfLifeDate'):
            if pp_in.get(key) is not None:
                old_pp[key] = copy.deepcopy(pp_in[key])
        if pp_in.get('targetRegions') is not None:
            sku_of = {lower(r['name']): r.get('storageAccountType') for r in old_pp['targetRegions']}
            merged = dict(old_pp, targetRegions=pp_in['targetRegions'])
            old_pp['targetRegions'] = self._regions(merged, existing['location'], api_version, sku_of=sku_of)
        if props.get('safetyProfile') is not None:
            version['properties']['safetyProfile'].update(props['safetyProfile'])
        if props.get('securityProfile') is not None:
            version['properties']['securityProfile'] = copy.deepcopy(props['securityProfile'])
        return version

    # --- HTTP handlers ---------------------------------------------------------------------------
    def _gallery_child(self, ctx, rg, gallery_name, extra):
        gallery = self._find(self._rid(rg, 'galleries', gallery_name))
        low = [lower(e) for e in extra]
        no_route = ArmError(404, 'NotFound', "No HTTP resource was found that matches the request URI '%s%s'."
                            % (self.url, ctx.path))
        if low[0] == 'softdeletedartifacttypes':
            if len(extra) != 5 or low[2] != 'artifacts' or low[4] != 'versions' or ctx.method != 'GET':
                raise no_route
            if gallery is None:
                raise not_found(GALLERY_TYPE, gallery_name, rg)
            return self._soft_deleted_list(ctx, gallery, extra[1], extra[3])
        if low[0] != 'images' or len(extra) not in (1, 2, 3, 4) or (len(extra) >= 3 and low[2] != 'versions'):
            raise no_route
        if gallery is None:
            if ctx.method in ('PUT', 'PATCH'):
                raise ArmError(404, 'ParentResourceNotFound', "Can not perform requested operation on nested "
                               "resource. Parent resource '%s' not found." % gallery_name)
            raise not_found(GALLERY_TYPE, gallery_name, rg)
        if len(extra) == 1:
            if ctx.method != 'GET':
                raise ArmError(405, 'MethodNotAllowed', 'The requested method is not allowed.')
            return self._paged(ctx, self._children(gallery['id'] + '/images', IMAGE_TYPE))
        image_id = '%s/images/%s' % (gallery['id'], extra[1])
        image = self._find(image_id)
        if len(extra) == 2:
            return self._nested(ctx, rg, 'galleryimages', gallery, extra[1], image, '%s/images' % gallery['name'])
        if image is None:
            if ctx.method in ('PUT', 'PATCH'):
                raise ArmError(404, 'ParentResourceNotFound', "Can not perform requested operation on nested "
                               "resource. Parent resource '%s/%s' not found." % (gallery['name'], extra[1]))
            raise not_found('%s/%s/images' % (GALLERY_TYPE, gallery['name']), extra[1], rg)
        if len(extra) == 3:
            if ctx.method != 'GET':
                raise ArmError(405, 'MethodNotAllowed', 'The requested method is not allowed.')
            return self._paged(ctx, self._children(image['id'] + '/versions', VERSION_TYPE))
        version = self._find('%s/versions/%s' % (image['id'], extra[3]))
        return self._nested(ctx, rg, 'galleryimageversions', image, extra[3], version,
                            '%s/images/%s/versions' % (gallery['name'], image['name']), gallery=gallery)

    def _nested(self, ctx, rg, kind, parent, name, existing, type_path, gallery=None):
        missing = not_found('%s/%s' % (GALLERY_TYPE, type_path), name, rg)
        if ctx.method == 'GET':
            if existing is None:
                raise missing
            if kind == 'galleryimageversions':
                self._replication_step(lower(existing['id']))
            out = copy.deepcopy(existing)
            if kind == 'galleryimageversions' and lower(ctx.query.get('$expand')) == 'replicationstatus':
                out['properties']['replicationStatus'] = self._replication_status(existing)
            return 200, out, {}
        if ctx.method == 'DELETE':
            if kind == 'galleryimageversions' and existing is None:
                return self._purge_soft_deleted(ctx, '%s/versions/%s' % (parent['id'], name))
            return self._delete(ctx, existing, kind)
        if ctx.method not in ('PUT', 'PATCH'):
            raise ArmError(405, 'MethodNotAllowed', 'The requested method is not allowed.')
        body = ctx.json
        if kind == 'galleryimageversions':
            restored = self._restore(ctx, parent, name, existing, body)
            if restored is not None:
                return restored
        if ctx.method == 'PATCH':
            if existing is None:
                raise missing
            body = dict(body, location=existing['location'])
        else:
            self._check_location(body, existing)
        if kind == 'galleryimages':
            resource = self._build_gallery_image(parent, existing['name'] if existing else name, body, existing,
                                                 api_version=ctx.api_version)
            return self._write(ctx, kind, resource, existing)
        resource, failure = self._build_version(parent, existing['name'] if existing else name, body, existing,
                                                ctx.api_version)
        return self._write_version(ctx, resource, existing, failure)

    def _write_version(self, ctx, version, existing, failure):
        """Store a version and start its operation: gated by replication, or failing with ``failure``."""
        creating = existing is None
        key = lower(version['id'])
        done_regions = set()
        if existing is not None:
            status = self._replication_status(existing)
            done_regions = {lower(s['region']) for s in status['summary'] if s['state'] == 'Completed'}
        version['properties']['provisioningState'] = 'Creating' if creating else 'Updating'
        self._store(version)
        self._failures.pop(key, None)
        if failure is None:
            self._start_replication(version, done_regions)
        else:
            self._replication.pop(key, None)

        def gate(op):
            return self._replication_step(key)

        def done(op):
            current = self._res.get(key)
            if current is not None:
                current['properties']['provisioningState'] = 'Succeeded'
            return current

        def failed(op):
            current = self._res.get(key)
            if current is not None:
                current['properties']['provisioningState'] = 'Failed'
                self._failures[key] = op.fail[1]
            self._replication.pop(key, None)
        answer = self._lro(ctx, 'caps', version['location'], 201 if creating else 200, copy.deepcopy(version), done,
                           failed, gate=None if failure else gate, fail=failure)
        if key in self._replication:
            self._replication[key]['op'] = self._last_op.id
        return answer

    def _restore(self, ctx, image, name, existing, body):
        """PUT/PATCH with properties.restore: bring a soft-deleted version back (None: not a restore)."""
        key = lower('%s/versions/%s' % (image['id'], name))
        entry = self._soft_deleted.get(key)
        wants = bool((body.get('properties') or {}).get('restore'))
        if entry is None:
            if wants and existing is None:
                # unsourced text
                raise bad_request('InvalidParameter', "There is no soft-deleted gallery image version '%s' to "
                                  "restore." % name, target='galleryImageVersion.properties.restore')
            return None
        if not wants:
            # unsourced text: a soft-deleted version keeps its name until it is restored or purged.
            raise conflict('Conflict', "The gallery image version '%s' is soft-deleted. Restore it (properties.restore "
                           "= true) or delete it with bypassSoftDelete=true before creating it again." % name)
        del self._soft_deleted[key]
        version = copy.deepcopy(entry['json'])
        _set_tags(version, body)
        version['properties']['provisioningState'] = 'Updating'
        self._store(version)

        def done(op):
            current = self._res.get(key)
            if current is not None:
                current['properties']['provisioningState'] = 'Succeeded'
            return current

        def failed(op):
            current = self._res.get(key)
            if current is not None:
                current['properties']['provisioningState'] = 'Failed'
        # GalleryImageVersion_Update_RestoreSoftDeleted.json answers 200.
        return self._lro(ctx, 'caps', version['location'], 200, copy.deepcopy(version), done, failed)

    def _check_gallery_delete(self, existing, kind):
        """409 CannotDeleteResource while children (soft-deleted versions included) exist."""
        if kind == 'galleries':
            children = self._children(existing['id'] + '/images', IMAGE_TYPE)
            if children:
                raise _nested_exist(children[0]['id'])
        if kind in ('galleries', 'galleryimages'):
            prefix = lower(existing['id']) + '/'
            for key, entry in list(self._soft_deleted.items()):
                if key.startswith(prefix):
                    raise _nested_exist(entry['json']['id'])
        if kind == 'galleryimages':
            children = self._children(existing['id'] + '/versions', VERSION_TYPE)
            if children:
                raise _nested_exist(children[0]['id'])

    def _delete_version(self, ctx, existing):
        """DELETE of a version: soft delete when the gallery's policy says so (and no bypassSoftDelete)."""
        key = lower(existing['id'])
        gallery = self._find(existing['id'].split('/images/', 1)[0])
        soft = self._soft_delete_enabled(gallery) and lower(ctx.query.get('bypassSoftDelete')) != 'true'
        existing['properties']['provisioningState'] = 'Deleting'

        def done(op):
            resource = self._res.pop(key, None)
            self._replication.pop(key, None)
            self._failures.pop(key, None)
            if resource is not None and soft:
                resource['properties']['provisioningState'] = 'Succeeded'
                self._soft_deleted[key] = {'json': resource, 'time': timestamp()}
            return None

        def failed(op):
            if key in self._res:
                self._res[key]['properties']['provisioningState'] = 'Failed'
        return self._lro(ctx, 'caps', existing['location'], 202, None, done, failed, location_header=True)

    def _purge_soft_deleted(self, ctx, version_id):
        key = lower(version_id)
        entry = self._soft_deleted.get(key)
        if entry is None or lower(ctx.query.get('bypassSoftDelete')) != 'true':
            return 204, None, {}

        def done(op):
            self._soft_deleted.pop(key, None)
            return None
        return self._lro(ctx, 'caps', entry['json']['location'], 202, None, done, None, location_header=True)

    def _soft_deleted_list(self, ctx, gallery, artifact_type, artifact_name):
        if lower(artifact_type) != 'images':
            raise bad_request('InvalidParameter', "The value '%s' of parameter 'artifactType' is not allowed. Allowed "
                              "values are 'Images'." % artifact_type, target='artifactType')
        prefix = lower('%s/images/%s/versions/' % (gallery['id'], artifact_name))
        policy = gallery['properties'].get('softDeletePolicy') or {}
        retention = policy.get('retentionPeriodInDays') or SOFT_DELETE_RETENTION_DAYS
        rows = []
        for key, entry in self._soft_deleted.items():
            if not key.startswith(prefix):
                continue
            version = entry['json']
            when = datetime.datetime.strptime(entry['time'][:19], '%Y-%m-%dT%H:%M:%S').replace(
                tzinfo=datetime.timezone.utc)
            props = {'resourceArmId': version['id'], 'softDeletedArtifactType': 'Images',
                     'softDeletedTime': entry['time'],
                     'consumptionEndTime': timestamp(when + datetime.timedelta(days=retention))}
            if policy.get('gracePeriodInDays'):
                props['hardDeletionTargetTime'] = timestamp(
                    when + datetime.timedelta(days=retention + policy['gracePeriodInDays']))
            rows.append({'name': version['name'], 'location': version['location'], 'type': SOFT_DELETED_TYPE,
                         'id': '%s/softDeletedArtifactTypes/Images/artifacts/%s/versions/%s'
                               % (gallery['id'], version['id'].split('/images/', 1)[1].split('/')[0], version['name']),
                         'properties': props})
        return self._paged(ctx, rows)
