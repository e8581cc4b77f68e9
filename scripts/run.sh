#!/usr/bin/env bash
# Runs Flywheel on this machine without containers: a JetStream nats-server and every service,
# each on its default ports with a SQLite database under .run/. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/ensure-tools.sh
cargo build --release --bins

mkdir -p .run
# The key pair that signs callers' tokens (kept across runs); the services trust its public half.
[ -f .run/keys/jwt-signing-key.pem ] || ./target/release/flywheel auth init --dir .run/keys >/dev/null
export AUTH_JWKS_FILE=.run/keys/jwks.json
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

nats-server -js -a 127.0.0.1 -p 4222 -m 8222 -sd .run/nats >.run/nats.log 2>&1 &
pids+=($!)

for service in registry dispatch feedback analytics; do
  DATABASE_URL="sqlite://.run/${service}.db?mode=rwc" ./target/release/flywheel-${service} &
  pids+=($!)
done

echo "Flywheel is starting: gRPC on 127.0.0.1:50051-50054 (registry, dispatch, feedback, analytics)," \
  "dashboard on http://127.0.0.1:8084/, Open311 on http://127.0.0.1:8083/open311/v2/;" \
  "the CLI signs its own admin token with FLYWHEEL_SIGNING_KEY=.run/keys/jwt-signing-key.pem" >&2
wait -n
