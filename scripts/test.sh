#!/usr/bin/env bash
# The whole test suite: unit and integration tests against real nats-server processes and real
# databases. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/ensure-tools.sh
echo "==> nats-server $(nats-server --version)" >&2

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --exclude flywheel-e2e --no-fail-fast "$@"
else
  cargo test --workspace --exclude flywheel-e2e --no-fail-fast "$@"
fi
