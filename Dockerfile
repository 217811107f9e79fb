# NeuroSphere Voice engine image: dependencies first (cached), source second, non-root.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    NEUROSPHERE_ENV=production NEUROSPHERE_LOG_FORMAT=json \
    NEUROSPHERE_DATA_DIR=/var/lib/neurosphere

RUN useradd --create-home --uid 10001 neurosphere \
    && mkdir -p /var/lib/neurosphere && chown neurosphere /var/lib/neurosphere

WORKDIR /app
# Dependency layer: only the metadata, so source edits do not reinstall dependencies.
COPY pyproject.toml README.md ./
RUN mkdir -p engine actors memory/migrations admin_api prompts/templates \
    && touch engine/__init__.py actors/__init__.py memory/__init__.py admin_api/__init__.py \
             prompts/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall -y neurosphere-voice

COPY engine engine
COPY actors actors
COPY memory memory
COPY admin_api admin_api
COPY prompts prompts
RUN pip install --no-cache-dir --no-deps .

USER neurosphere
EXPOSE 8000 20000-20999
CMD ["neurosphere", "serve", "--no-dashboard"]
