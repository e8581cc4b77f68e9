#!/usr/bin/env bash
# Benchmarks Flywheel on this machine and writes target/bench/report.md and report.json.
#
#   scripts/bench.sh           the full run: PostgreSQL, intake at 250…4000 reports/s, the
#                              ceiling, dispatch at 100 / 10,000 / 100,000 crews, memory
#   scripts/bench.sh --smoke   a few seconds on SQLite that proves the generator works end to end
#
# BENCH_PG_PLANNING=1 also counts PostgreSQL's planning per statement (target/bench/pg-profile-plans.txt).
# BENCH_PG_OPTIONS adds server options, e.g. auto_explain's to log slow statements' plans
# (target/bench/logs/postgres.log).
# BENCH_ANALYTICS_TICKETS (default 1000000; e.g. 1000000,10000000) sets the analytics query bench's
# data volumes. BENCH_STEPS (default all) picks steps by name, e.g. BENCH_STEPS=ceiling,intake;
# the names: memory, ceiling, intake, dispatch-scale, registry-scale, analytics-scale.
#
# Everything runs as local processes from the release build, on free ports, with its data under a
# temporary directory removed at the end: a JetStream nats-server, PostgreSQL (the host's postgres
# binaries, a throwaway cluster; SQLite for the smoke) and the four services. The dispatch and
# analytics scale benches write their own SQLite files to temporary directories. The
# services trust a key pair made for the run and the generator calls with an admin token.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false
case "${1:-}" in
  --smoke) smoke=true ;;
  "") ;;
  *) echo "usage: scripts/bench.sh [--smoke]" >&2; exit 2 ;;
esac

command -v nats-server >/dev/null || source scripts/ensure-tools.sh
cargo build --release --quiet -p flywheel-registry -p flywheel-dispatch -p flywheel-feedback \
  -p flywheel-analytics -p flywheel-cli -p flywheel-bench
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo +changes)"
out=target/bench
mkdir -p "$out"
rm -rf "$out"/*.json "$out"/report.md "$out"/metrics-*.txt "$out"/logs

run=$(mktemp -d)
# A private copy of this build: a target directory shared with other checkouts may be rebuilt
# from other sources while the bench runs.
bin="$run/bin"
mkdir -p "$bin"
for b in flywheel-registry flywheel-dispatch flywheel-feedback flywheel-analytics flywheel flywheel-bench; do
  cp "${CARGO_TARGET_DIR:-target}/release/$b" "$bin/"
done
pids=()
pg_data=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$pg_data" ]; then as_postgres pg_ctl -D "$pg_data" -m fast stop >/dev/null 2>&1 || true; fi
  mkdir -p "$out/logs" && cp "$run"/*.log "$out/logs/" 2>/dev/null || true
  [ -z "$pg_data" ] || cp "$pg_data/log" "$out/logs/postgres.log" 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups "$@"; else "$@"; fi
}

nats_port=$(free_port)
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$run/nats" >"$run/nats.log" 2>&1 &
pids+=($!)
cpu_args=(--process "nats-server=$!")
nats_url="nats://127.0.0.1:${nats_port}"

database_url() { echo "sqlite://$run/$1.db?mode=rwc"; }
if ! $smoke; then
  # Debian keeps the server binaries off PATH; install them when missing.
  if ! command -v initdb >/dev/null; then
    ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || apt-get install -y -qq postgresql >/dev/null
    PATH="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1):$PATH"
  fi
  pg_port=$(free_port)
  pg_data="$run/pg"
  mkdir -p "$pg_data"
  [ "$(id -u)" = 0 ] && chown postgres: "$run" "$pg_data"
  as_postgres initdb -D "$pg_data" -U flywheel --auth=trust >/dev/null
  # autovacuum_naptime as deploy/compose.yaml sets it: tables filling fast get statistics within
  # seconds, so the run measures plans made with them rather than plans made on empty tables.
  as_postgres pg_ctl -D "$pg_data" -l "$run/pg/log" -w \
    -o "-p $pg_port -k $run -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c autovacuum_naptime=5s -c shared_preload_libraries=pg_stat_statements ${BENCH_PG_PLANNING:+-c pg_stat_statements.track_planning=on} ${BENCH_PG_OPTIONS:-}" start >/dev/null
  for db in registry dispatch feedback analytics ceiling; do
    psql -q -h 127.0.0.1 -p "$pg_port" -U flywheel -d postgres -c "CREATE DATABASE $db" >/dev/null
  done
  database_url() { echo "postgres://flywheel@127.0.0.1:${pg_port}/$1"; }
  psql -q -h 127.0.0.1 -p "$pg_port" -U flywheel -d postgres -c "CREATE EXTENSION pg_stat_statements" >/dev/null
fi
# The statements and commits each service's database ran during the intake step (PostgreSQL).
pg_sql() { psql -qAt -h 127.0.0.1 -p "$pg_port" -U flywheel -d "$1" -c "$2"; }
pg_profile_start() {
  for db in registry dispatch feedback analytics; do pg_sql "$db" "SELECT pg_stat_reset()" >/dev/null; done
  pg_sql postgres "SELECT pg_stat_statements_reset()" >/dev/null
}
pg_profile_write() {
  sleep 2 # statistics reach the shared counters within a second of a session's last transaction
  # WAL is what the database writes for durability: every copy of a row and its index entries,
  # and a whole page (full-page image) the first time a page changes after a checkpoint.
  pg_sql postgres "SELECT json_agg(json_build_object('database', d.datname, 'commits', d.xact_commit,
      'statements', (SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s WHERE s.dbid = d.datid),
      'wal_bytes', (SELECT coalesce(sum(s.wal_bytes), 0) FROM pg_stat_statements s WHERE s.dbid = d.datid),
      'wal_fpi', (SELECT coalesce(sum(s.wal_fpi), 0) FROM pg_stat_statements s WHERE s.dbid = d.datid)) ORDER BY d.datname)
    FROM pg_stat_database d WHERE d.datname IN ('registry', 'dispatch', 'feedback', 'analytics')" >"$1"
  # Where the database time went: the costliest statements, for the profile in docs/performance.md.
  psql -q -h 127.0.0.1 -p "$pg_port" -U flywheel -d postgres -P pager=off -c "SELECT d.datname AS db, s.calls,
      round(s.total_exec_time::numeric, 1) AS total_ms, round(s.mean_exec_time::numeric, 3) AS mean_ms, s.rows,
      left(regexp_replace(s.query, '\s+', ' ', 'g'), 160) AS statement
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname IN ('registry', 'dispatch', 'feedback', 'analytics')
    ORDER BY s.total_exec_time DESC LIMIT 25" >"${1%.json}-statements.txt"
  # Each database's statements by time, for the profile of one service.
  for db in registry dispatch feedback analytics; do
    psql -q -h 127.0.0.1 -p "$pg_port" -U flywheel -d postgres -P pager=off -c "SELECT s.calls,
        round(s.total_exec_time::numeric, 1) AS total_ms, round(s.mean_exec_time::numeric, 3) AS mean_ms, s.rows,
        round(s.wal_bytes / 1024) AS wal_kb, s.wal_fpi, left(regexp_replace(s.query, '\s+', ' ', 'g'), 160) AS statement
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = '$db' ORDER BY s.total_exec_time DESC LIMIT 40" >"${1%.json}-$db.txt"
  done
  # Each table's row writes, and how many updates stayed in place (HOT: no index entries added).
  for db in registry dispatch feedback analytics; do
    echo "== $db"
    psql -q -h 127.0.0.1 -p "$pg_port" -U flywheel -d "$db" -P pager=off -c "SELECT relname AS table, n_tup_ins AS inserted,
        n_tup_upd AS updated, n_tup_hot_upd AS updated_in_place, n_tup_del AS deleted
      FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC"
  done >"${1%.json}-tables.txt"
  # What one report costs in round trips: the statements run most often.
  psql -q -h 127.0.0.1 -p "$pg_port" -U flywheel -d postgres -P pager=off -c "SELECT d.datname AS db, s.calls,
      round(s.mean_exec_time::numeric, 3) AS mean_ms, left(regexp_replace(s.query, '\s+', ' ', 'g'), 120) AS statement
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname IN ('registry', 'dispatch', 'feedback', 'analytics')
    ORDER BY s.calls DESC LIMIT 25" >"${1%.json}-calls.txt"
  # With BENCH_PG_PLANNING set: the statements PostgreSQL spent the most time planning.
  [ -z "${BENCH_PG_PLANNING:-}" ] || psql -q -h 127.0.0.1 -p "$pg_port" -U flywheel -d postgres -P pager=off -c "SELECT d.datname AS db,
      s.calls, s.plans, round(s.total_plan_time::numeric, 1) AS plan_ms, left(regexp_replace(s.query, '\s+', ' ', 'g'), 140) AS statement
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname IN ('registry', 'dispatch', 'feedback', 'analytics')
    ORDER BY s.total_plan_time DESC LIMIT 25" >"${1%.json}-plans.txt"
}

# The services trust a key pair made for this run; the generator calls as one admin, so the
# per-caller rate limit is off (GRPC_RATE_LIMIT_PER_SECOND=0 below).
"$bin/flywheel" auth init --dir "$run/auth" >/dev/null
export AUTH_JWKS_FILE="$run/auth/jwks.json"
FLYWHEEL_TOKEN=$("$bin/flywheel" auth token --key "$run/auth/jwt-signing-key.pem" --role admin --ttl 4h)
export FLYWHEEL_TOKEN

declare -A grpc http
memory_args=()
for service in registry dispatch feedback analytics; do
  grpc[$service]="127.0.0.1:$(free_port)"
  http[$service]="127.0.0.1:$(free_port)"
  GRPC_ADDR="${grpc[$service]}" HTTP_ADDR="${http[$service]}" NATS_URL="$nats_url" \
    DATABASE_URL="$(database_url "$service")" RUST_LOG=warn GRPC_RATE_LIMIT_PER_SECOND=0 \
    FEEDBACK_DUPLICATE_RADIUS_M=0 FEEDBACK_RATE_PER_CHANNEL_PER_MINUTE=100000000 \
    "$bin/flywheel-$service" >"$run/$service.log" 2>&1 &
  pids+=($!)
  memory_args+=(--process "$service=$!")
  cpu_args+=(--process "$service=$!")
done
for service in registry dispatch feedback analytics; do
  for attempt in $(seq 120); do
    GRPC_ADDR="${grpc[$service]}" "$bin/flywheel-$service" healthcheck >/dev/null 2>&1 && break
    [ "$attempt" = 120 ] && { echo "$service did not become healthy:" >&2; tail -20 "$run/$service.log" >&2; exit 1; }
    sleep 0.5
  done
done
export FLYWHEEL_REGISTRY="http://${grpc[registry]}" FLYWHEEL_DISPATCH="http://${grpc[dispatch]}" \
  FLYWHEEL_FEEDBACK="http://${grpc[feedback]}" FLYWHEEL_ANALYTICS="http://${grpc[analytics]}"

if $smoke; then
  intake=(--rates 50,100 --step-secs 2 --sites 20 --open-tickets 2000 --drain-secs 20)
  ceiling=(--rates 100 --step-secs 2)
  scale=(--sizes 100,1000 --decisions 200)
  registry=(--sizes 200 --calls 20)
  analytics=(--tickets 10000 --days 7 --calls 3)
else
  intake=(--rates "${BENCH_INTAKE_RATES:-250,500,1000,2000,4000}" --step-secs 10)
  ceiling=(--rates 500,1000,2000,4000,8000 --step-secs 10)
  scale=(--sizes 100,10000,100000 --decisions 2000)
  registry=(--sizes 1000,100000 --calls 200)
  analytics=(--tickets "${BENCH_ANALYTICS_TICKETS:-1000000}" --days 365 --calls 3)
fi

# Whether the step named $1 runs (BENCH_STEPS).
step() { [[ ",${BENCH_STEPS:-all}," == *",all,"* || ",${BENCH_STEPS}," == *",$1,"* ]]; }

sleep 2
if step memory; then "$bin/flywheel-bench" memory "${memory_args[@]}" --out "$out/memory-idle.json"; fi
if step ceiling; then "$bin/flywheel-bench" ceiling --database-url "$(database_url ceiling)" --nats-url "$nats_url" "${ceiling[@]}" --out "$out/ceiling.json"; fi
if step intake; then
  $smoke || { pg_profile_start; cpu_args+=(--postgres-user flywheel); }
  "$bin/flywheel-bench" cpu "${cpu_args[@]}" --out "$out/cpu-before.json"
  "$bin/flywheel-bench" intake "${intake[@]}" --out "$out/intake.json"
  "$bin/flywheel-bench" cpu "${cpu_args[@]}" --out "$out/cpu-after.json"
  $smoke || pg_profile_write "$out/pg-profile.json"
  # Each service's counters after the intake steps (consumer batches and their busy time, calls).
  for service in registry dispatch feedback analytics; do
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
      "http://${http[$service]}/metrics" >"$out/metrics-$service.txt" || true
  done
fi
if step memory; then "$bin/flywheel-bench" memory "${memory_args[@]}" --out "$out/memory-peak.json"; fi
if step dispatch-scale; then "$bin/flywheel-bench" dispatch-scale "${scale[@]}" --out "$out/dispatch-scale.json"; fi
if step registry-scale; then "$bin/flywheel-bench" registry-scale "${registry[@]}" --out "$out/registry-scale.json"; fi
if step analytics-scale; then "$bin/flywheel-bench" analytics-scale --nats-url "$nats_url" "${analytics[@]}" --out "$out/analytics-scale.json"; fi

pg_version=$($smoke && echo "not used (SQLite)" || postgres --version | awk '{print $3}')
note="Database: $($smoke && echo "SQLite (smoke run)" || echo "PostgreSQL ${pg_version}, one database per service"). Every service, NATS, the database and the generator share this machine."
"$bin/flywheel-bench" report --dir "$out" --note "$note" \
  --version "flywheel=${revision}" \
  --version "rustc=$(rustc --version | awk '{print $2}')" \
  --version "nats-server=$(nats-server --version | awk '{print $NF}')" \
  --version "postgresql=${pg_version}"
cat "$out/report.md"
