# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.image_info through ansible-playbook, against the ARM fake in strict mode.

Every run is read-only: after each one the fake has recorded no write."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests, methods

LOC = 'westeurope'
UBUNTU = dict(location=LOC, publisher='Canonical', offer='ubuntu-24_04-lts', sku='server')


def info(**args):
    return {'vmimage.azure.image_info': args}


def run_with_output(arm, arm_playbook, tasks, **kwargs):
    """Run the tasks, then prove that nothing was written and only GETs were sent: (results, output)."""
    arm.clear_requests()
    results, output = arm_playbook(tasks, **kwargs)
    assert arm.writes() == [], arm.writes()
    assert methods(arm) in ([], ['GET']), [(r.method, r.path) for r in arm_requests(arm)]
    for result in results:
        assert result.get('changed') is False, result
    return results, output


def run(arm, arm_playbook, tasks, **kwargs):
    """``run_with_output`` without the output: the results."""
    return run_with_output(arm, arm_playbook, tasks, **kwargs)[0]


def ok(result):
    assert not result.get('failed'), result.get('msg', result)
    return result


# --- Marketplace ------------------------------------------------------------------------------------

def marketplace(arm):
    stored = {}
    for version in ('1.2.0', '1.9.0', '1.10.0'):
        stored[version] = arm.add_marketplace_image(LOC, 'Canonical', 'ubuntu-24_04-lts', 'server', version)
    arm.add_marketplace_image(LOC, 'Canonical', 'ubuntu-24_04-lts', 'server-arm64', '1.0.0', architecture='Arm64')
    arm.add_marketplace_image(LOC, 'Canonical', 'ubuntu-22_04-lts', 'server', '1.0.0', hyper_v_generation='V1')
    arm.add_marketplace_image(LOC, 'Debian', 'debian-12', '12-gen2', '0.20250101.1')
    arm.add_marketplace_image('northeurope', 'SUSE', 'sles-15', 'gen2', '1.0.0')
    return stored


def test_marketplace_names_one_level_down_when_the_narrower_options_are_omitted(arm, arm_playbook):
    marketplace(arm)
    publishers, offers, skus, versions = run(arm, arm_playbook, [
        info(location=LOC),
        info(location=LOC, publisher='Canonical'),
        info(location=LOC, publisher='Canonical', offer='ubuntu-24_04-lts'),
        info(**UBUNTU),
    ])
    assert ok(publishers)['listed'] == 'marketplace_publishers' and publishers['catalog'] == 'marketplace'
    assert publishers['names'] == ['Canonical', 'Debian'] and publishers['images'] == []
    assert ok(offers)['listed'] == 'marketplace_offers'
    assert offers['names'] == ['ubuntu-22_04-lts', 'ubuntu-24_04-lts']
    assert ok(skus)['names'] == ['server', 'server-arm64']
    # Versions: numerically, oldest first; each with an id usable as a source and its URN.
    assert ok(versions)['listed'] == 'marketplace_images'
    assert versions['names'] == ['1.2.0', '1.9.0', '1.10.0']
    assert [i['urn'] for i in versions['images']] == ['Canonical:ubuntu-24_04-lts:server:' + v
                                                      for v in ('1.2.0', '1.9.0', '1.10.0')]


def test_marketplace_latest_is_the_numerically_newest_with_its_properties_and_stored_id(arm, arm_playbook):
    stored = marketplace(arm)
    latest, named, arm64 = run(arm, arm_playbook, [
        info(version='latest', **UBUNTU),
        info(version='1.9.0', **UBUNTU),
        info(location=LOC, publisher='Canonical', offer='ubuntu-24_04-lts', sku='server-arm64', version='latest'),
    ])
    image = ok(latest)['images'][0]
    assert len(latest['images']) == 1 and latest['names'] == ['1.10.0']
    assert image['version'] == '1.10.0' and image['urn'] == 'Canonical:ubuntu-24_04-lts:server:1.10.0'
    assert image['id'] == stored['1.10.0']['id']
    assert '/Versions/1.10.0' in image['id'] and '/ArtifactTypes/VMImage/' in image['id']
    assert (image['kind'], image['os_type'], image['hyper_v_generation'], image['architecture'], image['location']) == (
        'marketplace_image', 'Linux', 'V2', 'x64', LOC)
    assert ok(named)['images'][0]['id'] == stored['1.9.0']['id']
    assert ok(arm64)['images'][0]['architecture'] == 'Arm64'


def test_marketplace_names_that_match_nothing_give_empty_lists(arm, arm_playbook):
    marketplace(arm)
    results = run(arm, arm_playbook, [
        info(location=LOC, publisher='NoSuchPublisher'),
        info(location=LOC, publisher='Canonical', offer='no-such-offer'),
        info(location=LOC, publisher='Canonical', offer='ubuntu-24_04-lts', sku='no-such-sku'),
        info(location=LOC, publisher='Canonical', offer='ubuntu-24_04-lts', sku='no-such-sku', version='latest'),
        info(version='9.9.9', **UBUNTU),
    ])
    for result in results:
        assert ok(result)['images'] == [] and result['names'] == [], result


# --- managed images ---------------------------------------------------------------------------------

BLOB = 'https://acct.blob.core.windows.net/vhds/%s.vhd'


def add_image(arm, rg, name, **kwargs):
    return arm.add_image(rg, name, os_disk=BLOB % name, **kwargs)


def managed(arm):
    arm.add_resource_group('rg2', location='northeurope')
    made = {}
    made['web'] = add_image(arm, 'rg', 'web', tags={'built-by': 'pipeline', 'build': '7'})
    made['db'] = add_image(arm, 'rg', 'db', tags={'built-by': 'pipeline'})
    made['manual'] = add_image(arm, 'rg', 'manual')
    made['other'] = add_image(arm, 'rg2', 'web', location='northeurope', tags={'Built-By': 'pipeline', 'build': '8'})
    return made


def test_managed_images_by_name_in_a_resource_group_and_in_the_subscription(arm, arm_playbook):
    made = managed(arm)
    one, group, everywhere, by_name = run(arm, arm_playbook, [
        info(resource_group='rg', name='web'),
        info(resource_group='rg'),
        info(),
        info(name='WEB'),
    ])
    image = ok(one)['images'][0]
    assert one['catalog'] == 'managed' and one['listed'] == 'managed_images'
    assert image['id'].lower() == made['web']['id'].lower() == arm.get(made['web']['id'])['id'].lower()
    assert (image['kind'], image['name'], image['resource_group'], image['location']) == (
        'managed_image', 'web', 'rg', LOC)
    assert image['tags'] == {'built-by': 'pipeline', 'build': '7'}
    for key in ('os_type', 'os_state', 'hyper_v_generation', 'provisioning_state', 'source', 'source_type'):
        assert key in image, key
    assert ok(group)['names'] == ['db', 'manual', 'web']
    assert sorted((i['resource_group'], i['name']) for i in ok(everywhere)['images']) == [
        ('rg', 'db'), ('rg', 'manual'), ('rg', 'web'), ('rg2', 'web')]
    assert sorted(i['resource_group'] for i in ok(by_name)['images']) == ['rg', 'rg2']


def test_managed_images_filtered_by_tags_key_or_key_value(arm, arm_playbook):
    managed(arm)
    pipeline, build7, both, none = run(arm, arm_playbook, [
        info(tags=['built-by:pipeline']),
        info(resource_group='rg', tags=['build:7']),
        info(tags=['built-by', 'build']),
        info(tags=['built-by:someone-else']),
    ])
    # Tag names compare without case (Azure's rule), values exactly.
    assert sorted((i['resource_group'], i['name']) for i in ok(pipeline)['images']) == [
        ('rg', 'db'), ('rg', 'web'), ('rg2', 'web')]
    assert ok(build7)['names'] == ['web']
    assert sorted(i['resource_group'] for i in ok(both)['images']) == ['rg', 'rg2']
    assert ok(none)['images'] == []


def test_managed_listing_follows_next_link_across_pages(arm, arm_playbook):
    names = ['img%02d' % i for i in range(7)]
    for name in names:
        add_image(arm, 'rg', name)
    page_size = arm.page_size
    arm.page_size = 2
    try:
        group, everywhere = run(arm, arm_playbook, [info(resource_group='rg'), info()])
    finally:
        arm.page_size = page_size
    assert ok(group)['names'] == names
    assert sorted(i['name'] for i in ok(everywhere)['images']) == names
    lists = [r for r in arm_requests(arm) if r.path.lower().rstrip('/').endswith('/providers/microsoft.compute/images')]
    assert len(lists) >= 8, [(r.method, r.path) for r in arm_requests(arm)]  # 4 pages each


def test_a_missing_image_is_an_empty_list_but_a_missing_resource_group_is_an_error(arm, arm_playbook):
    managed(arm)
    absent, no_group, no_group_listing = run(arm, arm_playbook, [
        info(resource_group='rg', name='nope'),
        info(resource_group='no-such-rg', name='web'),
        info(resource_group='no-such-rg'),
    ])
    assert ok(absent)['images'] == [] and absent['names'] == []
    for result in (no_group, no_group_listing):
        assert result.get('failed'), result
        assert 'no-such-rg' in result['msg'] and 'resource group' in result['msg'].lower(), result['msg']


# --- Azure Compute Gallery --------------------------------------------------------------------------

def gallery(arm):
    arm.add_gallery('rg', 'builds')
    arm.add_gallery_image('rg', 'builds', 'debian-12', 'Linux', 'Generalized', 'V2', 'contoso', 'debian', '12-gen2')
    arm.add_gallery_image('rg', 'builds', 'win-2022', 'Windows', 'Generalized', 'V2', 'contoso', 'windows', '2022')
    made = {}
    for version, tags in (('1.9.0', {'channel': 'stable'}), ('1.10.0', {'channel': 'stable'}),
                          ('1.2.0', {'channel': 'beta'})):
        made[version] = arm.add_gallery_image_version('rg', 'builds', 'debian-12', version, tags=tags)
    return made


def test_gallery_definitions_versions_a_version_and_the_latest(arm, arm_playbook):
    made = gallery(arm)
    definitions, versions, one, latest = run(arm, arm_playbook, [
        info(resource_group='rg', gallery_name='builds'),
        info(resource_group='rg', gallery_name='builds', gallery_image_name='debian-12'),
        info(resource_group='rg', gallery_name='builds', gallery_image_name='debian-12', version='1.9.0'),
        info(resource_group='rg', gallery_name='builds', gallery_image_name='debian-12', version='latest'),
    ])
    assert ok(definitions)['catalog'] == 'gallery' and definitions['listed'] == 'gallery_images'
    assert definitions['names'] == ['debian-12', 'win-2022']
    debian = definitions['images'][0]
    assert (debian['kind'], debian['os_type'], debian['os_state'], debian['hyper_v_generation']) == (
        'gallery_image', 'Linux', 'Generalized', 'V2')
    assert debian['identifier'] == {'publisher': 'contoso', 'offer': 'debian', 'sku': '12-gen2'}
    assert (debian['resource_group'], debian['gallery_name']) == ('rg', 'builds')

    assert ok(versions)['listed'] == 'gallery_image_versions'
    assert versions['names'] == ['1.2.0', '1.9.0', '1.10.0']
    assert versions['gallery_image']['id'] == debian['id']
    for entry in versions['images']:
        assert entry['kind'] == 'gallery_image_version' and entry['gallery_image_id'] == debian['id']
        assert (entry['os_type'], entry['hyper_v_generation']) == ('Linux', 'V2')  # from the definition
        assert entry['id'].lower() == made[entry['version']]['id'].lower()
        assert 'target_regions' in entry['publishing_profile']
    assert [e['version'] for e in ok(one)['images']] == ['1.9.0']
    assert [e['version'] for e in ok(latest)['images']] == ['1.10.0']
    assert latest['images'][0]['id'] == arm.get(made['1.10.0']['id'])['id']


def test_gallery_latest_among_the_versions_with_the_tags(arm, arm_playbook):
    gallery(arm)
    stable, beta = run(arm, arm_playbook, [
        info(resource_group='rg', gallery_name='builds', gallery_image_name='debian-12', version='latest',
             tags=['channel:stable']),
        info(resource_group='rg', gallery_name='builds', gallery_image_name='debian-12', tags=['channel:beta']),
    ])
    assert ok(stable)['names'] == ['1.10.0']
    assert ok(beta)['names'] == ['1.2.0']


def test_gallery_a_missing_definition_or_version_is_empty_a_missing_gallery_an_error(arm, arm_playbook):
    gallery(arm)
    no_definition, no_version, no_gallery, no_gallery_listing = run(arm, arm_playbook, [
        info(resource_group='rg', gallery_name='builds', gallery_image_name='nope'),
        info(resource_group='rg', gallery_name='builds', gallery_image_name='debian-12', version='7.7.7'),
        info(resource_group='rg', gallery_name='no-such-gallery', gallery_image_name='debian-12'),
        info(resource_group='rg', gallery_name='no-such-gallery'),
    ])
    assert ok(no_definition)['images'] == [] and no_definition['gallery_image'] is None
    assert ok(no_version)['images'] == [] and no_version['gallery_image']['name'] == 'debian-12'
    for result in (no_gallery, no_gallery_listing):
        assert result.get('failed') and 'no-such-gallery' in result['msg'], result


# --- community galleries ----------------------------------------------------------------------------

PUBLIC = 'contoso-3f1c7a2e-8b1d-4c35-9a70-0d5f6b3c2e91'


def community(arm):
    return arm.add_community_gallery(PUBLIC, LOC, images=[
        dict(name='debian-12', os_type='Linux', hyper_v_generation='V2', versions=['1.9.0', '1.10.0', '1.2.0']),
        dict(name='alma-9', os_type='Linux', hyper_v_generation='V1', versions=['9.4.0']),
    ])


def test_community_gallery_images_versions_and_latest_by_unique_id(arm, arm_playbook):
    community(arm)
    images, versions, latest, missing, no_gallery = run(arm, arm_playbook, [
        info(location=LOC, community_gallery=PUBLIC),
        info(location=LOC, community_gallery=PUBLIC, gallery_image_name='debian-12'),
        info(location=LOC, community_gallery=PUBLIC, gallery_image_name='debian-12', version='latest'),
        info(location=LOC, community_gallery=PUBLIC, gallery_image_name='nope'),
        info(location=LOC, community_gallery='nobody-00000000-0000-0000-0000-000000000000'),
    ])
    assert ok(images)['catalog'] == 'community' and images['listed'] == 'community_gallery_images'
    assert images['names'] == ['alma-9', 'debian-12']
    assert images['images'][1]['id'] == '/CommunityGalleries/%s/Images/debian-12' % PUBLIC
    assert ok(versions)['names'] == ['1.2.0', '1.9.0', '1.10.0']
    assert versions['gallery_image']['id'] == '/CommunityGalleries/%s/Images/debian-12' % PUBLIC
    entry = ok(latest)['images'][0]
    assert entry['id'] == '/CommunityGalleries/%s/Images/debian-12/Versions/1.10.0' % PUBLIC
    assert (entry['kind'], entry['os_type'], entry['hyper_v_generation']) == (
        'community_gallery_image_version', 'Linux', 'V2')
    assert ok(missing)['images'] == [] and missing['gallery_image'] is None
    assert no_gallery.get('failed') and 'nobody-' in no_gallery['msg'], no_gallery


# --- options, check mode, secrets -------------------------------------------------------------------

def test_options_of_two_catalogs_are_refused_by_the_argument_spec_before_any_request(arm, arm_playbook):
    results = run(arm, arm_playbook, [
        info(resource_group='rg', location=LOC),
        info(name='web', gallery_name='builds', resource_group='rg'),
        info(location=LOC, publisher='Canonical', community_gallery=PUBLIC),
        info(location=LOC, offer='ubuntu-24_04-lts'),
        info(gallery_name='builds'),
        info(resource_group='rg', version='1.0.0'),
        info(resource_group='rg', gallery_name='builds', version='latest'),
    ])
    for result in results:
        assert result.get('failed'), result
    assert 'mutually exclusive' in results[0]['msg']
    assert 'missing parameter(s) required by' in results[3]['msg']
    assert 'gallery_image_name' in results[6]['msg']
    assert arm_requests(arm) == []


def test_check_mode_lists_the_same_and_no_secret_appears_even_at_vvv(arm, arm_playbook):
    marketplace(arm)
    gallery(arm)
    tasks = [info(version='latest', **UBUNTU),
             info(resource_group='rg', gallery_name='builds', gallery_image_name='debian-12', version='latest'),
             info(resource_group='rg', name='nope')]
    results, output = run_with_output(arm, arm_playbook, tasks + [dict(t, check_mode=True) for t in tasks],
                                      verbosity=3)
    for normal, checked in zip(results[:3], results[3:]):
        assert ok(checked)['images'] == ok(normal)['images']
    secret = arm.env()['AZURE_SECRET']
    assert secret and secret not in output
    for result in results:
        assert secret not in str(result)
        assert result['auth_source'] == 'env', result['auth_source']  # AWX's injection
