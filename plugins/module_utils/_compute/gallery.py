# -*- coding: utf-8 -*-
# Copyright: contributors to the vmimage.azure collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to vmimage.azure: this module may change at any time; do not import it from outside
# the collection.
"""Azure Compute Gallery: galleries and image definitions, for the ``gallery`` and ``gallery_image``
modules. Each has a plan (GETs only) and an apply (the writes):

    planned = plan(client, subscription_id, params)          # a gallery
    result = apply(client, planned, wait)
    planned = plan_image(client, subscription_id, params)    # an image definition
    result = apply_image(client, planned, wait)

Facts the services rely on (GalleryRP api-version 2026-03-03, what azure-mgmt-compute 39 sends):

* a definition's osType, osState, hyperVGeneration, architecture, identifier and location cannot
  change (ARM answers 409 PropertyChangeNotAllowed); description, eula, privacy statement and
  release note URIs, end of life date, recommended configuration and tags can; features can with
  ``allowUpdateImage: true``; the (publisher, offer, sku) identifier is unique in a gallery;
* since api-version 2025-03-03 a definition created without hyperVGeneration is V2 and a V2 one
  without a SecurityType feature gets ``SecurityType: TrustedLaunchSupported``; the service sends
  those defaults itself, so what is created does not depend on the api-version;
* a gallery with definitions, and a definition with versions, cannot be deleted (409
  CannotDeleteResource); with the gallery's soft delete policy on, a deleted image version is kept
  (soft-deleted, recoverable) and still blocks deleting its definition and gallery. Definitions and
  galleries themselves are deleted for good.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.vmimage.azure.plugins.module_utils._compute import preflight
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import (
    ComputeError, apply_plan, get_or_none, immutable_error, read_current, resource_group_location,
    same_location, wire)

# A gallery cannot move; what a definition cannot change once made.
GALLERY_IMMUTABLE = ('location',)
IMAGE_IMMUTABLE = ('os_type', 'os_state', 'hyper_v_generation', 'architecture', 'identifier', 'location')
# Fields compared with their case (free text and URIs); other strings compare without case.
EXACT = ('description', 'eula', 'privacy_statement_uri', 'release_note_uri')

# Azure's naming rules (Microsoft.Compute naming restrictions).
GALLERY_NAME = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9._]{0,78}[A-Za-z0-9])?$')
IMAGE_NAME = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9])?$')

# Canonical spellings of the enum options (the modules accept azure_rm_galleryimage's lower case too).
OS_TYPES = {'linux': 'Linux', 'windows': 'Windows'}
OS_STATES = {'generalized': 'Generalized', 'specialized': 'Specialized'}
GENERATIONS = {'v1': 'V1', 'v2': 'V2'}
ARCHITECTURES = {'x64': 'x64', 'arm64': 'Arm64'}

# What is sent for a new definition when the option is omitted (Azure's own defaults since 2025-03-03).
DEFAULT_GENERATION = 'V2'
DEFAULT_ARCHITECTURE = 'x64'
DEFAULT_SECURITY_TYPE = 'TrustedLaunchSupported'
SECURITY_TYPE = 'SecurityType'

_DATE = re.compile(r'^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*'
                   r'(Z|z|[+-]\d{2}:?\d{2})?$')


# --- pure helpers (unit tested) ----------------------------------------------------------------------

def canonical_date(value, option='end_of_life_date'):
    """An ISO 8601 date or date-time as 'YYYY-MM-DDTHH:MM:SS+00:00' (UTC); None for None or ''.

    A date alone is midnight UTC; a time without an offset is UTC. ComputeError for anything else."""
    if value is None or value == '':
        return None
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    else:
        match = _DATE.match(str(value).strip())
        if not match:
            raise ComputeError("%s %r is not an ISO 8601 date: write it as 2030-12-31 or 2030-12-31T00:00:00Z."
                               % (option, value))
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        try:
            moment = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                                       int(second or 0), int((fraction or '0')[:6].ljust(6, '0')),
                                       tzinfo=datetime.timezone.utc)
        except ValueError as exc:
            raise ComputeError('%s %r is not a valid date (%s).' % (option, value, exc))
        if offset and offset.upper() != 'Z':
            sign = -1 if offset[0] == '-' else 1
            digits = offset[1:].replace(':', '')
            moment -= sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    moment = moment.astimezone(datetime.timezone.utc).replace(microsecond=0)
    return moment.isoformat()


def _canonical_enum(value, table, option):
    if value is None:
        return None
    found = table.get(str(value).lower())
    if found is None:
        raise ComputeError('%s %r is not one of %s.' % (option, value, ', '.join(sorted(table.values()))))
    return found


def normalize_recommended(recommended):
    """{v_cpus: {min, max}, memory: {min, max}} with only the values set (None leaves and empty
    ranges dropped), from the module's option or from Resource Manager's JSON (vCPUs / memory)."""
    out = {}
    for key, names in (('v_cpus', ('v_cpus', 'vCPUs')), ('memory', ('memory',))):
        given = next((recommended[n] for n in names if (recommended or {}).get(n) is not None), None) or {}
        bounds = dict((b, given.get(b)) for b in ('min', 'max') if given.get(b) is not None)
        if bounds:
            out[key] = bounds
    return out


def merge_recommended(current, given):
    """The recommended configuration once the bounds ``given`` (module option form) are set on
    ``current`` (normalized); the bounds not given keep their value. ComputeError for min > max."""
    merged = dict((k, dict(v)) for k, v in (current or {}).items())
    for key, bounds in normalize_recommended(given).items():
        merged.setdefault(key, {}).update(bounds)
    for key, bounds in merged.items():
        if bounds.get('min') is not None and bounds.get('max') is not None and bounds['min'] > bounds['max']:
            raise ComputeError('recommended.%s: min %d is greater than max %d.' % (key, bounds['min'], bounds['max']))
        for name, number in bounds.items():
            if number is not None and number < 0:
                raise ComputeError('recommended.%s.%s must not be negative (got %d).' % (key, name, number))
    return merged


def _feature_key(name):
    return (name or '').lower()


def feature_set(features):
    """Features as a comparable set of (lower name, lower value)."""
    return frozenset((_feature_key(f.get('name')), str(f.get('value') or '').lower()) for f in features or ())


def wanted_features(given, current, creating, generation):
    """The features a definition should end with: ``given`` (a list of {name, value}, or None when
    the option is omitted), with a SecurityType kept or defaulted when the list does not name one.

    * existing definition: a SecurityType it has is kept (ARM keeps it too when it is not named);
    * new definition of generation V2: SecurityType TrustedLaunchSupported, Azure's default since
      api-version 2025-03-03, sent explicitly.
    None when there is nothing to manage (option omitted on an existing definition)."""
    if given is None and not creating:
        return None
    features, seen = [], set()
    for item in given or ():
        name, value = (item.get('name') or '').strip(), item.get('value')
        if not name or value is None or str(value).strip() == '':
            raise ComputeError('Each entry of features needs a name and a value (got %r).' % (item,))
        if _feature_key(name) in seen:
            raise ComputeError("features lists '%s' more than once: give each feature once." % name)
        seen.add(_feature_key(name))
        value = str(value).strip()
        if _feature_key(name) == 'securitytype':
            name = SECURITY_TYPE
            value = preflight.normalize_security_type(value, 'features SecurityType') or 'Standard'
        features.append(dict(name=name, value=value))
    if 'securitytype' not in seen:
        kept = next((f for f in current or () if _feature_key(f.get('name')) == 'securitytype'), None)
        if kept is not None and not creating:
            features.append(dict(name=kept['name'], value=kept['value']))
        elif creating and generation == 'V2':
            features.append(dict(name=SECURITY_TYPE, value=DEFAULT_SECURITY_TYPE))
    return features


def _equal(name, wanted, current):
    if name == 'location':
        return same_location(wanted, current)
    if name == 'features':
        return feature_set(wanted) == feature_set(current)
    if name == 'identifier':
        def low(value):
            return dict((k, (v or '').lower()) for k, v in (value or {}).items())
        return low(wanted) == low(current)
    if name in EXACT or not isinstance(wanted, str) or not isinstance(current, str):
        return wanted == current
    return wanted.lower() == current.lower()


def compare_fields(wanted, current, immutable):
    """Every field of ``wanted`` that is not None, compared with ``current`` (normalized dicts).

    Returns (changed field names, the immutable ones among them). Free text is compared with its
    case, enums and locations without, features as a set, identifiers without case."""
    changed = [name for name, value in wanted.items() if value is not None and not _equal(name, value, current.get(name))]
    return changed, [name for name in changed if name in immutable]


# --- galleries -----------------------------------------------------------------------------------------

def normalize(gallery):
    """The fields the gallery module manages, from a Gallery model (or None)."""
    if gallery is None:
        return {}
    body = wire(gallery)
    props = body.get('properties', {})
    policy = props.get('softDeletePolicy') or {}
    return dict(
        id=body.get('id'), name=body.get('name'), location=body.get('location'), description=props.get('description'),
        unique_name=(props.get('identifier') or {}).get('uniqueName'),
        soft_delete=bool(policy.get('isSoftDeleteEnabled')),
        soft_delete_retention_days=policy.get('retentionPeriodInDays'),
        provisioning_state=props.get('provisioningState'), tags=body.get('tags') or {},
    )


def _definitions(client, rg, gallery):
    return [d.name for d in client.gallery_images.list_by_gallery(rg, gallery)]


def _check_gallery_empty(client, rg, name, doing):
    names = _definitions(client, rg, name)
    if names:
        raise ComputeError("Gallery '%s' cannot be %s: it still holds the image definitions %s. Delete them first "
                           '(vmimage.azure.gallery_image with state=absent, after their versions).'
                           % (name, doing, ', '.join(sorted(names))), code='gallery_not_empty')


def plan(client, subscription_id, params):
    """Decide what to do with a gallery; only GETs. Returns a dict with ``action``."""
    rg, name = params['resource_group'], params['name']
    current, before, absent = read_current(client.galleries.get, normalize, params)
    if absent is not None:
        if current is not None:
            _check_gallery_empty(client, rg, name, 'deleted')
        return absent
    location = params.get('location') or before.get('location') or resource_group_location(client, subscription_id, rg)
    wanted = dict(location=location, description=params.get('description'), soft_delete=params.get('soft_delete'),
                  tags=params.get('tags'))
    if current is None:
        if not GALLERY_NAME.match(name):
            raise ComputeError("'%s' is not a valid gallery name: use letters and digits, with dots and underscores "
                               'allowed in the middle (no hyphens), at most 80 characters.' % name)
        after = dict((k, v) for k, v in wanted.items() if v is not None)
        return dict(action='create', resource_group=rg, name=name, wanted=wanted, before={}, after=after, policy={})
    changed, immutable = compare_fields(wanted, before, GALLERY_IMMUTABLE)
    if immutable and not params.get('replace'):
        raise immutable_error('Gallery', name, immutable, wanted, before)
    if immutable:
        _check_gallery_empty(client, rg, name, 'replaced (deleted and re-created)')
    after = dict(before, **dict((k, v) for k, v in wanted.items() if v is not None))
    action = 'replace' if immutable else ('update' if changed else 'none')
    policy = (wire(current).get('properties') or {}).get('softDeletePolicy') or {}
    return dict(action=action, resource_group=rg, name=name, wanted=wanted, before=before, after=after,
                changed_fields=changed, current=before, policy=policy)


def _soft_delete_policy(planned):
    """The SoftDeletePolicy to send (retention and grace periods kept), or None when not managed."""
    from azure.mgmt.compute import models
    enabled = planned['wanted'].get('soft_delete')
    if enabled is None:
        return None
    policy = dict(planned.get('policy') or {}) if planned['action'] == 'update' else {}
    return models.SoftDeletePolicy(is_soft_delete_enabled=bool(enabled),
                                   retention_period_in_days=policy.get('retentionPeriodInDays'),
                                   grace_period_in_days=policy.get('gracePeriodInDays'))


def _gallery_body(planned):
    from azure.mgmt.compute import models
    wanted = planned['wanted']
    return models.Gallery(location=wanted['location'], tags=wanted['tags'], properties=models.GalleryProperties(
        description=wanted['description'], soft_delete_policy=_soft_delete_policy(planned)))


def _gallery_update(planned):
    from azure.mgmt.compute import models
    wanted = planned['wanted']
    return models.GalleryUpdate(tags=wanted['tags'], properties=models.GalleryProperties(
        description=wanted['description'], soft_delete_policy=_soft_delete_policy(planned)))


def apply(client, planned, wait):
    """Carry out a gallery plan; returns the gallery's normalized state ({} once deleted)."""
    return apply_plan(client.galleries, planned, wait, 'gallery', normalize, _gallery_body, _gallery_update)


# --- image definitions -----------------------------------------------------------------------------------

def normalize_image(image):
    """The fields the gallery_image module manages, from a GalleryImage model (or None)."""
    if image is None:
        return {}
    body = wire(image)
    props = body.get('properties', {})
    identifier = props.get('identifier')
    features = [dict(name=f.get('name'), value=f.get('value')) for f in props.get('features') or ()]
    return dict(
        id=body.get('id'), name=body.get('name'), location=body.get('location'),
        os_type=props.get('osType'), os_state=props.get('osState'), hyper_v_generation=props.get('hyperVGeneration'),
        architecture=props.get('architecture'),
        identifier=dict((k, identifier.get(k)) for k in ('publisher', 'offer', 'sku')) if identifier else None,
        description=props.get('description'), eula=props.get('eula'),
        privacy_statement_uri=props.get('privacyStatementUri'), release_note_uri=props.get('releaseNoteUri'),
        end_of_life_date=_azure_date(props.get('endOfLifeDate')),
        recommended=normalize_recommended(props.get('recommended')), features=features,
        provisioning_state=props.get('provisioningState'), tags=body.get('tags') or {},
    )


def _azure_date(value):
    """Azure's endOfLifeDate in the canonical form the options are compared in (as is if unparsable)."""
    try:
        return canonical_date(value)
    except ComputeError:
        return value


def _read_gallery(client, rg, gallery_name):
    return get_or_none(client.galleries.get, rg, gallery_name)


def gallery_not_found(rg, gallery_name):
    return ComputeError("Gallery '%s' was not found in resource group '%s'. Create it first (vmimage.azure.gallery) or "
                        'correct gallery_name.' % (gallery_name, rg), code='gallery_not_found')


def _soft_deleted_versions(client, rg, gallery, name):
    """[(version name, recoverable until)] of the definition's soft-deleted versions; [] when the
    gallery has never had a soft delete policy (there can be none) or they cannot be listed (ARM's
    own refusal of the delete then says why)."""
    from azure.core.exceptions import HttpResponseError
    policy = ((wire(gallery).get('properties') or {}).get('softDeletePolicy'))
    if not policy:
        return []
    try:
        rows = list(client.soft_deleted_resource.list_by_artifact_name(rg, gallery.name, 'images', name))
    except HttpResponseError:
        return []
    out = []
    for row in rows:
        props = wire(row).get('properties') or {}
        out.append((row.name, props.get('consumptionEndTime')))
    return out


def _check_deletable(client, rg, gallery, name, doing):
    """A definition cannot be deleted while it has versions, live or soft-deleted: say so before writing."""
    versions = [v.name for v in client.gallery_image_versions.list_by_gallery_image(rg, gallery.name, name)]
    if versions:
        raise ComputeError("Gallery image definition '%s' in gallery '%s' cannot be %s: it has the versions %s. Delete "
                           'them first (vmimage.azure.gallery_image_version with state=absent).'
                           % (name, gallery.name, doing, ', '.join(sorted(versions))), code='definition_has_versions')
    soft = _soft_deleted_versions(client, rg, gallery, name)
    if soft:
        listed = ', '.join('%s (recoverable until %s)' % (v, until) if until else v for v, until in sorted(soft))
        raise ComputeError("Gallery image definition '%s' in gallery '%s' cannot be %s: the gallery's soft delete keeps "
                           'its deleted versions %s, and Azure does not delete a definition that has soft-deleted '
                           'versions. Delete them for good first (DELETE of each version with bypassSoftDelete=true, '
                           'e.g. az sig image-version delete), or wait until their retention period ends.'
                           % (name, gallery.name, doing, listed), code='definition_has_soft_deleted_versions')


def _check_identifier_free(client, rg, gallery, name, identifier):
    def low(value):
        return tuple((value.get(k) or '').lower() for k in ('publisher', 'offer', 'sku'))
    for other in client.gallery_images.list_by_gallery(rg, gallery.name):
        ident = normalize_image(other).get('identifier') or {}
        if other.name.lower() != name.lower() and low(ident) == low(identifier):
            raise ComputeError("The identifier (publisher '%s', offer '%s', sku '%s') is already used by gallery image "
                               "definition '%s' in gallery '%s': it must be unique in a gallery. Choose another "
                               'identifier.' % (identifier['publisher'], identifier['offer'], identifier['sku'],
                                                other.name, gallery.name), code='identifier_in_use')


def _wanted_image(params, gallery, before):
    """The definition's fields as the options ask for them (None: not managed), defaults for a new one."""
    creating = not before
    identifier = params.get('identifier')
    if identifier is not None:
        missing = [k for k in ('publisher', 'offer', 'sku') if not identifier.get(k)]
        if missing:
            raise ComputeError('identifier needs publisher, offer and sku (missing: %s).' % ', '.join(missing))
        identifier = dict((k, identifier[k]) for k in ('publisher', 'offer', 'sku'))
    generation = _canonical_enum(params.get('hyper_v_generation'), GENERATIONS, 'hyper_v_generation')
    architecture = _canonical_enum(params.get('architecture'), ARCHITECTURES, 'architecture')
    if creating:
        generation = generation or DEFAULT_GENERATION
        architecture = architecture or DEFAULT_ARCHITECTURE
    effective_generation = generation or before.get('hyper_v_generation')
    features = wanted_features(params.get('features'), before.get('features'), creating, effective_generation)
    recommended = params.get('recommended')
    wanted = dict(
        location=params.get('location') or before.get('location') or gallery.location,
        os_type=_canonical_enum(params.get('os_type'), OS_TYPES, 'os_type'),
        os_state=_canonical_enum(params.get('os_state'), OS_STATES, 'os_state'),
        hyper_v_generation=generation, architecture=architecture, identifier=identifier,
        description=params.get('description'), eula=params.get('eula'),
        privacy_statement_uri=params.get('privacy_statement_uri'), release_note_uri=params.get('release_note_uri'),
        end_of_life_date=canonical_date(params.get('end_of_life_date')),
        recommended=merge_recommended(before.get('recommended'), recommended) if recommended is not None else None,
        features=features, tags=params.get('tags'),
    )
    if creating:
        missing = [k for k in ('os_type', 'os_state', 'identifier') if wanted[k] is None]
        if missing:
            raise ComputeError("Gallery image definition '%s' does not exist; creating it needs %s." % (
                params['name'], ', '.join(missing)), code='missing_options')
    return wanted


def check_definition(after, name):
    """What Azure refuses in a definition, said before writing: Trusted Launch / confidential VM
    SecurityType and Arm64 need generation V2."""
    generation = after.get('hyper_v_generation')
    if (after.get('architecture') or '').lower() == 'arm64' and (generation or '').upper() == 'V1':
        raise ComputeError("Gallery image definition '%s': architecture Arm64 needs hyper_v_generation V2 (Arm64 VMs "
                           'boot only with UEFI, generation 2). Set hyper_v_generation to V2.' % name,
                           code='arm64_needs_gen2')
    preflight.check_security(preflight.definition_security_type(after.get('features')), generation, 'gallery',
                             "gallery image definition '%s' (features SecurityType)" % name)


def plan_image(client, subscription_id, params):
    """Decide what to do with a gallery image definition; only GETs."""
    rg, gallery_name, name = params['resource_group'], params['gallery_name'], params['name']
    gallery = _read_gallery(client, rg, gallery_name)
    absent = params.get('state') == 'absent'
    if gallery is None:
        if absent:
            return dict(action='none', resource_group=rg, gallery_name=gallery_name, name=name, before={}, after={},
                        current={})
        raise gallery_not_found(rg, gallery_name)
    current = get_or_none(client.gallery_images.get, rg, gallery_name, name)
    before = normalize_image(current)
    base = dict(resource_group=rg, gallery_name=gallery_name, name=name, before=before, current=before)
    if absent:
        if current is None:
            return dict(base, action='none', after={})
        _check_deletable(client, rg, gallery, name, 'deleted')
        return dict(base, action='delete', after={})

    wanted = _wanted_image(params, gallery, before)
    if current is None:
        if not IMAGE_NAME.match(name):
            raise ComputeError("'%s' is not a valid gallery image definition name: use letters and digits, with dots, "
                               'hyphens and underscores allowed in the middle, at most 80 characters.' % name)
        after = dict((k, v) for k, v in wanted.items() if v is not None)
        check_definition(after, name)
        _check_identifier_free(client, rg, gallery, name, wanted['identifier'])
        return dict(base, action='create', wanted=wanted, after=after, carry={}, changed_fields=sorted(after))

    changed, immutable = compare_fields(wanted, before, IMAGE_IMMUTABLE)
    if immutable and not params.get('replace'):
        raise immutable_error('Gallery image definition', name, immutable, wanted, before)
    after = dict(before, **dict((k, v) for k, v in wanted.items() if v is not None))
    if immutable:
        for key in ('id', 'provisioning_state'):
            after.pop(key, None)
        if 'hyper_v_generation' in immutable and preflight.definition_security_type(params.get('features')) is None:
            # A new generation and no SecurityType asked for: the new definition gets what a new one
            # gets (the old SecurityType, perhaps Azure's default, may not fit the new generation).
            kept = [f for f in after.get('features') or () if _feature_key(f.get('name')) != 'securitytype']
            after['features'] = wanted_features(kept, None, True, after['hyper_v_generation'])
    if immutable or 'features' in changed:
        check_definition(after, name)
    if immutable:
        _check_deletable(client, rg, gallery, name, 'replaced (deleted and re-created)')
        if 'identifier' in immutable:
            _check_identifier_free(client, rg, gallery, name, after['identifier'])
    props = wire(current).get('properties') or {}
    carry = dict((k, props[k]) for k in ('disallowed', 'purchasePlan') if props.get(k))
    action = 'replace' if immutable else ('update' if changed else 'none')
    return dict(base, action=action, wanted=wanted, after=after, carry=carry, changed_fields=changed)


def _date_value(value):
    """A datetime for the SDK (a date Azure had in a form we do not parse goes back as it came)."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return value


def _image_body(planned):
    """The GalleryImage PUT for a create, a replace or an update: the whole definition as it should be."""
    from azure.mgmt.compute import models
    after, carry = planned['after'], planned.get('carry') or {}
    identifier = after['identifier']
    recommended = after.get('recommended') or {}

    def bounds(key):
        given = recommended.get(key)
        return models.ResourceRange(min=given.get('min'), max=given.get('max')) if given else None
    features = [models.GalleryImageFeature(name=f['name'], value=f['value']) for f in after.get('features') or ()]
    disallowed, plan_ = carry.get('disallowed'), carry.get('purchasePlan')
    props = models.GalleryImageProperties(
        os_type=after['os_type'], os_state=after['os_state'], hyper_v_generation=after.get('hyper_v_generation'),
        architecture=after.get('architecture'),
        identifier=models.GalleryImageIdentifier(publisher=identifier['publisher'], offer=identifier['offer'],
                                                 sku=identifier['sku']),
        description=after.get('description'), eula=after.get('eula'),
        privacy_statement_uri=after.get('privacy_statement_uri'), release_note_uri=after.get('release_note_uri'),
        end_of_life_date=_date_value(after.get('end_of_life_date')),
        recommended=models.RecommendedMachineConfiguration(v_cp_us=bounds('v_cpus'), memory=bounds('memory'))
        if recommended else None,
        features=features or None,
        disallowed=models.Disallowed(disk_types=disallowed.get('diskTypes')) if disallowed else None,
        purchase_plan=models.ImagePurchasePlan(name=plan_.get('name'), publisher=plan_.get('publisher'),
                                               product=plan_.get('product')) if plan_ else None,
        # Features change only when asked with allowUpdateImage.
        allow_update_image=True if planned['action'] == 'update' and 'features' in planned['changed_fields'] else None)
    return models.GalleryImage(location=after['location'], tags=after.get('tags'), properties=props)


def apply_image(client, planned, wait):
    """Carry out a definition plan (an update is a PUT of the whole definition); returns its
    normalized state ({} once deleted)."""
    action, rg, gallery, name = planned['action'], planned['resource_group'], planned['gallery_name'], planned['name']
    operations = client.gallery_images
    label = "gallery image definition '%s' in gallery '%s' (resource group '%s')" % (name, gallery, rg)
    if action == 'none':
        return planned.get('current') or {}
    if action in ('delete', 'replace'):
        wait(operations.begin_delete(rg, gallery, name), 'delete ' + label)
        if action == 'delete':
            return {}
    verb = 'update ' if action == 'update' else 'create '
    return normalize_image(wait(operations.begin_create_or_update(rg, gallery, name, _image_body(planned)), verb + label))


class _Service(object):
    """A service as AzureModule.run_plan takes it: ``plan`` and ``apply``."""

    def __init__(self, plan_, apply_):
        self.plan, self.apply = plan_, apply_


# The gallery_image module's service (this module itself is the gallery module's).
DEFINITIONS = _Service(plan_image, apply_image)
