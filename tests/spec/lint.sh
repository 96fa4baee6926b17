#!/usr/bin/env bash
# lint.sh: api/openapi.yaml through Redocly's linter (the recommended rules, as
# tests/spec/redocly.yaml says); any error or warning fails. The ctest test spec_lint. The
# tools are those pinned in tests/spec/package-lock.json (tests/spec/install.sh installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/install.sh"
cd "$here"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
out=$(./node_modules/.bin/redocly lint --config redocly.yaml --max-problems 1000 ../../api/openapi.yaml 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out"
if [ $rc -ne 0 ] || printf '%s\n' "$out" | grep -qE 'You have [0-9]+ warning'; then
  echo "spec_lint: api/openapi.yaml is not lint clean" >&2
  exit 1
fi
