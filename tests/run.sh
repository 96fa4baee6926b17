#!/usr/bin/env bash
# run.sh BUILD_DIR...: start a private PostgreSQL 15 in a temporary folder, migrate the
# template database with the first build's wattle, run every build's suites, and stop and
# remove the cluster whatever happens.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: tests/run.sh BUILD_DIR..." >&2; exit 2; }
"$root/tests/spec/install.sh" # the spec's npm tools (spec_lint, spec_replies), when missing
tmp=$(mktemp -d /tmp/wattle-test.XXXXXX)
cleanup() { "$root/scripts/pg.sh" stop "$tmp" || true; rm -rf "$tmp"; }
trap cleanup EXIT
pg=$("$root/scripts/pg.sh" start "$tmp" --fast)
psql "$pg dbname=postgres" -qc "CREATE DATABASE wattle_template"
WATTLE_LOG_LEVEL=warn WATTLE_DATABASE_URL="$pg dbname=wattle_template" "$1/wattle" migrate
export WATTLE_TEST_PG="$pg"
status=0
for b in "$@"; do
  echo "== suites of $b"
  (cd "$b" && ctest --output-on-failure -j2 ${CTEST_ARGS:-}) || status=1
done
exit $status
