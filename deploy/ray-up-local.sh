#!/usr/bin/env bash
# `ray up` for real on one machine, every address 127.0.0.1: Ray's cluster launcher with its
# local ("on-prem") provider, head_ip 127.0.0.1, reaching the head over SSH the way it reaches
# any node. It runs cluster.yaml's head start commands (the env file sourced, token auth,
# `ray start --head` with the autoscaling config the launcher uploads, `neurosphere serve`
# against that Ray), then this script places one simulated call through the engine.
#   deploy/ray-up-local.sh [VENV]     (VENV: where ray and neurosphere are; default .venv)
#
# No port is opened for SSH: the launcher's ssh runs Debian's sshd in inetd mode as its
# ProxyCommand (`sshd -i` on the connection's stdin/stdout), in a mount namespace of its own
# that gives sshd the privilege-separation user and directory it requires; nothing on the
# host is changed. sshd and rsync come from Debian's .debs (`apt-get download`, unpacked).
# Everything lives in one temporary directory; at the end this script ends the processes that
# name it. It never runs `ray down`: that runs `ray stop` on the head, which here would end
# every Ray on the machine. Needs root (sshd -i logs in as root; unshare --mount).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$(cd "${1:-.venv}" && pwd)"
[ "$(id -u)" = 0 ] || { echo "error: run as root (sshd -i, unshare --mount)" >&2; exit 2; }
[ -x "$VENV/bin/ray" ] || { echo "error: no ray in $VENV/bin" >&2; exit 2; }

TMP=$(mktemp -d /tmp/nsrayup-XXXXXX)
cluster_pids() {
    # this cluster's processes only: the ones whose command line or environment names $TMP
    # (every process the head's commands start has RAY_TMPDIR=$TMP)
    local p
    for p in /proc/[0-9]*; do
        if cat 2>/dev/null "$p/cmdline" "$p/environ" | tr '\0' '\n' | grep -qF "$TMP"; then
            echo "${p#/proc/}"
        fi
    done
}
end_cluster() {
    local pids
    pids=$(cluster_pids | grep -vx "$$" || true)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    rm -rf "$TMP" "/tmp/cluster-neurosphere-local.state" "/tmp/cluster-neurosphere-local.lock"
}
trap end_cluster EXIT

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "sshd and rsync from Debian's packages"
mkdir -p "$TMP/debs" "$TMP/root" "$TMP/home/.ray"
(cd "$TMP/debs" && apt-get download openssh-server rsync libwrap0 2>/dev/null)
for deb in "$TMP"/debs/*.deb; do dpkg-deb -x "$deb" "$TMP/root"; done
ssh-keygen -q -t ed25519 -N "" -f "$TMP/host_key"
ssh-keygen -q -t ed25519 -N "" -f "$TMP/launcher_key"
cp "$TMP/launcher_key.pub" "$TMP/authorized_keys"
(grep -v '^sshd:' /etc/passwd; echo "sshd:x:65534:65534:privsep:/run/sshd:/usr/sbin/nologin") \
    >"$TMP/passwd"
cat >"$TMP/sshd_config" <<EOF
HostKey $TMP/host_key
AuthorizedKeysFile $TMP/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
SetEnv HOME=$TMP/home PATH=$TMP/root/usr/bin:$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
# the launcher's commands run in a login shell (/etc/profile resets PATH for root) that
# sources ~/.bashrc first: rsync and the venv's commands
echo "export PATH=$TMP/root/usr/bin:$VENV/bin:\$PATH" >"$TMP/home/.bashrc"
cat >"$TMP/sshd-inetd" <<EOF
#!/bin/sh
exec unshare --mount sh -c 'mount --bind $TMP/passwd /etc/passwd && mount -t tmpfs none /run \
  && mkdir -m 0755 /run/sshd && LD_LIBRARY_PATH=$TMP/root/usr/lib/x86_64-linux-gnu \
  exec $TMP/root/usr/sbin/sshd -i -e -f $TMP/sshd_config'
EOF
chmod +x "$TMP/sshd-inetd"

step "the cluster's env file and Ray token (what deploy/neurosphere.env and ray get-auth-token give)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$TMP/auth_token"
cat >"$TMP/neurosphere.env" <<EOF
NEUROSPHERE_ENV=dev
NEUROSPHERE_JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
NEUROSPHERE_DATA_DIR=$TMP/engine
NEUROSPHERE_HTTP_PORT=$http
PUBLIC_BASE_URL=http://127.0.0.1:$http
MEDIA_PUBLIC_URL=ws://{host}:{port}/stream/{call_sid}
NEUROSPHERE_MEDIA_PORTS=24850-24869
NEUROSPHERE_WARM_CALLS=1
NEUROSPHERE_MEMORY_ACTORS=1
RAY_TMPDIR=$TMP
RAY_USAGE_STATS_ENABLED=0
# one machine: Ray keeps 127.0.0.1 instead of the machine's routable address
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
EOF

step "the launcher's config: cluster.yaml's head commands, Ray's local provider at 127.0.0.1"
cat >"$TMP/cluster-local.yaml" <<EOF
cluster_name: neurosphere-local
provider:
  type: local
  head_ip: 127.0.0.1
  worker_ips: []
auth:
  ssh_user: root
  ssh_private_key: $TMP/launcher_key
  ssh_proxy_command: $TMP/sshd-inetd
file_mounts:
  "~/.ray/auth_token": "$TMP/auth_token"
  "~/neurosphere.env": "$TMP/neurosphere.env"
head_start_ray_commands:
  - >-
    set -a && . ~/neurosphere.env && set +a &&
    RAY_AUTH_MODE=token RAY_worker_niceness=0 RAY_event_stats=0 RAY_SERVE_CONTROL_LOOP_INTERVAL_S=0.5
    ray start --head --port=$port --node-ip-address=127.0.0.1 --dashboard-host=127.0.0.1
    --include-dashboard=false --temp-dir=$TMP/ray
    --autoscaling-config=~/ray_bootstrap_config.yaml --resources='{"call_slot": 100}'
  - >-
    set -a && . ~/neurosphere.env && set +a &&
    RAY_AUTH_MODE=token RAY_ADDRESS=auto NEUROSPHERE_HTTP_HOST=127.0.0.1
    nohup neurosphere serve --no-dashboard >~/neurosphere.log 2>&1 &
EOF
cat "$TMP/cluster-local.yaml"

step "ray up"
began=$(date +%s)
PATH="$TMP/root/usr/bin:$VENV/bin:$PATH" "$VENV/bin/ray" up -y --no-config-cache \
    "$TMP/cluster-local.yaml" 2>&1 | sed "s|$TMP|<tmp>|g"
echo "ray up returned after $(( $(date +%s) - began )) s"

step "the engine started by the launcher answers"
for _ in $(seq 180); do
    if [ -f "$TMP/engine/runtime.json" ] && curl -fsS "http://127.0.0.1:$http/healthz" 2>/dev/null; then
        echo; break
    fi
    sleep 1
done
echo "healthy $(( $(date +%s) - began )) s after ray up began"
curl -fsS "http://127.0.0.1:$http/healthz" >/dev/null || { sed "s|$TMP|<tmp>|g" "$TMP/home/neurosphere.log" | tail -40; exit 1; }

step "a simulated call through it (webhook -> TwiML -> media -> transcript in Postgres)"
set -a; . "$TMP/neurosphere.env"; set +a
"$VENV/bin/neurosphere" tenant add --name "Ray Up Agency" --number +15550144000 \
    --twilio-auth-token "$(python3 -c 'import secrets; print(secrets.token_hex(16))')" 2>/dev/null
"$VENV/bin/neurosphere" call --to +15550144000 --from +15550144001 \
    --say "Hi, I'd like to check my policy's renewal date." 2>/dev/null

step "what listens: every listening socket of this cluster's processes"
cluster_pids | "$VENV/bin/python" -c '
import sys, psutil
pids = {int(line) for line in sys.stdin if line.strip()}
found = sorted({(c.laddr.ip, c.laddr.port) for c in psutil.net_connections("tcp")
                if c.pid in pids and c.status == psutil.CONN_LISTEN})
print(len(pids), "processes,", len(found), "listening sockets, on:", sorted({ip for ip, _ in found}))
'
