#!/usr/bin/env bash
# lint.sh: api/openapi.yaml through Redocly's linter (the recommended rules and the few in
# tests/spec/redocly.yaml); any error or warning fails. The ctest test spec_lint. The tools
# are those pinned in tests/spec/package-lock.json (tests/spec/install.sh installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/install.sh"
cd "$here"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
exec ./node_modules/.bin/redocly lint --config redocly.yaml --max-problems 1000 ../../api/openapi.yaml
