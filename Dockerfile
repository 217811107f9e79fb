# NeuroSphere Voice engine image. Build: deploy/build-image.sh (podman/buildah, no registry
# needed) or `docker build .` once the base exists (deploy/base.Dockerfile).
# Two stages: the virtualenv is built in the first, the final layer copies it alone (no
# pip caches, no build tools, no dev or bench extras). Dependencies sit in their own layer,
# keyed only on pyproject.toml, so a source edit reinstalls nothing.
ARG BASE=neurosphere-base:bookworm

# The runtime dependencies alone, so the layer that installs them is rebuilt only when they
# change (not on every edit of pyproject.toml).
FROM ${BASE} AS requirements
COPY pyproject.toml /src/
RUN python3 -c "import tomllib; print(*tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" >/src/requirements.txt

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=120
# A CA bundle for pip behind a TLS-inspecting proxy: a path to a file mounted into the build
# (deploy/build-image.sh mounts the host's), never copied into the image.
ARG PIP_CERT=
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY --from=requirements /src/requirements.txt ./
RUN if [ -n "$PIP_CERT" ]; then export PIP_CERT; else unset PIP_CERT; fi \
    && /opt/venv/bin/pip install --only-binary=:all: -r requirements.txt
COPY pyproject.toml README.md ./
COPY engine engine
COPY actors actors
COPY memory memory
COPY admin_api admin_api
COPY prompts prompts
COPY bench bench
RUN if [ -n "$PIP_CERT" ]; then export PIP_CERT; else unset PIP_CERT; fi \
    && /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall -y pip

FROM ${BASE}
RUN useradd --create-home --uid 10001 neurosphere \
    && install -d -o neurosphere -m 0700 /var/lib/neurosphere
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    NEUROSPHERE_ENV=production NEUROSPHERE_LOG_FORMAT=json \
    NEUROSPHERE_DATA_DIR=/var/lib/neurosphere \
    NEUROSPHERE_HTTP_HOST=0.0.0.0 NEUROSPHERE_HTTP_PORT=8000 \
    NEUROSPHERE_MEDIA_HOST=0.0.0.0 NEUROSPHERE_MEDIA_PORTS=20000-20999
USER neurosphere
WORKDIR /var/lib/neurosphere
# The data dir: embedded Postgres (when DATABASE_URL is unset), recordings, the dev JWT secret.
VOLUME ["/var/lib/neurosphere"]
# 8000: Twilio webhooks, admin API, /healthz, /metrics. 20000-20999: call actors' media.
EXPOSE 8000 20000-20999
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD python3 -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NEUROSPHERE_HTTP_PORT', '8000'), timeout=4)"
# tini reaps the Ray processes' children and forwards SIGTERM to `neurosphere serve`.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["neurosphere", "serve", "--no-dashboard"]
