#!/usr/bin/env bash
# messages.sh: issue 16's figures, two wattle processes on one durable PostgreSQL (both run the
# notification dispatcher) sending through local fakes of Twilio, Aliyun SMS, Tencent Cloud SMS
# and the WeChat official account (tools/fakemsg), per carrier:
#   1. MESSAGES notifications queued at once (default 3000), the fake answering at once:
#      messages/s until drained;
#   2. the provider's rate limit set to 100/s (its throttling answer beyond it), 100 * SECONDS
#      messages: the sends accepted per second while a backlog remains, beside the limit;
#   3. 300 cashier top-ups at a steady rate over SECONDS: the delay from the balance change
#      (the top-up's reply) to the provider's request, p50 and p99;
#   then 1 again with one of the two processes stopped.
# bench-messages starts the fakes and spawns wattle itself (the fakes' ports go in its
# environment); this script makes the cluster, the site, its tenants and the finance key.
set -euo pipefail
messages=${MESSAGES:-3000}
source "$(dirname "$0")/lib.sh"
echo "synchronous_commit: $(psql "$pg dbname=postgres" -tAc 'SHOW synchronous_commit'), fsync: $(psql "$pg dbname=postgres" -tAc 'SHOW fsync')"
# one Shanghai site messaging in Chinese; 300 tenants with phones, 1..60 with WeChat openids
psql "$WATTLE_DATABASE_URL" -q <<SQL
INSERT INTO sites (name, timezone, currency, legal_name, tax_id, language, created_at)
  VALUES ('Bench Mall', 'Asia/Shanghai', 'CNY', 'Bench Mall Ltd', '91310000MA1FL00001', 'zh-CN', now());
INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating, phone, wechat_openid, created_at, updated_at)
  SELECT 1, 'Shop ' || g, 'retail', 5000, 'A', '+861390000' || lpad(g::text, 4, '0'),
    CASE WHEN g <= 60 THEN 'oBench' || lpad(g::text, 4, '0') END, now(), now()
  FROM generate_series(1, 300) g;
INSERT INTO accounts (tenant_id, currency, balance_minor, created_at, updated_at) SELECT id, 'CNY', 0, now(), now() FROM tenants;
SQL
psql "$WATTLE_DATABASE_URL" -qc 'VACUUM ANALYZE' -c 'CHECKPOINT'
key=$("$root/build/wattle" keys create --role finance --name bench)
"$root/build/bench-messages" "$root/build/wattle" 18130 "$key" "$tmp" "$messages" "$dur"
[ -n "${BENCH_KEEP_LOGS:-}" ] && cp "$tmp"/*.log "$BENCH_KEEP_LOGS"/ || true
