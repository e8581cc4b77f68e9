#!/bin/sh
# One database per service, each owned by the Flywheel user (runs once, on an empty volume).
set -eu
for db in registry dispatch feedback analytics; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE $db OWNER \"$POSTGRES_USER\";"
done
