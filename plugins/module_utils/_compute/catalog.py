# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Read-only listings of the images a build starts from or publishes to, for ``image_info``.

Four catalogs, chosen by the options given (``catalog_of``): managed images, Marketplace images,
Azure Compute Gallery image definitions and versions, community gallery images and versions.
Every entry is normalised to snake_case and carries the ``id`` a later task can use as a source.
Only GET requests are sent.

Not found: a name that matches nothing gives an empty list; the scope of a listing that does not
exist (a resource group, a gallery, a community gallery) is an error, because an empty answer
would hide a typo.
"""

from __future__ import annotations

import re

from ansible_collections.vmimage.azure.plugins.module_utils._azure import ids
from ansible_collections.vmimage.azure.plugins.module_utils._compute import image as _image
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import (
    ComputeError, get_or_none, is_resource_group_not_found, resource_group_not_found, wire)

MANAGED, MARKETPLACE, GALLERY, COMMUNITY = 'managed', 'marketplace', 'gallery', 'community'
LATEST = 'latest'

# Keys every entry has, whatever its kind (None when that kind of image does not have the field).
COMMON = ('kind', 'id', 'name', 'location', 'tags', 'os_type', 'os_state', 'hyper_v_generation', 'architecture',
          'security_type', 'features', 'provisioning_state')

_MARKETPLACE_ID = re.compile(r'/Locations/(?P<location>[^/]+)/Publishers/(?P<publisher>[^/]+)/ArtifactTypes/VMImage'
                             r'/Offers/(?P<offer>[^/]+)/Skus/(?P<sku>[^/]+)/Versions/(?P<version>[^/]+)$', re.I)
_COMMUNITY_ID = re.compile(r'^/CommunityGalleries/(?P<gallery>[^/]+)/Images/(?P<image>[^/]+)'
                           r'(?:/Versions/(?P<version>[^/]+))?$', re.I)
# The resource types a gallery image version's source can be, and how the result names them.
_SOURCE_TYPES = (
    ('microsoft.compute/images', 'managed_image'),
    ('microsoft.compute/virtualmachines', 'virtual_machine'),
    ('microsoft.compute/snapshots', 'snapshot'),
    ('microsoft.compute/disks', 'managed_disk'),
    ('microsoft.compute/galleries/images/versions', 'gallery_image_version'),
    ('microsoft.compute/galleries/images', 'gallery_image'),
)


# --- which catalog, and what Ansible's argument spec cannot check ----------------------------------

def catalog_of(params):
    """``gallery_name`` -> gallery, ``community_gallery`` -> community, ``location`` -> Marketplace,
    else managed images."""
    if params.get('gallery_name'):
        return GALLERY
    if params.get('community_gallery'):
        return COMMUNITY
    if params.get('location'):
        return MARKETPLACE
    return MANAGED


def validate(params):
    """The catalog the options select; ComputeError for the two dependencies that Ansible's
    argument spec cannot express (their parent option depends on the catalog)."""
    catalog = catalog_of(params)
    if params.get('gallery_image_name') and catalog not in (GALLERY, COMMUNITY):
        raise ComputeError('gallery_image_name names an image definition: give gallery_name (and resource_group) for '
                           'a gallery, or community_gallery (and location) for a community gallery.')
    if params.get('version'):
        if catalog == MARKETPLACE and not params.get('sku'):
            raise ComputeError('version is the version of a Marketplace SKU: give publisher, offer and sku with it.')
        if catalog in (GALLERY, COMMUNITY) and not params.get('gallery_image_name'):
            raise ComputeError('version is the version of an image definition: give gallery_image_name with it.')
        if catalog == MANAGED:
            raise ComputeError('version selects the version of a Marketplace image (with location, publisher, offer '
                               'and sku) or of a gallery image (with gallery_image_name and gallery_name or '
                               'community_gallery); managed images have no versions.')
    return catalog


# --- pure helpers ----------------------------------------------------------------------------------

def version_key(name):
    """Sort key of a version name: numerically, part by part (1.10.0 after 1.9.0), as Resource
    Manager orders versions; a part that is not a number sorts after the numbers, as text."""
    return [(0, int(part), '') if part.isdigit() else (1, 0, part.lower()) for part in str(name or '').split('.')]


def newest(names):
    """The numerically highest version name, or None."""
    names = [n for n in names if n]
    return max(names, key=version_key) if names else None


def parse_tags(tags):
    """``['key', 'key:value']`` (as azure_rm_image_info takes them) -> [(key, value or None)]."""
    parsed = []
    for tag in tags or []:
        key, sep, value = str(tag).partition(':')
        parsed.append((key, value if sep else None))
    return parsed


def tags_match(tags, wanted):
    """Whether ``tags`` (a dict) has every wanted tag: the key (without case, as Azure compares
    tag names) and, when given, exactly the value."""
    have = dict(((k or '').lower(), v) for k, v in (tags or {}).items())
    return all(key.lower() in have and (value is None or have[key.lower()] == value) for key, value in wanted)


def features_of(raw, version=None):
    """Gallery or Marketplace features ``[{name, value[, startsAtVersion]}]`` -> {name: value};
    None when not reported. For a version, the features that start at a later version are left out."""
    if raw is None:
        return None
    found = {}
    for feature in raw:
        start = feature.get('startsAtVersion')
        if version and start and version_key(start) > version_key(version):
            continue
        if feature.get('name'):
            found[feature['name']] = feature.get('value')
    return found


def _feature(features, name):
    for key, value in (features or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _ref(value):
    return (value or {}).get('id')


def _entry(kind, body, **fields):
    entry = dict.fromkeys(COMMON)
    entry.update(kind=kind, id=body.get('id'), name=body.get('name'), location=body.get('location'),
                 tags=body.get('tags') or {})
    entry.update(fields)
    return entry


def _plan(plan):
    if not plan:
        return None
    return dict(name=plan.get('name'), publisher=plan.get('publisher'), product=plan.get('product'))


def _recommended(recommended):
    recommended = recommended or {}

    def span(value):
        return dict(min=(value or {}).get('min'), max=(value or {}).get('max')) if value else None
    return dict(v_cpus=span(recommended.get('vCPUs')), memory=span(recommended.get('memory')))


def source_type(reference):
    """What a source reference is: a blob URL, or the type of the resource its id names."""
    if not reference:
        return None
    if reference.lower().startswith(('https://', 'http://')):
        return 'blob'
    if _COMMUNITY_ID.match(reference):
        return 'community_gallery_image'
    parsed = ids.parse(reference)
    kind = parsed.type.lower() if parsed is not None else ''
    for name, label in _SOURCE_TYPES:
        if kind == name:
            return label
    return None


def _parents(resource_id):
    """(resource group, names of the parents and the resource) of a resource id."""
    parsed = ids.parse(resource_id)
    if parsed is None:
        return None, ()
    return parsed.resource_group, parsed.names


# --- normalisation (Resource Manager's JSON -> snake_case entries) ---------------------------------

def managed_image(model):
    """A managed image, in the shape the ``image`` module returns it, plus the common keys."""
    entry = dict.fromkeys(COMMON)
    entry.update(_image.normalize(model))
    resource_group, _names = _parents(entry.get('id'))
    entry.update(kind='managed_image', resource_group=resource_group)
    return entry


def marketplace_image(body, location=None, publisher=None, offer=None, sku=None):
    """A Marketplace image version (a VirtualMachineImage, or the VirtualMachineImageResource of a
    versions list, which has no properties: the details are then None)."""
    parsed = _MARKETPLACE_ID.search(body.get('id') or '')
    if parsed:
        location, publisher, offer, sku = (parsed.group('location'), parsed.group('publisher'),
                                           parsed.group('offer'), parsed.group('sku'))
    version = body.get('name')
    props = body.get('properties')
    entry = _entry('marketplace_image', body, location=body.get('location') or location, publisher=publisher,
                   offer=offer, sku=sku, version=version, urn=':'.join(str(p) for p in (publisher, offer, sku, version)),
                   plan=None, data_disk_luns=None, image_state=None, scheduled_deprecation_time=None,
                   automatic_os_upgrade_supported=None, disallowed_vm_disk_type=None)
    if props is None:
        return entry
    features = features_of(props.get('features') or [])
    deprecation = props.get('imageDeprecationStatus') or {}
    entry.update(
        os_type=(props.get('osDiskImage') or {}).get('operatingSystem'),
        hyper_v_generation=props.get('hyperVGeneration'), architecture=props.get('architecture'),
        features=features, security_type=_feature(features, 'SecurityType'),
        plan=_plan(props.get('plan')), data_disk_luns=[d.get('lun') for d in props.get('dataDiskImages') or []],
        image_state=deprecation.get('imageState'),
        scheduled_deprecation_time=deprecation.get('scheduledDeprecationTime'),
        automatic_os_upgrade_supported=(props.get('automaticOSUpgradeProperties') or {}).get(
            'automaticOSUpgradeSupported'),
        disallowed_vm_disk_type=(props.get('disallowed') or {}).get('vmDiskType'))
    return entry


def _definition_fields(props, version=None):
    """What a gallery (or community gallery) image definition says of every version of it."""
    ident = props.get('identifier') or {}
    features = features_of(props.get('features') or [], version)
    return dict(
        os_type=props.get('osType'), os_state=props.get('osState'), hyper_v_generation=props.get('hyperVGeneration'),
        architecture=props.get('architecture'), features=features, security_type=_feature(features, 'SecurityType'),
        identifier=dict(publisher=ident.get('publisher'), offer=ident.get('offer'), sku=ident.get('sku')))


def gallery_image(body):
    """An image definition of an Azure Compute Gallery."""
    props = body.get('properties') or {}
    resource_group, names = _parents(body.get('id'))
    return _entry(
        'gallery_image', body, resource_group=resource_group, gallery_name=names[0] if len(names) > 1 else None,
        provisioning_state=props.get('provisioningState'), description=props.get('description'),
        end_of_life_date=props.get('endOfLifeDate'), eula=props.get('eula'),
        privacy_statement_uri=props.get('privacyStatementUri'), release_note_uri=props.get('releaseNoteUri'),
        recommended=_recommended(props.get('recommended')),
        disallowed_disk_types=(props.get('disallowed') or {}).get('diskTypes') or [],
        purchase_plan=_plan(props.get('purchasePlan')), allow_update_image=props.get('allowUpdateImage'),
        **_definition_fields(props))


def _region(region):
    return dict(name=region.get('name'), regional_replica_count=region.get('regionalReplicaCount'),
                storage_account_type=region.get('storageAccountType'),
                exclude_from_latest=region.get('excludeFromLatest'))


def gallery_image_version(body, definition=None):
    """A gallery image version; ``definition`` is its image definition's JSON (the version itself
    does not say its OS, generation, architecture or security type)."""
    props = body.get('properties') or {}
    publishing = props.get('publishingProfile') or {}
    storage = props.get('storageProfile') or {}
    source = storage.get('source') or {}
    os_disk = storage.get('osDiskImage') or {}
    os_source = os_disk.get('source') or {}
    resource_group, names = _parents(body.get('id'))
    reference = (source.get('id') or source.get('virtualMachineId') or source.get('communityGalleryImageId')
                 or os_source.get('id') or os_source.get('uri'))
    version = body.get('name')
    return _entry(
        'gallery_image_version', body, version=version, resource_group=resource_group,
        gallery_name=names[0] if len(names) > 2 else None, gallery_image_name=names[1] if len(names) > 2 else None,
        gallery_image_id=(definition or {}).get('id') or ('/'.join(body['id'].split('/')[:-2])
                                                          if body.get('id') else None),
        provisioning_state=props.get('provisioningState'),
        source=reference, source_type=source_type(reference),
        exclude_from_latest=bool(publishing.get('excludeFromLatest')),
        published_date=publishing.get('publishedDate'), end_of_life_date=publishing.get('endOfLifeDate'),
        publishing_profile=dict(
            target_regions=[_region(r) for r in publishing.get('targetRegions') or []],
            replica_count=publishing.get('replicaCount'), exclude_from_latest=bool(publishing.get('excludeFromLatest')),
            storage_account_type=publishing.get('storageAccountType'),
            replication_mode=publishing.get('replicationMode'),
            published_date=publishing.get('publishedDate'), end_of_life_date=publishing.get('endOfLifeDate')),
        storage_profile=dict(
            source=reference, os_disk_size_gb=os_disk.get('sizeInGB'), os_disk_host_caching=os_disk.get('hostCaching'),
            data_disk_luns=sorted(d.get('lun') for d in storage.get('dataDiskImages') or [])),
        allow_deletion_of_replicated_locations=(props.get('safetyProfile') or {}).get(
            'allowDeletionOfReplicatedLocations'),
        **_definition_fields((definition or {}).get('properties') or {}, version))


def _community_names(unique_id):
    match = _COMMUNITY_ID.match(unique_id or '')
    return (match.group('gallery'), match.group('image')) if match else (None, None)


def community_gallery_image(body):
    """An image definition of a community gallery; its id is the ``/CommunityGalleries/...`` unique id."""
    props = body.get('properties') or {}
    unique_id = (body.get('identifier') or {}).get('uniqueId')
    gallery, _name = _community_names(unique_id)
    return _entry(
        'community_gallery_image', body, id=unique_id, community_gallery=gallery,
        end_of_life_date=props.get('endOfLifeDate'), eula=props.get('eula'),
        privacy_statement_uri=props.get('privacyStatementUri'), disclaimer=props.get('disclaimer'),
        artifact_tags=props.get('artifactTags') or {}, recommended=_recommended(props.get('recommended')),
        disallowed_disk_types=(props.get('disallowed') or {}).get('diskTypes') or [],
        purchase_plan=_plan(props.get('purchasePlan')), **_definition_fields(props))


def community_gallery_image_version(body, definition=None):
    """A version of a community gallery image; ``definition`` is the image's JSON."""
    props = body.get('properties') or {}
    storage = props.get('storageProfile') or {}
    os_disk = storage.get('osDiskImage') or {}
    unique_id = (body.get('identifier') or {}).get('uniqueId')
    gallery, image = _community_names(unique_id)
    version = body.get('name')
    return _entry(
        'community_gallery_image_version', body, id=unique_id, version=version, community_gallery=gallery,
        gallery_image_name=image,
        gallery_image_id=((definition or {}).get('identifier') or {}).get('uniqueId')
        or (unique_id.rsplit('/', 2)[0] if unique_id else None),
        exclude_from_latest=bool(props.get('excludeFromLatest')), published_date=props.get('publishedDate'),
        end_of_life_date=props.get('endOfLifeDate'), image_state=props.get('imageState'),
        disclaimer=props.get('disclaimer'), artifact_tags=props.get('artifactTags') or {},
        storage_profile=dict(
            os_disk_size_gb=os_disk.get('diskSizeGB'), os_disk_host_caching=os_disk.get('hostCaching'),
            data_disk_luns=sorted(d.get('lun') for d in storage.get('dataDiskImages') or [])),
        **_definition_fields((definition or {}).get('properties') or {}, version))


def latest(versions):
    """The version Azure means by "latest": the numerically highest one that is not excluded from
    latest and whose provisioning did not fail or is not still running."""
    usable = [v for v in versions if not v.get('exclude_from_latest')
              and (v.get('provisioning_state') or 'Succeeded').lower() == 'succeeded']
    best = newest([v['version'] for v in usable])
    return [v for v in usable if v['version'] == best][:1]


def _by_name(entries):
    return sorted(entries, key=lambda e: ((e.get('resource_group') or '').lower(), (e.get('name') or '').lower()))


def _by_version(entries):
    return sorted(entries, key=lambda e: version_key(e.get('version')))


def _result(listed, images, names=None, **extra):
    return dict(listed=listed, images=images, names=names if names is not None else [e['name'] for e in images],
                **extra)


# --- the listings ----------------------------------------------------------------------------------

def managed(client, resource_group=None, name=None, tags=None):
    """Managed images: one by name, all of a resource group, or all of the subscription."""
    from azure.core.exceptions import ResourceNotFoundError
    if name and resource_group:
        found = get_or_none(client.images.get, resource_group, name)
        images = [found] if found is not None else []
    else:
        try:
            images = list(client.images.list_by_resource_group(resource_group) if resource_group
                          else client.images.list())
        except ResourceNotFoundError:
            if resource_group:
                raise resource_group_not_found(resource_group)
            raise
    entries = [managed_image(i) for i in images]
    if name:
        entries = [e for e in entries if (e['name'] or '').lower() == name.lower()]
    wanted = parse_tags(tags)
    return _result('managed_images', _by_name(e for e in entries if tags_match(e['tags'], wanted)))


def marketplace(client, location, publisher=None, offer=None, sku=None, version=None):
    """Marketplace images; above the version, the names of the publishers, offers or SKUs.

    A publisher, offer, SKU or version that does not exist gives an empty answer."""
    from azure.core.exceptions import ResourceNotFoundError
    images = client.virtual_machine_images
    try:
        if not publisher:
            return _result('marketplace_publishers', [], _sorted_names(images.list_publishers(location)))
        if not offer:
            return _result('marketplace_offers', [], _sorted_names(images.list_offers(location, publisher)))
        if not sku:
            return _result('marketplace_skus', [], _sorted_names(images.list_skus(location, publisher, offer)))
        if not version:
            # $expand=properties: each version with its generation, architecture and features.
            found = images.list_with_properties(location, publisher, offer, sku, expand='properties')
            return _result('marketplace_images', _by_version(
                marketplace_image(wire(v), location, publisher, offer, sku) for v in found))
        if version.lower() == LATEST:
            # What the Azure CLI asks for "latest": ARM orders version names numerically.
            top = images.list(location, publisher, offer, sku, top=1, orderby='name desc')
            version = newest([v.name for v in top or []])
            if version is None:
                return _result('marketplace_images', [])
        found = images.get(location, publisher, offer, sku, version)
    except ResourceNotFoundError:
        listed = ('marketplace_publishers' if not publisher else 'marketplace_offers' if not offer
                  else 'marketplace_skus' if not sku else 'marketplace_images')
        return _result(listed, [], [])
    return _result('marketplace_images', [marketplace_image(wire(found), location, publisher, offer, sku)])


def _sorted_names(resources):
    return sorted((r.name for r in resources or [] if r.name), key=lambda n: n.lower())


def _gallery_missing(client, resource_group, gallery_name):
    """The error for a gallery that is not there (or, if it is, None)."""
    if get_or_none(client.galleries.get, resource_group, gallery_name) is None:
        return ComputeError("Gallery '%s' was not found in resource group '%s': correct gallery_name or resource_group."
                            % (gallery_name, resource_group), code='gallery_not_found')
    return None


def gallery(client, resource_group, gallery_name, gallery_image_name=None, version=None, tags=None):
    """Image definitions of a gallery, or the versions of one of them (all, one, or the latest)."""
    from azure.core.exceptions import ResourceNotFoundError
    wanted = parse_tags(tags)
    if not gallery_image_name:
        try:
            found = list(client.gallery_images.list_by_gallery(resource_group, gallery_name))
        except ResourceNotFoundError as exc:
            if is_resource_group_not_found(exc):
                raise resource_group_not_found(resource_group)
            raise _gallery_missing(client, resource_group, gallery_name) or exc
        entries = [gallery_image(wire(d)) for d in found]
        return _result('gallery_images', _by_name(e for e in entries if tags_match(e['tags'], wanted)))

    definition = get_or_none(client.gallery_images.get, resource_group, gallery_name, gallery_image_name)
    if definition is None:
        error = _gallery_missing(client, resource_group, gallery_name)
        if error is not None:
            raise error
        return _result('gallery_image_versions', [], gallery_image=None)
    body = wire(definition)
    if version and version.lower() != LATEST:
        found = get_or_none(client.gallery_image_versions.get, resource_group, gallery_name, gallery_image_name,
                            version)
        versions = [found] if found is not None else []
    else:
        versions = list(client.gallery_image_versions.list_by_gallery_image(resource_group, gallery_name,
                                                                            gallery_image_name))
    entries = [gallery_image_version(wire(v), body) for v in versions]
    entries = [e for e in entries if tags_match(e['tags'], wanted)]
    if version and version.lower() == LATEST:
        entries = latest(entries)
    return _result('gallery_image_versions', _by_version(entries), gallery_image=gallery_image(body))


def _community_missing(client, location, public_name):
    if get_or_none(client.community_galleries.get, location, public_name) is None:
        return ComputeError("Community gallery '%s' was not found in %s: community_gallery is the public name of the "
                            'gallery (its prefix and a GUID), and location a region it is shared in.'
                            % (public_name, location), code='community_gallery_not_found')
    return None


def community(client, location, public_name, gallery_image_name=None, version=None):
    """Images of a community gallery, or the versions of one of them (all, one, or the latest)."""
    from azure.core.exceptions import ResourceNotFoundError
    if not gallery_image_name:
        try:
            found = list(client.community_gallery_images.list(location, public_name))
        except ResourceNotFoundError as exc:
            raise _community_missing(client, location, public_name) or exc
        return _result('community_gallery_images', sorted((community_gallery_image(wire(d)) for d in found),
                                                          key=lambda e: (e['name'] or '').lower()))

    definition = get_or_none(client.community_gallery_images.get, location, public_name, gallery_image_name)
    if definition is None:
        error = _community_missing(client, location, public_name)
        if error is not None:
            raise error
        return _result('community_gallery_image_versions', [], gallery_image=None)
    body = wire(definition)
    if version and version.lower() != LATEST:
        found = get_or_none(client.community_gallery_image_versions.get, location, public_name, gallery_image_name,
                            version)
        versions = [found] if found is not None else []
    else:
        versions = list(client.community_gallery_image_versions.list(location, public_name, gallery_image_name))
    entries = [community_gallery_image_version(wire(v), body) for v in versions]
    if version and version.lower() == LATEST:
        entries = latest(entries)
    return _result('community_gallery_image_versions', _by_version(entries),
                   gallery_image=community_gallery_image(body))


def run(client, params):
    """The listing the options ask for: dict(catalog, listed, images, names[, gallery_image])."""
    catalog = validate(params)
    if catalog == MANAGED:
        result = managed(client, params.get('resource_group'), params.get('name'), params.get('tags'))
    elif catalog == MARKETPLACE:
        result = marketplace(client, params['location'], params.get('publisher'), params.get('offer'),
                             params.get('sku'), params.get('version'))
    elif catalog == GALLERY:
        result = gallery(client, params['resource_group'], params['gallery_name'], params.get('gallery_image_name'),
                         params.get('version'), params.get('tags'))
    else:
        result = community(client, params['location'], params['community_gallery'], params.get('gallery_image_name'),
                           params.get('version'))
    return dict(result, catalog=catalog)
