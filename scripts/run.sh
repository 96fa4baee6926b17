#!/usr/bin/env bash
# run.sh: `wattle demo`: a private PostgreSQL under ./var/pg, a 150-tenant mall seeded
# through the API, October on a fast clock with wattle-metersim and payment webhooks, the
# month closed and its reports written to ./var/reports; then wattle serves the result on
# WATTLE_LISTEN (default 127.0.0.1:8080) until Ctrl-C. Extra arguments go to wattle demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
exec build/wattle demo "$@"
