# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pure parts of the gallery services: normalizing Resource Manager's JSON, comparing every field,
dates, recommended ranges and the features a definition ends with."""
from __future__ import annotations

import pytest
from azure.mgmt.compute import models

from ansible_collections.vmimage.azure.plugins.module_utils._compute import gallery
from ansible_collections.vmimage.azure.plugins.module_utils._compute.common import ComputeError

SUB = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/'
TRUSTED = {'name': 'SecurityType', 'value': 'TrustedLaunchSupported'}


def test_a_definition_is_normalized_to_snake_case():
    body = {'id': SUB + 'galleries/g/images/d', 'name': 'd', 'location': 'westeurope', 'tags': {'a': 'b'},
            'properties': {'osType': 'Linux', 'osState': 'Generalized', 'hyperVGeneration': 'V2', 'architecture': 'x64',
                           'identifier': {'publisher': 'p', 'offer': 'o', 'sku': 's'}, 'description': 'd',
                           'endOfLifeDate': '2030-01-01T00:00:00Z', 'privacyStatementUri': 'https://x/p',
                           'recommended': {'vCPUs': {'min': 2, 'max': 8}, 'memory': {'max': 32}},
                           'features': [dict(TRUSTED, startsAtVersion='1.0.0')], 'provisioningState': 'Succeeded'}}
    got = gallery.normalize_image(models.GalleryImage(body))
    assert (got['os_type'], got['os_state'], got['hyper_v_generation'], got['architecture']) == (
        'Linux', 'Generalized', 'V2', 'x64')
    assert got['identifier'] == {'publisher': 'p', 'offer': 'o', 'sku': 's'}
    assert got['end_of_life_date'] == '2030-01-01T00:00:00+00:00' and got['privacy_statement_uri'] == 'https://x/p'
    assert got['recommended'] == {'v_cpus': {'min': 2, 'max': 8}, 'memory': {'max': 32}}
    assert got['features'] == [TRUSTED] and got['tags'] == {'a': 'b'} and got['eula'] is None
    assert gallery.normalize_image(None) == {}


def test_a_gallery_is_normalized_with_its_soft_delete_policy():
    body = {'id': SUB + 'galleries/g', 'name': 'g', 'location': 'westeurope', 'properties': {
        'description': 'x', 'identifier': {'uniqueName': 'abc-G'},
        'softDeletePolicy': {'isSoftDeleteEnabled': True, 'retentionPeriodInDays': 7}}}
    got = gallery.normalize(models.Gallery(body))
    assert (got['soft_delete'], got['soft_delete_retention_days'], got['unique_name']) == (True, 7, 'abc-G')
    assert got['tags'] == {}
    plain = gallery.normalize(models.Gallery({'name': 'g', 'location': 'westeurope', 'properties': {}}))
    assert plain['soft_delete'] is False and plain['soft_delete_retention_days'] is None


@pytest.mark.parametrize('given, expected', [
    ('2030-12-31', '2030-12-31T00:00:00+00:00'),
    ('2030-12-31T10:20:30Z', '2030-12-31T10:20:30+00:00'),
    ('2030-12-31T10:20:30.1234567Z', '2030-12-31T10:20:30+00:00'),
    ('2030-12-31T12:00:00+02:00', '2030-12-31T10:00:00+00:00'),
    ('2030-12-31T00:30:00-0100', '2030-12-31T01:30:00+00:00'),
    ('2030-12-31 08:00', '2030-12-31T08:00:00+00:00'),
    (None, None),
])
def test_dates_compare_as_points_in_time(given, expected):
    assert gallery.canonical_date(given) == expected


@pytest.mark.parametrize('given', ['tomorrow', '2030-13-01', '31/12/2030'])
def test_a_bad_date_names_the_option_and_the_form(given):
    with pytest.raises(ComputeError) as info:
        gallery.canonical_date(given)
    assert 'end_of_life_date' in str(info.value) and repr(given) in str(info.value)


def test_compare_reports_every_difference_and_which_are_immutable():
    current = dict(os_type='Linux', os_state='Generalized', hyper_v_generation='V2', description='a',
                   identifier={'publisher': 'P', 'offer': 'O', 'sku': 'S'}, location='westeurope',
                   features=[TRUSTED, {'name': 'IsAcceleratedNetworkSupported', 'value': 'True'}], tags={})
    wanted = dict(os_type='linux', os_state='Specialized', hyper_v_generation='V1', description='A',
                  identifier={'publisher': 'p', 'offer': 'o', 'sku': 's'}, location='West Europe',
                  features=[{'name': 'isacceleratednetworksupported', 'value': 'true'}, TRUSTED], tags={'x': '1'},
                  eula=None)
    changed, immutable = gallery.compare_fields(wanted, current, gallery.IMAGE_IMMUTABLE)
    assert changed == ['os_state', 'hyper_v_generation', 'description', 'tags']
    assert immutable == ['os_state', 'hyper_v_generation']


def test_recommended_bounds_merge_and_are_checked():
    current = {'v_cpus': {'min': 1, 'max': 4}, 'memory': {'min': 2}}
    merged = gallery.merge_recommended(current, {'v_cpus': {'min': None, 'max': 8}, 'memory': None})
    assert merged == {'v_cpus': {'min': 1, 'max': 8}, 'memory': {'min': 2}}
    assert current == {'v_cpus': {'min': 1, 'max': 4}, 'memory': {'min': 2}}  # not changed in place
    with pytest.raises(ComputeError) as info:
        gallery.merge_recommended({}, {'memory': {'min': 64, 'max': 8}})
    assert 'recommended.memory' in str(info.value)


def test_features_of_a_new_definition_get_the_security_type_default_of_its_generation():
    accel = {'name': 'IsAcceleratedNetworkSupported', 'value': 'True'}
    assert gallery.wanted_features(None, None, True, 'V2') == [TRUSTED]
    assert gallery.wanted_features([accel], None, True, 'V2') == [accel, TRUSTED]
    assert gallery.wanted_features([accel], None, True, 'V1') == [accel]
    assert gallery.wanted_features([{'name': 'securitytype', 'value': 'trustedlaunch'}], None, True, 'V2') == [
        {'name': 'SecurityType', 'value': 'TrustedLaunch'}]
    assert gallery.wanted_features([{'name': 'SecurityType', 'value': 'standard'}], None, True, 'V2') == [
        {'name': 'SecurityType', 'value': 'Standard'}]


def test_features_of_an_existing_definition_keep_its_security_type():
    accel = {'name': 'IsAcceleratedNetworkSupported', 'value': 'True'}
    assert gallery.wanted_features(None, [TRUSTED], False, 'V2') is None  # not managed
    assert gallery.wanted_features([accel], [TRUSTED], False, 'V2') == [accel, TRUSTED]
    assert gallery.wanted_features([accel], [], False, 'V2') == [accel]  # no default added to an old definition
    with pytest.raises(ComputeError) as info:
        gallery.wanted_features([accel, dict(accel, value='False')], [], False, 'V2')
    assert 'more than once' in str(info.value)


def test_check_definition_refuses_trusted_launch_and_arm64_on_generation_1():
    gallery.check_definition({'hyper_v_generation': 'V2', 'architecture': 'Arm64', 'features': [TRUSTED]}, 'd')
    gallery.check_definition({'hyper_v_generation': 'V1', 'features': [{'name': 'SecurityType', 'value': 'Standard'}]},
                             'd')
    with pytest.raises(ComputeError) as info:
        gallery.check_definition({'hyper_v_generation': 'V1', 'features': [TRUSTED]}, 'd')
    assert info.value.code == 'security_needs_gen2'
    with pytest.raises(ComputeError) as info:
        gallery.check_definition({'hyper_v_generation': 'V1', 'architecture': 'Arm64', 'features': []}, 'd')
    assert info.value.code == 'arm64_needs_gen2'


def test_the_put_body_is_built_from_models_in_camel_case():
    after = dict(location='westeurope', os_type='Linux', os_state='Generalized', hyper_v_generation='V2',
                 architecture='x64', identifier={'publisher': 'p', 'offer': 'o', 'sku': 's'},
                 end_of_life_date='2030-01-01T00:00:00+00:00', recommended={'v_cpus': {'max': 8}},
                 features=[TRUSTED], tags={'a': 'b'})
    planned = dict(action='update', after=after, changed_fields=['features'],
                   carry={'purchasePlan': {'name': 'n', 'publisher': 'p', 'product': 'x'}})
    body = gallery._image_body(planned).as_dict()
    props = body['properties']
    assert props['hyperVGeneration'] == 'V2' and props['recommended'] == {'vCPUs': {'max': 8}}
    assert props['endOfLifeDate'] == '2030-01-01T00:00:00Z' and props['allowUpdateImage'] is True
    assert props['features'] == [TRUSTED] and props['purchasePlan']['product'] == 'x' and body['tags'] == {'a': 'b'}
    create = gallery._image_body(dict(planned, action='create', changed_fields=sorted(after), carry={})).as_dict()
    assert 'allowUpdateImage' not in create['properties'] and 'purchasePlan' not in create['properties']
