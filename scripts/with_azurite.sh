#!/usr/bin/env bash
# Copyright: (c) 2026, vmimage.azure maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Run a command with a throw-away Azurite blob service on 127.0.0.1 (a free port), then stop it.
# The command sees AZURITE_BLOB_PORT, AZURITE_BLOB_ENDPOINT and AZURE_STORAGE_CONNECTION_STRING
# (the well-known devstoreaccount1 development account, published in Azurite's documentation).
#
# Usage: scripts/with_azurite.sh WORKDIR COMMAND [ARG...]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
workdir="$1"; shift
azurite="$root/tests/azurite/node_modules/.bin/azurite-blob"
[ -x "$azurite" ] || { echo "with_azurite: $azurite missing; run 'make node' first" >&2; exit 2; }

python="${PYTHON:-python3}"
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
mkdir -p "$workdir/data"

# --disableTelemetry: Azurite otherwise reports usage over the internet; nothing leaves 127.0.0.1.
"$azurite" --blobHost 127.0.0.1 --blobPort "$port" --location "$workdir/data" \
    --disableTelemetry --disableProductStyleUrl --silent >"$workdir/azurite.log" 2>&1 &
pid=$!
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT

for _ in $(seq 1 100); do
    if "$python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$port" 2>/dev/null; then
        break
    fi
    kill -0 "$pid" 2>/dev/null || { echo "with_azurite: Azurite exited early:" >&2; cat "$workdir/azurite.log" >&2; exit 2; }
    sleep 0.1
done

export AZURITE_BLOB_PORT="$port"
export AZURITE_BLOB_ENDPOINT="http://127.0.0.1:$port/devstoreaccount1"
export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=$AZURITE_BLOB_ENDPOINT;"
echo "Azurite blob service on 127.0.0.1:$port (pid $pid, data in $workdir/data)"
"$@"
