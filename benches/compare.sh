#!/usr/bin/env bash
# Paired comparison of two `lmtally` binaries on one log, for machines too noisy for back-to-back
# runs: each round runs both at the same time, one per core (swapping cores every round), so both
# see the same neighbours. Prints each binary's wall times and the geometric mean of the per-round
# ratios B/A (below 1: B is faster). Two copies of one binary give the method's own spread.
#
#   benches/compare.sh LOG ROUNDS BIN_A BIN_B [TODAY]
#
# Needs two cores. Absolute times are slower than alone (the two runs share memory bandwidth);
# only the ratio is the result.
set -euo pipefail
LOG=$1; ROUNDS=$2; A=$3; B=$4; TODAY=${5:-2025-03-01}
cat "$LOG" > /dev/null # warm the page cache
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ta=(); tb=()
for i in $(seq 1 "$ROUNDS"); do
    ca=$((i % 2)); cb=$(((i + 1) % 2))
    /usr/bin/time -f "%e" -o "$tmp/a" taskset -c "$ca" "$A" report --server b="$LOG" --today "$TODAY" > /dev/null &
    /usr/bin/time -f "%e" -o "$tmp/b" taskset -c "$cb" "$B" report --server b="$LOG" --today "$TODAY" > /dev/null &
    wait
    ta+=("$(tail -n 1 "$tmp/a")"); tb+=("$(tail -n 1 "$tmp/b")")
    echo "round $i: A ${ta[-1]} s, B ${tb[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "A $A: median $(median "${ta[@]}") s"
echo "B $B: median $(median "${tb[@]}") s"
paste <(printf '%s\n' "${ta[@]}") <(printf '%s\n' "${tb[@]}") |
    awk '{ s += log($2 / $1); n++ } END { printf "B/A: geometric mean ratio %.3f over %d rounds\n", exp(s / n), n }'
