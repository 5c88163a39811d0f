# Shared by scripts/test, scripts/demo and scripts/local-cloud: install and start what runs here.
# Idempotent; installs only what is missing; starts only what is not running; stops only what it started.

TAUPAGE_REPO=${TAUPAGE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TAUPAGE_WORK=${TAUPAGE_WORK:-$TAUPAGE_REPO/.tmp}
mkdir -p "$TAUPAGE_WORK"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }

# Debian packages the tests and the demo use (see docs/development.md for why each is here).
APT_PACKAGES=(docker.io docker-registry busybox-static openssh-server openssh-client rsyslog rsyslog-gnutls logrotate systemd packer mmdebstrap openssl e2fsprogs xfsprogs mdadm iproute2 procps psmisc curl)

need_root() { [ "$(id -u)" = 0 ] || { echo "run as root (this sets up dockerd, sshd and users)" >&2; exit 2; }; }

# install_system_packages [PACKAGE...]: those missing of APT_PACKAGES, or of the ones named.
install_system_packages() {
  need_root
  local missing=() wanted=("$@")
  [ $# -gt 0 ] || wanted=("${APT_PACKAGES[@]}")
  for p in "${wanted[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then info "all present"; return; fi
  # Keep package scripts from starting sshd on :22, rsyslog or dockerd as services.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  info "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# node_modules matches package-lock.json when every locked package is installed at its locked
# version (optional ones may be missing). Compared by content, not by file times: a git checkout
# touches package-lock.json without changing it.
npm_in_sync() {
  [ -d node_modules ] && node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    for (const [dir, p] of Object.entries(lock.packages || {})) {
      if (!dir) continue;
      let v;
      try { v = JSON.parse(fs.readFileSync(dir + "/package.json", "utf8")).version; } catch { if (p.optional) continue; process.exit(1); }
      if (v !== p.version) process.exit(1);
    }' 2>/dev/null
}

install_npm_packages() {
  if npm_in_sync; then info "node_modules up to date"; return; fi
  npm ci --no-audit --no-fund --loglevel=error
}


# --- Docker engine ------------------------------------------------------------------------------
# Uses an engine that already answers (DOCKER_HOST, the default socket, or this checkout's own);
# otherwise starts Debian's dockerd with everything under $TAUPAGE_WORK/docker, on its own bridge
# and without touching iptables, so checkouts side by side do not fight over docker0 or the nat
# table (published ports still work through docker-proxy). The daemon is a child of this shell
# and stop_docker waits for it, because PID 1 here reaps orphans only lazily.
TAUPAGE_DOCKER_DIR=$TAUPAGE_WORK/docker
TAUPAGE_DOCKERD_PID=
TAUPAGE_BRIDGE_CREATED=

# wait_for PID COMMAND...: until COMMAND succeeds (at most 30 s); fails early if PID dies.
wait_for() {
  local pid=$1 i; shift
  for i in $(seq 300); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

docker_answers() { DOCKER_HOST=$1 timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_docker() {
  local own="unix://$TAUPAGE_DOCKER_DIR/docker.sock" candidate
  for candidate in "${DOCKER_HOST:-}" unix:///var/run/docker.sock "$own"; do
    if [ -n "$candidate" ] && docker_answers "$candidate"; then
      export DOCKER_HOST=$candidate; info "Docker engine answers at $DOCKER_HOST"; return 0
    fi
  done
  need_root
  mkdir -p "$TAUPAGE_DOCKER_DIR"
  # A bridge and subnet of our own, derived from the checkout path (stable between runs).
  local h; h=$(printf '%s' "$TAUPAGE_WORK" | sha256sum | cut -c1-6)
  local bridge="tpg$h" octet=$((16#${h:0:2})) i
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    # The first 10.213.N.0/24 from the hash on that no other interface uses (another checkout's engine).
    local addrs; addrs=$(ip -4 -o addr show)
    for i in $(seq 0 255); do grep -q " 10\.213\.$(((octet + i) % 256))\.1/" <<<"$addrs" || break; done
    ip link add "$bridge" type bridge && ip addr add "10.213.$(((octet + i) % 256)).1/24" dev "$bridge" && TAUPAGE_BRIDGE_CREATED=$bridge
  fi
  ip link set "$bridge" up
  if ! mountpoint -q /sys/fs/cgroup/memory 2>/dev/null && command -v cgroupfs-mount >/dev/null; then cgroupfs-mount; fi
  dockerd --data-root "$TAUPAGE_DOCKER_DIR/data" --exec-root "$TAUPAGE_DOCKER_DIR/exec" -H "$own" \
    --pidfile "$TAUPAGE_DOCKER_DIR/docker.pid" --storage-driver overlay2 \
    --bridge "$bridge" --iptables=false --ip6tables=false \
    >"$TAUPAGE_DOCKER_DIR/dockerd.log" 2>&1 &
  TAUPAGE_DOCKERD_PID=$!
  if wait_for "$TAUPAGE_DOCKERD_PID" docker_answers "$own"; then
    export DOCKER_HOST=$own; info "started dockerd (pid $TAUPAGE_DOCKERD_PID) at $DOCKER_HOST"; return 0
  fi
  echo "dockerd did not answer; the end of $TAUPAGE_DOCKER_DIR/dockerd.log:" >&2
  tail -n 20 "$TAUPAGE_DOCKER_DIR/dockerd.log" >&2
  stop_docker
  return 1
}

stop_docker() {
  local i
  if [ -n "$TAUPAGE_DOCKERD_PID" ]; then
    kill -TERM "$TAUPAGE_DOCKERD_PID" 2>/dev/null || true
    for i in $(seq 200); do kill -0 "$TAUPAGE_DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$TAUPAGE_DOCKERD_PID" 2>/dev/null || true
    wait "$TAUPAGE_DOCKERD_PID" 2>/dev/null || true
    info "stopped dockerd (pid $TAUPAGE_DOCKERD_PID)"
    TAUPAGE_DOCKERD_PID=
  fi
  if [ -n "$TAUPAGE_BRIDGE_CREATED" ]; then ip link del "$TAUPAGE_BRIDGE_CREATED" 2>/dev/null || true; TAUPAGE_BRIDGE_CREATED=; fi
}

# --- Docker registry (the real one; tests and the demo put our Pier One gate in front) ----------
# Plain HTTP on loopback (Docker allows that for 127.0.0.0/8). TAUPAGE_REGISTRY is host:port.
TAUPAGE_REGISTRY_DIR=$TAUPAGE_WORK/registry
TAUPAGE_REGISTRY_PID=

registry_answers() { curl -fsS -m 5 -o /dev/null "http://$1/v2/" 2>/dev/null; }

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

start_registry() {
  local addr i
  if [ -n "${TAUPAGE_REGISTRY:-}" ] && registry_answers "$TAUPAGE_REGISTRY"; then info "registry answers at $TAUPAGE_REGISTRY"; return 0; fi
  mkdir -p "$TAUPAGE_REGISTRY_DIR/data"
  for i in 1 2 3; do
    addr=127.0.0.1:$(free_port)
    printf '%s\n' 'version: 0.1' 'log: { level: warn, accesslog: { disabled: true } }' \
      "storage: { filesystem: { rootdirectory: \"$TAUPAGE_REGISTRY_DIR/data\" }, delete: { enabled: true } }" \
      "http: { addr: \"$addr\" }" > "$TAUPAGE_REGISTRY_DIR/config.yml"
    docker-registry serve "$TAUPAGE_REGISTRY_DIR/config.yml" >"$TAUPAGE_REGISTRY_DIR/registry.log" 2>&1 &
    TAUPAGE_REGISTRY_PID=$!
    if wait_for "$TAUPAGE_REGISTRY_PID" registry_answers "$addr"; then
      export TAUPAGE_REGISTRY=$addr; info "started docker-registry (pid $TAUPAGE_REGISTRY_PID) at $addr"; return 0
    fi
    stop_registry # most likely the port was taken in between: try another
  done
  echo "docker-registry did not answer; see $TAUPAGE_REGISTRY_DIR/registry.log" >&2
  return 1
}

stop_registry() {
  [ -n "$TAUPAGE_REGISTRY_PID" ] || return 0
  kill -TERM "$TAUPAGE_REGISTRY_PID" 2>/dev/null || true
  wait "$TAUPAGE_REGISTRY_PID" 2>/dev/null || true
  info "stopped docker-registry (pid $TAUPAGE_REGISTRY_PID)"
  TAUPAGE_REGISTRY_PID=
}

# Started by scripts/test around vitest (and held by test/harness/services.ts when vitest runs alone).
start_test_services() { start_docker && start_registry; }
stop_test_services() { stop_registry; stop_docker; }
