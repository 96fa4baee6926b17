# lib.sh: sourced by the benchmarks. A durable private PostgreSQL in a temporary folder,
# databases pgbench and wattle, and cleanup of it and of every pid in $pids on exit.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dur=${BENCH_SECONDS:-20}
tmp=$(mktemp -d /tmp/wattle-bench.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$root/scripts/pg.sh" stop "$tmp/pg" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
pg=$("$root/scripts/pg.sh" start "$tmp/pg")   # durable settings (fsync, synchronous_commit on)
psql "$pg dbname=postgres" -qc "CREATE DATABASE pgbench" -c "CREATE DATABASE wattle"
export WATTLE_DATABASE_URL="$pg dbname=wattle"
# The rate limiter stays on, with a limit no benchmark reaches, so its cost is in every
# figure; WATTLE_RATE_PER_KEY=0 WATTLE_AUTH_FAILURES_PER_MIN=0 measures without it.
export WATTLE_RATE_PER_KEY=${WATTLE_RATE_PER_KEY:-1000000}
WATTLE_LOG_LEVEL=warn "$root/build/wattle" migrate

# pgbench_init: scale 10, vacuumed, checkpointed and warmed up.
pgbench_init() {
  pgbench -q -i -s 10 "$pg dbname=pgbench" >/dev/null 2>&1
  psql "$pg dbname=pgbench" -qc "VACUUM ANALYZE" -c "CHECKPOINT"
  pgbench "$@" -T 2 "$pg dbname=pgbench" >/dev/null 2>&1
}

# wattle_serve PORT: start the server (no request log) and wait until it answers.
wattle_serve() {
  WATTLE_LOG_LEVEL=${WATTLE_BENCH_LOG:-warn} WATTLE_LISTEN=127.0.0.1:$1 "$root/build/wattle" serve --no-migrate 2>"$tmp/wattle.log" &
  pids+=($!)
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.1; done
  echo "wattle did not start; see $tmp/wattle.log" >&2
  return 1
}

# fleet_sql N: tenants_sql N, and meter M-i of tenant i on tariff 1 for each, with its state.
fleet_sql() {
  tenants_sql "$1"
  cat <<SQL
INSERT INTO meters (serial, site_id, tenant_id, purpose, tariff_id, created_at, updated_at)
  SELECT 'M-' || g, 1, g, 'tenant', 1, now(), now() FROM generate_series(1, $1) g;
INSERT INTO meter_state (meter_id) SELECT id FROM meters;
SQL
}

# tenants_sql N: SQL for site 1's tenants 1..N (retail, rating A), each with a CNY account
# holding 1,000,000.00 from one top-up in its ledger (the ingest benchmarks' fleet).
tenants_sql() {
  cat <<SQL
INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating, created_at, updated_at)
  SELECT 1, 'Shop ' || g, 'retail', 5000, 'A', now(), now() FROM generate_series(1, $1) g;
INSERT INTO accounts (tenant_id, currency, balance_minor, created_at, updated_at) SELECT id, 'CNY', 0, now(), now() FROM tenants;
INSERT INTO ledger_entries (account_id, at, kind, amount_minor, balance_after_minor, ref) SELECT id, now(), 'topup', 100000000, 100000000, '{}' FROM accounts;
UPDATE accounts SET balance_minor = 100000000;
SQL
}
