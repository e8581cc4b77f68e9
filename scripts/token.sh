#!/usr/bin/env bash
# Prints a token for calling the compose deployment, signed with the key its `secrets` service
# made at first start (the key never leaves the deployment's volume):
#   export FLYWHEEL_TOKEN=$(scripts/token.sh)                          an admin, one hour
#   scripts/token.sh --role dispatcher --subject alice --ttl 8h
# Any `flywheel auth token` flag may be given; --role defaults to admin.
set -euo pipefail
cd "$(dirname "$0")/.."

args=("$@")
[[ " ${args[*]-} " == *" --role "* ]] || args+=(--role admin)
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
exec "${compose[@]}" -f deploy/compose.yaml run --rm --no-deps -T --entrypoint flywheel secrets \
  auth token --key /secrets/tools/jwt-signing-key.pem "${args[@]}"
