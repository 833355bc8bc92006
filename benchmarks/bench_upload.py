# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Page-blob upload throughput: vmimage.azure's engine against the alternatives, on a local Azurite.

Datasets: a sparse VHD (default 4 GiB virtual, ~400 MiB of data in scattered extents: runs of
1-8 MiB plus a 4 KiB block every 64 MiB, like file-system metadata) and a dense VHD (default
1 GiB of random data). Methods, each timed end to end (median of --runs):

* ``ours``: what vhd_upload does: scan (fingerprint + zero-page split) then parallel Put Page;
* ``upload_blob``: ``BlobClient.upload_blob(blob_type="PageBlob", max_concurrency=N)``, what
  azure.azcollection's azure_rm_storageblob does (it skips all-zero 4 MiB chunks, but reads all);
* ``bare``: N threads putting the known data ranges (<= 4 MiB, with Content-MD5 like ours),
  with no scan and no state: the floor for this service;
* ``az``: ``az storage blob upload --type page`` when the az CLI is found ($AZ_CLI or PATH);
* ``playbook``: the module end to end, ``ansible-playbook`` running one vmimage.azure.vhd_upload task
  (AnsiballZ packaging, the module's imports, argument checks, the blob's properties, the upload); its
  notes give the module's own ``seconds`` and the overhead, end to end minus ``ping`` minus ``seconds``;
* ``ping``: ``ansible-playbook`` running one ansible.builtin.ping task, what any module costs.

Azurite (started here for every dataset and run, blob service only; in memory, on disk, or both:
--azurite) runs on this machine, so absolute figures mostly measure it and the CPU; the ratios are the
point. Usage::

    python benchmarks/bench_upload.py [--quick] [--runs 3] [--concurrency 8] [--azurite both]

The ``playbook`` and ``ping`` rows need ansible-playbook (next to this Python or on PATH) and the
collection in ANSIBLE_COLLECTIONS_PATH (default: the checkout's .build/collections, as ``make bench``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _bootstrap import ROOT, import_collection

MIB = 1024 * 1024
GIB = 1024 * MIB


import_collection()
from ansible_collections.vmimage.azure.plugins.module_utils._storage import client as _client  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._storage import plan as _plan  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._storage import upload as _upload  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.extents import data_extents  # noqa: E402
from ansible_collections.vmimage.azure.plugins.module_utils._vhd.footer import new_fixed_footer  # noqa: E402
from ansible_collections.vmimage.azure.tests.support.azurite import API_VERSION, Azurite  # noqa: E402

CONTAINER = 'bench'
MODES = {'memory': 'in memory', 'disk': 'on disk'}


def azurite_for(mode, workdir):
    # --skipApiVersionCheck only lets the az CLI (its own API version) in.
    location = Path(workdir) / 'data' if mode == 'disk' else None
    return Azurite(workdir, extra_args=['--skipApiVersionCheck'], location=location)


def make_sparse(path, size, data_bytes, seed=1):
    rng = random.Random(seed)
    with open(path, 'wb') as f:
        f.truncate(size)
        for off in range(0, size, 64 * MIB):  # metadata-like 4 KiB blocks
            f.seek(off + rng.randrange(0, 60 * MIB, 4096))
            f.write(rng.randbytes(4096))
        written = 0
        while written < data_bytes:
            n = min(rng.randrange(1, 9) * MIB, data_bytes - written)
            f.seek(rng.randrange(0, size - n, 4096))
            f.write(rng.randbytes(n))
            written += n
        f.seek(size)
        f.write(new_fixed_footer(size).pack())


def make_dense(path, size, seed=2):
    rng = random.Random(seed)
    with open(path, 'wb') as f:
        for _chunk in range(size // (16 * MIB)):
            f.write(rng.randbytes(16 * MIB))
        f.write(new_fixed_footer(size).pack())


def params(azurite, blob, concurrency):
    return dict(account_url=azurite.account_url, container=CONTAINER, blob=blob,
                account_key=azurite.account_key, api_version=API_VERSION, retry_total=3)


def sdk_client(azurite, blob):
    from azure.storage.blob import BlobClient
    return BlobClient(azurite.account_url, CONTAINER, blob, api_version=API_VERSION,
                      credential={'account_name': azurite.account_name, 'account_key': azurite.account_key})


def run_ours(azurite, path, blob, concurrency):
    """What vhd_upload does for a first upload: scan and send at the same time."""
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        source = _plan.Scanner(fd, os.fstat(fd).st_size, data_extents(fd))
        client, retry, _auth = _client.build_blob_client(params(azurite, blob, concurrency), concurrency=concurrency)
        up = _upload.PageBlobUploader(client, fd, source, concurrency, retry)
        stats = up.run(up.prepare('always'))
    finally:
        os.close(fd)
    return time.perf_counter() - started, dict(requests=stats['requests'], sent=stats['bytes_uploaded'])


def run_scan(path):
    """The scan alone (what a rerun pays before deciding that nothing needs to be sent)."""
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        _plan.scan(fd, os.fstat(fd).st_size, data_extents(fd))
    finally:
        os.close(fd)
    return time.perf_counter() - started


def run_upload_blob(azurite, path, blob, concurrency):
    client = sdk_client(azurite, blob)
    started = time.perf_counter()
    with open(path, 'rb') as f:
        client.upload_blob(f, blob_type='PageBlob', length=os.path.getsize(path), overwrite=True,
                           max_concurrency=concurrency)
    return time.perf_counter() - started, {}


def run_bare(azurite, path, blob, concurrency, ranges):
    client = sdk_client(azurite, blob)
    fd = os.open(path, os.O_RDONLY)
    try:
        started = time.perf_counter()
        client.create_page_blob(os.fstat(fd).st_size)

        def put(r):
            client.upload_page(os.pread(fd, r[1], r[0]), offset=r[0], length=r[1], validate_content=True)
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(put, ranges))
        return time.perf_counter() - started, dict(requests=len(ranges))
    finally:
        os.close(fd)


def find_az():
    return os.environ.get('AZ_CLI') or shutil.which('az')


def run_az(azurite, path, blob, concurrency, az):
    cmd = [az, 'storage', 'blob', 'upload', '--connection-string', azurite.connection_string,
           '--container-name', CONTAINER, '--name', blob, '--file', str(path), '--type', 'page',
           '--overwrite', '--max-connections', str(concurrency), '--only-show-errors', '--output', 'none']
    env = dict(os.environ, AZURE_CORE_COLLECT_TELEMETRY='0', AZURE_CORE_ONLY_SHOW_ERRORS='1',
               AZURE_CONFIG_DIR=str(Path(path).parent / 'az-config'))
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError('az failed: %s' % (proc.stderr.replace(azurite.account_key, '***')[-800:]))
    return elapsed, {}


def find_ansible_playbook():
    beside = Path(sys.executable).parent / 'ansible-playbook'
    return str(beside) if beside.exists() else shutil.which('ansible-playbook')


class Playbooks(object):
    """One-task plays run by ansible-playbook on localhost, the way a user runs the module."""

    def __init__(self, work, binary):
        self.work = Path(work)
        self.binary = binary
        self.env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.builtin.minimal', ANSIBLE_NOCOLOR='1',
                        ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False',
                        ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_NOCOWS='1')
        self.env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))

    def run(self, name, task, secrets=()):
        """(seconds, the task's result): the wall time of the whole ansible-playbook process."""
        path = self.work / ('%s.yml' % name)
        path.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]))
        started = time.perf_counter()
        proc = subprocess.run([self.binary, '-i', 'localhost,', '-c', 'local',
                               '-e', 'ansible_python_interpreter=%s' % sys.executable, str(path)],
                              capture_output=True, text=True, env=self.env, cwd=str(self.work), check=False)
        elapsed = time.perf_counter() - started
        path.unlink()
        if proc.returncode:
            text = proc.stdout + proc.stderr
            for secret in secrets:
                text = text.replace(secret, '***')
            raise RuntimeError('ansible-playbook failed (%d): %s' % (proc.returncode, text[-1500:]))
        return elapsed, json.loads(proc.stdout.split(' => ', 1)[1])


def run_playbook(playbooks, azurite, path, blob, concurrency):
    """vhd_upload end to end: ansible-playbook, the module, a first upload of the source."""
    args = dict(path=str(path), account_url=azurite.account_url, container=CONTAINER, blob=blob,
                account_key=azurite.account_key, api_version=API_VERSION, concurrency=concurrency, retry_total=3)
    elapsed, result = playbooks.run('upload', {'vmimage.azure.vhd_upload': args}, secrets=[azurite.account_key])
    if result.get('action') != 'create':
        raise RuntimeError('vhd_upload did not create the blob: %r' % (result,))
    return elapsed, dict(requests=result['requests'], sent=result['bytes_uploaded'], seconds=result['seconds'],
                         fingerprint=result['fingerprint'])


def run_ping(playbooks):
    return playbooks.run('ping', {'ansible.builtin.ping': {}})[0], {'what': 'ansible-playbook, one ping task'}


def verify(azurite, path, blob):
    want = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(16 * MIB), b''):
            want.update(chunk)
    got = hashlib.sha256()
    for chunk in sdk_client(azurite, blob).download_blob(max_concurrency=4).chunks():
        got.update(chunk)
    if got.digest() != want.digest():
        raise SystemExit('MISMATCH: blob %s differs from %s' % (blob, path))


def median_of(values):
    return statistics.median(values) if values else None


def bench_dataset(args, mode, name, path, plan, work, az, playbooks):
    """{method: [seconds per run]}, {method: notes of the first run}, [playbook overhead per run]."""
    results, extra, overheads = {}, {}, []
    for run in range(args.runs):
        # A fresh Azurite per dataset and run: its in-memory store does not give back the space of
        # deleted blobs, and the one on disk starts empty.
        store = work / ('azurite-%s' % mode)
        with azurite_for(mode, store) as azurite:
            azurite.service_client().create_container(CONTAINER)
            methods = [('ours', lambda b: run_ours(azurite, path, b, args.concurrency)),
                       ('upload_blob', lambda b: run_upload_blob(azurite, path, b, args.concurrency)),
                       ('bare', lambda b: run_bare(azurite, path, b, args.concurrency, plan.ranges))]
            if playbooks:
                methods += [('playbook', lambda b: run_playbook(playbooks, azurite, path, b, args.concurrency)),
                            ('ping', lambda b: run_ping(playbooks))]
            if az:
                methods.append(('az', lambda b: run_az(azurite, path, b, args.concurrency, az)))
            if run % 2:  # alternate the order, so that drifts hit every method alike
                methods.reverse()
            times = {}
            for method, func in methods:
                blob = '%s-%s-%d.vhd' % (name, method, run)
                seconds, info = func(blob)
                times[method] = (seconds, info)
                results.setdefault(method, []).append(seconds)
                extra.setdefault(method, info)
                if method == 'ours' and run == 0 and not args.no_verify:
                    verify(azurite, path, blob)
                if method == 'playbook' and (info['sent'] != plan.data_bytes or info['fingerprint'] != plan.fingerprint):
                    raise SystemExit('MISMATCH: vhd_upload sent %d bytes, fingerprint %s; the scan says %d, %s'
                                     % (info['sent'], info['fingerprint'], plan.data_bytes, plan.fingerprint))
                if method != 'ping':
                    sdk_client(azurite, blob).delete_blob()
                print('  %-6s %-6s %-11s run %d: %7.2f s' % (mode, name, method, run + 1, seconds), file=sys.stderr)
            if playbooks:
                overheads.append(times['playbook'][0] - times['ping'][0] - times['playbook'][1]['seconds'])
        shutil.rmtree(store, ignore_errors=True)
    return results, extra, overheads


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='small datasets, one run (a smoke test)')
    ap.add_argument('--runs', type=int, help='runs per method (default 3, 1 with --quick)')
    ap.add_argument('--concurrency', type=int, default=8)
    ap.add_argument('--sparse-gib', type=float, default=4.0)
    ap.add_argument('--sparse-data-mib', type=int, default=400)
    ap.add_argument('--dense-gib', type=float, default=1.0)
    ap.add_argument('--azurite', choices=['memory', 'disk', 'both'], default='both',
                    help='where Azurite keeps the blobs (default: both, one table each)')
    ap.add_argument('--no-playbook', action='store_true', help='skip the ansible-playbook rows (playbook, ping)')
    ap.add_argument('--no-verify', action='store_true', help='skip downloading and comparing our uploads')
    ap.add_argument('--workdir', help='where the datasets go (default: a temporary directory)')
    args = ap.parse_args()
    if args.quick:
        args.sparse_gib, args.sparse_data_mib, args.dense_gib = 1.0, 100, 0.25
    args.runs = args.runs or (1 if args.quick else 3)
    modes = ['memory', 'disk'] if args.azurite == 'both' else [args.azurite]
    az = find_az()
    work = Path(args.workdir or tempfile.mkdtemp(prefix='bench-upload-'))
    work.mkdir(parents=True, exist_ok=True)
    playbooks = None
    if not args.no_playbook:
        binary = find_ansible_playbook()
        if not binary:
            raise SystemExit('ansible-playbook not found next to %s or on PATH (or give --no-playbook)' % sys.executable)
        playbooks = Playbooks(work, binary)
    datasets = [('sparse', work / 'sparse.vhd', int(args.sparse_gib * GIB) // MIB * MIB),
                ('dense', work / 'dense.vhd', int(args.dense_gib * GIB) // MIB * MIB)]
    make_sparse(datasets[0][1], datasets[0][2], args.sparse_data_mib * MIB)
    make_dense(datasets[1][1], datasets[1][2])
    plans = {}
    for name, path, _size in datasets:
        fd = os.open(path, os.O_RDONLY)
        plans[name] = _plan.scan(fd, os.fstat(fd).st_size, data_extents(fd))
        os.close(fd)
    tables = []
    for mode in modes:
        rows, overhead = [], {}
        for name, path, _size in datasets:
            plan = plans[name]
            results, extra, overheads = bench_dataset(args, mode, name, path, plan, work, az, playbooks)
            scans = [run_scan(path) for _run in range(args.runs)]
            ours = statistics.median(results['ours'])
            rows.append((name, 'scan only', statistics.median(scans), plan.data_bytes / MIB / statistics.median(scans),
                         statistics.median(scans) / ours, {'what': 'fingerprint of an unchanged source (rerun)'}))
            if overheads:
                overhead[name] = statistics.median(overheads)
                extra['playbook'] = dict(extra['playbook'], overhead=overhead[name])
                extra['playbook'].pop('fingerprint', None)
            for method in ('ours', 'upload_blob', 'bare', 'playbook', 'ping', 'az'):
                if method in results:
                    med = statistics.median(results[method])
                    rate = plan.data_bytes / MIB / med if method != 'ping' else 0.0
                    rows.append((name, method, med, rate, med / ours, extra[method]))
        tables.append((mode, rows, overhead))
    for mode, rows, overhead in tables:
        header = ('\nAzurite %s, %d runs (median), concurrency %d; sparse: %.1f GiB virtual, %d MiB data; '
                  'dense: %.2f GiB; az CLI: %s\n')
        print(header % (MODES[mode], args.runs, args.concurrency, args.sparse_gib, args.sparse_data_mib,
                        args.dense_gib, az or 'not found (skipped)'))
        print('| dataset | method | median s | data MiB/s | time / ours | notes |')
        print('| --- | --- | ---: | ---: | ---: | --- |')
        for name, method, med, rate, ratio, info in rows:
            notes = ', '.join('%s=%s' % (k, round(v, 2) if isinstance(v, float) else v) for k, v in info.items())
            print('| %s | %s | %.2f | %s | %.2fx | %s |' % (name, method, med, '%.1f' % rate if rate else '-', ratio, notes))
        by = dict(((n, m), med) for n, m, med, _r, _x, _i in rows)
        print()
        print('sparse: upload_blob / ours = %.1fx (target >= 10x)' % (by[('sparse', 'upload_blob')] / by[('sparse', 'ours')]))
        if ('sparse', 'playbook') in by:
            print('sparse: upload_blob / playbook = %.1fx (target >= 8x; end to end, ansible-playbook included)'
                  % (by[('sparse', 'upload_blob')] / by[('sparse', 'playbook')]))
        if ('sparse', 'az') in by:
            print('sparse: az / ours = %.1fx (target >= 15x)' % (by[('sparse', 'az')] / by[('sparse', 'ours')]))
        print('dense: ours / bare = %.2f (target <= 1.10)' % (by[('dense', 'ours')] / by[('dense', 'bare')]))
        if ('dense', 'playbook') in by:
            print('dense: playbook / bare = %.2f (end to end)' % (by[('dense', 'playbook')] / by[('dense', 'bare')]))
        for name in sorted(overhead):
            print('%s: playbook overhead = %.2f s (end to end - ping play - the module\'s seconds)' % (name, overhead[name]))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
