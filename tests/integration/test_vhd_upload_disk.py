# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.vhd_upload into a managed disk, through ansible-playbook, against the ARM fake (strict
mode) with the upload disks' page blobs in Azurite (tests/support/arm_fake/uploads.py).

Create (Upload, uploadSizeBytes) -> grant Write -> pages -> tags complete -> revoke -> Unattached; the
disk's content is the VHD; reruns only read; a SIGKILL mid-upload leaves an ActiveUpload disk that the
next run resumes (a new grant, only the missing pages); access revoked afterwards; preflight errors
before any write; the SAS never in the output, even at -vvv.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.vmimage.azure.tests.integration.armtools import arm_requests, check, methods
from ansible_collections.vmimage.azure.tests.support.arm_fake import AzuriteUploads, fixtures
from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION
from ansible_collections.vmimage.azure.tests.support.faultproxy import FaultProxy
from ansible_collections.vmimage.azure.tests.support.procs import descendants

arm_uploads = fixtures.arm_uploads

MIB = 1024 * 1024
MODULE = 'vmimage.azure.vhd_upload'


@pytest.fixture
def uploads(arm, arm_uploads):
    """The fake's upload backend (page blobs in this module's Azurite); LROs answer at once."""
    arm.retry_after = 0
    return arm_uploads


def chunks(seed, count, every, length=MIB):
    rng = random.Random(seed)
    return dict((i * every + 4096, rng.randbytes(length)) for i in range(count))


def mbr(bootable=True):
    """Sector 0 with one Linux partition (bootable: a generation 1 disk)."""
    sector = bytearray(512)
    struct.pack_into('<B3sB3sII', sector, 446, 0x80 if bootable else 0, b'\0\0\0', 0x83, b'\0\0\0', 2048, 8192)
    sector[510:512] = b'\x55\xaa'
    return bytes(sector)


def task(path, name='up', **extra):
    args = dict(path=str(path), disk_name=name, resource_group='rg', api_version=API_VERSION,
                retry_backoff_factor=0.05, retry_backoff_max=2)
    args.update(extra)
    return {MODULE: args}


def disk_id(arm, name='up'):
    return '/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/disks/%s' % (arm.subscription_id, name)


def state(arm, name='up'):
    return arm.get(disk_id(arm, name))['properties']['diskState']


def sigs(uploads):
    """The signatures of every SAS the backend made."""
    return [parse_qs(urlsplit(url).query)['sig'][0] for _disk, _perm, url in uploads.granted]


def test_four_step_idempotence_content_and_only_gets_when_unchanged(arm, uploads, arm_playbook, fixed_vhd):
    src = fixed_vhd('a.vhd', 32 * MIB, {**chunks(1, 4, 7 * MIB), 0: mbr()})
    t = task(src, sku='StandardSSD_LRS', os_type='Linux')
    (r0, r1) = arm_playbook([check(t), dict(t, diff=True)])[0]
    assert [r0['changed'], r1['changed']] == [True, True], (r0, r1)
    assert r0['action'] == 'create' and r0['access'] == 'none' and r0['bytes_uploaded'] == 0, r0
    assert r0['disk_id'] is None and r0['bytes_to_upload'] == r0['data_bytes'] > 0
    assert r0['diff']['before'] == {} and r0['diff']['after']['state'] == 'complete'
    assert r1['action'] == 'create' and r1['access'] == 'revoked' and not r1['resumed'], r1
    assert r1['disk_id'].lower() == disk_id(arm).lower() and r1['bytes_uploaded'] == r1['data_bytes']
    assert r1['fingerprint'] == r0['fingerprint'] and r1['size'] == 32 * MIB + 512
    assert r1['disk']['disk_state'] == 'Unattached' and r1['disk']['upload_size_bytes'] == 32 * MIB + 512
    assert (r1['disk']['sku'], r1['disk']['os_type'], r1['disk']['hyper_v_generation']) == ('StandardSSD_LRS', 'Linux', 'V1')
    assert r1['disk']['tags'] == {'vmimage_state': 'complete', 'vmimage_fingerprint': r1['fingerprint'],
                                  'vmimage_size': str(32 * MIB + 512)}
    assert 'url' not in r1 and r1['auth_source'] == 'env'
    # The disk holds the VHD byte for byte; access is revoked.
    assert uploads.content(r1['disk_id']) == src.read_bytes()
    assert state(arm) == 'Unattached' and arm.upload_sas(r1['disk_id']) is None
    create = arm.calls('PUT', r'/disks/up$')[0]
    assert create.body['properties']['creationData'] == {'createOption': 'Upload', 'uploadSizeBytes': 32 * MIB + 512}
    assert create.body['properties']['hyperVGeneration'] == 'V1'  # from the bootable MBR
    assert create.body['tags']['vmimage_fingerprint'] == r1['fingerprint']
    assert [c.body for c in arm.calls('POST', r'/disks/up/beginGetAccess$')] == [
        {'access': 'Write', 'durationInSeconds': 14400}]
    assert len(arm.calls('POST', r'/disks/up/endGetAccess$')) == 1

    arm.clear_requests()
    granted = len(uploads.granted)
    (r2, r3) = arm_playbook([check(t), t])[0]
    assert [r2['changed'], r3['changed']] == [False, False], (r2, r3)
    assert r3['action'] == 'none' and r3['access'] == 'none' and r3['disk_id'] == r1['disk_id']
    assert methods(arm) == ['GET'], [(r.method, r.path) for r in arm_requests(arm)]
    assert len(uploads.granted) == granted  # not even a SAS: the blob is not touched


@pytest.fixture
def killed_playbook(arm_fake_server, upload_playbook_command, tmp_path):
    """``run(tasks, proxy, after)``: start the tasks in ansible-playbook (the environment of
    ``arm_playbook``), SIGKILL the whole process tree once ``after`` Put Page requests went through
    ``proxy``; returns how many did."""
    def run(tasks, proxy, after):
        workdir = tmp_path / 'killed'
        workdir.mkdir()
        argv, env, _out = upload_playbook_command(workdir, tasks)
        for name in [n for n in env if n.startswith(('AZURE_', 'ANSIBLE_AZURE_', 'IDENTITY_', 'MSI_'))]:
            del env[name]
        home = workdir / 'home'
        home.mkdir()
        env['HOME'] = str(home)
        env.update(arm_fake_server.env())
        proc = subprocess.Popen(argv, env=env, cwd=str(workdir), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert proxy.wait_forwarded(after, timeout=120), 'the upload did not start'
        finally:
            for pid in [proc.pid] + descendants(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
        time.sleep(1.0)
        seen = proxy.seen
        time.sleep(1.0)
        assert proxy.seen == seen, 'the module kept running after SIGKILL'
        return proxy.forwarded
    return run


def test_sigkill_mid_upload_then_a_resume_sends_only_the_rest(arm, azurite_http, arm_playbook, fixed_vhd,
                                                              killed_playbook):
    arm.retry_after = 0
    src = fixed_vhd('big.vhd', 96 * MIB, chunks(3, 30, 3 * MIB))
    with FaultProxy(azurite_http.port, delay=0.3) as proxy:
        backend = AzuriteUploads(azurite_http, port=proxy.port)  # the SAS URLs go through the slow proxy
        arm.upload_backend = backend
        written = killed_playbook([task(src, concurrency=2)], proxy, after=6)
    backend.port = None  # the proxy is gone: the next grant gives a SAS straight to Azurite
    did = disk_id(arm)
    assert 6 <= written < 30
    # Killed: the disk is still ActiveUpload (nothing revoked it) with the source's fingerprint in its tags.
    stored = arm.get(did)
    assert stored['properties']['diskState'] == 'ActiveUpload' and arm.upload_sas(did)
    assert stored['tags']['vmimage_state'] == 'uploading' and stored['tags']['vmimage_fingerprint']
    footer = backend.read(did, 96 * MIB, 512)
    assert footer == bytes(512)  # the footer goes last: the disk cannot become usable half-written
    on_disk = sum(end - start for start, end in backend.page_ranges(did))
    assert on_disk >= 4 * 512

    arm.clear_requests()
    (r,) = arm_playbook([task(src)])[0]
    assert not r.get('failed') and r['changed'] and r['action'] == 'resume' and r['resumed'], r
    # Only what was not on the disk: every Put Page is whole, and no two pieces of this VHD share one.
    assert 0 < r['bytes_uploaded'] == r['data_bytes'] - on_disk, (r, on_disk, written)
    assert r['fingerprint'] == stored['tags']['vmimage_fingerprint']
    assert r['access'] == 'revoked' and state(arm) == 'Unattached' and arm.upload_sas(did) is None
    assert [c.body['access'] for c in arm.calls('POST', r'/disks/up/beginGetAccess$')] == ['Write']  # granted again
    assert not arm.calls('PUT', r'/disks/up$') and not arm.calls('DELETE')  # the same disk, not a new one
    assert backend.content(did) == src.read_bytes()
    assert [perm for _d, perm, _u in backend.granted] == ['rw', 'rw']


def test_a_failed_upload_is_reported_with_what_became_of_the_access(arm, uploads, arm_playbook, fixed_vhd,
                                                                    azurite_http):
    """A failure mid-upload: revoking is tried; Azure refuses (InvalidVhd: the footer, sent last, is
    not there yet), so the disk stays ActiveUpload and the error says so; the rerun resumes and
    revokes. A failure after the last page: access is revoked."""
    src = fixed_vhd('f.vhd', 32 * MIB, chunks(5, 6, 5 * MIB))
    plan = ['pass', 'pass'] + [{'status': 500}] * 3
    with FaultProxy(azurite_http.port, plan=plan) as proxy:
        uploads.port = proxy.port
        (r0,) = arm_playbook([task(src, concurrency=1, retry_total=2)])[0]
    uploads.port = None
    assert r0.get('failed') and r0['access'] == 'active', r0
    assert 'could not be revoked' in r0['msg'] and 'InvalidVhd' in r0['msg'] and 'resume' in r0['msg'], r0['msg']
    assert len(arm.calls('POST', r'/disks/up/endGetAccess$')) == 1  # it was tried
    assert state(arm) == 'ActiveUpload' and 2 * MIB <= r0['bytes_uploaded'] <= 3 * MIB, r0
    (r1,) = arm_playbook([task(src)])[0]
    assert r1['action'] == 'resume' and r1['access'] == 'revoked' and state(arm) == 'Unattached', r1
    assert r1['bytes_uploaded'] == r1['data_bytes'] - r0['bytes_uploaded']
    assert uploads.content(r1['disk_id']) == src.read_bytes()

    # The last write (the tags that mark it complete) fails: the pages are all there, access is revoked.
    src2 = fixed_vhd('g.vhd', 24 * MIB, chunks(6, 2, 5 * MIB))
    # Every try of the PATCH fails (the Resource Manager client retries 6 times, Retry-After 0.01 s).
    arm.inject('server_error', method='PATCH', path=r'/disks/up2$', poll=False, times=7, retry_after='0.01')
    (r2,) = arm_playbook([task(src2, name='up2')])[0]
    assert r2.get('failed') and r2['access'] == 'revoked' and 'Write access to the disk was revoked' in r2['msg'], r2
    assert state(arm, 'up2') == 'Unattached' and arm.upload_sas(disk_id(arm, 'up2')) is None
    assert arm.get(disk_id(arm, 'up2'))['tags']['vmimage_state'] == 'uploading'
    # Revoked means the footer (sent last) is there: the next run only marks it complete.
    (r3, r4) = arm_playbook([task(src2, name='up2'), task(src2, name='up2')])[0]
    assert r3['changed'] and r3['action'] == 'finish' and r3['bytes_uploaded'] == 0 and r3['access'] == 'none', r3
    assert r3['disk']['tags']['vmimage_state'] == 'complete' and not r4['changed'], r4
    assert uploads.content(r3['disk_id']) == src2.read_bytes()


def test_other_sources_and_disks_need_overwrite(arm, uploads, arm_playbook, fixed_vhd):
    one = fixed_vhd('one.vhd', 24 * MIB, chunks(7, 2, 5 * MIB))
    two = fixed_vhd('two.vhd', 24 * MIB, chunks(8, 2, 5 * MIB))
    (r0,) = arm_playbook([task(one)])[0]
    assert r0['changed'] and state(arm) == 'Unattached'
    arm.clear_requests()
    (r1,) = arm_playbook([task(two)])[0]
    assert r1.get('failed') and 'holds another image' in r1['msg'] and 'overwrite=different' in r1['msg'], r1
    assert methods(arm) == ['GET'] and r1['access'] == 'none'
    (r2,) = arm_playbook([dict(task(two, overwrite='different'), diff=True)])[0]
    assert r2['changed'] and r2['action'] == 'replace' and r2['access'] == 'revoked', r2
    assert r2['diff']['before']['fingerprint'] == r0['fingerprint'] != r2['fingerprint']
    assert len(arm.calls('DELETE', r'/disks/up$')) == 1 and uploads.content(r2['disk_id']) == two.read_bytes()
    # force=true: delete and upload again even the same source.
    (r3,) = arm_playbook([task(two, force=True)])[0]
    assert r3['action'] == 'replace' and r3['bytes_uploaded'] == r3['data_bytes']
    # A disk not made for an upload is never written to by default.
    arm.add_disk('rg', 'plain', size_gb=1)
    (r4,) = arm_playbook([task(two, name='plain')])[0]
    assert r4.get('failed') and 'not created for an upload' in r4['msg'], r4
    # Another option on an existing upload: named, not changed.
    (r5,) = arm_playbook([task(two, sku='Premium_LRS')])[0]
    assert r5.get('failed') and 'sku is' in r5['msg'] and 'overwrite=always' in r5['msg'], r5


def test_preflight_errors_write_nothing(arm, uploads, arm_playbook, fixed_vhd, tmp_path):
    gen1 = fixed_vhd('gen1.vhd', 24 * MIB, {0: mbr(), MIB: b'\1' * 4096})
    small = fixed_vhd('small.vhd', 16 * MIB, {MIB: b'\1' * 4096})
    odd = tmp_path / 'odd.vhd'
    odd.write_bytes(b'\1' * (24 * MIB + 1000))
    results = arm_playbook([
        task(gen1, hyper_v_generation='V2'),
        task(gen1, security_type='TrustedLaunch'),
        task(small),
        task(odd),
        task(gen1, container='c'),
        task(gen1, content_md5=True),
    ])[0]
    mismatch, security, size, bad, exclusive, blob_only = results
    assert mismatch.get('failed') and mismatch['code'] == 'generation_mismatch', mismatch
    assert 'V2 from hyper_v_generation' in mismatch['msg'] and 'V1 from the partition table' in mismatch['msg']
    assert security.get('failed') and security['code'] == 'security_needs_gen2', security
    # The VHD core refuses it first (preflight.check_size('upload') is the second line).
    assert size.get('failed') and size['code'] == 'not_azure_ready' and 'under_minimum' in size['msg'], size
    assert bad.get('failed') and bad['code'] == 'not_azure_ready', bad
    assert exclusive.get('failed') and 'mutually exclusive' in exclusive['msg'], exclusive
    assert blob_only.get('failed') and blob_only['code'] == 'invalid_option', blob_only
    assert arm.writes() == [] and uploads.granted == []
    assert arm.get(disk_id(arm)) is None


def test_the_sas_never_appears_in_the_output(arm, uploads, arm_playbook, fixed_vhd):
    src = fixed_vhd('s.vhd', 24 * MIB, chunks(9, 2, 5 * MIB))
    (r0, r1), output = arm_playbook([task(src), task(src, force=True)], verbosity=3)
    assert r0['changed'] and r1['changed']
    secrets = sigs(uploads)
    assert len(secrets) == 2
    for sig in secrets:
        for form in (sig, sig.replace('/', '%2F').replace('+', '%2B').replace('=', '%3D')):
            assert form not in output and form not in str(r0) + str(r1)
    assert 'accessSAS' not in output and '/abcd?' not in output
