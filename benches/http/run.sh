#!/usr/bin/env bash
# The report API benchmark (README, "The report API"): a 10-year log, `lmtally serve` (release)
# on 127.0.0.1, then
#   1. the median latency of the default JSON report (sequential requests on one kept-alive
#      connection, curl's time_total),
#   2. requests/s of the same request with 32 connections (wrk -t2 -c32 -d10s),
#   3. the median time of the 10-year XLSX report.
# Only loopback traffic; every loop is bounded. Needs curl, python3 and wrk (installed with
# apt-get when missing). Usage: benches/http/run.sh [REQUESTS=200] [WRK_SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${1:-200}
WRK_SECONDS=${2:-10}
TOKEN=bench-token

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq wrk
fi
for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool is missing" >&2; exit 1; }
done

cargo build --release --bin lmtally >&2
BIN=target/release/lmtally

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A 10-year log ending today: per day a TIMESTAMP anchor and, from a pool of 300 users on 120
# hosts, 4 to 12 checkout/checkin pairs, and a denial every few days.
python3 - "$WORK/flexlm.log" <<'EOF'
import datetime, random, sys
rng = random.Random(1)
today = datetime.date.today()
start = today - datetime.timedelta(days=3650)
with open(sys.argv[1], "w") as f:
    f.write(f"0:00:00 (lmgrd) FLEXnet Licensing (v11.16.2.0 build 1) started on bench (linux) ({start.month}/{start.day}/{start.year})\n")
    d = start
    while d <= today:
        f.write(f" 0:00:01 (lmgrd) TIMESTAMP {d.month}/{d.day}/{d.year}\n")
        n = rng.randint(4, 12)
        users = rng.sample(range(300), n)
        for k, u in enumerate(users):
            f.write(f" 8:{k:02d}:00 (MLM) OUT: \"MATLAB\" user{u}@host{u % 120}  \n")
        if d.toordinal() % 3 == 0:
            f.write(f"12:00:00 (MLM) DENIED: \"MATLAB\" user{rng.randrange(300)}@hostx  (Licensed number of users already reached. (-4,342))\n")
        for k, u in enumerate(users):
            f.write(f"17:{k:02d}:00 (MLM) IN: \"MATLAB\" user{u}@host{u % 120}  \n")
        d += datetime.timedelta(days=1)
EOF

cat >"$WORK/lmtally.toml" <<EOF
listen = "127.0.0.1:0"
data_dir = "$WORK/data"
tokens = ["$TOKEN"]
[[server]]
name = "bench"
logs = ["$WORK/flexlm.log"]
EOF

RUST_LOG=warn,lmtally::cli=info "$BIN" serve --config "$WORK/lmtally.toml" 2>"$WORK/serve.log" &
SERVER_PID=$!
ADDR=
for _ in $(seq 1 100); do
    ADDR=$(grep -o 'listening on http://[0-9.:]*' "$WORK/serve.log" | head -1 | sed 's|listening on http://||' || true)
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { echo "run.sh: the server did not start" >&2; cat "$WORK/serve.log" >&2; exit 1; }
for _ in $(seq 1 600); do
    curl -sf -H "X-Auth-token: $TOKEN" "http://$ADDR/api/v1/status" | grep -q '"caught_up":true' && break
    sleep 0.1
done
URL="http://$ADDR/api/v1/report/users/realtime-count/json"
XLSX="http://$ADDR/api/v1/report/users/realtime-count/xlsx"
# The first request computes the rows (cold); later ones are served from the cache until the
# tally changes.
COLD=$(curl -sf -o /dev/null -H "X-Auth-token: $TOKEN" -w '%{time_total}' "$URL")
ROWS=$(curl -sf -H "X-Auth-token: $TOKEN" "$URL" | python3 -c 'import json,sys; b=json.load(sys.stdin); print(b["totalCount"])')
BYTES=$(curl -sf -H "X-Auth-token: $TOKEN" "$URL" | wc -c)

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Sequential requests on one kept-alive connection: "status bytes seconds" per request; every
# answer must be a 200 of the full size.
timed() { # URL COUNT
    local args=()
    for _ in $(seq 1 "$2"); do args+=(-o /dev/null "$1"); done
    curl -s -H "X-Auth-token: $TOKEN" -w '%{http_code} %{size_download} %{time_total}\n' "${args[@]}"
}
check_all_200() { awk '$1 != 200 {bad++} END {if (bad) {print "run.sh: " bad " answers were not 200" > "/dev/stderr"; exit 1}}'; }

# 1. Latency: $REQUESTS sequential requests on one connection.
timed "$URL" "$REQUESTS" >"$WORK/lat.txt"
check_all_200 <"$WORK/lat.txt"
awk -v n="$BYTES" '$2 != n {print "run.sh: a JSON answer of " $2 " bytes, not " n > "/dev/stderr"; exit 1}' "$WORK/lat.txt"
LAT=$(awk '{print $3}' "$WORK/lat.txt" | median)

# 1b. The same rows re-sorted per request (filter/order/page work and JSON rendering each time).
SORTED="$URL?order=%5B%7B%22property%22%3A%22ucdy%22%2C%22direction%22%3A%22DESC%22%7D%5D"
timed "$SORTED" "$REQUESTS" >"$WORK/sorted.txt"
check_all_200 <"$WORK/sorted.txt"
SLAT=$(awk '{print $3}' "$WORK/sorted.txt" | median)

# 2. Throughput: 32 connections, 2 threads.
WRK_OUT=$(wrk -t2 -c32 -d"${WRK_SECONDS}s" --latency -H "X-Auth-token: $TOKEN" "$URL")
RPS=$(echo "$WRK_OUT" | awk '/Requests\/sec/ {print $2}')
WRK_P50=$(echo "$WRK_OUT" | awk '$1=="50%" {print $2}')
NON2XX=$(echo "$WRK_OUT" | awk '/Non-2xx/ {print $NF}')

# 3. XLSX of the whole range, 20 sequential requests.
timed "$XLSX" 20 >"$WORK/xlsx.txt"
check_all_200 <"$WORK/xlsx.txt"
XLAT=$(awk '{print $3}' "$WORK/xlsx.txt" | median)
XBYTES=$(awk 'NR==1 {print $2}' "$WORK/xlsx.txt")

ms() { awk -v s="$1" 'BEGIN {printf "%.2f", s * 1000}'; }
echo "machine: $(nproc) cores, $(uname -sm)"
echo "rows in the default report: $ROWS ($BYTES bytes of JSON)"
echo "default JSON report, median of $REQUESTS sequential requests: $(ms "$LAT") ms"
echo "default JSON report, first request after start (rows computed): $(ms "$COLD") ms"
echo "JSON report sorted by ucdy DESC (per-request sort and rendering), median of $REQUESTS: $(ms "$SLAT") ms"
echo "default JSON report, wrk -t2 -c32 -d${WRK_SECONDS}s: $RPS requests/s (median latency $WRK_P50${NON2XX:+, non-2xx $NON2XX})"
echo "XLSX of the whole range ($XBYTES bytes), median of 20 requests: $(ms "$XLAT") ms"
