#!/bin/sh
# As in the official image: flags alone are passed to nats-server.
set -e
if [ "${1#-}" != "$1" ]; then
  set -- nats-server "$@"
fi
exec "$@"
