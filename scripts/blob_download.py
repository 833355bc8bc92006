# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vmimage.azure maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Download a page blob to a sparse local file: only the page ranges the service holds are fetched
(4 MiB at a time, eight at once) and written, the rest stays a hole. The main job
(playbooks/build_local.yml) uses it to get back the VHD it uploaded and boot what Azure would receive.

The connection string is read from AZURE_STORAGE_CONNECTION_STRING (never from the command line, so
it does not show in a process list or in Ansible's output). Prints JSON: size, bytes, ranges, seconds.

Usage: blob_download.py CONTAINER BLOB DEST [--api-version V]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

CHUNK = 4 * 1024 * 1024
WORKERS = 8


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('container')
    parser.add_argument('blob')
    parser.add_argument('dest')
    parser.add_argument('--api-version')
    args = parser.parse_args(argv)
    conn = os.environ.get('AZURE_STORAGE_CONNECTION_STRING')
    if not conn:
        print('blob_download.py: set AZURE_STORAGE_CONNECTION_STRING', file=sys.stderr)
        return 2
    from azure.core.exceptions import AzureError  # pylint: disable=import-outside-toplevel
    from azure.storage.blob import BlobClient  # pylint: disable=import-outside-toplevel
    kwargs = {'api_version': args.api_version} if args.api_version else {}
    started = time.monotonic()
    try:
        client = BlobClient.from_connection_string(conn, args.container, args.blob, **kwargs)
        size = client.get_blob_properties().size
        ranges = []
        for page in client.list_page_ranges():
            if not page.cleared:
                ranges.append((page.start, page.end + 1))
        chunks = [(offset, min(CHUNK, end - offset)) for start, end in ranges for offset in range(start, end, CHUNK)]
        partial = args.dest + '.partial'
        with open(partial, 'wb') as handle:
            handle.truncate(size)

            def fetch(chunk):
                offset, length = chunk
                data = client.download_blob(offset=offset, length=length).readall()
                os.pwrite(handle.fileno(), data, offset)
                return len(data)

            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                written = sum(pool.map(fetch, chunks))
        os.replace(partial, args.dest)
    except AzureError as exc:
        print('blob_download.py: %s failed: %s' % (args.blob, type(exc).__name__), file=sys.stderr)
        return 1
    print(json.dumps({'size': size, 'bytes': written, 'ranges': len(ranges), 'seconds': round(time.monotonic() - started, 1)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
