#!/bin/sh
# 2. Taupage itself: the agent, its units, its settings, the accounts and the SSH baseline.
#    Files come from the build's file provisioners under /tmp/taupage: taupage (the single
#    executable), systemd/ (the units), even.pub (Even's public key). Settings from the template:
#    TAUPAGE_PIERONE_REGISTRIES (comma-separated host names), TAUPAGE_REMOTE_HOST_KNOWN_HOSTS_B64
#    (base64 of the known_hosts lines the --remote-host hop accepts; empty: none).
set -eu
src=/tmp/taupage

# The agent: one path everywhere (units, granting-service's forced command, docs).
install -m 0755 -o root -g root "$src/taupage" /usr/bin/taupage
/usr/bin/taupage --version

# Its documentation, where the units' Documentation= points (systemctl help taupage-boot).
install -d -m 0755 /usr/share/doc/taupage
install -m 0644 "$src"/docs/*.md /usr/share/doc/taupage/

# Its settings: only what differs from the defaults (docs/agent-config.md); the rest stays the
# agent's own, so a newer agent's defaults apply. Teams do not edit this: user data is theirs.
registries=
for r in $(echo "${TAUPAGE_PIERONE_REGISTRIES:-}" | tr ',' ' '); do
  case "$r" in *[!A-Za-z0-9.:-]*) echo "not a registry host name: $r" >&2; exit 1 ;; esac
  registries="$registries${registries:+, }\"$r\""
done
install -d -m 0755 /etc/taupage
{
  echo "# The agent's settings for this image (docs/agent-config.md); defaults apply to the rest."
  [ -z "$registries" ] || printf 'pierone:\n  registries: [%s]\n' "$registries"
  # mount_custom_log: var-log\x2dcustom.mount below makes /var/log-custom safe; the boot checks it did.
  printf 'logging:\n  require_custom_log_mount: true\n'
} > /etc/taupage/agent.yaml
chmod 0644 /etc/taupage/agent.yaml

# The host keys Even's --remote-host hop may accept (ssh.remote_host_known_hosts): checked line by
# line by ssh-keygen, or the build fails. Without the file every hop is refused with that reason.
if [ -n "${TAUPAGE_REMOTE_HOST_KNOWN_HOSTS_B64:-}" ]; then
  # Decoded as a command of its own: inside $(...) a failing base64 -d would not stop the build.
  printf '%s' "$TAUPAGE_REMOTE_HOST_KNOWN_HOSTS_B64" | base64 -d > /etc/taupage/ssh_known_hosts
  [ -z "$(tail -c1 /etc/taupage/ssh_known_hosts)" ] || echo >> /etc/taupage/ssh_known_hosts
  chmod 0644 /etc/taupage/ssh_known_hosts
  ssh-keygen -l -f /etc/taupage/ssh_known_hosts >/dev/null
fi

# /run/taupage/log: rsyslog's input for the application container (the boot's logging drop-in) is
# made there, root's alone; /run/taupage/custom-logs: its input for the custom log reader, which
# runs as application. /run is new at every boot and rsyslog starts before the boot, so systemd
# makes the directories first (docs/logging.md). The application group exists by then (below).
cat > /usr/lib/tmpfiles.d/taupage.conf <<'CONF'
d /run/taupage 0755 root root -
d /run/taupage/log 0700 root root -
d /run/taupage/custom-logs 0750 root application -
CONF
chmod 0644 /usr/lib/tmpfiles.d/taupage.conf

# /meta holds the validated user data and the Mint credentials (mounted read-only into the container).
install -d -m 0755 /meta

# A numeric id for an account of ours: when a base already gave it to another (systemd-journal
# takes gid 999 on Debian 12), that one moves to a free system id and its files follow it.
free_id() { # group|user ID
  kind=$1 id=$2
  if [ "$kind" = group ]; then other=$(getent group "$id" | cut -d: -f1); else other=$(getent passwd "$id" | cut -d: -f1); fi
  [ -n "$other" ] || return 0
  for new in $(seq 998 -1 100); do
    if [ "$kind" = group ]; then getent group "$new" >/dev/null || break; else getent passwd "$new" >/dev/null || break; fi
  done
  echo "moving $kind $other from $id to $new"
  if [ "$kind" = group ]; then
    groupmod -g "$new" "$other"
    find / -xdev -gid "$id" -exec chgrp -h "$new" {} +
  else
    usermod -u "$new" "$other"
    find / -xdev -uid "$id" -exec chown -h "$new" {} +
  fi
}

# The application's user: the container runs as 999:999 unless the user data says root: true.
if ! getent passwd application >/dev/null; then
  getent group application >/dev/null || { free_id group 999; groupadd --system --gid 999 application; }
  free_id user 999
  useradd --system --uid 999 --gid application --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin application
fi
install -d -m 0755 -o application -g application /var/log-custom

# granting-service: Even logs in as it; its one key runs the forced command `taupage ssh-hook`,
# which talks to the SSH access service over /run/taupage/ssh-hook.sock (group granting-service).
# Its authorized_keys is root's: the account cannot change its own key line.
if ! getent passwd granting-service >/dev/null; then
  useradd --system --user-group --create-home --home-dir /home/granting-service --shell /bin/sh \
    --comment "Even, the SSH access granting service" granting-service
fi
install -d -m 0755 -o root -g root /home/granting-service/.ssh
/usr/bin/taupage ssh authorized-keys-line "$src/even.pub" > /home/granting-service/.ssh/authorized_keys
chmod 0644 /home/granting-service/.ssh/authorized_keys
echo "granting-service key: $(cut -c1-60 /home/granting-service/.ssh/authorized_keys)..."

# sshd baseline before any boot: keys only, no root login. The boot adds the user data's ports
# and its own hardening list (sshd_config.d/taupage.conf); both say the same where they overlap.
install -d -m 0755 /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/10-taupage-baseline.conf <<'CONF'
# Taupage image baseline: public keys only, no root login (the boot adds taupage.conf).
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin no
X11Forwarding no
CONF
chmod 0644 /etc/ssh/sshd_config.d/10-taupage-baseline.conf

# The units (systemd/README.md says what each does and why it keeps what it keeps).
for f in "$src"/systemd/*.service "$src"/systemd/*.socket "$src"/systemd/*.timer "$src"/systemd/*.mount; do
  [ -e "$f" ] && install -m 0644 "$f" /usr/lib/systemd/system/
done
for d in "$src"/systemd/*.d; do
  [ -d "$d" ] || continue
  install -d -m 0755 "/usr/lib/systemd/system/$(basename "$d")"
  install -m 0644 "$d"/*.conf "/usr/lib/systemd/system/$(basename "$d")/"
done
# Unit names may hold systemd's escapes (var-log\x2dcustom.mount): one per line, read as written.
xargs -d '\n' systemctl enable < "$src/systemd/enable.txt"
