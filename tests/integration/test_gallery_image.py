# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.gallery_image through ansible-playbook, against the ARM fake in strict mode
(request bodies validated against the gallery API 2026-03-03 schemas)."""
from __future__ import annotations

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests, check, methods
from ansible_collections.vmimage.azure.tests.support.arm_fake.fixtures import compute_client

IDENT = dict(publisher='vmimage', offer='debian', sku='12')
TRUSTED = {'name': 'SecurityType', 'value': 'TrustedLaunchSupported'}


def img(**args):
    base = dict(resource_group='rg', gallery_name='builds', name='debian-12')
    return {'vmimage.azure.gallery_image': dict(base, **args)}


def new(**args):
    """A task that creates a definition (os type, state and identifier given)."""
    return img(**dict(dict(os_type='Linux', os_state='Generalized', identifier=IDENT), **args))


def image_id(arm, name='debian-12', gallery='builds'):
    return ('/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/galleries/%s/images/%s'
            % (arm.subscription_id, gallery, name))


def puts(arm):
    return list(arm.calls('PUT', r'/images/[^/]+$'))


def pairs(features):
    return sorted((f['name'], f['value']) for f in features or ())


def test_four_step_idempotence_and_an_unchanged_rerun_only_reads(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    task = new(description='Debian 12', eula='MIT', privacy_statement_uri='https://example.com/privacy',
               release_note_uri='https://example.com/notes', end_of_life_date='2030-12-31',
               recommended=dict(v_cpus=dict(min=2, max=16), memory=dict(min=4, max=64)),
               features=[dict(name='IsAcceleratedNetworkSupported', value='True')], tags={'os': 'debian'})
    (r0, r1) = arm_playbook([check(task), dict(task, diff=True)])[0]
    assert [r0['changed'], r1['changed']] == [True, True], (r0, r1)
    assert r0['action'] == 'create' and r0['id'] is None
    after = r0['diff']['after']
    assert r0['diff']['before'] == {} and after['location'] == 'westeurope'  # the gallery's
    assert (after['hyper_v_generation'], after['architecture']) == ('V2', 'x64')
    assert pairs(after['features']) == [('IsAcceleratedNetworkSupported', 'True'), ('SecurityType', 'TrustedLaunchSupported')]
    assert after['end_of_life_date'] == '2030-12-31T00:00:00+00:00'
    got = r1['gallery_image']
    assert r1['id'].lower() == image_id(arm).lower()
    assert (got['os_type'], got['os_state'], got['hyper_v_generation'], got['architecture']) == (
        'Linux', 'Generalized', 'V2', 'x64')
    assert got['identifier'] == IDENT and got['tags'] == {'os': 'debian'} and got['eula'] == 'MIT'
    assert got['recommended'] == {'v_cpus': {'min': 2, 'max': 16}, 'memory': {'min': 4, 'max': 64}}
    assert got['end_of_life_date'] == '2030-12-31T00:00:00+00:00' and got['provisioning_state'] == 'Succeeded'
    assert pairs(got['features']) == pairs(after['features'])
    # What was asked for, and the defaults, are in the request itself (not left to the api-version).
    (put,) = puts(arm)
    props = put.body['properties']
    assert put.api_version == '2026-03-03'
    assert (props['hyperVGeneration'], props['architecture'], props['osType'], props['osState']) == (
        'V2', 'x64', 'Linux', 'Generalized')
    assert pairs(props['features']) == pairs(after['features'])
    assert props['recommended'] == {'vCPUs': {'min': 2, 'max': 16}, 'memory': {'min': 4, 'max': 64}}
    assert props['releaseNoteUri'] == 'https://example.com/notes' and props['endOfLifeDate'].startswith('2030-12-31T00:00:00')

    arm.clear_requests()
    (r2, r3) = arm_playbook([check(task), task])[0]
    assert [r2['changed'], r3['changed']] == [False, False], (r2, r3)
    assert r3['action'] == 'none' and r3['id'].lower() == r1['id'].lower()
    assert methods(arm) == ['GET'], [(r.method, r.path) for r in arm_requests(arm)]


def test_defaults_an_omitted_generation_is_v2_trusted_launch_supported_and_v1_is_sent_as_asked(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    tasks = [new(name='gen2'),
             new(name='gen1', hypervgeneration='V1', identifier=dict(IDENT, sku='12-gen1')),
             new(name='standard', features=[dict(name='securitytype', value='standard')],
                 identifier=dict(IDENT, sku='12-std'))]
    (gen2, gen1, standard) = arm_playbook(tasks)[0]
    assert gen2['gallery_image']['hyper_v_generation'] == 'V2'
    assert gen2['gallery_image']['features'] == [TRUSTED]
    assert gen1['gallery_image']['hyper_v_generation'] == 'V1' and gen1['gallery_image']['features'] == []
    assert standard['gallery_image']['features'] == [{'name': 'SecurityType', 'value': 'Standard'}]
    bodies = dict((r.path.rsplit('/', 1)[1], r.body['properties']) for r in puts(arm))
    assert bodies['gen2']['hyperVGeneration'] == 'V2' and bodies['gen2']['features'] == [TRUSTED]
    assert bodies['gen1']['hyperVGeneration'] == 'V1' and 'features' not in bodies['gen1']
    assert bodies['standard']['features'] == [{'name': 'SecurityType', 'value': 'Standard'}]
    # The alias and either case of os_type / os_state are the same definition on a rerun.
    again = img(name='gen1', os_type='linux', os_state='generalized', hypervgeneration='V1',
                identifier=dict(IDENT, sku='12-gen1'))
    (r3,) = arm_playbook([again])[0]
    assert not r3['changed'], r3


def test_mutable_fields_are_updated_in_place_with_one_put(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    arm.add_gallery_image('rg', 'builds', 'debian-12', publisher='vmimage', offer='debian', sku='12',
                          description='old', eula='old', endOfLifeDate='2029-01-01T00:00:00Z', tags={'a': '1'},
                          recommended={'vCPUs': {'min': 1, 'max': 4}, 'memory': {'min': 2, 'max': 8}},
                          features=[TRUSTED])
    task = img(description='new', eula='new', end_of_life_date='2030-06-30T12:00:00+02:00',
               privacy_statement_uri='https://example.com/p', release_note_uri='https://example.com/r',
               recommended=dict(v_cpus=dict(max=8)), tags={'a': '2'})
    arm.clear_requests()
    (r0, r1, r2) = arm_playbook([check(task), dict(task, diff=True), task])[0]
    assert r0['changed'] and r0['action'] == 'update'
    assert r1['changed'] and r1['action'] == 'update' and not r2['changed'], (r1, r2)
    before, after = r1['diff']['before'], r1['diff']['after']
    # Every difference is in the one diff (not only the first field that differs).
    changed = sorted(k for k in after if after.get(k) != before.get(k))
    assert changed == ['description', 'end_of_life_date', 'eula', 'privacy_statement_uri', 'recommended',
                       'release_note_uri', 'tags'], changed
    assert after['recommended'] == {'v_cpus': {'min': 1, 'max': 8}, 'memory': {'min': 2, 'max': 8}}  # only max changed
    assert after['end_of_life_date'] == '2030-06-30T10:00:00+00:00'
    got = r1['gallery_image']
    assert (got['description'], got['eula'], got['tags']) == ('new', 'new', {'a': '2'})
    assert got['features'] == [TRUSTED] and got['hyper_v_generation'] == 'V2'
    assert [w.method for w in arm.writes()] == ['PUT'] and puts(arm)[0].status == 200


def test_features_are_updated_with_allow_update_image_and_the_security_type_is_kept(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    arm.add_gallery_image('rg', 'builds', 'debian-12', publisher='vmimage', offer='debian', sku='12',
                          features=[TRUSTED])
    accelerated = [dict(name='IsAcceleratedNetworkSupported', value='True'),
                   dict(name='DiskControllerTypes', value='SCSI, NVMe')]
    (r0, r1) = arm_playbook([dict(img(features=accelerated), diff=True),
                             img(features=list(reversed(accelerated)))])[0]
    assert r0['changed'] and r0['action'] == 'update' and not r1['changed'], (r0, r1)
    assert pairs(r0['gallery_image']['features']) == [('DiskControllerTypes', 'SCSI, NVMe'),
                                                      ('IsAcceleratedNetworkSupported', 'True'),
                                                      ('SecurityType', 'TrustedLaunchSupported')]
    (put,) = puts(arm)
    assert put.body['properties']['allowUpdateImage'] is True
    # Changing the security type itself is a feature update too.
    (r2,) = arm_playbook([img(features=[dict(name='SecurityType', value='TrustedLaunchAndConfidentialVmSupported')])])[0]
    assert r2['changed'] and pairs(r2['gallery_image']['features']) == [
        ('SecurityType', 'TrustedLaunchAndConfidentialVmSupported')], r2


def test_an_immutable_field_fails_naming_every_field_with_no_write_then_replace_works(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    arm.add_gallery_image('rg', 'builds', 'debian-12', publisher='vmimage', offer='debian', sku='12',
                          hyper_v_generation='V2', features=[TRUSTED], description='keep me')
    task = img(os_state='Specialized', hyper_v_generation='V1', identifier=dict(IDENT, sku='12-bios'))
    arm.clear_requests()
    (r0, r1) = arm_playbook([task, check(task)])[0]
    for result in (r0, r1):
        assert result['failed'] and 'replace=true' in result['msg'], result
        for field in ('os_state', 'hyper_v_generation', 'identifier'):
            assert field in result['msg'], (field, result['msg'])
    assert "'Generalized'" in r0['msg'] and "'Specialized'" in r0['msg']
    assert arm.writes() == []
    replace = img(os_state='Specialized', hyper_v_generation='V1', identifier=dict(IDENT, sku='12-bios'), replace=True)
    (r2, r3, r4) = arm_playbook([check(replace), replace, replace])[0]
    assert r2['changed'] and r2['action'] == 'replace'
    assert r3['changed'] and r3['action'] == 'replace' and not r4['changed'], (r3, r4)
    got = r3['gallery_image']
    assert (got['os_state'], got['hyper_v_generation'], got['identifier']['sku']) == ('Specialized', 'V1', '12-bios')
    assert got['features'] == [] and got['description'] == 'keep me'  # V1: no SecurityType; the rest carried over
    assert [w.method for w in arm.writes()] == ['DELETE', 'PUT']


def test_a_definition_with_versions_is_neither_deleted_nor_replaced(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    arm.add_gallery_image('rg', 'builds', 'debian-12', publisher='vmimage', offer='debian', sku='12')
    arm.add_gallery_image_version('rg', 'builds', 'debian-12', '1.0.0')
    arm.add_gallery_image_version('rg', 'builds', 'debian-12', '1.1.0')
    arm.clear_requests()
    (r0, r1) = arm_playbook([img(state='absent'), img(os_type='Windows', replace=True)])[0]
    assert r0['failed'] and '1.0.0, 1.1.0' in r0['msg'] and 'gallery_image_version' in r0['msg'], r0
    assert r1['failed'] and 'replaced' in r1['msg'] and '1.0.0' in r1['msg'], r1
    assert arm.writes() == []


def test_soft_deleted_versions_block_the_delete_with_a_clear_error(arm, arm_playbook, monkeypatch):
    for name, value in arm.env().items():
        if name in ('REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE'):
            monkeypatch.setenv(name, value)
    arm.add_gallery('rg', 'builds', soft_delete=True)
    arm.add_gallery_image('rg', 'builds', 'debian-12', publisher='vmimage', offer='debian', sku='12')
    arm.add_gallery_image_version('rg', 'builds', 'debian-12', '1.0.0')
    client = compute_client(arm, retry_backoff_factor=0.01)
    client.gallery_image_versions.begin_delete('rg', 'builds', 'debian-12', '1.0.0').result()
    assert arm.soft_deleted(image_id(arm) + '/versions/1.0.0') is not None
    arm.clear_requests()
    (r0,) = arm_playbook([img(state='absent')])[0]
    assert r0['failed'] and 'soft' in r0['msg'] and '1.0.0' in r0['msg'] and 'recoverable until' in r0['msg'], r0
    assert 'bypassSoftDelete' in r0['msg']
    assert arm.writes() == []
    # Once purged, the definition is deleted (for good: soft delete keeps versions, not definitions).
    client.gallery_image_versions.begin_delete('rg', 'builds', 'debian-12', '1.0.0', bypass_soft_delete=True).result()
    (r1, r2) = arm_playbook([img(state='absent'), img(state='absent')])[0]
    assert r1['changed'] and r1['action'] == 'delete' and not r2['changed'], (r1, r2)
    assert arm.get(image_id(arm)) is None


def test_absent(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    tasks = [new(), check(img(state='absent')), img(state='absent'), img(state='absent'),
             img(gallery_name='nogallery', state='absent')]
    (r0, r1, r2, r3, r4) = arm_playbook(tasks)[0]
    assert [r0['changed'], r1['changed'], r2['changed'], r3['changed'], r4['changed']] == [
        True, True, True, False, False], (r1, r2, r3, r4)
    assert r1['diff']['after'] == {} and r1['diff']['before']['name'] == 'debian-12'
    assert r2['action'] == 'delete' and r2['gallery_image'] == {} and r2['id'] is None
    assert arm.get(r0['id']) is None


def test_bad_input_fails_before_any_write(arm, arm_playbook):
    arm.add_gallery('rg', 'builds')
    arm.add_gallery_image('rg', 'builds', 'other', publisher='vmimage', offer='debian', sku='12')
    arm.clear_requests()
    tasks = [new(gallery_name='nogallery'),
             new(resource_group='missing'),
             img(os_type='Linux'),
             new(hyper_v_generation='V1', features=[dict(name='SecurityType', value='TrustedLaunch')]),
             new(hyper_v_generation='V1', architecture='Arm64'),
             new(),
             new(end_of_life_date='next year'),
             new(features=[dict(name='IsHibernateSupported', value='True'), dict(name='ishibernatesupported', value='False')]),
             new(features=[dict(name='SecurityType', value='Fancy')]),
             new(recommended=dict(v_cpus=dict(min=8, max=2)))]
    results = arm_playbook(tasks)[0]
    assert all(r.get('failed') for r in results), results
    (no_gallery, no_rg, no_os_state, tl_v1, arm_v1, identifier, eol, twice, unknown, ranges) = (r['msg'] for r in results)
    assert "Gallery 'nogallery' was not found" in no_gallery and 'vmimage.azure.gallery' in no_gallery
    assert "'missing'" in no_rg and 'resource group' in no_rg.lower() and 'Create' in no_rg
    assert 'os_state' in no_os_state and 'identifier' in no_os_state and 'os_type' not in no_os_state
    assert 'TrustedLaunch' in tl_v1 and 'V2' in tl_v1
    assert 'Arm64' in arm_v1 and 'V2' in arm_v1
    assert "'other'" in identifier and 'unique' in identifier
    assert 'next year' in eol and 'ISO 8601' in eol
    assert 'more than once' in twice
    assert 'Fancy' in unknown
    assert 'min 8' in ranges and 'max 2' in ranges
    assert arm.writes() == []
