#!/usr/bin/env bash
# Runs Flywheel with compose: NATS, PostgreSQL and the four services, in the foreground
# (Ctrl-C stops them; `docker compose -f deploy/compose.yaml down -v` removes the data).
# Images are pulled when a registry is reachable; otherwise deploy/offline/prepare-images.sh
# builds the missing ones locally (the services from this checkout's release build).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/offline/prepare-images.sh
if docker compose version >/dev/null 2>&1; then
  exec docker compose -f deploy/compose.yaml up "$@"
else
  exec docker-compose -f deploy/compose.yaml up "$@"
fi
