# Shared by scripts/test, scripts/demo and scripts/local-cloud: install and start what runs here.
# Idempotent; installs only what is missing; starts only what is not running; stops only what it started.

TAUPAGE_REPO=${TAUPAGE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TAUPAGE_WORK=${TAUPAGE_WORK:-$TAUPAGE_REPO/.tmp}
mkdir -p "$TAUPAGE_WORK"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }

# Debian packages the tests and the demo use (see docs/development.md for why each is here).
APT_PACKAGES=(docker.io docker-registry openssh-server openssh-client rsyslog packer sudo e2fsprogs xfsprogs iproute2 procps psmisc curl)

need_root() { [ "$(id -u)" = 0 ] || { echo "run as root (this sets up dockerd, sshd and users)" >&2; exit 2; }; }

install_system_packages() {
  need_root
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then info "all present"; return; fi
  # Keep package scripts from starting sshd on :22, rsyslog or dockerd as services.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  info "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_npm_packages() {
  if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then info "node_modules up to date"; return; fi
  npm ci --no-audit --no-fund --loglevel=error
}

start_test_services() { :; }
stop_test_services() { :; }
