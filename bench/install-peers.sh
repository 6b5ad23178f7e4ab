#!/bin/sh
# Installs the supervisors pmtr is compared with, from Debian's packages,
# without starting them as system services. Used by: make bench PEERS=1.
set -eu
if [ "$(id -u)" != 0 ]; then echo "install-peers: run as root" >&2; exit 1; fi
missing=""
command -v supervisord >/dev/null || missing="$missing supervisor"
command -v runsvdir >/dev/null || missing="$missing runit"
command -v s6-svscan >/dev/null || missing="$missing s6"
[ -z "$missing" ] && exit 0
# Keep the packages' init scripts from starting daemons during the install.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
