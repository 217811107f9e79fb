# Stand-in for docker.io/library/caddy:2 where no registry can be reached: Debian's caddy
# binary (a static Go build, unpacked from its .deb by deploy/standin/build.sh), laid out as the
# official image is: /etc/caddy/Caddyfile, certificates and state under /data and /config.
ARG BASE=neurosphere-base:bookworm
FROM ${BASE}
COPY caddy /usr/bin/caddy
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
RUN install -d /config /data /etc/caddy
VOLUME ["/config", "/data"]
EXPOSE 80 443
WORKDIR /srv
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
