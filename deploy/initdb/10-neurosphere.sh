#!/bin/sh
# First start of compose.yaml's Postgres: the roles and database the engine expects (the same
# as memory/embedded.py's bootstrap). The engine applies its migrations itself on start.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_pw="$NEUROSPHERE_DB_OWNER_PASSWORD" -v app_pw="$NEUROSPHERE_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE neurosphere_owner LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'owner_pw';
CREATE ROLE neurosphere_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'app_pw';
CREATE ROLE neurosphere_lookup NOLOGIN NOSUPERUSER NOBYPASSRLS;
CREATE ROLE neurosphere_jobs NOLOGIN NOSUPERUSER NOBYPASSRLS;
GRANT neurosphere_lookup TO neurosphere_owner;
GRANT neurosphere_jobs TO neurosphere_owner;
CREATE DATABASE neurosphere OWNER neurosphere_owner;
\connect neurosphere
CREATE EXTENSION IF NOT EXISTS vector;
SQL
