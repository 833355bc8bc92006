# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wall time of an unchanged rerun of vmimage.azure.image, against the ARM fake.

Methods, each a fresh process, timed end to end (median of --runs):

* ``playbook``: ``ansible-playbook`` running one ``vmimage.azure.image`` task whose image already
  exists (nothing to do: metadata, token, then GETs only);
* ``bare``: a Python script that makes the same requests with the same SDKs (metadata endpoint,
  ClientSecretCredential token, ComputeManagementClient GETs) and nothing else: the floor;
* ``ping``: ``ansible-playbook`` running one ``ansible.builtin.ping``: Ansible's own cost;
* ``python``: ``python -c pass``, and ``imports``: ``python -c 'import azure.identity, azure.mgmt.compute'``.

``playbook - ping`` is what the module itself costs inside Ansible; the report sets it beside
``bare`` to say where the time goes (interpreter, imports, auth, HTTP). Usage::

    python benchmarks/bench_arm.py [--quick] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bootstrap import import_collection

LAYOUT = import_collection()
from ansible_collections.vmimage.azure.tests.support.arm_fake import ArmFake  # noqa: E402
from ansible_collections.vmimage.azure.tests.support.tls import make_tls  # noqa: E402

# The same requests the module makes on an unchanged rerun (metadata, token, GET of the image: the
# image records its source, so the VM is not read again), with the SDKs and nothing else. The
# benchmark prints both request lists so that a difference shows.
BARE = r'''
import json, os, sys
from urllib.parse import urljoin
import requests
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
url = os.environ["AZURE_CLOUD_ENVIRONMENT"]
meta = requests.get(url + "/metadata/endpoints?api-version=2015-01-01", timeout=10).json()
auth = meta["authentication"]
credential = ClientSecretCredential(os.environ["AZURE_TENANT"], os.environ["AZURE_CLIENT_ID"], os.environ["AZURE_SECRET"],
                                    authority=auth["loginEndpoint"], disable_instance_discovery=True)
client = ComputeManagementClient(credential, os.environ["AZURE_SUBSCRIPTION_ID"], base_url=url,
                                 credential_scopes=[auth["audiences"][0].rstrip("/") + "/.default"])
image = client.images.get("rg", "img")
print(json.dumps({"image": image.id}))
'''


def _median(fn, runs):
    times = []
    for _attempt in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _run(argv, env, cwd):
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit('%s failed:\n%s' % (argv[:2], (proc.stdout + proc.stderr)[-3000:]))
    return proc.stdout


def _summary(requests):
    """'GET images/img, GET virtualmachines/vm1, ...' for the Resource Manager requests."""
    return ', '.join('%s %s' % (method, '/'.join(path.rsplit('/', 2)[-2:]))
                     for method, path in requests if '/subscriptions/' in path)


def _playbook(work, name, task):
    path = Path(work) / (name + '.yml')
    path.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]))
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=7)
    parser.add_argument('--quick', action='store_true', help='3 runs')
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    python = sys.executable
    playbook_bin = str(Path(python).parent / 'ansible-playbook')

    with tempfile.TemporaryDirectory(prefix='bench-arm-') as work, ArmFake(make_tls(Path(work) / 'tls')) as arm:
        arm.retry_after = 1
        arm.add_resource_group('rg', location='westeurope')
        arm.add_vm('rg', 'vm1', power_state='deallocated', generalized=True, data_disks=(8,))
        home = Path(work) / 'home'
        home.mkdir()
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('AZURE_', 'ANSIBLE_AZURE_')))
        env.update(arm.env(), HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(LAYOUT), PYTHONPATH=str(LAYOUT),
                   ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False')
        inventory = ['-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % python]
        image_task = {'resource_group': 'rg', 'name': 'img', 'source': 'vm1'}
        image = _playbook(work, 'image', {'vmimage.azure.image': image_task})
        ping = _playbook(work, 'ping', {'ansible.builtin.ping': {}})
        bare = Path(work) / 'bare.py'
        bare.write_text(BARE)
        _run([playbook_bin] + inventory + [str(image)], env, work)  # creates the image

        arm.clear_requests()
        _run([playbook_bin] + inventory + [str(image)], env, work)
        module_requests = [(r.method, r.path.lower()) for r in arm.requests]
        arm.clear_requests()
        _run([python, str(bare)], env, work)
        bare_requests = [(r.method, r.path.lower()) for r in arm.requests]

        rows = [
            ('playbook (image, unchanged)', lambda: _run([playbook_bin] + inventory + [str(image)], env, work)),
            ('bare SDK script', lambda: _run([python, str(bare)], env, work)),
            ('playbook (ping)', lambda: _run([playbook_bin] + inventory + [str(ping)], env, work)),
            ('python -c pass', lambda: _run([python, '-c', 'pass'], env, work)),
            ('python imports (identity, mgmt.compute)',
             lambda: _run([python, '-c', 'import azure.identity, azure.mgmt.compute'], env, work)),
        ]
        medians = {}
        print('%-42s %9s   %s' % ('method', 'median s', 'runs'))
        for label, fn in rows:
            medians[label], times = _median(fn, runs)
            print('%-42s %9.3f   %s' % (label, medians[label], ' '.join('%.3f' % t for t in times)))
        playbook, bare_s, ping_s = (medians['playbook (image, unchanged)'], medians['bare SDK script'],
                                    medians['playbook (ping)'])
        print()
        print('ARM requests, module: %s' % _summary(module_requests))
        print('ARM requests, bare:   %s' % _summary(bare_requests))
        print('playbook / bare: %.2fx   (playbook - ping) / bare: %.2fx   (goal <= 1.3x)' % (
            playbook / bare_s, (playbook - ping_s) / bare_s))


if __name__ == '__main__':
    main()
