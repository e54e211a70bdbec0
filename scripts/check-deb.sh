#!/bin/sh
# Checks the Debian packages of DIR (make deb's build/deb) on this machine:
# lintian, dpkg -i of both, systemd-analyze verify of the installed units,
# --check-config of the installed configuration, the installed daemon
# started by hand on a free loopback port and sent a fixture, then a purge
# that must leave nothing in /etc, /usr or /var/lib. Root; `make check-deb`.
# Whatever happens, the packages are purged again on the way out.
# Usage: scripts/check-deb.sh DIR
set -eu
dir=${1:?usage: scripts/check-deb.sh DIR}
pkgs="livedesk-webhookd livedesk-send"
conf=/etc/livedesk-webhookd/livedesk-webhookd.conf
tmp=$(mktemp -d /tmp/check-deb.XXXXXX)
pid=""

fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
step() { echo "check-deb: $*"; }

installed() {
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -qv "not-installed"
}

cleanup() {
	rc=$?
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || :; }
	for p in $pkgs; do
		if installed "$p"; then
			echo "check-deb: purging $p" >&2
			dpkg --purge "$p" >/dev/null 2>&1 || :
		fi
	done
	rm -rf "$tmp"
	exit "$rc"
}

[ "$(id -u)" -eq 0 ] || fail "run as root: it installs and purges packages"
[ -d "$dir" ] || fail "$dir: no such directory (make deb)"
# Never over somebody's installation: this script purges what it installs.
for p in $pkgs; do
	! installed "$p" || fail "$p is already installed here; not touching it"
done
for d in /etc/livedesk-webhookd /var/lib/livedesk-webhookd \
    /var/lib/private/livedesk-webhookd /usr/sbin/livedesk-webhookd \
    /usr/bin/livedesk-send; do
	[ ! -e "$d" ] || fail "$d exists already (a make install?); not touching it"
done
trap cleanup EXIT INT TERM

debs=""
for p in $pkgs; do
	f=$(ls "$dir"/"$p"_*.deb 2>/dev/null | head -n 1)
	[ -n "$f" ] || fail "no $p .deb in $dir"
	debs="$debs $f"
done

step "lintian"
# shellcheck disable=SC2086
lintian --fail-on error,warning --info $debs ||
	fail "lintian: errors or warnings beyond debian/*.lintian-overrides"

step "dpkg -i$debs"
# shellcheck disable=SC2086
dpkg -i $debs >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i"; }

step "installed files"
for f in /usr/sbin/livedesk-webhookd /usr/bin/livedesk-send "$conf" \
    /lib/systemd/system/livedesk-webhookd.service \
    /lib/systemd/system/livedesk-webhookd.socket \
    /usr/share/man/man8/livedesk-webhookd.8.gz \
    /usr/share/man/man5/livedesk-webhookd.conf.5.gz \
    /usr/share/man/man1/livedesk-send.1.gz \
    /usr/share/doc/livedesk-webhookd/examples/auto-reply.sh \
    /usr/share/doc/livedesk-webhookd/prometheus/alerts.yml \
    /usr/share/doc/livedesk-webhookd/grafana/livedesk-webhookd.json \
    /usr/share/doc/livedesk-webhookd/copyright; do
	[ -e "$f" ] || fail "$f was not installed"
done
dpkg-query -W -f='${Conffiles}\n' livedesk-webhookd | grep -q " $conf " ||
	fail "$conf is not a conffile"
grep -q "^ExecStart=/usr/sbin/livedesk-webhookd " \
    /lib/systemd/system/livedesk-webhookd.service ||
	fail "the unit does not start /usr/sbin/livedesk-webhookd"
[ -L /etc/systemd/system/multi-user.target.wants/livedesk-webhookd.service ] ||
	fail "the service was not enabled"
[ ! -e /etc/systemd/system/sockets.target.wants/livedesk-webhookd.socket ] ||
	fail "the socket was enabled too (both would bind 127.0.0.1:8080)"

step "systemd-analyze verify"
MANPATH=/usr/share/man systemd-analyze verify \
    /lib/systemd/system/livedesk-webhookd.service \
    /lib/systemd/system/livedesk-webhookd.socket >"$tmp/verify.log" 2>&1 ||
	{ cat "$tmp/verify.log"; fail "systemd-analyze verify"; }
if [ -s "$tmp/verify.log" ]; then
	cat "$tmp/verify.log"
	fail "systemd-analyze verify has something to say"
fi

step "--check-config $conf"
/usr/sbin/livedesk-webhookd --check-config -c "$conf" >"$tmp/check.log" 2>&1 ||
	{ cat "$tmp/check.log"; fail "--check-config of the installed configuration"; }

step "the installed daemon, by hand, on a loopback port"
# As systemd would: the state directory exists before the start.
install -d -m 0750 /var/lib/livedesk-webhookd
/usr/sbin/livedesk-webhookd -c "$conf" -l 127.0.0.1:0 >"$tmp/daemon.log" 2>&1 &
pid=$!
port=""
i=0
while [ $i -lt 100 ] && [ -z "$port" ]; do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/daemon.log")
	[ -n "$port" ] || { kill -0 "$pid" 2>/dev/null ||
		{ cat "$tmp/daemon.log"; fail "the daemon exited"; }; sleep 0.1; }
	i=$((i + 1))
done
[ -n "$port" ] || { cat "$tmp/daemon.log"; fail "the daemon did not listen"; }
code=$(curl -s -o "$tmp/resp" -w '%{http_code}' \
    -H 'Content-Type: application/json' \
    --data-binary @fixtures/message_created.json \
    "http://127.0.0.1:$port/webhook")
[ "$code" = 200 ] || { cat "$tmp/resp" "$tmp/daemon.log"; fail "POST answered $code"; }
# The log sink of the example configuration delivered it.
i=0
until curl -s "http://127.0.0.1:$port/metrics" >"$tmp/metrics" &&
    grep -q '^livedesk_sink_deliveries_total{sink="log",type="log"} 1$' "$tmp/metrics"; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$tmp/metrics"; fail "the event was not delivered"; }
	sleep 0.1
done
grep -q '^process_resident_memory_bytes ' "$tmp/metrics" ||
	fail "no process_* metrics"
kill -TERM "$pid"
wait "$pid" || fail "the daemon did not stop cleanly"
pid=""
[ -d /var/lib/livedesk-webhookd/spool ] || fail "no spool in /var/lib/livedesk-webhookd"

step "dpkg --remove keeps the state, --purge takes it"
dpkg -L livedesk-webhookd livedesk-send | sort -u >"$tmp/files"
dpkg --remove livedesk-webhookd livedesk-send >"$tmp/dpkg.log" 2>&1 ||
	{ cat "$tmp/dpkg.log"; fail "dpkg --remove"; }
[ -d /var/lib/livedesk-webhookd/spool ] || fail "a removal took the spool"
[ -e "$conf" ] || fail "a removal took the configuration"
dpkg --purge livedesk-webhookd livedesk-send >"$tmp/dpkg.log" 2>&1 ||
	{ cat "$tmp/dpkg.log"; fail "dpkg --purge"; }

step "nothing left behind"
left=""
while read -r f; do
	case $f in /etc/*|/usr/*|/var/lib/*|/lib/systemd/*) ;; *) continue ;; esac
	# Directories other packages share (/usr/sbin, /etc) stay.
	[ -e "$f" ] && [ ! -d "$f" ] && left="$left $f"
	case $f in *livedesk*) [ -e "$f" ] && left="$left $f" ;; esac
done <"$tmp/files"
for f in /etc/livedesk-webhookd /var/lib/livedesk-webhookd \
    /var/lib/private/livedesk-webhookd /var/log/livedesk-webhookd \
    /usr/share/doc/livedesk-webhookd /usr/share/doc/livedesk-send; do
	[ ! -e "$f" ] || left="$left $f"
done
left="$left $(find /etc/systemd /var/lib/systemd /var/lib/dpkg/info \
    -name '*livedesk*' 2>/dev/null | tr '\n' ' ')"
[ -z "$(echo "$left" | tr -d ' ')" ] || fail "left behind:$left"
step "OK"
