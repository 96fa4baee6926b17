#!/usr/bin/env bash
# check.sh: the deploy files as systemd reads them. The example environment has no comment
# after a value (EnvironmentFile takes the rest of the line as the value), commented or not;
# each unit's `systemd-analyze security` exposure is 2.0 or better (8.5 "EXPOSED" before).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
status=0
bad=$(grep -nE '^#?WATTLE_[A-Z0-9_]+=[^"'"'"']*[[:space:]]' "$root/deploy/wattle.env.example" || true)
if [ -n "$bad" ]; then
  echo "deploy/wattle.env.example: a value with a space or a comment after it:"; echo "$bad"; status=1
fi
for unit in "$root"/deploy/*.service; do
  score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | sed -n 's/.*exposure level for .*: \([0-9.]*\) .*/\1/p')
  echo "$(basename "$unit"): exposure $score"
  if [ -z "$score" ] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    echo "$(basename "$unit"): exposure ${score:-unknown}, want 2.0 or better"; status=1
  fi
done
exit $status
