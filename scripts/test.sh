#!/usr/bin/env bash
# The whole test suite. Installs what it needs first, then:
#   1. unit and integration tests (real nats-server per test, SQLite databases);
#   2. the images deploy/compose.yaml needs (pulled, or prepared offline when that fails);
#   3. a smoke run of the benchmark (scripts/bench.sh --smoke): the load generator works;
#   4. the database-facing integration suites again on PostgreSQL (hostile-input fuzzing too);
#   5. the end-to-end tests through the compose deployment (cycle, privacy, TLS, failures).
# Arguments are passed to every test run (e.g. a test-name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/ensure-tools.sh
echo "==> nats-server $(nats-server --version)" >&2

run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
  else
    cargo test --no-fail-fast "$@"
  fi
}

echo "==> unit and integration tests (SQLite)" >&2
run_tests --workspace --exclude flywheel-e2e "$@"

echo "==> images for deploy/compose.yaml" >&2
bash deploy/offline/prepare-images.sh --services

echo "==> benchmark smoke (the load generator against the four services; not a timed test)" >&2
bash scripts/bench.sh --smoke >/dev/null

echo "==> integration tests on PostgreSQL" >&2
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg=$(docker run -d --rm -e POSTGRES_USER=flywheel -e POSTGRES_PASSWORD=flywheel-test \
  -p "127.0.0.1:${pg_port}:5432" postgres:15-bookworm \
  postgres -c max_connections=400 -c authentication_timeout=5s)
# (A test that ends while its service is still opening a connection leaves a backend waiting in
# authentication; dropping that test's database waits for it, so keep the wait short.)
trap 'docker rm -f "$pg" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 60); do
  docker exec "$pg" pg_isready -q -U flywheel && break
  sleep 1
done
FLYWHEEL_TEST_POSTGRES="postgres://flywheel:flywheel-test@127.0.0.1:${pg_port}/postgres" \
  run_tests -p flywheel-runtime -p flywheel-registry -p flywheel-dispatch -p flywheel-feedback -p flywheel-analytics "$@"

echo "==> end-to-end tests through compose" >&2
run_tests -p flywheel-e2e "$@"
