#!/bin/sh
# 1. Debian packages (packer/packages.txt): installs only the ones the base lacks. The local bake's
#    base already has them all (scripts/bake-local), so it needs no network here; a Debian AMI gets
#    the rest from its configured mirror. Recommends are not installed.
set -eu
missing=
for p in $(sed 's/#.*//' /tmp/taupage/packages.txt); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "packages: all present"
  exit 0
fi
echo "packages: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
