#!/bin/sh
# Runs every built libFuzzer target for SECONDS, each from a copy of its seed corpus, and prints
# executions/s and coverage (libFuzzer's cov: / ft:) per target. Non-zero on any crash.
set -eu
build=$1 seconds=$2
status=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    seeds="fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    [ -d "$seeds" ] && cp "$seeds"/* "$work"/ 2>/dev/null || true
    log=$(mktemp)
    if "$bin" -max_total_time="$seconds" -dict=fuzz/gatehouse.dict -print_final_stats=1 \
        -max_len=8192 -rss_limit_mb=2048 "$work" >"$log" 2>&1; then
        execs=$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}')
        rate=$(grep -E 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
        cov=$(grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
        echo "fuzz: $name OK: $execs runs in ${seconds}s ($rate/s), $cov, corpus $(ls "$work" | wc -l)"
    else
        echo "fuzz: $name FAILED"; tail -40 "$log"; status=1
    fi
    rm -rf "$work" "$log"
done
exit $status
