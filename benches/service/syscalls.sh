#!/usr/bin/env bash
# Checks that lmtally serve (release build) makes only the system calls that the unit's
# SystemCallFilter= allows (@system-service less @privileged and @resources): runs it under
# strace -f, answers a report in each format, /api/v1/status, /metrics, a SIGHUP and a SIGTERM,
# and compares the calls made with the filter's expansion by systemd-analyze.
#
#   cargo build --release && benches/service/syscalls.sh      (needs strace, systemd-analyze, curl)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release/lmtally
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
port=$((20000 + RANDOM % 20000))
cat >"$tmp/c.toml" <<CONF
listen = "127.0.0.1:$port"
data_dir = "$tmp/data"
[[server]]
name = "flexlm01"
logs = ["$root/samples/flexlm01-lmgrd.log"]
[[server]]
name = "flexlm02"
logs = ["$root/samples/flexlm02-adsk.log"]
CONF
strace -f -qq -o "$tmp/trace" "$bin" serve --config "$tmp/c.toml" 2>"$tmp/log" &
for _ in $(seq 100); do [ -s "$tmp/data/token" ] && curl -s "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
pid=$(head -1 "$tmp/trace" | awk '{print $1}')
t=$(cat "$tmp/data/token")
for rt in json csv xlsx; do
    curl -s -o /dev/null -H "X-Auth-token: $t" "127.0.0.1:$port/api/v1/report/users/realtime-count/$rt"
done
curl -s -o /dev/null -X POST -d sd=2023-01-01 -H "X-Auth-token: $t" "127.0.0.1:$port/api/v1/report/users/realtime-count/json"
curl -s -o /dev/null -H "X-Auth-token: $t" "127.0.0.1:$port/api/v1/status"
curl -s -o /dev/null -H "X-Auth-token: $t" "127.0.0.1:$port/metrics"
kill -HUP "$pid"; sleep 1
kill -TERM "$pid"; wait || true

expand() {
    systemd-analyze syscall-filter "$1" | tail -n +2 | sed 's/^ *//' | grep -v '^#' | grep -v '^$' |
        while read -r s; do case $s in @*) expand "$s" ;; *) echo "$s" ;; esac; done
}
expand @system-service | sort -u >"$tmp/allowed"
{ expand @privileged; expand @resources; } | sort -u >"$tmp/denied"
comm -23 "$tmp/allowed" "$tmp/denied" >"$tmp/ok"
awk '{print $2}' "$tmp/trace" | sed -n 's/^\([a-z_0-9]*\)(.*/\1/p' | sort -u >"$tmp/used"
bad=$(comm -23 "$tmp/used" "$tmp/ok")
echo "$(wc -l <"$tmp/used") distinct system calls made"
if [ -n "$bad" ]; then
    echo "outside the unit's SystemCallFilter=: $bad" >&2
    exit 1
fi
echo "all allowed by SystemCallFilter=@system-service ~@privileged @resources"
