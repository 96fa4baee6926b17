#!/usr/bin/env bash
# alerts.sh: deploy/prometheus/alerts.yml as Prometheus reads it (promtool check rules) and
# as its unit tests (alerts_test.yml) expect it (promtool test rules). Then each alert's
# tests are shown to bite: with its expression made never true the tests must fail (they
# have a case that fires it), and with it always true they must fail (a case that must not).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$root/deploy/prometheus"
command -v promtool >/dev/null || { echo "alerts: promtool is missing (Debian package prometheus; scripts/deps.sh)"; exit 1; }
promtool check rules "$dir/alerts.yml"
promtool test rules "$dir/alerts_test.yml"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$dir/alerts_test.yml" "$tmp/"
status=0
alerts=$(sed -n 's/^ *- alert: *//p' "$dir/alerts.yml")
[ -n "$alerts" ] || { echo "alerts: no alert in alerts.yml"; exit 1; }
for a in $alerts; do
  grep -q "alertname: $a\$" "$dir/alerts_test.yml" || { echo "alerts: $a has no test"; status=1; continue; }
  for mut in "vector(0) > 1" "vector(1)"; do
    # the expr line after "- alert: $a" replaced
    awk -v a="$a" -v m="$mut" '
      /^ *- alert: / { cur = $3 }
      cur == a && /^ *expr:/ { sub(/expr:.*/, "expr: " m); cur = "" }
      { print }' "$dir/alerts.yml" > "$tmp/alerts.yml"
    if promtool test rules "$tmp/alerts_test.yml" >/dev/null 2>&1; then
      echo "alerts: $a with expr '$mut' still passes its tests: they cannot fail"; status=1
    fi
  done
done
[ $status = 0 ] && echo "alerts: $(echo $alerts | wc -w) alerts checked, tested, and each test bites"
exit $status
