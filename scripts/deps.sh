#!/bin/sh
# Installs the Debian packages a target needs, only those that are missing.
# Usage: scripts/deps.sh PACKAGE...
set -eu
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
# Packages are tools for the build and the tests: their services (nginx on
# port 80, a system redis) must not start. policy-rc.d is Debian's way to
# say so, removed again if it was ours.
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" &&
		ours=1
fi
# shellcheck disable=SC2086
rc=0
apt-get install -y -q --no-install-recommends $missing >/dev/null || rc=$?
[ -z "$ours" ] || rm -f "$policy"
[ "$rc" -eq 0 ] || { echo "deps: apt-get install$missing failed" >&2; exit 1; }
