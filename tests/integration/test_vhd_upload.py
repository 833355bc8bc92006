# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.vhd_upload through a real ansible-playbook against a real Azurite.

Idempotence (check, apply, check, apply), changed sources, overwrite modes, bad sources (nothing
created), credential errors and secrets (never in results nor in -vvv output). Every upload is
verified by downloading the blob and comparing bytes with the source.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import subprocess

import pytest

from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION

MIB = 1024 * 1024
MODULE = 'vmimage.azure.vhd_upload'


def rand(seed, n):
    return random.Random(seed).randbytes(n)


def scattered(seed=1):
    """Data chunks for a 32 MiB disk: unaligned runs, a run with zero pages inside, the last MiB."""
    inner = rand(seed, 3 * MIB)
    inner = inner[:MIB] + bytes(8 * 512) + inner[MIB + 4096:]
    return {0: rand(seed + 1, 70000), 5 * MIB + 1536: inner, 17 * MIB: rand(seed + 2, 512),
            31 * MIB: rand(seed + 3, MIB)}


def dest(azurite, blob, **extra):
    args = dict(account_url=azurite.account_url, container='vhds', blob=blob,
                account_key=azurite.account_key, api_version=API_VERSION, create_container=True)
    args.update(extra)
    return args


def blob_client(azurite, blob, container='vhds'):
    return azurite.service_client().get_blob_client(container, blob)


def downloaded(azurite, blob, container='vhds'):
    return blob_client(azurite, blob, container).download_blob().readall()


def nonzero_bytes(path):
    data = path.read_bytes()
    return sum(512 for i in range(0, len(data), 512) if data[i:i + 512].strip(b'\0'))


def test_check_apply_check_apply(azurite_http, fixed_vhd, upload_playbook):
    src = fixed_vhd('a.vhd', 32 * MIB, scattered())
    task = {MODULE: dict(path=str(src), **dest(azurite_http, 'idem.vhd'))}
    steps = [dict(task, check_mode=True, diff=True), dict(task, diff=True), dict(task, check_mode=True), task]
    results, _output = upload_playbook(steps)
    check1, apply1, check2, apply2 = results
    assert [r['changed'] for r in results] == [True, True, False, False], results
    assert not any(r.get('failed') for r in results), results
    data_bytes = nonzero_bytes(src)
    assert check1['action'] == 'create' and check1['bytes_to_upload'] == data_bytes
    assert check1['bytes_uploaded'] == 0 and check1['diff']['before'] == {}
    assert apply1['action'] == 'create' and apply1['bytes_uploaded'] == data_bytes
    assert apply1['data_bytes'] == data_bytes and apply1['size'] == src.stat().st_size
    assert apply1['bytes_skipped'] == apply1['size'] - data_bytes
    assert apply1['requests'] >= 5 and apply1['retries'] == 0 and apply1['resumed'] is False
    assert apply1['diff']['after']['state'] == 'complete'
    assert apply1['fingerprint'] == check1['fingerprint'] == apply2['fingerprint']
    assert apply1['url'] == '%s/vhds/idem.vhd' % azurite_http.account_url
    for r in (check2, apply2):
        assert r['action'] == 'none' and r['bytes_to_upload'] == 0 and r['bytes_uploaded'] == 0
    assert downloaded(azurite_http, 'idem.vhd') == src.read_bytes()
    meta = blob_client(azurite_http, 'idem.vhd').get_blob_properties().metadata
    assert meta == {'vmimage_state': 'complete', 'vmimage_fingerprint': apply1['fingerprint'],
                    'vmimage_size': str(apply1['size'])}


def test_check_mode_writes_nothing(azurite_http, fixed_vhd, upload_playbook):
    src = fixed_vhd('c.vhd', 32 * MIB, scattered(5))
    args = dest(azurite_http, 'never-written.vhd', container='checkonly')
    results, _output = upload_playbook([{MODULE: dict(path=str(src), **args), 'check_mode': True}])
    assert results[0]['changed'] and results[0]['action'] == 'create', results
    names = [c.name for c in azurite_http.service_client().list_containers()]
    assert 'checkonly' not in names


def test_changed_source_is_uploaded_afresh(azurite_http, fixed_vhd, upload_playbook, tmp_path):
    first = fixed_vhd('v1.vhd', 32 * MIB, scattered(10))
    second = fixed_vhd('v2.vhd', 32 * MIB, {3 * MIB: rand(99, 2 * MIB)})
    src = tmp_path / 'src.vhd'
    args = dest(azurite_http, 'changing.vhd')
    src.write_bytes(first.read_bytes())
    r1, _output = upload_playbook([{MODULE: dict(path=str(src), **args)}])
    src.write_bytes(second.read_bytes())
    results, _output = upload_playbook([
        {MODULE: dict(path=str(src), overwrite='never', **args)},
        {MODULE: dict(path=str(src), **args), 'check_mode': True},
        {MODULE: dict(path=str(src), **args)},
        {MODULE: dict(path=str(src), overwrite='always', **args)},
    ])
    never, check, apply, always = results
    assert never['failed'] and 'overwrite=never' in never['msg'], never
    assert check['action'] == 'replace' and check['changed']
    assert apply['action'] == 'replace' and apply['changed'] and apply['fingerprint'] != r1[0]['fingerprint']
    assert always['action'] == 'replace' and always['changed'] and always['bytes_uploaded'] == 2 * MIB + 512
    # The new blob holds the new source only: nothing of the first one is mixed in.
    assert downloaded(azurite_http, 'changing.vhd') == second.read_bytes()


def test_content_md5(azurite_http, fixed_vhd, upload_playbook):
    src = fixed_vhd('m.vhd', 32 * MIB, scattered(20))
    results, _output = upload_playbook([{MODULE: dict(path=str(src), content_md5=True, **dest(azurite_http, 'md5.vhd'))}])
    assert results[0]['changed'], results
    props = blob_client(azurite_http, 'md5.vhd').get_blob_properties()
    assert bytes(props.content_settings.content_md5) == hashlib.md5(src.read_bytes()).digest()


def _bad_sources(tmp_path, fixed_vhd):
    raw = tmp_path / 'raw.img'
    raw.write_bytes(rand(3, MIB) + bytes(31 * MIB))
    dynamic = tmp_path / 'dynamic.vhd'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'vpc', str(dynamic), '32M'], check=True)
    misaligned = fixed_vhd('misaligned.vhd', 32 * MIB + 3 * 512, {0: rand(4, 4096)})
    badsum = fixed_vhd('badsum.vhd', 32 * MIB, {0: rand(5, 4096)})
    with open(badsum, 'r+b') as f:
        f.seek(32 * MIB + 64)  # checksum field of the footer
        f.write(b'\x01\x02\x03\x04')
    return {'raw': raw, 'dynamic': dynamic, 'misaligned': misaligned, 'bad_checksum': badsum}


def test_bad_sources_fail_before_any_request(azurite_http, fixed_vhd, upload_playbook, tmp_path):
    sources = _bad_sources(tmp_path, fixed_vhd)
    tasks = [{MODULE: dict(path=str(p), **dest(azurite_http, name + '.vhd', container='badsources'))}
             for name, p in sorted(sources.items())]
    results, _output = upload_playbook(tasks)
    for (name, _path), r in zip(sorted(sources.items()), results):
        assert r.get('failed'), (name, r)
        assert 'fixed VHD' in r['msg'] or 'VHD' in r['msg'], (name, r['msg'])
    by_name = dict(zip(sorted(sources), results))
    assert 'checksum' in by_name['bad_checksum']['msg'].lower()
    assert 'dynamic' in by_name['dynamic']['msg'].lower()
    assert '1 MiB' in by_name['misaligned']['msg'] or 'MiB' in by_name['misaligned']['msg']
    names = [c.name for c in azurite_http.service_client().list_containers()]
    assert 'badsources' not in names


def _sas(azurite, blob, permission, expiry):
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas
    return generate_blob_sas(azurite.account_name, 'vhds', blob, account_key=azurite.account_key,
                             permission=BlobSasPermissions.from_string(permission), expiry=expiry)


def test_credential_errors_are_clear_and_secret_free(azurite_http, fixed_vhd, upload_playbook):
    src = fixed_vhd('k.vhd', 32 * MIB, scattered(30))
    now = datetime.datetime.now(datetime.timezone.utc)
    azurite_http.service_client().create_container('vhds') if 'vhds' not in [
        c.name for c in azurite_http.service_client().list_containers()] else None
    wrong_key = 'V3JvbmdLZXk' + azurite_http.account_key[11:]
    expired = _sas(azurite_http, 'sas.vhd', 'rcw', now - datetime.timedelta(hours=1))
    readonly = _sas(azurite_http, 'sas.vhd', 'r', now + datetime.timedelta(hours=1))
    base = dict(path=str(src), account_url=azurite_http.account_url, container='vhds', blob='sas.vhd',
                api_version=API_VERSION)
    tasks = [{MODULE: dict(base, account_key=wrong_key)},
             {MODULE: dict(base, sas_token=expired)},
             {MODULE: dict(base, sas_token=readonly)},
             {MODULE: dict(path=str(src), blob_url='%s/vhds/sas.vhd?%s' % (azurite_http.account_url, readonly),
                           api_version=API_VERSION)}]
    results, output = upload_playbook(tasks, verbosity=3)
    secrets = [wrong_key, expired, readonly, azurite_http.account_key]
    signatures = [dict(kv.split('=', 1) for kv in s.split('&'))['sig'] for s in (expired, readonly)]
    for r in results:
        assert r.get('failed') and 'HTTP 403' in r['msg'], r
    assert 'check account_key' in results[0]['msg'], results[0]['msg']
    for r in results[1:]:
        assert 'SAS token has not expired' in r['msg'], r['msg']
    for secret in secrets + signatures:
        assert secret not in output
        for r in results:
            assert secret not in repr(r)
    assert not blob_client(azurite_http, 'sas.vhd').exists()


def test_no_secret_in_verbose_output(azurite_http, fixed_vhd, upload_playbook):
    src = fixed_vhd('s.vhd', 32 * MIB, scattered(40))
    now = datetime.datetime.now(datetime.timezone.utc)
    results, _output = upload_playbook([{MODULE: dict(path=str(src), **dest(azurite_http, 'pre.vhd'))}])
    sas = _sas(azurite_http, 'viasas.vhd', 'rcw', now + datetime.timedelta(hours=1))
    sig = dict(kv.split('=', 1) for kv in sas.split('&'))['sig']
    tasks = [
        {MODULE: dict(path=str(src), **dest(azurite_http, 'viakey.vhd'))},
        {MODULE: dict(path=str(src), connection_string=azurite_http.connection_string, container='vhds',
                      blob='viaconn.vhd', api_version=API_VERSION)},
        {MODULE: dict(path=str(src), account_url=azurite_http.account_url, container='vhds', blob='viasas.vhd',
                      sas_token=sas, api_version=API_VERSION)},
        {MODULE: dict(path=str(src), blob_url='%s/vhds/viasas.vhd?%s' % (azurite_http.account_url, sas),
                      api_version=API_VERSION)},
    ]
    results, output = upload_playbook(tasks, verbosity=3)
    assert [r.get('failed', False) for r in results] == [False] * 4, results
    assert [r['action'] for r in results] == ['create', 'create', 'create', 'none'], results
    assert 'vhd_upload' in output and '"bytes_uploaded"' in output  # -vvv shows the results
    for secret in (azurite_http.account_key, azurite_http.connection_string, sas, sig):
        assert secret not in output
    for name in ('viakey.vhd', 'viaconn.vhd', 'viasas.vhd'):
        assert downloaded(azurite_http, name) == src.read_bytes()
    assert results[3]['url'] == '%s/vhds/viasas.vhd' % azurite_http.account_url


@pytest.mark.parametrize('extra, expected', [
    (dict(concurrency=0), 'concurrency'),
    (dict(container=None), 'container'),
])
def test_bad_options(azurite_http, fixed_vhd, upload_playbook, extra, expected):
    src = fixed_vhd('o.vhd', 32 * MIB, scattered(50))
    args = dict(dest(azurite_http, 'opts.vhd'), path=str(src))
    args.update(extra)
    args = dict((k, v) for k, v in args.items() if v is not None)
    results, _output = upload_playbook([{MODULE: args}])
    assert results[0].get('failed') and expected in results[0]['msg'], results
