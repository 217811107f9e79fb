# The engine image's base: Debian bookworm with its Python 3.11 and venv. deploy/build-image.sh
# builds the same root filesystem with mmdebstrap (no registry needed); with a registry:
#   docker build -f deploy/base.Dockerfile -t neurosphere-base:bookworm deploy
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tini \
    && rm -rf /var/lib/apt/lists/*
