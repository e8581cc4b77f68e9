#!/bin/sh
# Runs once per `compose up` before anything else (the `secrets` service): makes the
# deployment's secrets on first start and keeps them afterwards. Nothing secret is in the repo.
#   /secrets/tools     JWT signing key + public key set, NATS seeds for every user (operator only)
#   /secrets/auth      the public key set every service verifies tokens with
#   /secrets/nats      the NATS server's users and permissions (auth.conf)
#   /secrets/<service> that service's own NATS seed, readable by the service's user only
set -eu
umask 077
tools=/secrets/tools

[ -f "$tools/jwt-signing-key.pem" ] || flywheel auth init --dir "$tools"
flywheel nats-auth init --dir "$tools/nats" >/dev/null

install -m 0444 "$tools/jwks.json" /secrets/auth/jwks.json
install -m 0444 "$tools/nats/auth.conf" /secrets/nats/auth.conf
for service in registry dispatch feedback analytics; do
  install -m 0400 -o 10001 "$tools/nats/$service.nk" "/secrets/$service/nats.nk"
done
echo "secrets ready"
