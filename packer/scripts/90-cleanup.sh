#!/bin/sh
# 3. Leave nothing an instance must not share or inherit: compilers, apt lists and caches, SSH
#    host keys (each instance makes its own at first boot), the machine id (systemd makes one at
#    first boot), logs, the build's uploads and shell history.
set -eu
compilers=$(dpkg-query -W -f='${Package}\n' | grep -E '^(gcc|g\+\+|cpp|clang|make|build-essential)(-[0-9.]+)?$' || true)
if [ -n "$compilers" ]; then
  echo "removing compilers: $(echo $compilers)"
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --auto-remove $compilers
fi
for c in cc gcc g++ c++ clang make; do
  if command -v "$c" >/dev/null; then echo "a compiler is left: $(command -v "$c")" >&2; exit 1; fi
done
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
find /var/log -type f -delete
rm -rf /tmp/taupage /tmp/* /var/tmp/* /root/.bash_history /home/*/.bash_history
echo "cleanup: done"
