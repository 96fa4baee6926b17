#!/usr/bin/env bash
# install.sh: the spec's test tools (tests/spec/package.json, exact versions in
# package-lock.json) into tests/spec/node_modules with `npm ci`, when they are missing or
# older than the lock file. tests/run.sh calls it before the suites; lint.sh does too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v npm >/dev/null || { echo "spec tools: npm is missing (scripts/deps.sh installs it)" >&2; exit 1; }
stamp="$here/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
  echo "spec tools: npm ci in tests/spec" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
