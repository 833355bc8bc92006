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
import json
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


def ensure_container(azurite, name):
    service = azurite.service_client()
    if name not in [c.name for c in service.list_containers()]:
        service.create_container(name)


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
    by_name = dict(zip(sorted(sources), results))
    for name, r in by_name.items():
        assert r.get('failed') is True and r['code'] == 'not_azure_ready', (name, r)
        assert r['msg'].startswith('%s is not an Azure-ready fixed VHD: ' % sources[name]), (name, r['msg'])
        assert 'url' not in r and 'bytes_uploaded' not in r, (name, r)  # failed before any client was built
    problems = dict((name, [(p['code'], p['severity']) for p in r['problems']]) for name, r in by_name.items())
    assert problems == {'raw': [('not_vhd', 'error')], 'dynamic': [('dynamic_vhd', 'error')],
                        'misaligned': [('misaligned', 'error')], 'bad_checksum': [('bad_checksum', 'error')]}
    message = dict((name, r['problems'][0]['message']) for name, r in by_name.items())
    assert message['raw'].startswith('The image is in raw format, not a VHD')
    assert message['dynamic'].startswith('This is a dynamic VHD; Azure takes only fixed VHDs')
    # 32 MiB + 3 sectors of disk data: the size and the rule it breaks
    assert message['misaligned'].startswith('The virtual size (%d bytes) is not a multiple of 1 MiB' % (32 * MIB + 1536))
    assert message['bad_checksum'].startswith('The VHD footer checksum is 01020304 but its contents sum to ')
    names = [c.name for c in azurite_http.service_client().list_containers()]
    assert 'badsources' not in names


def _sas(azurite, blob, permission, expiry):
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas
    return generate_blob_sas(azurite.account_name, 'vhds', blob, account_key=azurite.account_key,
                             permission=BlobSasPermissions.from_string(permission), expiry=expiry)


def _account_sas(azurite, expiry):
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
    return generate_account_sas(azurite.account_name, azurite.account_key, ResourceTypes(container=True, object=True),
                                AccountSasPermissions(read=True, write=True, create=True), expiry)


def _sig(sas):
    return dict(kv.split('=', 1) for kv in sas.split('&'))['sig']


def _secret_forms(*values):
    """Each value and, for a SAS, its signature URL-encoded and decoded."""
    from urllib.parse import unquote
    found = set()
    for value in values:
        found.add(value)
        if 'sig=' in value:
            found |= {_sig(value), unquote(_sig(value))}
    return found


def test_credential_errors_are_clear_and_secret_free(azurite_http, fixed_vhd, upload_playbook):
    src = fixed_vhd('k.vhd', 32 * MIB, scattered(30))
    now = datetime.datetime.now(datetime.timezone.utc)
    ensure_container(azurite_http, 'vhds')
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
    secrets = [wrong_key, azurite_http.account_key]
    signatures = _secret_forms(expired, readonly)  # the SAS tokens and their signatures, encoded and decoded
    for r in results:
        assert r.get('failed') and 'HTTP 403' in r['msg'], r
    assert 'check account_key' in results[0]['msg'], results[0]['msg']
    for r in results[1:]:
        assert 'SAS token has not expired' in r['msg'], r['msg']
    for secret in secrets + sorted(signatures):
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
    account_sas = _account_sas(azurite_http, now + datetime.timedelta(hours=1))
    tasks.append({MODULE: dict(path=str(src), account_url='%s?%s' % (azurite_http.account_url, account_sas),
                               container='vhds', blob='viaaccountsas.vhd', api_version=API_VERSION)})
    # Refused by the argument checks (blob_url names the blob): the arguments come back in the result.
    tasks.append({MODULE: dict(path=str(src), blob_url='%s/vhds/viasas.vhd?%s' % (azurite_http.account_url, sas),
                               container='vhds', api_version=API_VERSION)})
    results, output = upload_playbook(tasks, verbosity=3)
    assert [r.get('failed', False) for r in results] == [False] * 5 + [True], results
    assert [r['action'] for r in results[:5]] == ['create', 'create', 'create', 'none', 'create'], results
    assert results[5]['msg'] == 'parameters are mutually exclusive: blob_url|container', results[5]
    assert 'vhd_upload' in output and '"bytes_uploaded"' in output  # -vvv shows the results
    assert '"module_args"' in output  # ... and the arguments
    secrets = _secret_forms(azurite_http.account_key, azurite_http.connection_string, sas, account_sas)
    assert sig in secrets
    for secret in secrets:
        assert secret not in output
        assert secret not in json.dumps(results)
    for name in ('viakey.vhd', 'viaconn.vhd', 'viasas.vhd', 'viaaccountsas.vhd'):
        assert downloaded(azurite_http, name) == src.read_bytes()
    urls = ['%s/vhds/%s' % (azurite_http.account_url, name)
            for name in ('viakey.vhd', 'viaconn.vhd', 'viasas.vhd', 'viasas.vhd', 'viaaccountsas.vhd')]
    assert [r['url'] for r in results[:5]] == urls
    assert not any('VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in r['url'] for r in results[:5])
    # The URLs themselves are shown in the arguments -vvv prints (only their SAS is masked) ...
    assert '"account_url": "%s",' % azurite_http.account_url in output
    assert '"blob_url": "%s?' % urls[3] in output and '"account_url": "%s?' % azurite_http.account_url in output
    # ... but hidden whole when the arguments are refused before the module could find the SAS in them.
    assert '"blob_url": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in output


def test_url_without_sas_is_no_secret_in_a_failure(fixed_vhd, upload_playbook):
    """A blob URL without SAS (a key, or Entra ID) is shown as it is, also when the upload fails (it used
    to read ******** in url and in the -vvv arguments)."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    url = 'http://127.0.0.1:%d/vmimagetest/vhds/nowhere.vhd' % port
    src = fixed_vhd('n.vhd', 32 * MIB, scattered(46))
    key = 'Tm90QVJlYWxLZXlCdXRMb25nRW5vdWdoVG9CZUJhc2U2NA=='
    results, output = upload_playbook([{MODULE: dict(path=str(src), blob_url=url, account_key=key, retry_total=0,
                                                     timeout=5, api_version=API_VERSION)}], verbosity=3)
    r = results[0]
    assert r['failed'] is True and r['msg'].startswith('Cannot connect to the Azure endpoint: '), r
    assert 'Connection refused' in r['msg'], r['msg']
    assert r['url'] == url and '"blob_url": "%s",' % url in output
    assert key not in output and key not in json.dumps(results)


def test_url_is_usable_by_a_later_task(azurite_http, fixed_vhd, upload_playbook):
    """The result's url is the blob's URL without SAS, usable as the source of an image in the next task."""
    src = fixed_vhd('u.vhd', 32 * MIB, scattered(45))
    now = datetime.datetime.now(datetime.timezone.utc)
    sas = _sas(azurite_http, 'url-sas.vhd', 'rcw', now + datetime.timedelta(hours=1))
    token = _sas(azurite_http, 'url-token.vhd', 'rcw', now + datetime.timedelta(hours=1))
    account = azurite_http.account_url
    ensure_container(azurite_http, 'vhds')  # a blob SAS cannot create it
    tasks = []
    for blob, args in (('url-sas.vhd', dict(blob_url='%s/vhds/url-sas.vhd?%s' % (account, sas))),
                       ('url-token.vhd', dict(account_url=account, container='vhds', blob='url-token.vhd',
                                              sas_token=token))):
        expected = '%s/vhds/%s' % (account, blob)
        step = len(tasks)
        tasks.append({MODULE: dict(path=str(src), api_version=API_VERSION, **args)})
        tasks.append({'ansible.builtin.assert': {'that': [
            "r%d.url == '%s'" % (step, expected),
            "'?' not in r%d.url and 'sig=' not in r%d.url" % (step, step),
            "r%d.url is not search('VALUE_SPECIFIED_IN_NO_LOG_PARAMETER')" % step,
        ], 'success_msg': 'url is %s' % expected}})
    results, output = upload_playbook(tasks, verbosity=3)
    assert not any(r.get('failed') for r in results), results
    assert [r['action'] for r in results[::2]] == ['create', 'create']
    assert [r['msg'] for r in results[1::2]] == ['url is %s/vhds/url-sas.vhd' % account,
                                                 'url is %s/vhds/url-token.vhd' % account]
    for secret in _secret_forms(sas, token):
        assert secret not in output


@pytest.mark.parametrize('extra, expected', [
    (dict(concurrency=0), 'concurrency'),
    (dict(container=None), 'container'),
    (dict(merge_gap=-1), 'merge_gap must be between 0 and 4194304 (one Put Page request), not -1.'),
    (dict(merge_gap=4 * MIB + 512), 'merge_gap must be between 0 and 4194304 (one Put Page request), not 4194816.'),
])
def test_bad_options(azurite_http, fixed_vhd, upload_playbook, extra, expected):
    src = fixed_vhd('o.vhd', 32 * MIB, scattered(50))
    args = dict(dest(azurite_http, 'opts.vhd'), path=str(src))
    args.update(extra)
    args = dict((k, v) for k, v in args.items() if v is not None)
    results, _output = upload_playbook([{MODULE: args}])
    assert results[0].get('failed') and expected in results[0]['msg'], results


def test_azure_rm_storageblob_spellings(azurite_http, fixed_vhd, upload_playbook):
    """src, container_name, blob_name and force, as azure_rm_storageblob users type them."""
    src = fixed_vhd('alias.vhd', 32 * MIB, scattered(60))
    data_bytes = nonzero_bytes(src)
    common = dict(account_url=azurite_http.account_url, account_key=azurite_http.account_key,
                  api_version=API_VERSION, create_container=True)
    spelled = dict(common, src=str(src), container_name='aliases', blob_name='alias.vhd')
    tasks = [
        {MODULE: spelled},
        {MODULE: dict(spelled, force=False)},
        {MODULE: dict(spelled, force=True)},
        {MODULE: dict(spelled, force=True, overwrite='always')},
        {MODULE: dict(spelled, force=True, overwrite='never')},
        {MODULE: dict(spelled, force=True, overwrite='different')},
        {MODULE: dict(spelled, force=False, overwrite='never')},
        # the options of the engine: accepted and documented
        {MODULE: dict(spelled, break_lease=False, merge_gap=0)},
    ]
    results, _output = upload_playbook(tasks)
    first, again, forced, forced_always, never, different, plain_never, engine = results
    assert first.get('failed') is not True, first
    assert (first['action'], first['bytes_uploaded']) == ('create', data_bytes)
    assert first['url'] == '%s/aliases/alias.vhd' % azurite_http.account_url
    assert (again['action'], again['changed'], again['bytes_uploaded']) == ('none', False, 0)
    for r in (forced, forced_always):  # force: true is overwrite: always
        assert (bool(r.get('failed')), r['action'], r['changed'], r['bytes_uploaded']) == (False, 'replace', True, data_bytes), r
    for r, value in ((never, 'never'), (different, 'different')):
        assert r['failed'] is True and r['code'] == 'invalid_option', r
        assert r['msg'] == ('force=true means overwrite=always, so it cannot be combined with overwrite=%s: '
                            'set only one of them.' % value)
        assert 'action' not in r and 'url' not in r  # refused before any request
    assert (bool(plain_never.get('failed')), plain_never['action']) == (False, 'none'), plain_never
    assert (bool(engine.get('failed')), engine['action']) == (False, 'none'), engine
    assert downloaded(azurite_http, 'alias.vhd', container='aliases') == src.read_bytes()
