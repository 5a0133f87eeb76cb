#!/usr/bin/env bash
# Benchmark `etcdflow check` on a generated 10,000-line flow (not a timed test).
#   bench/check.sh [RUNS]      default 30 runs; prints min / median / max wall time
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-30}
cargo build --release --quiet
flow=$(mktemp --suffix=.flow)
trap 'rm -f "$flow"' EXIT
tests/bench/gen-flow.sh 10000 > "$flow"
lines=$(wc -l < "$flow")
./target/release/etcdflow check "$flow" 2>/dev/null # warm the page cache; must be clean
times=()
for _ in $(seq "$runs"); do
  s=$(date +%s%N)
  ./target/release/etcdflow check "$flow" 2>/dev/null
  e=$(date +%s%N)
  times+=( $(( (e - s) / 1000000 )) )
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
min=$(echo "$sorted" | head -1)
max=$(echo "$sorted" | tail -1)
med=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
echo "| check, ${lines}-line flow, ${runs} runs | min ${min} ms | median ${med} ms | max ${max} ms |"
./target/release/etcdflow check --timings "$flow" 2>&1 | tail -1
