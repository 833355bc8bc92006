# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vmimage.azure.vhd_upload under faults: transient errors injected by a proxy in front of Azurite
(503, 500, 429 + Retry-After, connection resets, lost responses), permanent failures, and a module
process killed with SIGKILL part-way (its lease on the blob outlives it: a rerun fails at once until
it expires or break_lease is set); reruns resume and the blob equals the source byte for byte.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest

from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION
from ansible_collections.vmimage.azure.tests.support.faultproxy import FaultProxy
from ansible_collections.vmimage.azure.tests.support.procs import descendants

MIB = 1024 * 1024
MODULE = 'vmimage.azure.vhd_upload'


def chunks(seed, count, every, length=MIB):
    rng = random.Random(seed)
    return dict((i * every + 4096, rng.randbytes(length)) for i in range(count))


def args(azurite, path, blob, port=None, **extra):
    out = dict(path=str(path), account_url=azurite.url_on(port or azurite.port), container='vhds', blob=blob,
               account_key=azurite.account_key, api_version=API_VERSION, create_container=True,
               retry_backoff_factor=0.05, retry_backoff_max=2)
    out.update(extra)
    return out


def blob(azurite, name):
    return azurite.service_client().get_blob_client('vhds', name)


def test_transient_faults_are_retried(azurite_http, fixed_vhd, upload_playbook):
    src = fixed_vhd('f.vhd', 64 * MIB, chunks(1, 6, 9 * MIB))
    plan = [{'status': 503}, 'reset', {'status': 429, 'retry_after': 1}, {'status': 500},
            'drop_response', {'status': 503, 'retry_after': 0}]
    with FaultProxy(azurite_http.port, plan=plan) as proxy:
        results, _output = upload_playbook([{MODULE: args(azurite_http, src, 'faults.vhd', proxy.port, concurrency=3)}])
        injected = list(proxy.injected)
    r = results[0]
    assert not r.get('failed') and r['changed'], r
    assert injected == plan
    assert r['retries'] >= len(plan), r
    assert blob(azurite_http, 'faults.vhd').download_blob().readall() == src.read_bytes()
    assert blob(azurite_http, 'faults.vhd').get_blob_properties().metadata['vmimage_state'] == 'complete'


def test_permanent_failure_leaves_a_resumable_blob(azurite_http, fixed_vhd, upload_playbook):
    src = fixed_vhd('p.vhd', 64 * MIB, chunks(2, 6, 9 * MIB))
    plan = ['pass', 'pass'] + [{'status': 503}] * 3  # third Put Page: 1 try + 2 retries, all 503
    with FaultProxy(azurite_http.port, plan=plan) as proxy:
        task = args(azurite_http, src, 'permanent.vhd', proxy.port, concurrency=1, retry_total=2)
        results, _output = upload_playbook([{MODULE: task}])
    failed = results[0]
    assert failed.get('failed') and 'run the task again' in failed['msg'] and '503' in failed['msg'], failed
    # Requests already queued when the third one failed may still complete (at most one here).
    assert failed['retries'] == 2 and 2 * MIB <= failed['bytes_uploaded'] <= 3 * MIB, json.dumps(failed, indent=1)
    assert blob(azurite_http, 'permanent.vhd').get_blob_properties().metadata['vmimage_state'] == 'uploading'
    results, _output = upload_playbook([{MODULE: args(azurite_http, src, 'permanent.vhd')}])
    resumed = results[0]
    assert resumed['resumed'] and resumed['action'] == 'resume', resumed
    assert resumed['bytes_uploaded'] == resumed['data_bytes'] - failed['bytes_uploaded']
    assert blob(azurite_http, 'permanent.vhd').download_blob().readall() == src.read_bytes()


def _kill_part_way(playbook_command, azurite, src, name, tmp_path, after=6):
    """Start an upload through a slow proxy, SIGKILL the whole ansible process group once ``after``
    pages were written; return how many Put Page requests reached Azurite."""
    workdir = tmp_path / 'killed'
    workdir.mkdir()
    with FaultProxy(azurite.port, delay=0.3) as proxy:
        argv, env, _results_path = playbook_command(workdir, [{MODULE: args(azurite, src, name, proxy.port, concurrency=2)}])
        proc = subprocess.Popen(argv, env=env, cwd=str(workdir), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert proxy.wait_forwarded(after, timeout=120), 'the upload did not start'
        finally:
            # ansible-playbook and the module process below it (the tree, whatever its groups).
            for pid in [proc.pid] + descendants(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
        time.sleep(1.0)  # in-flight requests settle; nothing may arrive after the kill
        seen = proxy.seen
        time.sleep(1.0)
        assert proxy.seen == seen, 'the module kept running after SIGKILL'
        return proxy.forwarded


@pytest.mark.parametrize('change_source', [False, True], ids=['same-source', 'changed-source'])
def test_resume_after_sigkill(azurite_http, fixed_vhd, upload_playbook, upload_playbook_command, tmp_path,
                              change_source):
    size = 256 * MIB
    src = fixed_vhd('big.vhd', size, chunks(3, 40, 6 * MIB))
    name = 'killed-%s.vhd' % change_source
    written = _kill_part_way(upload_playbook_command, azurite_http, src, name, tmp_path)
    props = blob(azurite_http, name).get_blob_properties()
    assert props.metadata['vmimage_state'] == 'uploading' and props.size == size + 512
    # The killed run's lease (60 s, no longer renewed) still holds the blob.
    assert (props.lease.state, props.lease.duration) == ('leased', 'fixed')
    if change_source:
        src = fixed_vhd('big2.vhd', size, chunks(4, 5, 50 * MIB))
    results, _output = upload_playbook([{MODULE: args(azurite_http, src, name)},
                                        {MODULE: args(azurite_http, src, name, break_lease=True)}])
    refused, r = results
    assert refused.get('failed') and 'another upload holds a lease on this blob' in refused['msg'], refused
    assert 'set break_lease: true if no upload is running' in refused['msg'], refused
    assert 'bytes_uploaded' not in refused or refused['bytes_uploaded'] == 0, refused
    assert not r.get('failed') and r['changed'], r
    if change_source:
        assert r['action'] == 'replace' and not r['resumed'] and r['bytes_uploaded'] == r['data_bytes'], r
    else:
        assert r['action'] == 'resume' and r['resumed'], r
        assert r['bytes_uploaded'] < r['data_bytes'], r
        assert r['bytes_uploaded'] <= r['data_bytes'] - written * MIB + 512, (r, written)
    assert blob(azurite_http, name).download_blob().readall() == src.read_bytes()
    assert blob(azurite_http, name).get_blob_properties().lease.state == 'available'
    assert json.dumps(results).count(azurite_http.account_key) == 0
