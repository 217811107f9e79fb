#!/usr/bin/env bash
# Build the engine image with podman/buildah on a host with no Docker engine and no registry.
#   deploy/build-image.sh [TAG]          (default TAG: neurosphere-voice:latest)
# Needs: apt-get install -y buildah podman mmdebstrap uidmap slirp4netns fuse-overlayfs runc
# 1. The base (neurosphere-base:bookworm, what the Dockerfile names): a minbase Debian root
#    filesystem made by mmdebstrap from this machine's own apt sources, `podman import`ed.
#    Made once; delete the image to remake it.
# 2. The image, from the Dockerfile. The host's CA bundle is mounted read-only into the RUN
#    steps so pip trusts this network's TLS proxy; it is never copied into a layer.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-neurosphere-voice:latest}"
BASE="neurosphere-base:bookworm"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}"
HOST_CA=/etc/ssl/certs/ca-certificates.crt

if ! podman image exists "$BASE"; then
    # the host's Debian mirrors, so the base comes from where this machine's packages come from
    mirrors=$(apt-get indextargets --format '$(SITE) $(RELEASE)' 'Created-By: Packages' \
        | sort -u | awk '{print "deb " $1 " " $2 " main"}')
    [ -n "$mirrors" ] || mirrors="deb http://deb.debian.org/debian bookworm main"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    printf '%s\n' "$mirrors" >"$tmp/sources.list"
    mmdebstrap --variant=minbase --quiet \
        --include=python3,python3-venv,ca-certificates,tini \
        --aptopt='Acquire::Retries "3"' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        bookworm "$tmp/base.tar" - <"$tmp/sources.list"
    podman import --change 'CMD ["/bin/bash"]' "$tmp/base.tar" "$BASE" >/dev/null
    echo "base image $BASE imported"
fi

build_args=()
if [ -r "$HOST_CA" ]; then
    build_args+=(--volume "$HOST_CA:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi
start=$(date +%s)
podman build --format docker --layers --network=host "${build_args[@]}" --tag "$TAG" .
echo "built $TAG in $(( $(date +%s) - start )) s;" \
    "size $(podman image inspect "$TAG" --format '{{.Size}}') bytes"
