#!/usr/bin/env bash
# Benchmark of `lmtally report` on a generated 1 GiB log (issue 2): throughput on one core and
# peak memory with 100k distinct users. Not part of CI.
#
#   benches/report_1g.sh [BYTES] [USERS] [RUNS]
#
# Prints each run's wall time, MiB/s and peak RSS, then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${1:-1073741824}
USERS=${2:-100000}
RUNS=${3:-5}
# The generated log starts on 2023-03-01; its last day depends on its size.
TODAY=${TODAY:-2026-03-01}
LOG=${TMPDIR:-/tmp}/lmtally-bench-$BYTES-$USERS.log

cargo build --release --quiet --bin lmtally --example genlog
if [ ! -s "$LOG" ]; then
    echo "generating $LOG ($BYTES bytes, $USERS users)" >&2
    ./target/release/examples/genlog --bytes "$BYTES" --users "$USERS" --seed 1 --out "$LOG"
fi
SIZE=$(stat -c %s "$LOG")
cat "$LOG" > /dev/null # warm the page cache: measure parsing, not the disk

walls=(); rates=(); rss=()
for i in $(seq 1 "$RUNS"); do
    out=$( { /usr/bin/time -f "%e %M" taskset -c 0 ./target/release/lmtally report \
        --server bench="$LOG" --today "$TODAY" > /dev/null; } 2>&1 | tail -n 1)
    wall=${out% *}; kb=${out#* }
    rate=$(awk -v s="$SIZE" -v w="$wall" 'BEGIN { printf "%.0f", s / 1048576 / w }')
    echo "run $i: ${wall}s  ${rate} MiB/s  peak RSS $((kb / 1024)) MiB"
    walls+=("$wall"); rates+=("$rate"); rss+=("$kb")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "log: $SIZE bytes, $USERS users; median wall $(median "${walls[@]}") s," \
     "median $(median "${rates[@]}") MiB/s, median peak RSS $(( $(median "${rss[@]}") / 1024 )) MiB"
./target/release/lmtally report --server bench="$LOG" --today "$TODAY" --stats 2>&1 >/dev/null | head -n 3
